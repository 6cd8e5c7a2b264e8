"""Data-subject rights with a one-time token: access (Art. 15), erasure (Art. 17), opt-out.

An admin issues a token for one person and one request (``POST /api/subject-tokens``). The
person sends it as ``Authorization: Bearer fls_...`` with their selfie. The selfie's largest
face is searched at the strict operating point and only "match" decisions count: what comes
back is the person's own faces, never a list of look-alikes. The token is redeemed (marked
used) before anything is returned or changed, so it cannot be used twice.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from ... import ActionContext
from ...errors import FaceLedgerError
from ...types import Decision
from ..auth import Principal
from ..context import AppContext
from ..deps import ctx_of, principal_of, read_upload, to_jsonable
from ..keys import RightsKind

router = APIRouter(tags=["rights"])



def subject_far(store: Any) -> float:
    """The strictest calibrated operating point of the store's pack: for a subject, a false
    match would show them someone else's photo."""
    thresholds = getattr(store.pack, "thresholds", None) or {}
    return min(thresholds) if thresholds else store.settings.operating_far


class RightsUnavailable(FaceLedgerError):
    code = "not_implemented"
    http_status = 501


def _own_faces(ctx: AppContext, principal: Principal, selfie: bytes, kind: RightsKind) -> list:
    context = ActionContext(
        actor=principal.actor,
        purpose=f"data-subject {kind.value.replace('_', '-')} request",
        case=f"subject-token:{principal.key_id}",
    )
    results = ctx.store.search(selfie, k=100, largest_only=True, far=subject_far(ctx.store), context=context)
    return [m for r in results for m in r.matches if m.decision == Decision.MATCH]


def _describe_match(ctx: AppContext, match: Any) -> dict:
    data = to_jsonable(match)
    data["photo_name"] = Path(str(data.get("photo_uri", ""))).name
    data.pop("photo_uri", None)  # the server's paths are not the subject's business
    try:
        crop = ctx.store.face_crop(match.face_id)
        data["crop_data_url"] = "data:image/jpeg;base64," + base64.b64encode(crop).decode()
    except FaceLedgerError:
        data["crop_data_url"] = None
    return data


def _sources(ctx: AppContext, names: set[str]) -> list[dict]:
    from .sources import _describe

    out = []
    for name in sorted(names):
        info = _describe(ctx.store.source(name))
        info.pop("location", None)
        out.append(info)
    return out


@router.get("/api/rights/token")
def token_info(request: Request) -> dict:
    """What a subject token is for (it is not used by asking)."""
    p = principal_of(request)
    assert p.token is not None
    return {"kind": p.token.kind.value, "subject": p.token.subject, "expires_at": p.token.expires_at}


@router.post("/api/rights/access")
async def access(request: Request, selfie: UploadFile = File()) -> dict:
    """Which of my faces do you hold, in which photos, from which sources, on what basis?"""
    ctx, principal = ctx_of(request), principal_of(request)
    data = await read_upload(ctx, selfie, "selfie")

    def work() -> dict:
        matches = _own_faces(ctx, principal, data, RightsKind.ACCESS)
        ctx.keys.redeem_token(principal.credential, RightsKind.ACCESS)
        faces = [_describe_match(ctx, m) for m in matches]
        ctx.store.record(
            "rights_access", principal.actor, "data-subject access request",
            f"subject-token:{principal.key_id}", inputs={"subject": principal.name},
            outputs={"face_ids": [m.face_id for m in matches]},
        )
        return {
            "request": "access",
            "subject": principal.name,
            "faces": faces,
            "sources": _sources(ctx, {m.source for m in matches}),
        }

    return await run_in_threadpool(work)


def _library_rights(ctx: AppContext, name: str) -> Any:
    fn = getattr(ctx.store, name, None)
    if fn is None:
        raise RightsUnavailable(
            f"this build of the store has no {name!r}; ask the controller to handle the request"
        )
    return fn


@router.post("/api/rights/erasure")
async def erasure(request: Request, selfie: UploadFile = File()) -> dict:
    """Erase every face of mine the store holds (faces, templates and index entries)."""
    ctx, principal = ctx_of(request), principal_of(request)
    data = await read_upload(ctx, selfie, "selfie")

    def work() -> dict:
        erase = _library_rights(ctx, "erase_faces")
        matches = _own_faces(ctx, principal, data, RightsKind.ERASURE)
        ctx.keys.redeem_token(principal.credential, RightsKind.ERASURE)
        ids = [m.face_id for m in matches]
        context = ActionContext(principal.actor, "data-subject erasure request",
                                f"subject-token:{principal.key_id}")
        result = erase(ids, context=context)
        return {"request": "erasure", "subject": principal.name, "erased_face_ids": ids,
                "result": to_jsonable(result)}

    return await run_in_threadpool(work)


@router.post("/api/rights/opt-out")
async def opt_out(request: Request, selfie: UploadFile = File()) -> dict:
    """Keep my face out of future ingests (and erase what is held now)."""
    ctx, principal = ctx_of(request), principal_of(request)
    data = await read_upload(ctx, selfie, "selfie")

    def work() -> dict:
        add = _library_rights(ctx, "opt_out")
        ctx.keys.redeem_token(principal.credential, RightsKind.OPT_OUT)
        context = ActionContext(principal.actor, "data-subject opt-out request",
                                f"subject-token:{principal.key_id}")
        result = add(data, context=context)
        return {"request": "opt_out", "subject": principal.name, "result": to_jsonable(result)}

    return await run_in_threadpool(work)
