"""Request-body limits for every route, enforced while the body streams in.

:class:`BodyLimitMiddleware` wraps the app. For each request it looks up the route's cap
(:func:`route_cap`): photo uploads get room for their photos, everything else (JSON, the
sign-in form) 64 KiB.

- A non-upload request whose ``Content-Length`` is over the cap gets 413 before a byte of
  the body is read. Upload routes check their length themselves, *after* authentication
  (:func:`faceledger.api.uploads.read_form`), so an anonymous upload gets its 401 first.
- Every body is counted as it is received, so a chunked body with no length is cut off at
  the cap too: the middleware answers 413 itself and tells the app the client is gone.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .uploads import OVERHEAD, body_cap

DEFAULT_CAP = 64 * 1024

UPLOAD_ROUTES: dict[tuple[str, str], int] = {
    ("POST", "/api/search"): 1,
    ("POST", "/api/verify"): 2,
    ("POST", "/api/rights/access"): 1,
    ("POST", "/api/rights/erasure"): 1,
    ("POST", "/api/rights/opt-out"): 1,
    ("POST", "/api/subject-tokens"): 1,
}
"""Routes that take photos, and how many: read with :func:`~faceledger.api.uploads.read_form`."""


def route_cap(method: str, path: str, file_limit: int) -> tuple[int, bool]:
    """(cap in bytes, whether the route is an upload route) for a raw request path."""
    photos = UPLOAD_ROUTES.get((method, path))
    if photos is None:
        return DEFAULT_CAP, False
    # the route's own reader stops at body_cap(); this backstop sits just above it
    return body_cap(photos, file_limit) + OVERHEAD, True


async def _refuse(send: Send, status: int, code: str, message: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, file_limit: int) -> None:
        self.app = app
        self.file_limit = file_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap, upload = route_cap(scope["method"], scope["path"], self.file_limit)
        length = _content_length(scope)
        if length == -1:
            await _refuse(send, 400, "bad_request", "Content-Length is not a number")
            return
        if length is not None and length > cap and not upload:
            await _refuse(send, 413, "too_large",
                          f"the request body ({length} bytes) is over this route's limit "
                          f"({cap} bytes)")
            return
        state: dict[str, Any] = {"received": 0, "refused": False, "started": False}

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the 413 went out already; the app's own answer is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def counted_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > cap:
                    if not state["started"]:
                        await _refuse(send, 413, "too_large",
                                      f"the request body is over this route's limit "
                                      f"({cap} bytes)")
                    state["refused"] = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None
