"""Detector -> alignment -> recognizer, for one decoded photo."""

from __future__ import annotations

import threading

import numpy as np

from ..types import DetectedFace, FaceEmbedding
from .base import Detector, Recognizer


def face_quality(face: DetectedFace) -> float:
    """A simple quality in [0, 1]: detector confidence, discounted for faces smaller than
    64 pixels on their short side (small faces carry less identity information)."""
    short = min(face.box.width, face.box.height)
    return float(max(0.0, min(1.0, face.score)) * min(1.0, max(short, 0.0) / 64.0))


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
