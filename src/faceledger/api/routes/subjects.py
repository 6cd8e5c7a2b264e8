"""Named subjects over HTTP: operators (and admins) enrol and delete them, auditors read
them; ``POST /api/recognize`` names the enrolled subjects in a photo, with a calibrated
decision, audited like a search. See :mod:`faceledger.subjects`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ... import ActionContext
from ...errors import InvalidRequestError
from ...subjects.registry import MAX_EXAMPLES
from ..deps import ctx_of, form_values, principal_of, read_photos, require_purpose, to_jsonable
from ..uploads import multipart_openapi

router = APIRouter(tags=["subjects"])

API_EXAMPLES = min(MAX_EXAMPLES, 5)  # file parts per enrolment request (the body's cap)
_PHOTOS = {f"photo{i}": f"example photo {i}" for i in range(1, API_EXAMPLES + 1)}
_TEXT = {"type": "string"}


class EnrolForm(BaseModel):
    name: str = Field(max_length=1000)
    source: str = Field(max_length=200)
    consent: str = Field("", max_length=1000)
    purpose: str = Field("", max_length=1000)
    case: str = Field("", max_length=1000)


class RecognizeForm(BaseModel):
    purpose: str = ""
    case: str = ""
    far: float | None = Field(None, gt=0, lt=1)


class WatchIn(BaseModel):
    webhook_url: str = Field(max_length=4096)
    days: int = Field(30, ge=1, le=36500)
    purpose: str = Field(max_length=1000)
    case: str = Field(max_length=1000)


def subject_json(row: object) -> dict:
    return to_jsonable(row)


@router.get("/api/subjects")
async def list_subjects(request: Request) -> dict:
    rows = await run_in_threadpool(ctx_of(request).store.subjects)
    return {"subjects": [subject_json(r) for r in rows]}


@router.get("/api/subjects/{subject_id}")
async def show_subject(request: Request, subject_id: int) -> dict:
    store = ctx_of(request).store
    return subject_json(await run_in_threadpool(store.subject, subject_id))


@router.post("/api/subjects", status_code=201, openapi_extra=multipart_openapi(
    _PHOTOS, {"name": _TEXT, "source": _TEXT, "consent": _TEXT, "purpose": _TEXT,
              "case": _TEXT}, required=("name", "source")))
async def enrol(request: Request) -> dict:
    """Enrol a named person with 1 to 5 example photos (``photo1`` ... ``photo5``) under a
    source with a lawful basis; ``consent``: the reference of their recorded consent to be
    watched. Only each photo's most prominent face's template is kept, encrypted."""
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, _PHOTOS, set(EnrolForm.model_fields))
    values = form_values(EnrolForm, form.fields)
    photos = [form.file(name, what) for name, what in _PHOTOS.items() if name in form.files]
    if not photos:
        raise InvalidRequestError("photo1: enrol a subject with at least one example photo")
    context = ActionContext(principal.actor, values.purpose or None, values.case or None)
    row = await run_in_threadpool(ctx.store.enrol_subject, values.name, values.source, photos,
                                  context, values.consent)
    return subject_json(row)


@router.delete("/api/subjects/{subject_id}")
async def delete(request: Request, subject_id: int, purpose: str = "", case: str = "") -> dict:
    """Delete a subject with its templates, watches and alerts."""
    ctx, principal = ctx_of(request), principal_of(request)
    context = ActionContext(principal.actor, purpose[:1000] or None, case[:1000] or None)
    return await run_in_threadpool(ctx.store.delete_subject, subject_id, context)


@router.post("/api/subjects/{subject_id}/watches", status_code=201)
async def add_watch(request: Request, subject_id: int, body: WatchIn) -> dict:
    """Watch an enrolled subject whose consent is recorded. The response holds the
    webhook's signing secret, once."""
    ctx, principal = ctx_of(request), principal_of(request)
    purpose, case = require_purpose(body.purpose, body.case)
    context = ActionContext(principal.actor, purpose, case)
    new = await run_in_threadpool(ctx.store.add_watch, subject_id, body.webhook_url,
                                  body.days, context)
    return {"watch": to_jsonable(new.watch), "webhook_secret": new.webhook_secret}


@router.post("/api/recognize", openapi_extra=multipart_openapi(
    {"photo": "the photo (JPEG, PNG, WebP ...)"},
    {"purpose": _TEXT, "case": _TEXT, "far": {"type": "number"}},
    required=("purpose", "case")))
async def recognize(request: Request) -> dict:
    """Each face of the photo with its enrolled subject and a calibrated decision
    (``match``), a ``possible`` candidate, or ``unknown``. Needs a purpose and a case."""
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, {"photo": "photo"}, set(RecognizeForm.model_fields))
    values = form_values(RecognizeForm, form.fields)
    purpose, case = require_purpose(values.purpose, values.case)
    data = form.file("photo", "photo")
    point = ctx.store.operating_point(values.far, search=True)  # 422 for an uncalibrated far
    result = await run_in_threadpool(ctx.store.recognize, data, point.far,
                                     ActionContext(principal.actor, purpose, case))
    out = to_jsonable(result)
    out.update(purpose=purpose, case=case)
    return out


# -- the web page (server-rendered; its changes go through the API above) -----------------

@router.get("/subjects", include_in_schema=False)
def subjects_page(request: Request):
    from ...privacy.sources import LAWFUL_BASES
    from ..keys import Role
    from ..web_pages import _page

    store = ctx_of(request).store
    sources = store.sources()
    role = principal_of(request).role
    return _page(request, "subjects.html", subjects=store.subjects(), sources=sources,
                 bases={s.name: LAWFUL_BASES.get(s.lawful_basis, s.lawful_basis)
                        for s in sources},
                 can_change=role in (Role.ADMIN, Role.OPERATOR),
                 can_recognize=role is Role.OPERATOR)
