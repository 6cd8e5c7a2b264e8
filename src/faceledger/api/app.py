"""The FastAPI application: one factory, no module-level app.

    app = create_app(Settings.from_env(data_dir="data"))          # opens the store itself
    app = create_app(settings, store=store)                       # or serves an open one

Every route is guarded by :func:`faceledger.api.auth.authorize` (one app-wide dependency
that reads :data:`faceledger.api.policy.POLICY`), every error goes through the one handler
in :mod:`faceledger.api.errors`, and CPU-bound work (decoding, detection, embedding, FAISS)
runs in the thread pool, never on the event loop.

Around the app, outermost first: security headers on every response
(:mod:`faceledger.api.headers`), request-body limits while the body streams in
(:mod:`faceledger.api.limits`), request metrics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from . import errors
from .auth import authorize
from .client_address import trusted_networks
from .context import AppContext
from .headers import SecurityHeadersMiddleware
from .keys import KeyStore
from .limits import BodyLimitMiddleware
from .ratelimit import AuthRateLimiter
from .runs import IngestRuns

API_TITLE = "faceledger"
API_DESCRIPTION = (
    "Face search over lawfully held photo collections. Authenticate with "
    "`Authorization: Bearer <API key>`; data-subject requests use a one-time token."
)


class _MetricsMiddleware:
    """Times every request and counts it by route template (never by raw path)."""

    def __init__(self, app: ASGIApp, ctx_getter: Any) -> None:
        self.app = app
        self.ctx_getter = ctx_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            ctx = self.ctx_getter()
            if ctx is not None:
                elapsed = time.perf_counter() - started
                ctx.metrics.observe(scope["method"], path, status["code"], elapsed)


def _web_dir() -> Any:
    return resources.files("faceledger") / "web"


def create_app(
    settings: Settings | None = None,
    store: Any = None,
    keys: KeyStore | None = None,
    preload_models: bool = True,
    limiter: AuthRateLimiter | None = None,
    refusal_window_s: float = 60.0,
) -> FastAPI:
    """Build the app. Without ``store`` it opens the store in ``settings.data_dir`` and
    closes it on shutdown. ``preload_models`` loads the model pack now rather than on the
    first search. The store is safe to share between the server's threads: the analyzer
    and the index file each hold their own locks. ``limiter`` rate-limits refused
    credentials per client; refusals are audited once per client per
    ``refusal_window_s``."""
    settings = settings or Settings.from_env()
    trusted_networks(settings.trusted_proxies)  # a bad proxy list fails here, not per request
    owns_store = store is None
    if store is None:
        from .. import open_store

        store = open_store(settings)
    keys = keys or KeyStore.for_data_dir(settings.data_dir)
    if preload_models:
        store.analyzer  # noqa: B018  (loads the models now, not on the first request)

    def ingest(source: str, progress: Any, stop_event: Any, actor: str,
               workers: int | None) -> Any:
        return store.ingest(source, progress=progress, stop_event=stop_event, actor=actor,
                            workers=workers)

    ctx = AppContext(settings=settings, store=store, keys=keys, runs=IngestRuns(ingest),
                     owns_store=owns_store, limiter=limiter or AuthRateLimiter(),
                     refusal_window_s=refusal_window_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.start_webhooks()  # alerts' deliveries, from the outbox, in a background thread
        ctx.start_compactor()  # small index segments merged off the request path
        try:
            yield
        finally:
            ctx.close()

    app = FastAPI(
        title=API_TITLE,
        description=API_DESCRIPTION,
        version=_version(),
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
    )
    app.state.ctx = ctx
    web = _web_dir()
    app.state.templates = Jinja2Templates(directory=str(web / "templates"))
    errors.install(app)

    from . import web_pages
    from .routes import admin, audit, rights, search, sources, system
    from .routes import ingest as ingest_routes

    for module in (system, sources, ingest_routes, search, rights, admin, audit):
        app.include_router(module.router)
    from .routes import requests as requests_routes

    app.include_router(requests_routes.router)
    from .routes import alerts as alerts_routes
    from .routes import subjects as subjects_routes

    app.include_router(subjects_routes.router)
    app.include_router(alerts_routes.router)

    from .routes import erasure as erasure_routes
    from .routes import people as people_routes

    app.include_router(people_routes.router)
    app.include_router(erasure_routes.router)
    app.include_router(web_pages.router)
    app.mount("/static", StaticFiles(directory=str(web / "static")), name="static")
    app.add_middleware(_MetricsMiddleware, ctx_getter=lambda: app.state.ctx)
    app.add_middleware(BodyLimitMiddleware, file_limit=settings.max_image_bytes)
    app.add_middleware(SecurityHeadersMiddleware)  # added last: the outermost
    _document_auth(app)
    return app


def _document_auth(app: FastAPI) -> None:
    """Declare the bearer credential in the OpenAPI schema, so /docs can send a key."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = base()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API key (flk_...) or, for /api/rights/*, "
                           "a one-time subject token (fls_...)"},
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("faceledger")
    except Exception:  # pragma: no cover - not installed
        return "0"
