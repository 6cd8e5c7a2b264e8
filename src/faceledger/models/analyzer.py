"""Detector -> alignment -> recognizer, for one decoded photo or for many.

For many photos (ingest), :meth:`FaceAnalyzer.prepare` detects and aligns one photo's faces
(after which its pixels are no longer needed) and :meth:`FaceAnalyzer.embed_prepared` embeds
the crops of several prepared photos together: the recognizer sees the faces of many photos
in its batches, and how it batches them is the recognizer's business.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..types import DetectedFace, FaceEmbedding
from .base import Detector, Recognizer


def face_quality(face: DetectedFace) -> float:
    """A simple quality in [0, 1]: detector confidence, discounted for faces smaller than
    64 pixels on their short side (small faces carry less identity information)."""
    short = min(face.box.width, face.box.height)
    return float(max(0.0, min(1.0, face.score)) * min(1.0, max(short, 0.0) / 64.0))


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
        twin.load()
        return twin

    def detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        with self._detect_lock:
            return self.detector.detect(bgr)

    def embed(self, bgr: np.ndarray, faces: list[DetectedFace]) -> np.ndarray:
        with self._embed_lock:
            return self.recognizer.embed(bgr, faces, flip=self.spec.flip)

    def analyze(self, bgr: np.ndarray, largest_only: bool = False) -> list[FaceEmbedding]:
        faces = self.detect(bgr)
        if largest_only and faces:
            faces = [max(faces, key=lambda f: f.box.area)]
        vectors = self.embed(bgr, faces)
        return [
            FaceEmbedding(face=f, embedding=v, quality=face_quality(f))
            for f, v in zip(faces, vectors)
        ]

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
            out.append([FaceEmbedding(face=f, embedding=v, quality=face_quality(f))
                        for f, v in zip(p.faces, part)])
        return out

    def analyze_many(self, images: Sequence[np.ndarray],
                     faces_per_call: int | None = None) -> list[list[FaceEmbedding]]:
        """:meth:`analyze` for several photos, their faces embedded in shared batches."""
        return self.embed_prepared([self.prepare(bgr) for bgr in images], faces_per_call)
