"""YuNet face detector (OpenCV Zoo, MIT licence), run through OpenCV's FaceDetectorYN.

YuNet sees faces of roughly 10 to 300 pixels. Images larger than ``max_side`` are scaled
down before detection; small images in which nothing is found are tried once more with a
border, which rescues tight crops and selfies where the face fills the frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..types import Box, DetectedFace, Landmarks
from .base import Detector


class YuNetDetector(Detector):
    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_side: int = 1280,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.threads = threads
        self._net: cv2.FaceDetectorYN | None = None

    def _load(self) -> None:
        if self.threads:
            cv2.setNumThreads(self.threads)
        self._net = cv2.FaceDetectorYN.create(
            str(self.model_path), "", (320, 320), self.score_threshold, self.nms_threshold, 5000
        )

    def _detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        faces = self._detect_scaled(bgr)
        if not faces and max(bgr.shape[:2]) <= 640:
            pad = max(bgr.shape[:2]) // 2
            padded = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            faces = [_shift(f, -pad, -pad) for f in self._detect_scaled(padded)]
        return faces

    def _detect_scaled(self, bgr: np.ndarray) -> list[DetectedFace]:
        height, width = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        image = bgr
        if scale < 1.0:
            image = cv2.resize(
                bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
        return [_rescale(f, 1.0 / scale) for f in self.detect_raw(image)]

    def detect_raw(self, bgr: np.ndarray) -> list[DetectedFace]:
        """One pass of the network at the image's own size."""
        assert self._net is not None
        height, width = bgr.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(bgr)
        if rows is None:
            return []
        out = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            pts = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            out.append(DetectedFace(Box(x, y, w, h), Landmarks(pts), float(row[14])))
        out.sort(key=lambda f: f.box.area, reverse=True)
        return out


def _rescale(face: DetectedFace, factor: float) -> DetectedFace:
    if factor == 1.0:
        return face
    b = face.box
    return DetectedFace(
        Box(b.x * factor, b.y * factor, b.width * factor, b.height * factor),
        Landmarks(tuple((x * factor, y * factor) for x, y in face.landmarks.points)),
        face.score,
    )


def _shift(face: DetectedFace, dx: float, dy: float) -> DetectedFace:
    b = face.box
    return DetectedFace(
        Box(b.x + dx, b.y + dy, b.width, b.height),
        Landmarks(tuple((x + dx, y + dy) for x, y in face.landmarks.points)),
        face.score,
    )
