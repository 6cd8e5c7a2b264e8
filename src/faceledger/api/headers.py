"""Security headers on every response: pages, API answers, static files, errors, and the
refusals the outer middlewares send themselves.

- ``Content-Security-Policy``: scripts, styles and everything else from this origin only;
  no inline script anywhere (the templates have none: ``static/app.js`` does the work),
  images also from ``data:`` (the access copy's crops) and ``blob:`` (a chosen photo's
  preview); no plugins, no ``<base>``, forms post only here, no framing.
- ``X-Content-Type-Options: nosniff``: a response is only ever what its type says.
- ``X-Frame-Options: DENY`` (and ``frame-ancestors 'none'``): no clickjacking.
- ``Referrer-Policy: no-referrer``: no URL of this server leaks to another.
- ``Cross-Origin-Resource-Policy: same-origin`` and ``Cross-Origin-Opener-Policy``: a page
  of another origin (another port of this host included) cannot embed a crop or a photo.

The interactive API docs (``/docs``, ``/redoc``) are FastAPI's pages, which load their
script from a CDN and start it inline; they get a policy that allows exactly that, and
nothing else differs.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "img-src 'self' data: https://fastapi.tiangolo.com; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
)


def policy_for(path: str) -> str:
    return DOCS_CSP if path in DOCS_PATHS else CSP


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [(b"content-security-policy", policy_for(scope["path"]).encode()),
                 *((k.encode(), v.encode()) for k, v in SECURITY_HEADERS)]
        names = {k for k, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in names]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
