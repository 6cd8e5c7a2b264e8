"""Probe -> faces -> nearest faces in the index -> catalog rows -> decided matches."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import NoFaceError
from ..images import DecodedImage, ImageLimits, decode_image, read_image_file
from ..parts import HasCatalog, HasModels, HasVectors
from ..types import FaceEmbedding, Match, ProbeResult
from .decisions import OperatingPoint
from .probe_quality import point_for_probe


@runtime_checkable
class SearchParts(HasModels, HasVectors, HasCatalog, Protocol):
    """A search: the models (the probe's faces), the vector index and the catalog (the
    matched faces' rows)."""


def load_probe(image: bytes | str | Path | DecodedImage, limits: ImageLimits) -> DecodedImage:
    """Decode a probe from bytes or a path. The probe is only ever held in memory."""
    if isinstance(image, DecodedImage):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(bytes(image), limits, name="probe")
    return read_image_file(Path(image), limits)


def probe_faces(
    store: SearchParts, image: DecodedImage, largest_only: bool = False
) -> list[FaceEmbedding]:
    faces = store.analyzer.analyze(image.bgr, largest_only=largest_only)
    if not faces:
        raise NoFaceError("no face was found in the probe photo")
    return faces


def search_index(
    store: SearchParts, faces: list[FaceEmbedding], k: int, point: OperatingPoint
) -> list[ProbeResult]:
    queries = np.stack([f.embedding for f in faces]).astype(np.float32)
    sims, ids = store.index_file.search(queries, k)
    wanted = sorted({int(i) for i in ids.reshape(-1) if i >= 0})
    records = store.catalog.faces(wanted)
    results = []
    for face, row_sims, row_ids in zip(faces, sims, ids):
        probe_point, warning = point_for_probe(point, face.quality)
        matches = []
        for sim, face_id in zip(row_sims, row_ids):
            record = records.get(int(face_id))
            if record is None:  # erased since the index was searched, or never committed
                continue
            matches.append(
                Match(
                    rank=len(matches) + 1,
                    face_id=record.id,
                    similarity=round(float(sim), 4),
                    decision=probe_point.decide(float(sim)),
                    photo_id=record.photo_id,
                    photo_uri=record.photo_uri,
                    source=record.source,
                    box=record.box,
                    quality=round(record.quality, 3),
                    yaw=_rounded(record.yaw),
                    pitch=_rounded(record.pitch),
                )
            )
        results.append(ProbeResult(
            probe_face=face.face, matches=matches, quality=round(face.quality, 3),
            yaw=round(face.yaw, 1), pitch=round(face.pitch, 1), uncertain=bool(warning),
            warning=warning,
        ))
    return results


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
