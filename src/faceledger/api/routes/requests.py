"""The rights-request register over HTTP: admins open, extend and close requests; admins and
auditors (the DPO's role) read them, overdue ones flagged, and download erasure receipts."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ...errors import NotFoundError
from ...privacy.requests import RightsRequests
from ..deps import ctx_of, principal_of

router = APIRouter(tags=["requests"])


class OpenIn(BaseModel):
    kind: Literal["access", "erasure", "opt_out", "objection"]
    subject: str = Field(max_length=500, examples=["Jane Roe"])
    channel: str = Field(max_length=500, examples=["email"])
    received_at: str | None = Field(None, description="ISO date or time (UTC); default now")


class ExtendIn(BaseModel):
    reason: str = Field(max_length=500)


class CloseIn(BaseModel):
    outcome: Literal["done", "refused"]
    reason: str = Field("", max_length=500)
    erase_seq: int | None = Field(None, ge=1, le=2**62)


def _register(request: Request) -> RightsRequests:
    return RightsRequests.of(ctx_of(request).store)


@router.get("/api/requests")
async def list_requests(request: Request, open_only: bool = False) -> dict:
    """Every request with its due date; ``overdue`` marks open ones past it."""
    reg = _register(request)
    views = await run_in_threadpool(reg.list, None, None, open_only)
    items = [v.as_dict() for v in views]
    return {"requests": items, "overdue": sum(1 for v in views if v.overdue)}


@router.get("/api/requests/{request_id}")
async def show_request(request: Request, request_id: str) -> dict:
    return (await run_in_threadpool(_register(request).view, request_id)).as_dict()


@router.get("/api/requests/{request_id}/receipt")
async def request_receipt(request: Request, request_id: str) -> dict:
    """The signed erasure receipt (JSON) of a closed erasure or opt-out request."""
    row = await run_in_threadpool(_register(request).get, request_id)
    if not row.receipt:
        raise NotFoundError(f"request {row.id} has no erasure receipt")
    return json.loads(row.receipt)


@router.post("/api/requests", status_code=201)
async def open_request(request: Request, body: OpenIn) -> dict:
    actor = principal_of(request).actor
    row = await run_in_threadpool(_register(request).open, body.kind, body.subject,
                                  body.channel, actor, body.received_at)
    return (await run_in_threadpool(_register(request).view, row.id)).as_dict()


@router.post("/api/requests/{request_id}/extend")
async def extend_request(request: Request, request_id: str, body: ExtendIn) -> dict:
    reg, actor = _register(request), principal_of(request).actor
    await run_in_threadpool(reg.extend, request_id, body.reason, actor)
    return (await run_in_threadpool(reg.view, request_id)).as_dict()


@router.post("/api/requests/{request_id}/close")
async def close_request(request: Request, request_id: str, body: CloseIn) -> dict:
    reg, actor = _register(request), principal_of(request).actor
    await run_in_threadpool(reg.close, request_id, actor, body.outcome == "done", body.reason,
                            body.erase_seq)
    return (await run_in_threadpool(reg.view, request_id)).as_dict()
