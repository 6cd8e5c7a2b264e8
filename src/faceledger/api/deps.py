"""Small helpers shared by the route modules."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import Request, UploadFile

from ..errors import ImageDecodeError, ImageTooLargeError, LawfulBasisError
from .auth import Principal, require_principal
from .context import AppContext


def ctx_of(request: Request) -> AppContext:
    return request.app.state.ctx


def principal_of(request: Request) -> Principal:
    return require_principal(request)


async def read_upload(ctx: AppContext, upload: UploadFile, what: str = "photo") -> bytes:
    """The upload's bytes, refused past the configured byte limit without reading it all."""
    limit = ctx.settings.max_image_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLargeError(f"the {what} is over the {limit // (1024 * 1024)} MiB limit")
    if not data:
        raise ImageDecodeError(f"the {what} upload is empty")
    return data


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
