"""YuNet face detector (OpenCV Zoo, MIT licence), run through OpenCV's FaceDetectorYN.

YuNet sees faces of roughly 10 to 300 pixels. Images larger than ``max_side`` are scaled
down before detection; small images in which nothing is found are tried once more with a
border, which rescues tight crops and selfies where the face fills the frame.

An optional multi-scale mode (``scales=(1.0, 2.0)`` ...) runs the network at several sizes of
the image, relative to its own size and without the ``max_side`` cap, and merges the results
with non-maximum suppression. Upscaled passes find faces below YuNet's ~10 px floor; at an
upscale only faces still small there (short side up to ``max_upscaled_face`` pixels) are kept,
so that faces cut by tile borders or blown up past the network's range do not add false
positives; passes larger than ``tile`` pixels on a side run tile by tile with an overlap.
The default (no scales) is the fast single pass used for ingest.
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
        scales: tuple[float, ...] = (),
        tile: int = 1600,
        max_upscaled_face: float = 128.0,
    ) -> None:
        super().__init__()
        self.scales = tuple(scales)
        self.tile = tile
        self.max_upscaled_face = max_upscaled_face
        self.model_path = Path(model_path)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.threads = threads
        self._net: cv2.FaceDetectorYN | None = None

    cloneable = True

    def clone(self) -> YuNetDetector:
        """The same detector for another thread: an OpenCV ``FaceDetectorYN`` keeps the
        input size of its last call, so threads must not share one (the network is 230 KB
        and loads in a few milliseconds)."""
        return YuNetDetector(
            self.model_path, self.score_threshold, self.nms_threshold, self.max_side,
            self.threads, self.scales, self.tile, self.max_upscaled_face,
        )

    def _load(self) -> None:
        if self.threads:
            cv2.setNumThreads(self.threads)
        self._net = cv2.FaceDetectorYN.create(
            str(self.model_path), "", (320, 320), self.score_threshold, self.nms_threshold, 5000
        )

    def _detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        if self.scales:
            return self._detect_multiscale(bgr)
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

    def _detect_multiscale(self, bgr: np.ndarray) -> list[DetectedFace]:
        height, width = bgr.shape[:2]
        found: list[DetectedFace] = []
        for scale in self.scales:
            size = (max(2, round(width * scale)), max(2, round(height * scale)))
            interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            image = bgr if scale == 1.0 else cv2.resize(bgr, size, interpolation=interp)
            faces = self._detect_tiled(image)
            if scale > 1.0:
                faces = [
                    f for f in faces if min(f.box.width, f.box.height) <= self.max_upscaled_face
                ]
            found.extend(_rescale(f, 1.0 / scale) for f in faces)
        return _nms(found, self.nms_threshold)

    def _detect_tiled(self, bgr: np.ndarray) -> list[DetectedFace]:
        height, width = bgr.shape[:2]
        if max(height, width) <= self.tile:
            return self.detect_raw(bgr)
        overlap = max(64, self.tile // 8)
        step = self.tile - overlap
        faces: list[DetectedFace] = []
        for y0 in range(0, max(height - overlap, 1), step):
            for x0 in range(0, max(width - overlap, 1), step):
                part = bgr[y0 : y0 + self.tile, x0 : x0 + self.tile]
                if part.shape[0] < 2 or part.shape[1] < 2:
                    continue
                faces.extend(_shift(f, x0, y0) for f in self.detect_raw(part))
        return _nms(faces, self.nms_threshold)

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


def _nms(faces: list[DetectedFace], iou_threshold: float) -> list[DetectedFace]:
    """Greedy non-maximum suppression by score; result sorted by area, largest first."""
    if len(faces) < 2:
        return faces
    boxes = np.array([[f.box.x, f.box.y, f.box.x + f.box.width, f.box.y + f.box.height]
                      for f in faces])
    scores = np.array([f.score for f in faces])
    order = np.argsort(-scores, kind="mergesort")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        ih = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.maximum(iw, 0) * np.maximum(ih, 0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    kept = [faces[i] for i in keep]
    kept.sort(key=lambda f: f.box.area, reverse=True)
    return kept
