"""dlib's face models from PyPI: HOG frontal detector, 5-point shape predictor and the ResNet
128-d recognizer (``face-recognition-models==0.3.0``, CC0 weights; ``dlib-bin``, Boost licence).

Install with ``pip install 'faceledger[dlib]'``. Nothing is imported until a model loads.

Landmarks. dlib's 5-point predictor gives the two corners of each eye and the bottom of the
nose (subnasale), not the nose tip and mouth corners that :class:`~faceledger.types.Landmarks`
holds. :func:`dlib_points_to_landmarks` maps them: each eye is the mean of its two corners
(points 2-3 are the eye on the left of the picture, 0-1 the one on the right); the nose tip and
the mouth corners are placed along the line from the eye midpoint through the subnasale, at
ratios fitted on 290 LFW faces against YuNet's points (nose tip at 0.755 of the way to the
subnasale, mouth centre 1.373 times as far, corners 0.45 eye distances either side). Eyes agree
with YuNet's to ~7 % of the eye distance; the derived mouth corners to ~13 %. dlib's own
recognizer does not use them: it re-runs the shape predictor on the box and cuts dlib's chip.

Alignment. ``alignment="chip"`` is dlib's own: ``get_face_chip`` (150x150, padding 0.25) from
the shape predictor's points. ``alignment="landmarks"`` warps any detector's five points onto
:data:`DLIB_CHIP_REFERENCE_150`, where YuNet's points fall on dlib's chips (median over the same
290 faces; descriptors of the two crops agree to cosine ~0.99), so YuNet can feed the recognizer.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import cv2
import numpy as np

from ..errors import ModelError
from ..types import Box, DetectedFace, Landmarks
from .align import umeyama_similarity
from .base import Detector, Recognizer

CHIP_SIZE = 150
CHIP_PADDING = 0.25

# Where YuNet's five points (left eye, right eye, nose tip, left/right mouth corner) land on a
# dlib 150x150 chip, in fractions of the chip.
DLIB_CHIP_REFERENCE_150 = np.array(
    [
        [0.3128, 0.3003],
        [0.6871, 0.3060],
        [0.4992, 0.5182],
        [0.3401, 0.6800],
        [0.6635, 0.6819],
    ],
    dtype=np.float64,
)

NOSE_TIP_RATIO = 0.755
MOUTH_CENTRE_RATIO = 1.373
MOUTH_HALF_WIDTH = 0.45
INSTALL_HINT = "install the dlib extra: pip install 'faceledger[dlib]'"


def import_dlib() -> tuple[Any, Any]:
    """``(dlib, face_recognition_models)``, or a ModelError saying how to install them."""
    try:
        import dlib

        with warnings.catch_warnings():  # it imports pkg_resources, deprecated in setuptools
            warnings.simplefilter("ignore", UserWarning)
            import face_recognition_models
    except ImportError as exc:
        raise ModelError(f"the dlib pack needs dlib and face-recognition-models: {INSTALL_HINT} "
                         f"({exc})") from exc
    return dlib, face_recognition_models


def dlib_available() -> bool:
    try:
        import_dlib()
    except ModelError:
        return False
    return True


def dlib_points_to_landmarks(points: np.ndarray) -> Landmarks:
    """Map dlib's five points (eye corners x4, subnasale) to the Landmarks order."""
    pts = np.asarray(points, dtype=np.float64).reshape(5, 2)
    left_eye = pts[2:4].mean(axis=0)
    right_eye = pts[0:2].mean(axis=0)
    if left_eye[0] > right_eye[0]:  # a face upside down or mirrored: keep picture order
        left_eye, right_eye = right_eye, left_eye
    mid = (left_eye + right_eye) / 2
    across = right_eye - left_eye
    down = pts[4] - mid
    nose = mid + NOSE_TIP_RATIO * down
    mouth = mid + MOUTH_CENTRE_RATIO * down
    out = (left_eye, right_eye, nose, mouth - MOUTH_HALF_WIDTH * across,
           mouth + MOUTH_HALF_WIDTH * across)
    return Landmarks(tuple((float(x), float(y)) for x, y in out))


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _rectangle(dlib: Any, box: Box) -> Any:
    return dlib.rectangle(
        round(box.x), round(box.y),
        round(box.x + box.width), round(box.y + box.height),
    )


class DlibHogDetector(Detector):
    """dlib's HOG + linear SVM frontal face detector, with the 5-point shape predictor.

    The detector finds faces of about 80 pixels and more; images whose long side is at most
    ``upsample_below`` are upsampled once (faces down to ~40 px, about 5x slower). Larger images
    are scaled down to ``max_side``. The score is the SVM margin squashed to (0, 1) by a
    logistic function: 0.5 at the detector's own threshold.
    """

    def __init__(self, max_side: int = 1280, upsample_below: int = 800) -> None:
        super().__init__()
        self.max_side = max_side
        self.upsample_below = upsample_below
        self._detector: Any = None
        self._predictor: Any = None
        self._dlib: Any = None

    def _load(self) -> None:
        dlib, models = import_dlib()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())

    def _detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        height, width = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        rgb = _rgb(bgr)
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        upsample = 1 if max(rgb.shape[:2]) <= self.upsample_below else 0
        rects, scores, _ = self._detector.run(rgb, upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._predictor(rgb, rect)
            pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64) / scale
            box = Box(rect.left() / scale, rect.top() / scale,
                      rect.width() / scale, rect.height() / scale)
            confidence = 1.0 / (1.0 + math.exp(-float(score)))
            faces.append(DetectedFace(box, dlib_points_to_landmarks(pts), confidence))
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces


class DlibRecognizer(Recognizer):
    """dlib's ResNet face recognizer (128-d; LFW 99.38 % published with dlib's alignment).

    Crops are RGB 150x150 chips. ``alignment="chip"`` re-runs the 5-point shape predictor in
    the face box and cuts dlib's own chip; ``alignment="landmarks"`` warps the detector's five
    points onto :data:`DLIB_CHIP_REFERENCE_150`.
    """

    embedding_size = 128

    def __init__(self, alignment: str = "chip", batch: int = 8) -> None:
        if alignment not in ("chip", "landmarks"):
            raise ModelError(f"unknown dlib alignment {alignment!r}; use 'chip' or 'landmarks'")
        super().__init__()
        self.alignment = alignment
        self.batch = batch
        self._dlib: Any = None
        self._predictor: Any = None
        self._model: Any = None

    def _load(self) -> None:
        dlib, models = import_dlib()
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._model = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def align(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        self.load()  # the chip needs dlib's shape predictor (align may come before embed)
        rgb = _rgb(bgr)
        if self.alignment == "chip":
            shape = self._predictor(rgb, _rectangle(self._dlib, face.box))
            return np.asarray(self._dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING))
        dst = DLIB_CHIP_REFERENCE_150 * CHIP_SIZE
        matrix = umeyama_similarity(face.landmarks.as_array(), dst)
        return cv2.warpAffine(rgb, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        out = []
        for start in range(0, len(crops), self.batch):
            chunk = [np.ascontiguousarray(c) for c in crops[start : start + self.batch]]
            out.extend(np.asarray(d, dtype=np.float32) for d in
                       self._model.compute_face_descriptor(chunk))
        return np.stack(out).astype(np.float32)
