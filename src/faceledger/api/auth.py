"""Resolve the caller of a request to a role and enforce the route's rule.

Credentials, in order: ``Authorization: Bearer <key or token>``, ``X-API-Key: <key>``, or
the web UI's session cookie (a random session id, HttpOnly, SameSite=Strict; see
:mod:`faceledger.api.sessions`). API keys (``flk_...``) give admin, operator, investigator
or auditor; one-time subject tokens (``fls_...``) give the subject role and are accepted
only from the Authorization header.

Around that check (:func:`authorize`, the app-wide dependency):

- a client whose recent credentials were refused too often gets 429 without its new one
  being looked at (:mod:`faceledger.api.ratelimit`);
- refusals go to the audit log aggregated per client (:mod:`faceledger.api.refusals`);
- a state-changing request from another origin is refused, and one authenticated by the
  session cookie must carry the session's CSRF token (:mod:`faceledger.api.csrf`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from ..errors import AuthError, ForbiddenError, RateLimitedError
from .client_address import client_address
from .csrf import (
    SAFE_METHODS,
    CsrfError,
    check_origin,
    check_resource_fetch,
    presented_token,
)
from .keys import KEY_PREFIX, TOKEN_PREFIX, Role, SubjectToken
from .policy import Rule, rule_for
from .sessions import csrf_matches, csrf_token_for

SESSION_COOKIE = "faceledger_session"
SECURE_SESSION_COOKIE = "__Host-faceledger_session"  # over HTTPS: host-only, Secure, Path=/


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str
    key_id: str
    token: SubjectToken | None = None
    credential: str = ""  # the token (for its redemption) or the session id (for sign-out)
    via: str = "header"  # "header" (Authorization / X-API-Key) or "session" (the cookie)
    csrf_token: str = ""  # the session's CSRF token, for the pages' forms and app.js

    @property
    def actor(self) -> str:
        if self.role is Role.SUBJECT:
            return f"subject-token:{self.key_id}"
        return f"apikey:{self.key_id}:{self.name}"

    @property
    def via_session(self) -> bool:
        return self.via == "session"


def client_of(request: Request) -> str:
    """The client's address: the TCP peer, or behind a trusted proxy the address it
    forwarded (:mod:`faceledger.api.client_address`)."""
    peer = request.client.host if request.client else None
    ctx = getattr(request.app.state, "ctx", None)
    trusted = getattr(getattr(ctx, "settings", None), "trusted_proxies", "") or ""
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


def session_cookie_name(request: Request) -> str:
    return SECURE_SESSION_COOKIE if request.url.scheme == "https" else SESSION_COOKIE


def _credential(request: Request) -> tuple[str, str]:
    """The presented credential and where it came from: authorization, x-api-key, cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), "authorization"
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"].strip(), "x-api-key"
    cookie = request.cookies.get(session_cookie_name(request), "").strip()
    return cookie, "cookie"


def resolve(request: Request) -> Principal | None:
    """The caller, or None when no credential was presented. Wrong credentials raise."""
    ctx = request.app.state.ctx
    credential, source = _credential(request)
    if not credential:
        return None
    if source == "cookie":
        key = ctx.keys.authenticate_session(credential)
        return Principal(key.role, key.name, key.id, credential=credential, via="session",
                         csrf_token=csrf_token_for(credential))
    if credential.startswith(TOKEN_PREFIX + "_"):
        if source != "authorization":
            raise AuthError("subject tokens are accepted only in the Authorization header")
        token = ctx.keys.tokens.peek(credential)
        return Principal(Role.SUBJECT, token.subject, token.id, token=token, credential=credential)
    if credential.startswith(KEY_PREFIX + "_"):
        key = ctx.keys.authenticate(credential)
        return Principal(key.role, key.name, key.id)
    raise AuthError("malformed credential: expected an API key or a subject token")


async def authorize(request: Request) -> None:
    """The app-wide dependency: find the route's rule, resolve the caller, allow or refuse.

    Every use of a key or token is appended to the audit log; refusals too, aggregated.
    The checks touch SQLite, so they run in the thread pool, not on the event loop; only
    the CSRF token of a urlencoded form is read here first.
    """
    token = ""
    if request.method not in SAFE_METHODS and session_cookie_name(request) in request.cookies:
        token = await presented_token(request)
    await run_in_threadpool(_authorize, request, token)


def _authorize(request: Request, csrf_presented: str) -> None:
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    rule: Rule | None = rule_for(request.method, path)
    if rule is None:
        raise ForbiddenError(f"no access rule for {request.method} {path}; refused to everyone")
    ctx = request.app.state.ctx
    ctx.refusals.flush_due()
    client = client_of(request)
    if rule.public:  # pages anyone may open; the sign-in and sign-out forms check themselves
        try:
            principal = resolve(request)
        except AuthError:  # a stale cookie must not lock anyone out of the sign-in page
            principal = None
        request.state.principal = principal
        if principal is not None:
            ctx.audit_use(principal, request.method, path)
        return
    credential, _ = _credential(request)
    if credential:
        wait = ctx.limiter.retry_after(client)
        if wait:
            ctx.audit_refusal(None, request.method, path, RateLimitedError.code, client)
            raise RateLimitedError(
                f"too many refused credentials from {client}; try again in {wait} s", wait)
    try:
        principal = resolve(request)
    except AuthError as exc:
        ctx.limiter.refused(client)
        ctx.audit_refusal(None, request.method, path, exc.code, client)
        raise
    request.state.principal = principal
    if principal is None:
        raise AuthError("this route needs an API key (Authorization: Bearer flk_...)")
    if principal.via_session:
        _check_session_request(ctx, client, principal, request, path, csrf_presented)
    elif request.method not in SAFE_METHODS:  # a key in a header, from a browser page?
        _refuse_on(ctx, client, principal, request.method, path, check_origin, request)
    if not rule.allows(principal.role):
        ctx.audit_refusal(principal, request.method, path, "forbidden", client)
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise ForbiddenError(
            f"role {principal.role.value!r} may not {request.method} {path} (allowed: {allowed})"
        )
    ctx.audit_use(principal, request.method, path)


def _check_session_request(ctx, client: str, principal: Principal, request: Request,
                           path: str, csrf_presented: str) -> None:
    """A request riding on the session cookie: same origin, and the CSRF token to change."""
    if request.method in SAFE_METHODS:
        if path.startswith("/api/"):
            _refuse_on(ctx, client, principal, request.method, path, check_resource_fetch,
                       request)
        return
    _refuse_on(ctx, client, principal, request.method, path,
               lambda r: check_origin(r, require_browser_evidence=True), request)
    if not csrf_matches(principal.credential, csrf_presented):
        ctx.audit_refusal(principal, request.method, path, CsrfError.code, client)
        raise CsrfError("refused: this request does not carry the session's CSRF token "
                        "(reload the page)")


def _refuse_on(ctx, client: str, principal: Principal | None, method: str, path: str,
               check, request: Request) -> None:
    try:
        check(request)
    except ForbiddenError as exc:
        ctx.audit_refusal(principal, method, path, exc.code, client)
        raise


def current_principal(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)


def require_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise AuthError("this route needs an API key")
    return principal
