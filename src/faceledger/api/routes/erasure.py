"""Operator-reviewed erasure and opt-out (admins, for a request in the register): by selfie
with a review step, or for a whole person.

By selfie it takes two calls. ``POST /api/erasure/review`` lists what the request finds,
erasing nothing: the faces matched directly ("match", "possible") and, apart, the faces
reached only through the persons of those matches ("cluster"). ``POST /api/erasure/confirm``
erases the "match" faces (and "possible" ones with ``include_possible``) and only the
cluster faces the reviewer confirmed (``faces``, comma-separated ids; or all of them with
``include_cluster``). The self-service ``/api/rights/erasure`` (a subject token, nobody
reviewing) never reaches a cluster: it erases the strict direct matches only.

For a whole person (after looking at its page): ``POST /api/people/{id}/erase`` and
``POST /api/people/{id}/opt-out``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ... import ActionContext
from ...errors import ConfigError
from ...privacy.access import PersonSearch, selfie_embeddings
from ...privacy.rights import (
    chosen_faces,
    erase_found,
    erase_person_id,
    find_for_erasure,
    opt_out_person_id,
)
from ..deps import (
    ctx_of,
    db_id,
    form_values,
    principal_of,
    read_photos,
    require_purpose,
    to_jsonable,
)
from ..uploads import multipart_openapi

router = APIRouter(tags=["erasure"])


class ReviewForm(BaseModel):
    purpose: str = ""
    case: str = ""
    far: float | None = Field(None, gt=0, lt=1)


class ConfirmForm(ReviewForm):
    faces: str = Field("", max_length=200_000)
    include_possible: bool = False
    include_cluster: bool = False


class PersonAction(BaseModel):
    purpose: str = Field("", max_length=500)
    case: str = Field("", max_length=200)
    reference: str | None = Field(None, max_length=200)


_TEXT = {"type": "string"}
_FIELDS = {"purpose": {**_TEXT, "description": "why (audit log)"},
           "case": {**_TEXT, "description": "the request's reference (audit log)"},
           "far": {"type": "number", "description": "operating point for finding the faces "
                   "(default 1e-3, high recall: review before confirming)"}}


def _face_ids(text: str) -> list[int] | None:
    if not text.strip():
        return None
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError("faces: comma-separated face ids") from None


async def _find(request: Request, model: type[ReviewForm]):
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, {"selfie": "selfie"}, set(model.model_fields))
    values = form_values(model, form.fields)
    purpose, case = require_purpose(values.purpose, values.case)
    selfie = form.file("selfie", "selfie")
    if values.far is not None:
        ctx.store.operating_point(values.far)  # 422 for an uncalibrated far
    context = ActionContext(actor=principal.actor, purpose=purpose, case=case)

    def find() -> PersonSearch:
        vectors, hashes = selfie_embeddings(ctx.store, [selfie])
        return find_for_erasure(ctx.store, vectors, hashes, values.far)

    person = await run_in_threadpool(find)
    return ctx, context, values, person


def _listing(store, person: PersonSearch) -> dict:
    records = store.catalog.faces(person.face_ids + person.cluster_face_ids)

    def face(m) -> dict:
        rec = records.get(m.face_id)
        return {"face_id": m.face_id, "similarity": m.similarity, "decision": m.decision,
                "person_id": m.person_id,
                "photo_id": rec.photo_id if rec else None,
                "photo_name": Path(str(rec.photo_uri)).name if rec else None,
                "source": rec.source if rec else None,
                "quality": round(rec.quality, 3) if rec else None}

    return {"threshold": person.threshold, "match_threshold": person.match_threshold,
            "matches": [face(m) for m in person.matches],
            "persons": list(person.persons),
            "cluster": [face(m) for m in person.cluster]}


@router.post("/api/erasure/review", openapi_extra=multipart_openapi(
    {"selfie": "a photo of the person's face"}, _FIELDS, required=("purpose", "case")))
async def review(request: Request) -> dict:
    """What an erasure by this selfie would find, erasing nothing: direct matches, and the
    faces reached only through their persons (to confirm one by one, or all)."""
    ctx, context, _, person = await _find(request, ReviewForm)

    def work() -> dict:
        listing = _listing(ctx.store, person)
        ctx.store.audit.append(
            "rights_erasure_review", context.actor, context.purpose, context.case,
            inputs={"selfies_sha256": person.selfies_sha256, "far": person.far},
            outputs={"face_ids": person.face_ids, "cluster_face_ids": person.cluster_face_ids})
        return listing

    return await run_in_threadpool(work)


@router.post("/api/erasure/confirm", openapi_extra=multipart_openapi(
    {"selfie": "a photo of the person's face"},
    {**_FIELDS, "faces": {**_TEXT, "description": "reviewed face ids to erase besides the "
                          "'match' faces, comma-separated (cluster or 'possible' ones)"},
     "include_possible": {"type": "boolean", "default": False},
     "include_cluster": {"type": "boolean", "default": False}},
    required=("purpose", "case")))
async def confirm(request: Request) -> dict:
    """Erase what a review found: the "match" faces (and "possible" ones with
    ``include_possible``), and of the cluster (and other "possible") faces only those
    confirmed in ``faces`` (or every cluster face with ``include_cluster``)."""
    ctx, context, values, person = await _find(request, ConfirmForm)
    confirmed = _face_ids(values.faces) or []
    chosen = sorted(set(chosen_faces(person, None, values.include_possible,
                                     values.include_cluster))
                    | set(chosen_faces(person, confirmed)))
    report = await run_in_threadpool(erase_found, ctx.store, person, chosen, context)
    kept = sorted(set(person.cluster_face_ids) - set(report.faces))
    return {"result": to_jsonable(report), "cluster_faces_kept_for_review": kept}


def _person_context(request: Request, body: PersonAction) -> ActionContext:
    purpose, case = require_purpose(body.purpose, body.case)
    return ActionContext(actor=principal_of(request).actor, purpose=purpose, case=case)


@router.post("/api/people/{person_id}/erase")
async def erase_person(request: Request, person_id: int, body: PersonAction) -> dict:
    """Erase every face of this person (Art. 17): the person is gone with them."""
    ctx, context = ctx_of(request), _person_context(request, body)
    report = await run_in_threadpool(erase_person_id, ctx.store, db_id(person_id, "person"),
                                     context)
    return {"result": to_jsonable(report)}


@router.post("/api/people/{person_id}/opt-out")
async def opt_out_person(request: Request, person_id: int, body: PersonAction) -> dict:
    """Opt this whole person out (Art. 21): the mean of its faces on the opt-out list, every
    face of it erased."""
    ctx, context = ctx_of(request), _person_context(request, body)
    result = await run_in_threadpool(opt_out_person_id, ctx.store,
                                     db_id(person_id, "person"), context, body.reference)
    return {"result": to_jsonable(result)}
