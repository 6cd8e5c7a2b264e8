"""Data-subject requests with a one-time token: access (Art. 15), erasure (Art. 17), opt-out
(Art. 21), over the library's :mod:`faceledger.privacy.self_service` functions.

An admin issues a token for one person and one request (``POST /api/subject-tokens``),
with the reference photo they checked the person's identity against. The person sends the
token as ``Authorization: Bearer fls_...`` with their selfie. Before anything is searched,
shown or erased, the selfie must match the reference 1:1 at the verification threshold;
each try counts (three at most), and the try that passes spends the token. Then only the
person's own faces at the strictest calibrated operating point are returned or erased.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from ... import ActionContext
from ...errors import FaceLedgerError
from ...privacy.self_service import access_request, erasure_request, opt_out_request
from ..auth import Principal
from ..context import AppContext
from ..deps import ctx_of, principal_of, read_photos, to_jsonable
from ..keys import RightsKind, Role
from ..policy import POLICY
from ..subject_tokens import close_token_request, redeem_subject_token
from ..uploads import multipart_openapi

router = APIRouter(tags=["rights"])

_SELFIE = multipart_openapi({"selfie": "a photo of your face"}, {})

RECIPIENT_ROUTES = {("POST", "/api/search"), ("POST", "/api/verify"),
                    ("GET", "/api/faces/{face_id}/crop"), ("GET", "/api/photos/{photo_id}/image"),
                    ("GET", "/api/audit")}
_RECEIVES = {
    Role.INVESTIGATOR: "search and verification results: your face's crop, its photo, its "
                       "source and the similarity",
    Role.AUDITOR: "the audit log: face ids and similarities of search results, never a photo "
                  "or a template",
}


def recipients() -> list[dict[str, str]]:
    """The roles that can see a face (read from the access policy), for the Art. 15 copy."""
    roles = {r for route in RECIPIENT_ROUTES for r in POLICY[route].roles}
    return [{"role": r.value, "receives": _RECEIVES.get(r, "faces and photos")}
            for r in sorted(roles, key=lambda r: r.value)]


def _context(principal: Principal, kind: RightsKind) -> ActionContext:
    return ActionContext(
        actor=principal.actor,
        purpose=f"data-subject {kind.value.replace('_', '-')} request (self-service)",
        case=f"subject-token:{principal.key_id}",
    )


async def _redeem(request: Request, kind: RightsKind) -> tuple[AppContext, Principal, Any, Any]:
    """Read the selfie, then count the attempt and check it against the token's reference
    (in a worker thread: decoding and embedding are CPU work)."""
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, {"selfie": "selfie"})
    selfie = form.file("selfie", "selfie")
    context = _context(principal, kind)
    token, check = await run_in_threadpool(
        redeem_subject_token, ctx.store, ctx.keys.tokens, principal.credential, kind, selfie,
        context,
    )
    request.state.subject_token = token  # for closing its register request afterwards
    return ctx, principal, context, check


def _close_request(request: Request, ctx: AppContext, principal: Principal,
                   erase_seq: int | None = None) -> dict:
    """Close the register request the token came from; an erasure's receipt with it."""
    receipt = close_token_request(ctx.store, request.state.subject_token, principal.actor,
                                  erase_seq)
    token = request.state.subject_token
    if not token.request_id:
        return {}
    return {"request_id": token.request_id,
            **({"receipt": json.loads(receipt)} if receipt else {})}


@router.get("/api/rights/token")
def token_info(request: Request) -> dict:
    """What a subject token is for (it is not used by asking)."""
    p = principal_of(request)
    assert p.token is not None
    return {"kind": p.token.kind.value, "subject": p.token.subject,
            "expires_at": p.token.expires_at, "attempts_left": p.token.attempts_left}


@router.post("/api/rights/access", openapi_extra=_SELFIE)
async def access(request: Request) -> dict:
    """Which of my faces do you hold, in which photos, from which sources, on what basis,
    until when, for which purposes, and who can see them?"""
    ctx, principal, context, check = await _redeem(request, RightsKind.ACCESS)

    def work() -> dict:
        copy = access_request(ctx.store, check, context, recipients())
        for face in copy["faces"]:
            face["photo_name"] = Path(str(face.pop("photo_uri", ""))).name
            try:
                jpeg = ctx.store.face_crop(face["face_id"])
                face["crop_data_url"] = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
            except FaceLedgerError:
                face["crop_data_url"] = None
        copy["search"] = copy.pop("request")  # selfie hashes, FAR and thresholds used
        return {**copy, "request": "access", "subject": principal.name,
                "identity_check": check.audit_fields(),
                **_close_request(request, ctx, principal)}

    return await run_in_threadpool(work)


@router.post("/api/rights/erasure", openapi_extra=_SELFIE)
async def erasure(request: Request) -> dict:
    """Erase every face of mine the store holds (catalog rows, templates, index vectors)."""
    ctx, principal, context, check = await _redeem(request, RightsKind.ERASURE)
    report = await run_in_threadpool(erasure_request, ctx.store, check, context)
    closed = await run_in_threadpool(_close_request, request, ctx, principal, report.audit_seq)
    return {"request": "erasure", "subject": principal.name, "result": to_jsonable(report),
            **closed}


@router.post("/api/rights/opt-out", openapi_extra=_SELFIE)
async def opt_out(request: Request) -> dict:
    """Keep my face out of future ingests, and erase the faces of mine held now."""
    ctx, principal, context, check = await _redeem(request, RightsKind.OPT_OUT)
    result = await run_in_threadpool(opt_out_request, ctx.store, check, context,
                                     f"subject-token:{principal.key_id}")
    erased = result.erased.audit_seq if result.erased is not None else None
    closed = await run_in_threadpool(_close_request, request, ctx, principal, erased)
    return {"request": "opt_out", "subject": principal.name, "result": to_jsonable(result),
            **closed}
