"""The two model roles and the analyzer that chains them.

Models follow a load/predict pair with lazy loading: a model object is cheap to build, loads
its weights on first use (or on an explicit ``load()``), and can be handed a ready runtime
session in unit tests.
"""

from __future__ import annotations

import abc
import threading

import numpy as np

from ..types import DetectedFace


class Model(abc.ABC):
    """Lazy-loading base: ``load()`` once, then ``predict``-style calls."""

    def __init__(self) -> None:
        self._loaded = False
        self._lock = threading.Lock()

    def load(self) -> None:
        if self._loaded:  # no lock on calls once loaded
            return
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded

    @abc.abstractmethod
    def _load(self) -> None: ...


class Detector(Model):
    """Finds faces with five landmarks in a BGR uint8 image."""

    #: True if :meth:`clone` gives a copy (so that threads can detect at once)
    cloneable: bool = False

    def clone(self) -> Detector | None:
        """A copy of this detector for another thread (the same weights and settings), or
        None if this detector cannot be copied cheaply: then threads share it, one at a
        time."""
        return None

    def detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        self.load()
        if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.shape[0] < 2 or bgr.shape[1] < 2:
            return []
        return self._detect(bgr)

    @abc.abstractmethod
    def _detect(self, bgr: np.ndarray) -> list[DetectedFace]: ...


class Recognizer(Model):
    """Turns a face (image + landmarks) into an L2-normalised embedding."""

    embedding_size: int
    #: True if several threads may embed at once (the recognizer keeps per-thread state
    #: and its runtime runs calls from different threads side by side)
    concurrent: bool = False

    def embed(self, bgr: np.ndarray, faces: list[DetectedFace], flip: bool = False) -> np.ndarray:
        self.load()
        if not faces:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        return self.embed_crops([self.align(bgr, face) for face in faces], flip=flip)

    def embed_crops(self, crops: list[np.ndarray], flip: bool = False,
                    faces_per_call: int | None = None) -> np.ndarray:
        """Embeddings of aligned crops, which may come from many photos (ingest aligns each
        photo's faces as soon as it is detected and embeds the crops of several photos in
        one go, so that a photo's pixels need not be kept until its faces are embedded).
        ``faces_per_call`` is a hint for recognizers that batch; others ignore it."""
        self.load()
        if not crops:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        vectors = self._embed(crops)
        if flip:
            vectors = vectors + self._embed([np.ascontiguousarray(c[:, ::-1]) for c in crops])
        return l2_normalise(vectors)

    @abc.abstractmethod
    def align(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray: ...

    @abc.abstractmethod
    def _embed(self, crops: list[np.ndarray]) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
