"""YuNet's network pass on an :class:`~.session.InferenceSession` instead of OpenCV's
``FaceDetectorYN``: the same pre- and post-processing in NumPy.

OpenCV reshapes the network to each image (padded on the right and bottom to a multiple of
32) and decodes the twelve outputs itself. Here:

* a session with a dynamic input (OpenVINO, :func:`~.session.dynamic_image`) is fed the image
  padded to a multiple of 32, exactly like OpenCV; its detections match FaceDetectorYN's;
* a session that must keep the published 1x3x640x640 input (ONNX Runtime, ``fixed_side=640``)
  gets the image padded into it (same detections up to border effects) or, if larger, scaled
  down to fit first (a letterbox, which loses small faces in large photos).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ModelError
from ..types import Box, DetectedFace, Landmarks
from .session import InferenceSession, run_single

STRIDES = (8, 16, 32)
DIVISOR = 32


def decode_yunet(
    outputs: dict[str, np.ndarray],
    pad_width: int,
    pad_height: int,
    score_threshold: float,
    nms_threshold: float,
    top_k: int = 5000,
) -> np.ndarray:
    """Decode YuNet's ``cls_*``, ``obj_*``, ``bbox_*``, ``kps_*`` outputs for a network input
    of ``pad_width`` x ``pad_height`` into rows ``x, y, w, h, 10 landmark coords, score``
    (OpenCV FaceDetectorYN's layout), after non-maximum suppression."""
    rows = []
    for stride in STRIDES:
        cols, nrows = pad_width // stride, pad_height // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        if cls.size != cols * nrows:
            raise ModelError(
                f"YuNet cls_{stride} has {cls.size} anchors, expected {cols * nrows} for a "
                f"{pad_width}x{pad_height} input"
            )
        score = np.sqrt(cls * obj)
        keep = np.nonzero(score >= score_threshold)[0]
        if keep.size == 0:
            continue
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[keep]
        col = (keep % cols).astype(np.float32)
        row = (keep // cols).astype(np.float32)
        cx = (col + bbox[:, 0]) * stride
        cy = (row + bbox[:, 1]) * stride
        w = np.exp(bbox[:, 2]) * stride
        h = np.exp(bbox[:, 3]) * stride
        pts = np.empty((keep.size, 10), dtype=np.float32)
        pts[:, 0::2] = (kps[:, 0::2] + col[:, None]) * stride
        pts[:, 1::2] = (kps[:, 1::2] + row[:, None]) * stride
        rows.append(
            np.column_stack([cx - w / 2, cy - h / 2, w, h, pts, score[keep]]).astype(np.float32)
        )
    if not rows:
        return np.zeros((0, 15), dtype=np.float32)
    found = np.concatenate(rows, axis=0)
    kept = cv2.dnn.NMSBoxes(
        found[:, :4].tolist(), found[:, 14].tolist(), score_threshold, nms_threshold, top_k=top_k
    )
    kept = np.asarray(kept, dtype=np.int64).reshape(-1)
    return found[kept]


def rows_to_faces(rows: np.ndarray, factor: float = 1.0) -> list[DetectedFace]:
    """FaceDetectorYN-layout rows as faces (coordinates times ``factor``), largest first."""
    out = []
    for row in rows:
        x, y, w, h = (float(v) * factor for v in row[:4])
        pts = tuple(
            (float(row[4 + 2 * i]) * factor, float(row[5 + 2 * i]) * factor) for i in range(5)
        )
        out.append(DetectedFace(Box(x, y, w, h), Landmarks(pts), float(row[14])))
    out.sort(key=lambda f: f.box.area, reverse=True)
    return out


def session_pass(
    session: InferenceSession,
    bgr: np.ndarray,
    score_threshold: float,
    nms_threshold: float,
    fixed_side: int | None = None,
) -> list[DetectedFace]:
    """One YuNet pass over ``bgr`` at its own size (``fixed_side``: the session's fixed
    square input, which a larger image is scaled down to fit)."""
    height, width = bgr.shape[:2]
    factor = 1.0
    image = bgr
    if fixed_side:
        pad_w = pad_h = fixed_side
        if max(height, width) > fixed_side:
            factor = max(height, width) / fixed_side
            size = (min(fixed_side, round(width / factor)), min(fixed_side, round(height / factor)))
            image = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    else:
        pad_w = ((width - 1) // DIVISOR + 1) * DIVISOR
        pad_h = ((height - 1) // DIVISOR + 1) * DIVISOR
    blob = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)
    h, w = image.shape[:2]
    blob[0, :, :h, :w] = image.transpose(2, 0, 1)
    rows = decode_yunet(run_single(session, blob), pad_w, pad_h, score_threshold, nms_threshold)
    return rows_to_faces(rows, factor)
