"""Search, verify, and the face crops and photos that results point to (investigators)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ... import ActionContext
from ..deps import ctx_of, principal_of, read_upload, require_purpose, to_jsonable

router = APIRouter(tags=["search"])


def match_json(match: object) -> dict:
    data = to_jsonable(match)
    data["crop_url"] = f"/api/faces/{data['face_id']}/crop"
    data["photo_url"] = f"/api/photos/{data['photo_id']}/image"
    data["photo_name"] = Path(str(data.get("photo_uri", ""))).name
    return data


def results_json(results: list) -> list[dict]:
    return [
        {"probe_face": to_jsonable(r.probe_face), "matches": [match_json(m) for m in r.matches]}
        for r in results
    ]


@router.post("/api/search")
async def search(
    request: Request,
    probe: Annotated[UploadFile, File(description="the probe photo (JPEG, PNG, WebP ...)")],
    purpose: Annotated[str, Form(description="why this search is made (audit log)")],
    case: Annotated[str, Form(description="the case reference (audit log)")],
    k: Annotated[int, Form(ge=1, le=100)] = 10,
    largest_only: Annotated[bool, Form()] = False,
    far: Annotated[float | None, Form(gt=0, lt=1)] = None,
) -> dict:
    """Every face in the probe, each with its ``k`` nearest gallery faces, a similarity, a
    decision at the operating false-accept rate, and URLs of the face crop and photo."""
    ctx, principal = ctx_of(request), principal_of(request)
    purpose, case = require_purpose(purpose, case)
    data = await read_upload(ctx, probe, "probe")
    context = ActionContext(actor=principal.actor, purpose=purpose, case=case)
    results = await run_in_threadpool(
        ctx.store.search, data, k=k, largest_only=largest_only, far=far, context=context
    )
    point = ctx.store.operating_point(far, search=True)
    return {
        "purpose": purpose,
        "case": case,
        "far": point.far,
        "match_threshold": point.match_threshold,
        "faces": results_json(results),
    }


@router.post("/api/verify")
async def verify(
    request: Request,
    a: Annotated[UploadFile, File(description="first photo")],
    b: Annotated[UploadFile, File(description="second photo")],
    purpose: Annotated[str, Form()],
    case: Annotated[str, Form()],
    far: Annotated[float | None, Form(gt=0, lt=1)] = None,
) -> dict:
    """Are the largest faces of two photos the same person?"""
    ctx, principal = ctx_of(request), principal_of(request)
    purpose, case = require_purpose(purpose, case)
    data_a = await read_upload(ctx, a, "first photo")
    data_b = await read_upload(ctx, b, "second photo")
    context = ActionContext(actor=principal.actor, purpose=purpose, case=case)
    result = await run_in_threadpool(ctx.store.verify, data_a, data_b, far=far, context=context)
    return to_jsonable(result)


@router.get("/api/faces/{face_id}/crop", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
async def face_crop(request: Request, face_id: int) -> Response:
    """A JPEG of one gallery face, cut from its photo on demand."""
    store = ctx_of(request).store
    data = await run_in_threadpool(store.face_crop, face_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.get("/api/photos/{photo_id}")
async def photo(request: Request, photo_id: int) -> dict:
    """A photo's catalog record (source, location, size, ingest run)."""
    store = ctx_of(request).store
    record = await run_in_threadpool(store.photo, photo_id)
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
    photo = await run_in_threadpool(stored_photo, store, photo_id)
    return Response(photo.data, media_type=photo.media_type,
                    headers={"Cache-Control": "private, no-store"})
