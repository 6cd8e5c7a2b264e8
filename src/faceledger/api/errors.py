"""The one error handler: every error leaves the server as ``{"error": {"code", "message"}}``
with the status the error carries (``FaceLedgerError.http_status``). Web pages get the same
code and message as an HTML page, and a 401 on a page sends the browser to sign in."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..errors import FaceLedgerError, RateLimitedError

log = logging.getLogger("faceledger.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limited",
}


def _describe(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, FaceLedgerError):
        return exc.http_status, exc.code, exc.message
    if isinstance(exc, RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return 422, "invalid_request", "; ".join(parts) or "invalid request"
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return exc.status_code, code, str(exc.detail)
    if isinstance(exc, ClientDisconnect):  # gone, or cut off by the body limit
        return 400, "client_disconnected", "the client went away before the request ended"
    log.exception("unhandled error", exc_info=exc)
    return 500, "internal_error", "internal server error; the server log has the details"


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
        return False
    return "text/html" in request.headers.get("accept", "")


async def handle_error(request: Request, exc: Exception) -> Response:
    status, code, message = _describe(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    if _wants_html(request):
        if status == 401:
            return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
        templates = request.app.state.templates
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "code": code, "message": message,
                                    "principal": getattr(request.state, "principal", None)},
            status_code=status, headers=headers or None,
        )
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers or None)


def install(app: FastAPI) -> None:
    # ClientDisconnect has its own entry: a handler for ``Exception`` runs in Starlette's
    # outermost middleware, which re-raises after responding, so every client that sent
    # half a body and left would print a traceback in the server log (cheap log flooding)
    for kind in (FaceLedgerError, RequestValidationError, StarletteHTTPException,
                 ClientDisconnect, Exception):
        app.add_exception_handler(kind, handle_error)
