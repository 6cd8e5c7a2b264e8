"""Sources and their lawful basis: admins add them, every key holder may read them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ...privacy.sources import ART9_CONDITIONS, LAWFUL_BASES, MINORS_POLICIES, parse_retention
from ..deps import ctx_of, principal_of, to_jsonable

router = APIRouter(tags=["sources"])


class SourceIn(BaseModel):
    name: str = Field(examples=["events-2024"])
    location: str = Field(description="folder path on the server", examples=["/photos/events"])
    kind: str = "folder"
    root: str | None = Field(
        default=None,
        description="for kind 'urls': the directory every listed file:// URI must be inside",
    )
    hosts: list[str] = Field(
        default_factory=list,
        description="for kind 'urls': the web hosts its http(s) URLs are fetched from "
        "(https://host[:port] or http://host:port)",
    )
    endpoint: str | None = Field(default=None, description="for kind 's3': the endpoint URL")
    profile: str | None = Field(
        default=None, description="for kind 's3': the credentials profile name (never keys)"
    )
    controller: str = Field(examples=["Acme Photo Ltd"])
    lawful_basis: str = Field(description=", ".join(LAWFUL_BASES), examples=["consent"])
    special_category_condition: str = Field(
        description=", ".join(ART9_CONDITIONS), examples=["explicit-consent"]
    )
    purpose: str = Field(examples=["attendees find their own photos"])
    retention: str | int = Field(description="'365d', '52w', '12m', '1y' or days",
                                 examples=["365d"])
    minors_policy: str = Field(description=", ".join(MINORS_POLICIES), examples=["none-expected"])


def _describe(info: object) -> dict:
    data = to_jsonable(info)
    data["lawful_basis_text"] = LAWFUL_BASES.get(data.get("lawful_basis", ""), "")
    data["special_category_text"] = ART9_CONDITIONS.get(
        data.get("special_category_condition", ""), ""
    )
    data["minors_policy_text"] = MINORS_POLICIES.get(data.get("minors_policy", ""), "")
    return data


@router.get("/api/sources")
async def list_sources(request: Request) -> dict:
    """Every source with its controller, lawful basis, Art. 9 condition, purpose and retention."""
    store = ctx_of(request).store
    infos = await run_in_threadpool(store.sources)
    return {"sources": [_describe(i) for i in infos]}


@router.get("/api/sources/{name}")
async def get_source(request: Request, name: str) -> dict:
    store = ctx_of(request).store
    return _describe(await run_in_threadpool(store.source, name))


@router.post("/api/sources", status_code=201)
async def add_source(request: Request, body: SourceIn) -> dict:
    """Register a source; refused (422, ``lawful_basis_required``) if any part of its lawful
    basis is missing."""
    ctx, principal = ctx_of(request), principal_of(request)
    info = await run_in_threadpool(
        ctx.store.add_source,
        body.name,
        location=body.location,
        kind=body.kind,
        controller=body.controller,
        lawful_basis=body.lawful_basis,
        special_category_condition=body.special_category_condition,
        purpose=body.purpose,
        retention_days=parse_retention(body.retention),
        minors_policy=body.minors_policy,
        actor=principal.actor,
        root=body.root,
        hosts=body.hosts,
        endpoint=body.endpoint,
        profile=body.profile,
    )
    return _describe(info)
