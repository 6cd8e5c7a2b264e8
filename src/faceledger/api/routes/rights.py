"""Data-subject rights with a one-time token: access (Art. 15), erasure (Art. 17), opt-out
(Art. 21), over the library's :mod:`faceledger.privacy` functions.

An admin issues a token for one person and one request (``POST /api/subject-tokens``). The
person sends it as ``Authorization: Bearer fls_...`` with their selfie. Unlike the
operator-reviewed flows of the CLI (high recall, then a human review), nobody reviews a
self-service request, so only faces at the strictest calibrated operating point count: what
comes back, or is erased, is the person's own faces, never look-alikes. The token is
redeemed (marked used) before anything is returned or changed, so it works once.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from ... import ActionContext
from ...errors import FaceLedgerError
from ...privacy.access import build_access_data, find_person
from ...privacy.erasure import erase
from ...privacy.rights import opt_out_person
from ..auth import Principal
from ..context import AppContext
from ..deps import ctx_of, principal_of, read_upload, to_jsonable
from ..keys import RightsKind

router = APIRouter(tags=["rights"])


def subject_far(store: Any) -> float:
    """The strictest calibrated operating point of the store's pack: for a subject, a false
    match would show them (or erase) someone else's photo."""
    thresholds = getattr(store.pack, "thresholds", None) or {}
    return min(thresholds) if thresholds else store.settings.operating_far


def _context(principal: Principal, kind: RightsKind) -> ActionContext:
    return ActionContext(
        actor=principal.actor,
        purpose=f"data-subject {kind.value.replace('_', '-')} request (self-service)",
        case=f"subject-token:{principal.key_id}",
    )


def _own_faces(ctx: AppContext, selfie: bytes) -> Any:
    """The person's faces: strict matches only (see the module docstring)."""
    far = subject_far(ctx.store)
    person = find_person(ctx.store, [selfie], far=far)
    strict = ctx.store.pack.threshold(far)
    return person, [m for m in person.matches if m.similarity >= strict]


@router.get("/api/rights/token")
def token_info(request: Request) -> dict:
    """What a subject token is for (it is not used by asking)."""
    p = principal_of(request)
    assert p.token is not None
    return {"kind": p.token.kind.value, "subject": p.token.subject,
            "expires_at": p.token.expires_at}


@router.post("/api/rights/access")
async def access(request: Request, selfie: Annotated[UploadFile, File()]) -> dict:
    """Which of my faces do you hold, in which photos, from which sources, on what basis,
    until when, and which logged searches returned them?"""
    ctx, principal = ctx_of(request), principal_of(request)
    data = await read_upload(ctx, selfie, "selfie")

    def work() -> dict:
        person, mine = _own_faces(ctx, data)
        ctx.keys.redeem_token(principal.credential, RightsKind.ACCESS)
        person = type(person)(person.selfies_sha256, person.far, person.threshold,
                              person.match_threshold, mine)
        copy = build_access_data(ctx.store, person)
        for face in copy["faces"]:
            face["photo_name"] = Path(str(face.pop("photo_uri", ""))).name
            try:
                jpeg = ctx.store.face_crop(face["face_id"])
                face["crop_data_url"] = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
            except FaceLedgerError:
                face["crop_data_url"] = None
        context = _context(principal, RightsKind.ACCESS)
        ctx.store.audit.append(
            "rights_access", context.actor, context.purpose, context.case,
            inputs={"selfies_sha256": person.selfies_sha256, "far": person.far,
                    "subject": principal.name},
            outputs={"face_ids": [f["face_id"] for f in copy["faces"]]},
        )
        copy["search"] = copy.pop("request")  # selfie hashes, FAR and thresholds used
        return {**copy, "request": "access", "subject": principal.name}

    return await run_in_threadpool(work)


@router.post("/api/rights/erasure")
async def erasure(request: Request, selfie: Annotated[UploadFile, File()]) -> dict:
    """Erase every face of mine the store holds (catalog rows, templates, index vectors)."""
    ctx, principal = ctx_of(request), principal_of(request)
    data = await read_upload(ctx, selfie, "selfie")

    def work() -> dict:
        person, mine = _own_faces(ctx, data)
        ctx.keys.redeem_token(principal.credential, RightsKind.ERASURE)
        report = erase(
            ctx.store, face_ids=[m.face_id for m in mine],
            context=_context(principal, RightsKind.ERASURE), reason="art17-request",
            inputs={"selfies_sha256": person.selfies_sha256, "self_service": True},
        )
        return {"request": "erasure", "subject": principal.name, "result": to_jsonable(report)}

    return await run_in_threadpool(work)


@router.post("/api/rights/opt-out")
async def opt_out(request: Request, selfie: Annotated[UploadFile, File()]) -> dict:
    """Keep my face out of future ingests, and erase the faces of mine held now."""
    ctx, principal = ctx_of(request), principal_of(request)
    data = await read_upload(ctx, selfie, "selfie")

    def work() -> dict:
        ctx.store.analyzer  # noqa: B018 - fail on the models before the token is spent
        find_person(ctx.store, [data], far=subject_far(ctx.store))  # a face must be found
        ctx.keys.redeem_token(principal.credential, RightsKind.OPT_OUT)
        result = opt_out_person(ctx.store, [data], context=_context(principal, RightsKind.OPT_OUT),
                                reference=f"subject-token:{principal.key_id}")
        return {"request": "opt_out", "subject": principal.name, "result": to_jsonable(result)}

    return await run_in_threadpool(work)
