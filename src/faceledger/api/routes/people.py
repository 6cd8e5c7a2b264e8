"""Persons (faces grouped into people) over the API, and the People, person and photo
pages. Investigators read and correct persons; every correction is audited by the library."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from ..deps import ctx_of, db_id, principal_of, to_jsonable

router = APIRouter(tags=["people"])


def person_json(row: object) -> dict:
    data = to_jsonable(row)
    data["cover_url"] = (f"/api/faces/{data['cover_face_id']}/crop"
                         if data.get("cover_face_id") else None)
    data["url"] = f"/people/{data['id']}"
    return data


class MergeBody(BaseModel):
    persons: list[int] = Field(min_length=2, max_length=1000)


class SplitBody(BaseModel):
    faces: list[int] = Field(min_length=1, max_length=10000)
    name: str | None = Field(None, max_length=200)


class RenameBody(BaseModel):
    name: str = Field("", max_length=200)


class HideBody(BaseModel):
    hidden: bool = True


class RejectBody(BaseModel):
    face: int


@router.get("/api/people")
async def list_people(request: Request, hidden: bool = False, limit: int = 200,
                      offset: int = 0) -> dict:
    """Persons, largest first: name, face and photo counts, cover face, sources."""
    store = ctx_of(request).store
    rows = await run_in_threadpool(store.persons, hidden, max(1, min(limit, 1000)),
                                   max(0, offset))
    return {"persons": [person_json(r) for r in rows]}


@router.get("/api/people/{person_id}")
async def get_person(request: Request, person_id: int) -> dict:
    """One person and all their faces (with crop and photo URLs)."""
    store = ctx_of(request).store
    row, faces = await run_in_threadpool(store.person, db_id(person_id, "person"))
    return {**person_json(row), "face_list": [
        {**to_jsonable(f), "crop_url": f"/api/faces/{f.id}/crop",
         "photo_page": f"/photos/{f.photo_id}"} for f in faces]}


@router.post("/api/people/merge")
async def merge(request: Request, body: MergeBody) -> dict:
    store, who = ctx_of(request).store, principal_of(request).actor
    target = await run_in_threadpool(store.merge_persons, body.persons, who)
    return {"person": target}


@router.post("/api/people/split")
async def split(request: Request, body: SplitBody) -> dict:
    store, who = ctx_of(request).store, principal_of(request).actor
    new = await run_in_threadpool(store.split_person, body.faces, body.name, who)
    return {"person": new}


@router.post("/api/people/{person_id}/rename")
async def rename(request: Request, person_id: int, body: RenameBody) -> dict:
    store, who = ctx_of(request).store, principal_of(request).actor
    await run_in_threadpool(store.rename_person, db_id(person_id, "person"), body.name, who)
    return {"person": person_id, "name": body.name.strip() or None}


@router.post("/api/people/{person_id}/hide")
async def hide(request: Request, person_id: int, body: HideBody) -> dict:
    store, who = ctx_of(request).store, principal_of(request).actor
    await run_in_threadpool(store.hide_person, db_id(person_id, "person"), body.hidden, who)
    return {"person": person_id, "hidden": body.hidden}


@router.post("/api/people/{person_id}/not-this")
async def not_this(request: Request, person_id: int, body: RejectBody) -> dict:
    store, who = ctx_of(request).store, principal_of(request).actor
    new = await run_in_threadpool(store.not_this_person, db_id(body.face, "face"),
                                  db_id(person_id, "person"), who)
    return {"face": body.face, "person": new}


@router.post("/api/people/recluster")
async def recluster(request: Request) -> dict:
    store, who = ctx_of(request).store, principal_of(request).actor
    return await run_in_threadpool(store.recluster, who)


# -- pages -------------------------------------------------------------------------------
def _page(request: Request, name: str, **extra: object) -> HTMLResponse:
    from ..web_pages import _page as page

    return page(request, name, **extra)


@router.get("/people", include_in_schema=False)
async def people_page(request: Request) -> HTMLResponse:
    rows = await run_in_threadpool(ctx_of(request).store.persons)
    return _page(request, "people.html", persons=[person_json(r) for r in rows])


@router.get("/people/{person_id}", include_in_schema=False)
async def person_page(request: Request, person_id: int) -> HTMLResponse:
    row, faces = await run_in_threadpool(ctx_of(request).store.person,
                                         db_id(person_id, "person"))
    return _page(request, "person.html", person=person_json(row), faces=faces)


@router.get("/photos/{photo_id}", include_in_schema=False)
async def photo_page(request: Request, photo_id: int) -> HTMLResponse:
    """The photo with its face boxes, each face's person and quality, and why the engine may
    hold it: its source, controller, lawful basis, Art. 9 condition and retention."""
    store = ctx_of(request).store

    def gather() -> dict:
        photo = store.photo(db_id(photo_id, "photo"))
        faces = store.photo_faces(photo.id)
        persons = store.persons_of_faces([f.id for f in faces])
        return {"photo": photo, "faces": faces, "persons": persons,
                "source": store.source(photo.source)}

    return _page(request, "photo.html", **await run_in_threadpool(gather))
