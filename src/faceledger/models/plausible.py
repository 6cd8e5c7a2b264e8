"""Refuse detections whose five landmarks cannot be a face's (ears, hair, patterns).

A detector's box with a high score on an ear or a tuft of hair still comes with five
landmarks, and they give it away: points outside the box, "eyes" wider apart than the box,
an eye-mouth distance no face has for its box, or, on a low score, both eyes on one side of
the nose squeezed together (the pattern an ear or a cheek's edge gives). Real profiles also
put both eyes on one side of the nose, so that rule needs a low score too.

The limits were read off YuNet's detections on the WIDER dev subset (docs/benchmarks.md,
"Landmark plausibility"): on real faces the eye-mouth distance is 0.25-0.46 of the box's
height and the eye distance at most 0.8 of its width.
"""

from __future__ import annotations

import numpy as np

from ..types import DetectedFace
from .pose import face_axes

BOX_MARGIN = 0.25  # landmarks may stray this fraction of the box outside it
EYE_MOUTH_RANGE = (0.12, 0.9)  # eye-mouth distance over box height
MAX_EYE_WIDTH = 0.9  # eye distance over box width
LOW_SCORE = 0.6  # below it, a squeezed one-sided face is refused
SQUEEZED_EYES = 0.1  # eye distance over box width that counts as squeezed


def implausible(face: DetectedFace) -> str | None:
    """Why ``face``'s landmarks cannot be a face's, or None when they can."""
    b = face.box
    if b.width <= 0 or b.height <= 0:
        return "empty box"
    p = face.landmarks.as_array().astype(np.float64)
    mx, my = BOX_MARGIN * b.width, BOX_MARGIN * b.height
    inside = ((p[:, 0] >= b.x - mx) & (p[:, 0] <= b.x + b.width + mx)
              & (p[:, 1] >= b.y - my) & (p[:, 1] <= b.y + b.height + my))
    if not inside.all():
        return "landmarks outside the box"
    eyes, right, _down, height = face_axes(p)
    ratio = height / b.height
    if not EYE_MOUTH_RANGE[0] <= ratio <= EYE_MOUTH_RANGE[1]:
        return f"eye-mouth distance {ratio:.2f} of the box height"
    eye_width = float(np.hypot(*(p[1] - p[0]))) / b.width
    if eye_width > MAX_EYE_WIDTH:
        return f"eye distance {eye_width:.2f} of the box width"
    nose = float((p[2] - eyes) @ right)
    left, rightmost = float((p[0] - eyes) @ right), float((p[1] - eyes) @ right)
    one_side = (left - nose) * (rightmost - nose) > 0
    if face.score < LOW_SCORE and one_side and eye_width < SQUEEZED_EYES:
        return "low score, both eyes squeezed on one side of the nose"
    return None


def plausible_faces(faces: list[DetectedFace]) -> list[DetectedFace]:
    """``faces`` without those :func:`implausible` refuses."""
    return [f for f in faces if implausible(f) is None]
