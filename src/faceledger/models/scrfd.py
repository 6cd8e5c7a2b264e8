"""InsightFace SCRFD face detectors (det_500m, det_2.5g) on an inference session (ONNX Runtime
or OpenVINO, :mod:`.session`).

Licence: InsightFace's models are for non-commercial research only; packs using them are
declared with ``research=True`` and load only when the licence is acknowledged.

Pre-processing as InsightFace's ``scrfd.py``: the image is scaled to fit ``input_size`` x
``input_size`` keeping its aspect ratio, put in the top-left corner of a black square, turned to
RGB and normalised as (x - 127.5) / 128. Outputs: for strides 8, 16 and 32 a score, four
distances (left, top, right, bottom from the anchor centre, in stride units) and ten landmark
offsets per anchor, with two anchors per grid cell. Landmarks come in the Landmarks order (left
eye, right eye, nose, left and right mouth corner as seen in the picture).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Box, DetectedFace, Landmarks
from .base import Detector
from .session import InferenceSession, load_session, run_single

STRIDES = (8, 16, 32)
ANCHORS = 2


def anchor_centres(side: int, stride: int) -> np.ndarray:
    """(x, y) of every anchor for a ``side`` x ``side`` input, each cell repeated ANCHORS times."""
    cells = side // stride
    ys, xs = np.mgrid[:cells, :cells]
    centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, ANCHORS, axis=0)


def decode_scrfd(
    outputs: list[np.ndarray], side: int, score_threshold: float, nms_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (x1, y1, x2, y2), landmarks (N x 5 x 2) and scores in input pixels, after NMS."""
    count = len(STRIDES)
    boxes, points, scores = [], [], []
    for i, stride in enumerate(STRIDES):
        score = np.asarray(outputs[i]).reshape(-1)
        keep = np.nonzero(score >= score_threshold)[0]
        if keep.size == 0:
            continue
        centres = anchor_centres(side, stride)[keep]
        dist = np.asarray(outputs[i + count]).reshape(-1, 4)[keep] * stride
        kps = np.asarray(outputs[i + 2 * count]).reshape(-1, 10)[keep] * stride
        boxes.append(np.column_stack([centres - dist[:, :2], centres + dist[:, 2:]]))
        points.append(kps.reshape(-1, 5, 2) + centres[:, None, :])
        scores.append(score[keep])
    if not boxes:
        return np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros((0,))
    box = np.concatenate(boxes)
    pts = np.concatenate(points)
    sc = np.concatenate(scores)
    xywh = np.column_stack([box[:, :2], box[:, 2:] - box[:, :2]])
    kept = np.asarray(
        cv2.dnn.NMSBoxes(xywh.tolist(), sc.tolist(), score_threshold, nms_threshold),
        dtype=np.int64,
    ).reshape(-1)
    return box[kept], pts[kept], sc[kept]


class ScrfdDetector(Detector):
    """The session takes a 1x3xSxS float32 blob; its nine outputs, in the model's order, are
    the scores, distances and landmark offsets of strides 8, 16, 32."""

    def __init__(
        self,
        session: InferenceSession,
        input_size: int = 640,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
    ) -> None:
        super().__init__()
        self.session = session
        self.input_size = input_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    cloneable = True

    def clone(self) -> ScrfdDetector:
        """The same detector on the same session (a session runs calls from several
        threads at once, and the detector keeps no per-call state)."""
        return ScrfdDetector(self.session, self.input_size, self.score_threshold,
                             self.nms_threshold)

    def _load(self) -> None:
        load_session(self.session)

    def _detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        height, width = bgr.shape[:2]
        side = self.input_size
        scale = side / max(height, width)
        new_w = max(1, min(side, round(width * scale)))
        new_h = max(1, min(side, round(height * scale)))
        resized = cv2.resize(bgr, (new_w, new_h))
        canvas = np.zeros((side, side, 3), dtype=np.float32)
        canvas[:new_h, :new_w] = resized[:, :, ::-1]
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        named = run_single(self.session, np.ascontiguousarray(blob, dtype=np.float32))
        outputs = [named[name] for name in self.session.output_names]
        boxes, points, scores = decode_scrfd(
            outputs, side, self.score_threshold, self.nms_threshold
        )
        sx, sy = width / new_w, height / new_h
        faces = []
        for (x1, y1, x2, y2), pts, score in zip(boxes, points, scores):
            box = Box(float(x1 * sx), float(y1 * sy), float((x2 - x1) * sx), float((y2 - y1) * sy))
            marks = Landmarks(tuple((float(x * sx), float(y * sy)) for x, y in pts))
            faces.append(DetectedFace(box, marks, float(score)))
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces
