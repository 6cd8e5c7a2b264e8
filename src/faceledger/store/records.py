"""Rows of the catalog as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..types import Box, SourceInfo


@dataclass(frozen=True)
class SourceRecord:
    id: int
    info: SourceInfo
    keep_photos_without_faces: bool
    created_at: str


@dataclass(frozen=True)
class PhotoRecord:
    id: int
    source: str
    uri: str
    sha256: str | None
    size_bytes: int | None
    width: int | None
    height: int | None
    status: str
    error: str | None
    ingested_at: str
    run_id: int | None


@dataclass(frozen=True)
class FaceRecord:
    id: int
    photo_id: int
    photo_uri: str
    source: str
    box: Box
    landmarks: list[list[float]]
    detector_score: float
    quality: float
    pack: str
    created_at: str
    run_id: int | None
    yaw: float | None = None  # degrees (None: stored before pose was estimated)
    pitch: float | None = None
    sharpness: float | None = None  # the quality's sharpness factor, in [0, 1]


@dataclass(frozen=True)
class RunRecord:
    id: int
    source: str
    pack: str
    status: str
    started_at: str
    finished_at: str | None
    photos: int
    faces: int
    errors: int
    duplicates: int
    skipped: int
    blocked: int
    seconds: float
    unsupported: int = 0  # files the source held in a format that is not decoded


@dataclass(frozen=True)
class CheckReport:
    ok: bool
    catalog_faces: int
    index_faces: int
    missing_in_index: list[int]
    extra_in_index: list[int]
    disk_faces: int | None = None  # faces in the index files (None: not checked)
    missing_on_disk: list[int] = field(default_factory=list)
    extra_on_disk: list[int] = field(default_factory=list)

    def summary(self) -> str:
        state = "agree" if self.ok else "DISAGREE"
        text = (
            f"catalog and index {state}: {self.catalog_faces} faces in the catalog, "
            f"{self.index_faces} vectors in the index"
        )
        if self.missing_in_index:
            text += f"; {len(self.missing_in_index)} faces missing from the index"
        if self.extra_in_index:
            text += f"; {len(self.extra_in_index)} index vectors without a catalog face"
        if self.disk_faces is not None:
            text += f", {self.disk_faces} in the index files"
        if self.missing_on_disk:
            text += f"; {len(self.missing_on_disk)} faces missing from the index files"
        if self.extra_on_disk:
            text += f"; {len(self.extra_on_disk)} index-file vectors without a catalog face"
        return text
