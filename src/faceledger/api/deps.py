"""Small helpers shared by the route modules."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ..errors import LawfulBasisError, NotFoundError
from .auth import Principal, require_principal
from .context import AppContext
from .uploads import UploadedForm, read_form


def ctx_of(request: Request) -> AppContext:
    return request.app.state.ctx


def principal_of(request: Request) -> Principal:
    return require_principal(request)


MAX_DB_ID = 2**63 - 1  # SQLite's INTEGER range; ids are never below 1


def db_id(value: int, what: str) -> int:
    """A catalog id from a URL: anything outside SQLite's range cannot name a row (404,
    rather than an overflow deep in sqlite3)."""
    if not 1 <= value <= MAX_DB_ID:
        raise NotFoundError(f"no {what} {value}")
    return value


async def read_photos(request: Request, files: dict[str, str],
                      fields: set[str] | frozenset[str] = frozenset()) -> UploadedForm:
    """The route's multipart form, in memory, under the store's photo byte limit."""
    return await read_form(request, files, fields, ctx_of(request).settings.max_image_bytes)


def form_values(model: type[BaseModel], fields: dict[str, str]) -> Any:
    """Validate a form's text fields with a pydantic model (422 like any request)."""
    try:
        return model.model_validate({k: v for k, v in fields.items() if v != ""})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def require_purpose(purpose: str | None, case: str | None) -> tuple[str, str]:
    purpose, case = (purpose or "").strip(), (case or "").strip()
    missing = [n for n, v in (("purpose", purpose), ("case", case)) if not v]
    if missing:
        raise LawfulBasisError(
            f"a search or verification needs a {' and a '.join(missing)} "
            "(recorded in the audit log)"
        )
    return purpose, case


def to_jsonable(value: Any) -> Any:
    """Frozen dataclasses, enums, paths and numpy scalars -> plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr or f.name != "embedding"}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return value.item()
        except (TypeError, ValueError):
            return None
    if isinstance(value, bytes):
        return None
    return value
