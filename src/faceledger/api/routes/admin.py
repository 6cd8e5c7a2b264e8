"""Admin: API keys and one-time data-subject tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ..deps import ctx_of, form_values, principal_of, read_photos, to_jsonable
from ..key_admin import create_key as audited_create
from ..key_admin import revoke_key as audited_revoke
from ..keys import KEY_ROLES, RightsKind, Role
from ..subject_tokens import issue_subject_token
from ..uploads import multipart_openapi

router = APIRouter(tags=["admin"])


class KeyIn(BaseModel):
    name: str = Field(examples=["alice"])
    role: Role = Field(description=", ".join(r.value for r in KEY_ROLES))


class TokenIn(BaseModel):
    subject: str = Field(description="the person's name or request reference", examples=["REQ-77"])
    kind: RightsKind = RightsKind.ACCESS
    ttl_hours: float = Field(168, gt=0, le=24 * 90)
    request_id: str | None = Field(None, description="the register's request it is for")


_TOKEN_FORM = multipart_openapi(
    {"reference": "the photo the person's identity was checked against (an identity "
                  "document, a photo they brought); only its template is kept, encrypted"},
    {"subject": {"type": "string", "description": "the person's name or request reference"},
     "kind": {"type": "string", "enum": [k.value for k in RightsKind], "default": "access"},
     "ttl_hours": {"type": "number", "default": 168, "maximum": 24 * 90},
     "request_id": {"type": "string", "description": "the register's request it is for"}},
    required=("subject",))


@router.get("/api/keys")
def list_keys(request: Request) -> dict:
    return {"keys": [to_jsonable(k) for k in ctx_of(request).keys.list(include_revoked=True)]}


@router.post("/api/keys", status_code=201)
def create_key(request: Request, body: KeyIn) -> dict:
    """Create a key; its secret is in this response and nowhere else."""
    ctx, principal = ctx_of(request), principal_of(request)
    issued = audited_create(ctx.store, ctx.keys, body.name, body.role, principal.actor)
    return {"key": issued.secret, **to_jsonable(issued.key)}


@router.delete("/api/keys/{key_id}")
def revoke_key(request: Request, key_id: str) -> dict:
    """Revoke a key; the web sessions opened with it end too."""
    ctx, principal = ctx_of(request), principal_of(request)
    key = audited_revoke(ctx.store, ctx.keys, key_id, principal.actor)
    return to_jsonable(key)


@router.get("/api/subject-tokens")
def list_tokens(request: Request) -> dict:
    return {"tokens": [to_jsonable(t) for t in ctx_of(request).keys.tokens.list()]}


@router.post("/api/subject-tokens", status_code=201, openapi_extra=_TOKEN_FORM)
async def issue_token(request: Request) -> dict:
    """Issue a one-time token with which a person makes one rights request, bound to them
    by the reference photo. Multipart form: ``reference`` (file), ``subject``, ``kind``,
    ``ttl_hours``."""
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, {"reference": "reference photo"},
                             set(TokenIn.model_fields))
    body = form_values(TokenIn, form.fields)
    photo = form.file("reference", "reference photo")
    issued = await run_in_threadpool(
        issue_subject_token, ctx.store, ctx.keys.tokens, body.subject, body.kind, photo,
        principal.actor, body.ttl_hours * 3600, body.request_id or None,
    )
    return {"token": issued.secret, **to_jsonable(issued.token)}
