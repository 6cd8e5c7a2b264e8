"""The web UI's pages: server-rendered Jinja2, data fetched from the JSON API by
``static/app.js``. Each page is guarded by the same policy table as the API."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..errors import AuthError
from ..privacy.sources import ART9_CONDITIONS, LAWFUL_BASES, MINORS_POLICIES
from .auth import COOKIE_NAME, current_principal
from .keys import Role

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


@router.get("/signin")
def signin_page(request: Request, next: str = "") -> HTMLResponse:
    return _page(request, "signin.html", next=next, error=None)


@router.post("/signin")
def signin(request: Request, key: str = Form(""), next: str = Form("")) -> Response:
    ctx = request.app.state.ctx
    try:
        api_key = ctx.keys.authenticate(key.strip())
    except AuthError as exc:
        ctx.audit_refusal(None, "POST", "/signin", exc.code)
        return _page(request, "signin.html", status=401, next=next, error=exc.message)
    ctx.store.record("web_signin", f"apikey:{api_key.id}:{api_key.name}",
                     inputs={"role": api_key.role.value})
    target = next if next.startswith("/") and not next.startswith("//") else HOME[api_key.role]
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE_NAME, key.strip(), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=12 * 3600)
    return response


@router.post("/signout")
def signout(request: Request) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE_NAME)
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
