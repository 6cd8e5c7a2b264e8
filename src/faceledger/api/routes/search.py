"""Search, verify, and the face crops and photos that results point to (investigators)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ... import ActionContext
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

router = APIRouter(tags=["search"])


def match_json(match: object) -> dict:
    data = to_jsonable(match)
    data["crop_url"] = f"/api/faces/{data['face_id']}/crop"
    data["photo_url"] = f"/api/photos/{data['photo_id']}/image"
    data["photo_name"] = Path(str(data.get("photo_uri", ""))).name
    return data


def results_json(results: list) -> list[dict]:
    """One entry per probe face: the face, its quality and pose, whether it is too poor for
    the matches to be relied on (``uncertain``, with a ``warning``), and its matches (each
    with the gallery face's quality and pose)."""
    return [
        {"probe_face": to_jsonable(r.probe_face), "quality": r.quality, "yaw": r.yaw,
         "pitch": r.pitch, "uncertain": r.uncertain, "warning": r.warning,
         "matches": [match_json(m) for m in r.matches]}
        for r in results
    ]


class SearchForm(BaseModel):
    purpose: str = ""
    case: str = ""
    k: int = Field(10, ge=1, le=100)
    largest_only: bool = False
    far: float | None = Field(None, gt=0, lt=1)


class VerifyForm(BaseModel):
    purpose: str = ""
    case: str = ""
    far: float | None = Field(None, gt=0, lt=1)
    accurate: bool | None = None


_TEXT = {"type": "string"}
_PURPOSE = {"purpose": {**_TEXT, "description": "why this search is made (audit log)"},
            "case": {**_TEXT, "description": "the case reference (audit log)"}}
_FAR = {"far": {"type": "number", "description": "a calibrated false-accept rate: 0.01, "
                "0.001, 0.0001 or 1e-05 (others are refused)"}}


@router.post("/api/search", openapi_extra=multipart_openapi(
    {"probe": "the probe photo (JPEG, PNG, WebP ...)"},
    {**_PURPOSE, "k": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
     "largest_only": {"type": "boolean", "default": False}, **_FAR},
    required=("purpose", "case")))
async def search(request: Request) -> dict:
    """Every face in the probe, each with its ``k`` nearest gallery faces, a similarity, a
    decision at the operating false-accept rate, and URLs of the face crop and photo.

    Multipart form: ``probe`` (file), ``purpose``, ``case``, ``k``, ``largest_only``,
    ``far``. The probe is held in memory only."""
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, {"probe": "probe"}, set(SearchForm.model_fields))
    values = form_values(SearchForm, form.fields)
    purpose, case = require_purpose(values.purpose, values.case)
    data = form.file("probe", "probe")
    point = ctx.store.operating_point(values.far, search=True)  # 422 for an uncalibrated far
    context = ActionContext(actor=principal.actor, purpose=purpose, case=case)
    results = await run_in_threadpool(
        ctx.store.search, data, k=values.k, largest_only=values.largest_only, far=point.far,
        context=context,
    )
    persons = await run_in_threadpool(ctx.store.persons_in_results, results)
    faces = results_json(results)
    for face, found in zip(faces, persons):
        face["persons"] = [{**p, "url": f"/people/{p['person']}",
                            "cover_url": f"/api/faces/{p['cover_face_id']}/crop"
                            if p.get("cover_face_id") else None} for p in found]
    return {
        "purpose": purpose,
        "case": case,
        "far": point.far,
        "match_threshold": point.match_threshold,
        "faces": faces,
    }


@router.post("/api/verify", openapi_extra=multipart_openapi(
    {"a": "first photo", "b": "second photo"},
    {**_PURPOSE, **_FAR, "accurate": {
        "type": "boolean", "description": "fuse the pack with a second recognizer, decided at "
        "the fusion's own calibrated thresholds (default: the server's setting)"}},
    required=("purpose", "case")))
async def verify(request: Request) -> dict:
    """Are the most prominent faces of two photos the same person? Multipart form: ``a``, ``b``
    (files), ``purpose``, ``case``, ``far``, ``accurate``."""
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, {"a": "first photo", "b": "second photo"},
                             set(VerifyForm.model_fields))
    values = form_values(VerifyForm, form.fields)
    purpose, case = require_purpose(values.purpose, values.case)
    data_a, data_b = form.file("a", "first photo"), form.file("b", "second photo")
    context = ActionContext(actor=principal.actor, purpose=purpose, case=case)
    result = await run_in_threadpool(ctx.store.verify, data_a, data_b, far=values.far,
                                     context=context, accurate=values.accurate)
    return to_jsonable(result)


@router.get("/api/faces/{face_id}/crop", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
async def face_crop(request: Request, face_id: int) -> Response:
    """A JPEG of one gallery face, cut from its photo on demand."""
    store = ctx_of(request).store
    data = await run_in_threadpool(store.face_crop, db_id(face_id, "face"))
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.get("/api/photos/{photo_id}")
async def photo(request: Request, photo_id: int) -> dict:
    """A photo's catalog record (source, location, size, ingest run)."""
    store = ctx_of(request).store
    record = await run_in_threadpool(store.photo, db_id(photo_id, "photo"))
    data = to_jsonable(record)
    data["image_url"] = f"/api/photos/{photo_id}/image"
    return data


@router.get("/api/photos/{photo_id}/image", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
async def photo_image(request: Request, photo_id: int) -> Response:
    """The photo itself, read again from its source through the same checks as ingest (only
    a photo stored as ok, inside its source, unchanged since ingest, decoding as an image);
    the content type is the decoded format's."""
    from ...pipeline.reader import stored_photo

    store = ctx_of(request).store
    photo = await run_in_threadpool(stored_photo, store, db_id(photo_id, "photo"))
    return Response(photo.data, media_type=photo.media_type,
                    headers={"Cache-Control": "private, no-store"})
