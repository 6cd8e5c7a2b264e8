"""Resolve the caller of a request to a role and enforce the route's rule.

Credentials, in order: ``Authorization: Bearer <key or token>``, ``X-API-Key: <key>``, or
the web UI's ``faceledger_key`` cookie (HttpOnly, SameSite=Strict). API keys
(``flk_...``) give admin, operator, investigator or auditor; one-time subject tokens
(``fls_...``) give the subject role and are accepted only from the Authorization header.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ..errors import AuthError, ForbiddenError
from .keys import KEY_PREFIX, TOKEN_PREFIX, Role, SubjectToken
from .policy import Rule, rule_for

COOKIE_NAME = "faceledger_key"


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str
    key_id: str
    token: SubjectToken | None = None
    credential: str = ""  # the token itself, kept for its one-time redemption

    @property
    def actor(self) -> str:
        if self.role is Role.SUBJECT:
            return f"subject-token:{self.key_id}"
        return f"apikey:{self.key_id}:{self.name}"


def _credential(request: Request) -> tuple[str, bool]:
    """The presented credential and whether it came from the Authorization header."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), True
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"].strip(), False
    return request.cookies.get(COOKIE_NAME, "").strip(), False


def resolve(request: Request) -> Principal | None:
    """The caller, or None when no credential was presented. Wrong credentials raise."""
    ctx = request.app.state.ctx
    credential, from_header = _credential(request)
    if not credential:
        return None
    if credential.startswith(TOKEN_PREFIX + "_"):
        if not from_header:
            raise AuthError("subject tokens are accepted only in the Authorization header")
        token = ctx.keys.peek_token(credential)
        return Principal(Role.SUBJECT, token.subject, token.id, token=token, credential=credential)
    if credential.startswith(KEY_PREFIX + "_"):
        key = ctx.keys.authenticate(credential)
        return Principal(key.role, key.name, key.id)
    raise AuthError("malformed credential: expected an API key or a subject token")


def authorize(request: Request) -> None:
    """The app-wide dependency: find the route's rule, resolve the caller, allow or refuse.

    Every use of a key or token is appended to the audit log, refused ones included.
    """
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    rule: Rule | None = rule_for(request.method, path)
    if rule is None:
        raise ForbiddenError(f"no access rule for {request.method} {path}; refused to everyone")
    ctx = request.app.state.ctx
    try:
        principal = resolve(request)
    except AuthError as exc:
        if rule.public:  # a stale cookie must not lock anyone out of the sign-in page
            request.state.principal = None
            return
        ctx.audit_refusal(None, request.method, path, exc.code)
        raise
    request.state.principal = principal
    if rule.public:
        if principal is not None:
            ctx.audit_use(principal, request.method, path)
        return
    if principal is None:
        raise AuthError("this route needs an API key (Authorization: Bearer flk_...)")
    if not rule.allows(principal.role):
        ctx.audit_refusal(principal, request.method, path, "forbidden")
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise ForbiddenError(
            f"role {principal.role.value!r} may not {request.method} {path} (allowed: {allowed})"
        )
    ctx.audit_use(principal, request.method, path)


def current_principal(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)


def require_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise AuthError("this route needs an API key")
    return principal
