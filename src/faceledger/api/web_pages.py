"""The web UI's pages: server-rendered Jinja2, data fetched from the JSON API by
``static/app.js``. Each page is guarded by the same policy table as the API.

Signing in opens a server-side session (:mod:`faceledger.api.sessions`); the sign-in and
sign-out forms are checked for their origin and their CSRF token here, since anyone may
post them (:mod:`faceledger.api.csrf`)."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..errors import AuthError, ForbiddenError, RateLimitedError
from ..privacy.sources import ART9_CONDITIONS, LAWFUL_BASES, MINORS_POLICIES
from .auth import client_of, current_principal, session_cookie_name
from .csrf import CsrfError, check_origin, presented_token
from .keys import Role
from .sessions import csrf_matches

PRESESSION_COOKIE = "faceledger_signin"
PRESESSION_TTL_S = 3600

router = APIRouter(include_in_schema=False)

HOME = {
    Role.ADMIN: "/admin",
    Role.OPERATOR: "/ingest",
    Role.INVESTIGATOR: "/search",
    Role.AUDITOR: "/audit",
}


def _page(request: Request, name: str, status: int = 200, **extra: object) -> HTMLResponse:
    context = {"principal": current_principal(request), **extra}
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


@router.get("/")
def index(request: Request) -> Response:
    principal = current_principal(request)
    if principal is None or principal.role not in HOME:
        return RedirectResponse("/signin", status_code=303)
    return RedirectResponse(HOME[principal.role], status_code=303)


def _presession_cookie(request: Request) -> str:
    return ("__Host-" if request.url.scheme == "https" else "") + PRESESSION_COOKIE


@router.get("/signin")
def signin_page(request: Request, next: str = "") -> HTMLResponse:
    """The sign-in form, with a one-off token that must come back with the form and in the
    pre-session cookie (no other page can read or fill in the pair)."""
    token = secrets.token_urlsafe(32)
    response = _page(request, "signin.html", next=next, error=None, signin_token=token)
    response.set_cookie(_presession_cookie(request), token, max_age=PRESESSION_TTL_S,
                        httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


def _signin_refused(request: Request, status: int, message: str, next: str) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = _page(request, "signin.html", status=status, next=next, error=message,
                     signin_token=token)
    response.set_cookie(_presession_cookie(request), token, max_age=PRESESSION_TTL_S,
                        httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/signin")
def signin(request: Request, key: str = Form(""), next: str = Form(""),
           csrf_token: str = Form("")) -> Response:
    """Check the key, then open a server-side session; the cookie holds only its id."""
    ctx = request.app.state.ctx
    client = client_of(request)
    try:
        check_origin(request, require_browser_evidence=True)
        cookie = request.cookies.get(_presession_cookie(request), "")
        if not (cookie and csrf_token and hmac.compare_digest(cookie, csrf_token)):
            raise CsrfError("refused: the sign-in form's token is missing or does not match "
                            "(open the sign-in page again)")
    except ForbiddenError as exc:  # 400: a forged or stale form, not a refused role
        ctx.audit_refusal(None, "POST", "/signin", exc.code, client)
        return _signin_refused(request, 400, exc.message, next)
    wait = ctx.limiter.retry_after(client)
    if wait:
        ctx.audit_refusal(None, "POST", "/signin", RateLimitedError.code, client)
        response = _signin_refused(request, 429, f"too many refused keys from {client}; "
                                   f"try again in {wait} s", next)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        api_key = ctx.keys.authenticate(key.strip())
    except AuthError as exc:
        ctx.limiter.refused(client)
        ctx.audit_refusal(None, "POST", "/signin", exc.code, client)
        return _signin_refused(request, 401, exc.message, next)
    session = ctx.keys.sessions.create(api_key.id)
    ctx.store.record("web_signin", f"apikey:{api_key.id}:{api_key.name}",
                     inputs={"role": api_key.role.value, "client": client},
                     outputs={"session_expires_at": session.session.expires_at})
    target = next if next.startswith("/") and not next.startswith(("//", "/\\")) else None
    response = RedirectResponse(target or HOME[api_key.role], status_code=303)
    response.set_cookie(session_cookie_name(request), session.secret, httponly=True,
                        samesite="strict", path="/", secure=request.url.scheme == "https",
                        max_age=int(ctx.keys.sessions.ttl_s))
    response.delete_cookie(_presession_cookie(request), path="/")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session (revoked server-side, not only forgotten by the browser)."""
    ctx = request.app.state.ctx
    principal = current_principal(request)
    if principal is not None and principal.via_session:
        client = client_of(request)
        try:
            check_origin(request, require_browser_evidence=True)
            if not csrf_matches(principal.credential, await presented_token(request)):
                raise CsrfError("refused: the sign-out form's token does not match this "
                                "session (reload the page)")
        except ForbiddenError as exc:
            ctx.audit_refusal(principal, "POST", "/signout", exc.code, client)
            raise
        def end() -> None:
            ctx.keys.sessions.revoke(principal.credential)
            ctx.store.record("web_signout", principal.actor, inputs={"client": client})

        await run_in_threadpool(end)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(session_cookie_name(request), path="/")
    return response


@router.get("/search")
def search_page(request: Request) -> HTMLResponse:
    return _page(request, "search.html")


@router.get("/ingest")
def ingest_page(request: Request) -> HTMLResponse:
    sources = request.app.state.ctx.store.sources()
    return _page(request, "ingest.html", sources=sources)


@router.get("/sources")
def sources_page(request: Request) -> HTMLResponse:
    sources = request.app.state.ctx.store.sources()
    return _page(request, "sources.html", sources=sources, bases=LAWFUL_BASES,
                 art9=ART9_CONDITIONS, minors=MINORS_POLICIES)


@router.get("/audit")
def audit_page(request: Request) -> HTMLResponse:
    return _page(request, "audit.html")


@router.get("/admin")
def admin_page(request: Request) -> HTMLResponse:
    return _page(request, "admin.html", bases=LAWFUL_BASES, art9=ART9_CONDITIONS,
                 minors=MINORS_POLICIES)


@router.get("/rights")
def rights_page(request: Request) -> HTMLResponse:
    return _page(request, "rights.html")


@router.get("/requests")
def requests_page(request: Request) -> HTMLResponse:
    """The register of rights requests (admins and the DPO), overdue ones flagged."""
    from ..privacy.requests import RightsRequests

    views = RightsRequests.of(request.app.state.ctx.store).list()
    return _page(request, "requests.html", requests=views,
                 overdue=sum(1 for v in views if v.overdue))
