"""The per-photo work of ingest: read (through :mod:`.reader`), hash, decode, detect, align,
embed. One photo's failure of any kind is that photo's recorded error.

``analyze_photo`` is a pure function of a file and an analyzer. For the process pool,
each worker process builds one analyzer in its initializer and keeps it in ``_WORKER``:
process-local state that exists only inside pool workers.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FaceLedgerError
from ..images import DecodedImage, ImageLimits, decode_image
from ..models.analyzer import FaceAnalyzer
from .reader import PhotoRef, read_photo


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
    """Read a photo through the source's reader and decode it, in bounded memory."""
    return decode_image(read_photo(ref, limits), limits, name=ref.uri)


def unexpected(exc: BaseException, stage: str) -> str:
    """A photo's recorded error for an exception nothing expected: its class and message."""
    return f"unexpected error while {stage}: {type(exc).__name__}: {exc}"


def analyze_photo(ref: PhotoRef, analyzer: FaceAnalyzer, limits: ImageLimits) -> PhotoResult:
    """One photo's result, never an exception: whatever goes wrong with this photo (a
    refused or unreadable file, a hostile archive member, a bug in a decoder or a model)
    becomes its recorded error, and the run goes on with the next photo."""
    try:
        image = read_ref(ref, limits)
    except FaceLedgerError as exc:
        return PhotoResult(uri=ref.uri, error=exc.message)
    except Exception as exc:  # a poison pill in one photo must not stop the run
        return PhotoResult(uri=ref.uri, error=unexpected(exc, "reading and decoding"))
    try:
        found = analyzer.analyze(image.bgr)
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
    except Exception as exc:  # a model failure on one photo must not stop the run
        return PhotoResult(
            uri=ref.uri, sha256=image.sha256, size_bytes=image.size_bytes,
            width=image.width, height=image.height,
            error=f"analysis failed: {type(exc).__name__}: {exc}",
        )
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
