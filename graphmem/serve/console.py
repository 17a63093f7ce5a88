"""The web console: one static page and its script, served without a key (they hold no
data); the page signs in with an API key and reads everything through the REST API as that
key's principal, so it can show nothing the key could not read. Read-only: it calls only
GET endpoints and search."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["console"], include_in_schema=False)
_STATIC = files("graphmem.serve").joinpath("static")
# The page's own script only: no inline script, no third-party origin.
CSP = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")


@router.get("/console", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return HTMLResponse(_STATIC.joinpath("console.html").read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


@router.get("/console/console.js")
def script() -> Response:
    return Response(_STATIC.joinpath("console.js").read_text(encoding="utf-8"),
                    media_type="text/javascript", headers={"Cache-Control": "no-store"})
