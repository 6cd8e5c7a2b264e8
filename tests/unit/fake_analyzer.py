"""A small fake analyzer for unit tests of the store's paths (ingest, erasure, reconcile).

Photos are black frames holding one coloured square: the square is "the face" and its
colour "the person" (a fine checker pattern on it keeps the crop sharp, as quality checks
want). :class:`SquareDetector` finds the square; :class:`ColourRecognizer` gives each
person's colour a fixed random unit vector (different people are near-orthogonal, far below
any threshold; the same person gives the same vector). They are real
:class:`~faceledger.models.base.Detector` / ``Recognizer`` subclasses, wrapped in the real
:class:`~faceledger.models.analyzer.FaceAnalyzer`, so ingest lanes, siblings and batching run
their own code; only the networks are fake. Each model counts its calls.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from faceledger.models.analyzer import FaceAnalyzer
from faceledger.models.base import Detector, Recognizer
from faceledger.models.registry import get_pack
from faceledger.types import Box, DetectedFace, Landmarks

COLOURS = {"ada": (40, 40, 220), "ben": (40, 200, 40), "cy": (220, 120, 20),
           "dee": (200, 200, 200)}


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.calls += n


class SquareDetector(Detector):
    cloneable = True

    def __init__(self, counter: Counter | None = None) -> None:
        super().__init__()
        self.counter = counter or Counter()

    def clone(self) -> SquareDetector:
        return SquareDetector(self.counter)

    def _load(self) -> None:
        pass

    def _detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        self.counter.add()
        ys, xs = np.nonzero(bgr.max(axis=2) > 10)
        if xs.size == 0:
            return []
        x, y = float(xs.min()), float(ys.min())
        w, h = float(xs.max() + 1 - x), float(ys.max() + 1 - y)
        marks = Landmarks(((x + 0.3 * w, y + 0.4 * h), (x + 0.7 * w, y + 0.4 * h),
                           (x + 0.5 * w, y + 0.6 * h), (x + 0.35 * w, y + 0.8 * h),
                           (x + 0.65 * w, y + 0.8 * h)))
        return [DetectedFace(Box(x, y, w, h), marks, 0.99)]


class ColourRecognizer(Recognizer):
    concurrent = True

    def __init__(self, embedding_size: int, counter: Counter | None = None) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.counter = counter or Counter()

    def _load(self) -> None:
        pass

    def align(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        b = face.box
        crop = bgr[int(b.y) : int(b.y + b.height), int(b.x) : int(b.x + b.width)]
        return cv2.resize(crop, (64, 64), interpolation=cv2.INTER_NEAREST)

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        self.counter.add(len(crops))
        palette = np.array(list(COLOURS.values()), dtype=np.float64)
        out = []
        for crop in crops:
            mean = crop.reshape(-1, 3).mean(axis=0)
            person = int(np.argmin(np.linalg.norm(palette - mean, axis=1)))
            out.append(np.random.default_rng(person).normal(size=self.embedding_size))
        return np.asarray(out, dtype=np.float32)


def fake_analyzer(pack: str = "yunet-omz0095") -> FaceAnalyzer:
    """The fake models under ``pack``'s name, thresholds and vector size."""
    spec = get_pack(pack)
    return FaceAnalyzer(spec, SquareDetector(), ColourRecognizer(spec.embedding_size))


def square_photo(path: Path, person: str | None, x: int = 40, y: int = 30,
                 side: int = 80, size: tuple[int, int] = (200, 160)) -> Path:
    """A PNG of ``size`` (w, h): black, with ``person``'s square (none for None)."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    if person is not None:
        ys, xs = np.mgrid[:side, :side]
        checker = np.where((ys // 4 + xs // 4) % 2 == 0, 40, -40)[:, :, None]
        square = np.clip(np.array(COLOURS[person]) + checker, 0, 255)
        image[y : y + side, x : x + side] = square.astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path
