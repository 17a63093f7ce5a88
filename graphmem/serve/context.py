"""Per-request context as plain ASGI middleware: the request id (taken from the caller's
X-Request-ID when it is a sane token, else made here) in every response and log line, one
access log line per request, the body size limit, and the last-resort 500.

Pure ASGI rather than BaseHTTPMiddleware, so the body limit counts bytes as they arrive
(a chunked upload without Content-Length is cut off at the limit, not read whole first) and
the request id is in the context of the endpoint's thread (contextvars are copied into it).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("graphmem.serve.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every log record (use %(request_id)s in the format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class BodyTooLarge(StarletteHTTPException):
    """An HTTPException, so that FastAPI re-raises it from its body parsing (any other error
    there becomes a 400) and the error handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes; the limit is "
                         "GRAPHMEM_SERVE__MAX_BODY_BYTES (GRAPHMEM_SERVE__MAX_IMPORT_BYTES "
                         "for bundle imports)")
        self.limit = limit


def _json(status: int, reason: str, message: str, request_id: str,
          header: bytes) -> tuple[Message, Message]:
    body = json.dumps({"error": {"reason": reason, "message": message,
                                 "request_id": request_id}}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode()),
                         (header, request_id.encode())]}
    return start, {"type": "http.response.body", "body": body}


class RequestContext:
    def __init__(self, app: ASGIApp, *, header: str, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.header = header.lower().encode()
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(self.header, b"").decode("latin-1")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        _request_id.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 0}
        path = scope.get("path", "")
        limit = self.limit_for(path)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != self.header]
                message["headers"] = [*headers, (self.header, request_id.encode())]
            await send(message)

        try:
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit)
            seen = {"n": 0}

            async def counted() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    seen["n"] += len(message.get("body", b""))
                    if seen["n"] > limit:
                        raise BodyTooLarge(limit)
                return message

            await self.app(scope, counted, send_with_id)
        except BodyTooLarge as exc:
            if status["code"]:
                raise
            for m in _json(413, "payload_too_large", str(exc.detail), request_id,
                           self.header):
                await send(m)
            status["code"] = 413
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), path)
            if status["code"]:
                raise
            for m in _json(500, "internal", "internal error; the server log has the details "
                           f"under request id {request_id}", request_id, self.header):
                await send(m)
            status["code"] = 500
        finally:
            principal = scope["state"].get("principal", "-")
            log.info("%s %s %s %.1fms %s", scope.get("method"), path, status["code"],
                     (time.perf_counter() - started) * 1000, principal)
