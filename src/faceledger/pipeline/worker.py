"""The per-photo work of ingest: read, hash, decode, detect, align, embed.

``analyze_photo`` is a pure function of a file and an analyzer. For the process pool,
each worker process builds one analyzer in its initializer and keeps it in ``_WORKER``:
process-local state that exists only inside pool workers.
"""

from __future__ import annotations

import signal
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FaceLedgerError, ImageDecodeError
from ..images import DecodedImage, ImageLimits, decode_image, read_image_file
from ..models.analyzer import FaceAnalyzer
from .listing import PhotoRef


@dataclass
class FaceRow:
    box: list[float]
    landmarks: list[list[float]]
    score: float
    quality: float
    embedding: np.ndarray = field(repr=False)


@dataclass
class PhotoResult:
    uri: str
    sha256: str | None = None
    size_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    faces: list[FaceRow] = field(default_factory=list)
    error: str | None = None


def read_ref(ref: PhotoRef, limits: ImageLimits) -> DecodedImage:
    if ref.member is None:
        return read_image_file(ref.path, limits)
    try:
        data = ref.read_bytes()
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ImageDecodeError(f"{ref.uri}: cannot read archive member ({exc})") from exc
    return decode_image(data, limits, name=ref.uri)


def analyze_photo(ref: PhotoRef, analyzer: FaceAnalyzer, limits: ImageLimits) -> PhotoResult:
    try:
        image = read_ref(ref, limits)
    except FaceLedgerError as exc:
        return PhotoResult(uri=ref.uri, error=exc.message)
    try:
        found = analyzer.analyze(image.bgr)
    except Exception as exc:  # a model failure on one photo must not stop the run
        return PhotoResult(
            uri=ref.uri, sha256=image.sha256, size_bytes=image.size_bytes,
            width=image.width, height=image.height, error=f"analysis failed: {exc}",
        )
    faces = [
        FaceRow(
            box=[f.face.box.x, f.face.box.y, f.face.box.width, f.face.box.height],
            landmarks=f.face.landmarks.as_list(),
            score=f.face.score,
            quality=f.quality,
            embedding=np.asarray(f.embedding, dtype=np.float32),
        )
        for f in found
    ]
    return PhotoResult(
        uri=ref.uri, sha256=image.sha256, size_bytes=image.size_bytes,
        width=image.width, height=image.height, faces=faces,
    )


_WORKER: dict[str, object] = {}


def init_worker(pack: str, models_dir: str, accept_research: bool, limits: ImageLimits) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
    from ..models.registry import load_pack

    analyzer = load_pack(pack, Path(models_dir), accept_research, threads=1)
    analyzer.load()
    _WORKER["analyzer"] = analyzer
    _WORKER["limits"] = limits


def analyze_chunk(refs: list[PhotoRef]) -> list[PhotoResult]:
    analyzer = _WORKER["analyzer"]
    limits = _WORKER["limits"]
    assert isinstance(analyzer, FaceAnalyzer) and isinstance(limits, ImageLimits)
    return [analyze_photo(ref, analyzer, limits) for ref in refs]
