"""The per-photo work of ingest: read (through :mod:`.reader`), hash, decode, detect, align,
embed. One photo's failure of any kind is that photo's recorded error.

``analyze_photo`` is a pure function of a file and an analyzer. For the process pool,
each worker process builds one analyzer in its initializer and keeps it in ``_WORKER``:
process-local state that exists only inside pool workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
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
    _exit_with_parent()
    from ..models.registry import load_pack

    analyzer = load_pack(pack, Path(models_dir), accept_research, threads=1)
    analyzer.load()
    _WORKER["analyzer"] = analyzer
    _WORKER["limits"] = limits


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCH_SECONDS = 1.0


def _exit_with_parent() -> None:
    """A worker must not outlive the ingest process that started it (a killed parent
    would otherwise leave workers holding models and photos, blocked forever on a queue
    that nobody feeds). On Linux the kernel sends SIGKILL when the parent dies
    (``PR_SET_PDEATHSIG``; strictly, when the thread that spawned the worker ends, and
    ingest spawns the pool from the thread that also shuts it down). A watchdog thread that
    checks the parent pid covers other systems, and the race where the parent died before
    this ran (the expected pid comes from multiprocessing, not from getppid)."""
    spawner = multiprocessing.parent_process()  # the pool's process, as it told us
    parent = spawner.pid if spawner is not None and spawner.pid else os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog still works
    if os.getppid() != parent:  # died before the kernel was asked to tell us
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True
    ).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCH_SECONDS)
        if os.getppid() != parent:  # re-parented: the ingest process is gone
            os._exit(1)


def analyze_chunk(refs: list[PhotoRef]) -> list[PhotoResult]:
    analyzer = _WORKER["analyzer"]
    limits = _WORKER["limits"]
    assert isinstance(analyzer, FaceAnalyzer) and isinstance(limits, ImageLimits)
    return [analyze_photo(ref, analyzer, limits) for ref in refs]
