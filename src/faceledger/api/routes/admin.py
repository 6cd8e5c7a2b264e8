"""Admin: API keys and one-time data-subject tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..deps import ctx_of, principal_of, to_jsonable
from ..keys import KEY_ROLES, RightsKind, Role

router = APIRouter(tags=["admin"])


class KeyIn(BaseModel):
    name: str = Field(examples=["alice"])
    role: Role = Field(description=", ".join(r.value for r in KEY_ROLES))


class TokenIn(BaseModel):
    subject: str = Field(description="the person's name or request reference", examples=["REQ-77"])
    kind: RightsKind = RightsKind.ACCESS
    ttl_hours: float = Field(168, gt=0, le=24 * 90)


@router.get("/api/keys")
def list_keys(request: Request) -> dict:
    return {"keys": [to_jsonable(k) for k in ctx_of(request).keys.list(include_revoked=True)]}


@router.post("/api/keys", status_code=201)
def create_key(request: Request, body: KeyIn) -> dict:
    """Create a key; its secret is in this response and nowhere else."""
    ctx, principal = ctx_of(request), principal_of(request)
    issued = ctx.keys.create(body.name, body.role)
    ctx.store.record("api_key_create", principal.actor, inputs={"name": body.name,
                     "role": body.role.value}, outputs={"key_id": issued.key.id})
    return {"key": issued.secret, **to_jsonable(issued.key)}


@router.delete("/api/keys/{key_id}")
def revoke_key(request: Request, key_id: str) -> dict:
    ctx, principal = ctx_of(request), principal_of(request)
    key = ctx.keys.revoke(key_id)
    ctx.store.record("api_key_revoke", principal.actor, inputs={"key_id": key_id})
    return to_jsonable(key)


@router.get("/api/subject-tokens")
def list_tokens(request: Request) -> dict:
    return {"tokens": [to_jsonable(t) for t in ctx_of(request).keys.tokens()]}


@router.post("/api/subject-tokens", status_code=201)
def issue_token(request: Request, body: TokenIn) -> dict:
    """Issue a one-time token with which a person makes one rights request."""
    ctx, principal = ctx_of(request), principal_of(request)
    issued = ctx.keys.issue_token(body.subject, body.kind, principal.actor, body.ttl_hours * 3600)
    ctx.store.record("subject_token_issue", principal.actor, inputs={"subject": body.subject,
                     "kind": body.kind.value}, outputs={"token_id": issued.token.id})
    return {"token": issued.secret, **to_jsonable(issued.token)}
