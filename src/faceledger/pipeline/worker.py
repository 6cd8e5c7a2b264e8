"""The per-photo work of ingest: read (through :mod:`.reader`), hash, decode, detect, align,
embed. One photo's failure of any kind is that photo's recorded error.

``analyze_photo`` is a pure function of a file and an analyzer. :class:`AnalysisLane` is
one core's worth of the same work for a batch of photos, pipelined: reading and decoding
run in threads a few photos ahead of the models, each photo's faces are aligned as soon as
it is detected (its pixels are then dropped), and the crops of the whole batch are embedded
together. A lane is what a pool worker process, a Ray actor, or the ingesting process
itself (one worker) runs. For the process pool, each worker process builds one lane in its
initializer and keeps it in ``_WORKER``: process-local state that exists only inside pool
workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import FaceLedgerError
from ..images import DecodedImage, ImageLimits, decode_image
from ..models.analyzer import FaceAnalyzer, PreparedPhoto
from ..types import FaceEmbedding
from .reader import PhotoRef, read_photo


@dataclass
class FaceRow:
    box: list[float]
    landmarks: list[list[float]]
    score: float
    quality: float
    embedding: np.ndarray = field(repr=False)
    yaw: float | None = None
    pitch: float | None = None
    sharpness: float | None = None


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


def read_result(ref: PhotoRef, limits: ImageLimits) -> DecodedImage | PhotoResult:
    """The decoded photo, or its error result: never an exception."""
    try:
        return read_ref(ref, limits)
    except FaceLedgerError as exc:
        return PhotoResult(uri=ref.uri, error=exc.message)
    except Exception as exc:  # a poison pill in one photo must not stop the run
        return PhotoResult(uri=ref.uri, error=unexpected(exc, "reading and decoding"))


def read_bgr(ref: PhotoRef, limits: ImageLimits) -> tuple[DecodedImage, np.ndarray] | PhotoResult:
    """:func:`read_result` plus the photo's BGR pixels (the models' input), made in the
    reader thread: OpenCV's channel swap releases the GIL and is several times faster
    than NumPy's strided copy (``DecodedImage.bgr``), with the same pixels."""
    image = read_result(ref, limits)
    if isinstance(image, PhotoResult):
        return image
    return image, cv2.cvtColor(image.rgb, cv2.COLOR_RGB2BGR)


def _rows(found: list[FaceEmbedding]) -> list[FaceRow]:
    return [
        FaceRow(
            box=[f.face.box.x, f.face.box.y, f.face.box.width, f.face.box.height],
            landmarks=f.face.landmarks.as_list(),
            score=f.face.score,
            quality=f.quality,
            embedding=np.asarray(f.embedding, dtype=np.float32),
            yaw=f.yaw,
            pitch=f.pitch,
            sharpness=f.sharpness,
        )
        for f in found
    ]


def _image_result(ref: PhotoRef, image: DecodedImage, **rest) -> PhotoResult:
    return PhotoResult(uri=ref.uri, sha256=image.sha256, size_bytes=image.size_bytes,
                       width=image.width, height=image.height, **rest)


def _failed(exc: BaseException) -> str:
    return f"analysis failed: {type(exc).__name__}: {exc}"


def analyze_photo(ref: PhotoRef, analyzer: FaceAnalyzer, limits: ImageLimits) -> PhotoResult:
    """One photo's result, never an exception: whatever goes wrong with this photo (a
    refused or unreadable file, a hostile archive member, a bug in a decoder or a model)
    becomes its recorded error, and the run goes on with the next photo."""
    image = read_result(ref, limits)
    if isinstance(image, PhotoResult):
        return image
    try:
        faces = _rows(analyzer.analyze(image.bgr))
    except Exception as exc:  # a model failure on one photo must not stop the run
        return _image_result(ref, image, error=_failed(exc))
    return _image_result(ref, image, faces=faces)


READ_AHEAD = 3  # photos read and decoded ahead of the models, per lane
FACES_PER_CALL = 1  # faces (each with its mirror image) per recognizer call; see below


