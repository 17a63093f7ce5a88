"""The one mapping from errors to HTTP: a status, a machine-readable reason and the message,
as {"error": {"reason", "message", "request_id"}}. Never a stack trace: an unexpected
exception is logged with its traceback under the request id and answered with that id only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from graphmem.errors import (
    Conflict,
    ExtractionError,
    GraphMemError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    StoreUnavailable,
)
from graphmem.serve.context import current_request_id

log = logging.getLogger(__name__)


class Unauthorized(GraphMemError):
    """No API key, a malformed one, an unknown one or a revoked one (not told apart)."""


# Most specific first: PayloadTooLarge is an InvalidInput, LLMError an ExtractionError.
STATUS: list[tuple[type[Exception], int, str]] = [
    (Unauthorized, 401, "unauthorized"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (InvalidInput, 400, "invalid_input"),
    (NotFound, 404, "not_found"),
    (PermissionDenied, 403, "forbidden"),
    (Conflict, 409, "conflict"),
    (StoreUnavailable, 503, "store_unavailable"),
    (ExtractionError, 503, "model_unavailable"),
]
_HTTP_REASONS = {400: "invalid_request", 401: "unauthorized", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                 413: "payload_too_large", 415: "unsupported_media_type"}


def error_json(status: int, reason: str, message: str, *,
               details: list[dict[str, Any]] | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"reason": reason, "message": message,
                            "request_id": current_request_id()}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def for_exception(exc: Exception) -> JSONResponse:
    for cls, status, reason in STATUS:
        if isinstance(exc, cls):
            if status >= 500:
                log.warning("%s: %s", reason, exc)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            if status == 503:
                headers = {"Retry-After": "5"}
            return error_json(status, reason, str(exc), headers=headers)
    log.error("unexpected %s", type(exc).__name__, exc_info=exc)
    return internal_error()


def internal_error() -> JSONResponse:
    return error_json(500, "internal", "internal error; the server log has the details "
                      f"under request id {current_request_id()}")


def install(app: FastAPI) -> None:
    async def graphmem_error(_: Request, exc: Exception) -> JSONResponse:
        return for_exception(exc)

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))} for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
        return error_json(422, "invalid_request", f"the request does not match the API: "
                          f"{summary}", details=details)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_json(exc.status_code, _HTTP_REASONS.get(exc.status_code, "http_error"),
                          str(exc.detail), headers=dict(exc.headers or {}))

    app.add_exception_handler(GraphMemError, graphmem_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
