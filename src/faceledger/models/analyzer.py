"""Detector -> alignment -> recognizer, for one decoded photo or for many.

For many photos (ingest), :meth:`FaceAnalyzer.prepare` detects and aligns one photo's faces
(after which its pixels are no longer needed) and :meth:`FaceAnalyzer.embed_prepared` embeds
the crops of several prepared photos together: the recognizer sees the faces of many photos
in its batches, and how it batches them is the recognizer's business.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..types import DetectedFace, FaceEmbedding
from .base import Detector, Recognizer
from .plausible import plausible_faces
from .prominence import most_prominent
from .quality import assess


def face_quality(face: DetectedFace, crop: np.ndarray | None = None) -> float:
    """The face's quality in [0, 1] (:func:`faceledger.models.quality.assess`): detector
    score x size x sharpness of the aligned ``crop`` x pose."""
    return assess(face, crop).quality


def _embedded(face: DetectedFace, crop: np.ndarray, vector: np.ndarray) -> FaceEmbedding:
    q = assess(face, crop)
    return FaceEmbedding(face=face, embedding=vector, quality=q.quality, yaw=q.pose.yaw,
                         pitch=q.pose.pitch, sharpness=q.sharpness)


@dataclass
class PreparedPhoto:
    """One photo's detected faces and their aligned crops, ready to be embedded."""

    faces: list[DetectedFace]
    crops: list[np.ndarray] = field(repr=False)


class FaceAnalyzer:
    def __init__(self, spec, detector: Detector, recognizer: Recognizer) -> None:
        self.spec = spec
        self.detector = detector
        self.recognizer = recognizer
        # Model objects keep per-call state (YuNet its input size), so each is used by one
        # thread at a time; a detection and an embedding may still run side by side.
        self._detect_lock = threading.Lock()
        self._embed_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def embedding_size(self) -> int:
        return self.spec.embedding_size

    def load(self) -> None:
        self.detector.load()
        self.recognizer.load()

    def load_async(self) -> cf.Future:
        """Load the detector now and the recognizer in a thread of its own, and return a
        future of the recognizer's load at once (its ``result()`` re-raises a load error).

        Reading the recognizer's compiled network is most of a fresh store's start-up
        (0.12 of 0.14 s here, with the GIL released), so an ingest detects its first photos
        meanwhile; an embedding waits for the recognizer, whose load is locked."""
        self.detector.load()
        future: cf.Future = cf.Future()
        if self.recognizer.loaded:
            future.set_result(None)
            return future

        def run() -> None:
            try:
                self.recognizer.load()
            except BaseException as exc:  # the ingest raises it from the future
                future.set_exception(exc)
            else:
                future.set_result(None)

        threading.Thread(target=run, name="recognizer-load", daemon=True).start()
        return future

    @property
    def parallel_in_threads(self) -> bool:
        """True if siblings in several threads detect and embed at once (the detector can
        be copied and the recognizer is ``concurrent``)."""
        return self.detector.cloneable and self.recognizer.concurrent

    def sibling(self) -> FaceAnalyzer:
        """An analyzer for another thread of this process, with the same results and one
        copy of the large model: its own detector where the detector can be copied (YuNet),
        the same recognizer; whatever cannot run in two threads at once (a detector that
        cannot be copied, a recognizer that is not ``concurrent``) stays behind this
        analyzer's locks. Ingest lanes in threads use one sibling each."""
        detector = self.detector.clone()
        twin = FaceAnalyzer(self.spec, detector or self.detector, self.recognizer)
        if detector is None:
            twin._detect_lock = self._detect_lock
        if not self.recognizer.concurrent:
            twin._embed_lock = self._embed_lock
        twin.detector.load()  # the recognizer is this one's: loaded, or loading (load_async)
        return twin

    def detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        """The detector's faces, without those whose landmarks cannot be a face's
        (:mod:`faceledger.models.plausible`: ears, hair)."""
        with self._detect_lock:
            return plausible_faces(self.detector.detect(bgr))

    def embed(self, bgr: np.ndarray, faces: list[DetectedFace]) -> np.ndarray:
        with self._embed_lock:
            return self.recognizer.embed(bgr, faces, flip=self.spec.flip)

    def analyze(self, bgr: np.ndarray, largest_only: bool = False) -> list[FaceEmbedding]:
        """Every face of the photo, embedded; with ``largest_only``, only "the" face of the
        photo: the most prominent (size x score x centrality, :mod:`.prominence`)."""
        faces = self.detect(bgr)
        if largest_only and faces:
            faces = [faces[most_prominent(faces, bgr.shape[1], bgr.shape[0]) or 0]]
        crops = [self.recognizer.align(bgr, f) for f in faces]
        with self._embed_lock:
            vectors = self.recognizer.embed_crops(crops, flip=self.spec.flip)
        return [_embedded(f, c, v) for f, c, v in zip(faces, crops, vectors)]

    def prepare(self, bgr: np.ndarray) -> PreparedPhoto:
        """Detect the photo's faces and align their crops (the recognizer's input)."""
        faces = self.detect(bgr)
        return PreparedPhoto(faces, [self.recognizer.align(bgr, f) for f in faces])

    def embed_prepared(self, photos: Sequence[PreparedPhoto],
                       faces_per_call: int | None = None) -> list[list[FaceEmbedding]]:
        """Embed the faces of several prepared photos in shared batches; one list of faces
        per photo, as :meth:`analyze` would give it."""
        crops = [c for p in photos for c in p.crops]
        with self._embed_lock:
            vectors = self.recognizer.embed_crops(crops, flip=self.spec.flip,
                                                  faces_per_call=faces_per_call)
        out: list[list[FaceEmbedding]] = []
        start = 0
        for p in photos:
            part = vectors[start : start + len(p.faces)]
            start += len(p.faces)
            out.append([_embedded(f, c, v) for f, c, v in zip(p.faces, p.crops, part)])
        return out

    def analyze_many(self, images: Sequence[np.ndarray],
                     faces_per_call: int | None = None) -> list[list[FaceEmbedding]]:
        """:meth:`analyze` for several photos, their faces embedded in shared batches."""
        return self.embed_prepared([self.prepare(bgr) for bgr in images], faces_per_call)