class AnalysisLane:
    """One core's worth of analysis for batches of photos (see the module docstring).

    Memory: at most ``read_ahead`` decoded photos wait for the models, and a batch keeps
    only its crops (128 x 128 each) until they are embedded. ``faces_per_call``: on the
    2-core AMD EPYC (AVX2, f32) the 0095 network costs 12-14 ms of CPU per crop in batches
    of 2 (one face and its mirror image, a network compiled for that size) and 15-16 ms in
    batches of 4 to 16 (docs/benchmarks.md), so by default crops of many photos reach the
    recognizer together but go through the network a face at a time."""

    def __init__(self, analyzer: FaceAnalyzer, limits: ImageLimits,
                 read_ahead: int = READ_AHEAD, faces_per_call: int | None = FACES_PER_CALL,
                 readers: int = 2, ready: Callable[[], object] | None = None) -> None:
        self.analyzer = analyzer
        self.limits = limits
        # called before each embedding: waits for models still loading and raises their
        # load error, which fails the run (not one photo after another)
        self.ready = ready
        self.read_ahead = max(1, read_ahead)
        self.faces_per_call = faces_per_call
        self._readers = cf.ThreadPoolExecutor(max(1, readers), thread_name_prefix="read")

    def close(self) -> None:
        self._readers.shutdown(wait=True, cancel_futures=True)

    def analyze(self, refs: list[PhotoRef]) -> list[PhotoResult]:
        """Results in the order of ``refs``; one photo's failure is that photo's error."""
        results: list[PhotoResult | None] = [None] * len(refs)
        prepared: list[tuple[PhotoResult, PreparedPhoto]] = []  # crops, not pixels, are kept
        ahead: deque[cf.Future] = deque()
        pending = iter(refs)
        for ref in pending:
            ahead.append(self._readers.submit(read_bgr, ref, self.limits))
            if len(ahead) >= self.read_ahead:
                break
        for i, ref in enumerate(refs):
            read = ahead.popleft().result()
            nxt = next(pending, None)
            if nxt is not None:
                ahead.append(self._readers.submit(read_bgr, nxt, self.limits))
            if isinstance(read, PhotoResult):
                results[i] = read
                continue
            image, bgr = read
            results[i] = result = _image_result(ref, image)
            try:
                prepared.append((result, self.analyzer.prepare(bgr)))
            except Exception as exc:  # a model failure on one photo must not stop the run
                result.error = _failed(exc)
        self._embed(prepared)
        return [r for r in results if r is not None]

    def _embed(self, prepared: list[tuple[PhotoResult, PreparedPhoto]]) -> None:
        if not prepared:
            return
        if self.ready is not None:
            self.ready()
        try:
            found = self.analyzer.embed_prepared([p for _, p in prepared], self.faces_per_call)
        except Exception:  # one bad photo must not fail its batch: embed them one by one
            for result, photo in prepared:
                try:
                    result.faces = _rows(
                        self.analyzer.embed_prepared([photo], self.faces_per_call)[0])
                except Exception as exc:
                    result.error = _failed(exc)
            return
        for (result, _), faces in zip(prepared, found):
            result.faces = _rows(faces)


_WORKER: dict[str, object] = {}


def init_worker(pack: str, models_dir: str, accept_research: bool, limits: ImageLimits,
                compiled_cache: str = "auto") -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
    _exit_with_parent()
    _WORKER["lane"] = load_lane(pack, models_dir, accept_research, limits, compiled_cache)


def load_lane(pack: str, models_dir: str, accept_research: bool,
              limits: ImageLimits, compiled_cache: str = "auto") -> AnalysisLane:
    """A lane with its own copy of the pack's models, loaded now (once per worker);
    ``compiled_cache``: the setting that names where compiled networks are kept."""
    from ..models.compiled_cache import cache_for
    from ..models.registry import load_pack

    analyzer = load_pack(pack, Path(models_dir), accept_research, threads=1,
                         cache=cache_for(compiled_cache))
    analyzer.load()
    return AnalysisLane(analyzer, limits)


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
    lane = _WORKER["lane"]
    assert isinstance(lane, AnalysisLane)
    return lane.analyze(refs)
