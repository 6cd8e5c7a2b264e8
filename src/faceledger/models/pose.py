"""Head pose (yaw, pitch, roll) from the detector's five landmarks.

A face is modelled as a plane holding the eyes and the mouth corners, with the nose tip in
front of it by ``d``. In the frame of that plane (roll removed), yaw moves the nose sideways
by ``d sin(yaw)`` while the eyes' half-distance shrinks to ``e cos(yaw)``, so

    tan(yaw) = (nose offset from the eye-mouth midline / half eye distance) * e / d

and pitch moves the nose along the eye-mouth line by ``d sin(pitch)`` while that line shrinks
to ``H cos(pitch)``. The ratios ``e / d`` and ``H / d`` are those of a generic 3D face (the
head-pose model of OpenCV's solvePnP tutorials: eye centres +-150, nose depth 130, eye-mouth
height 320, in its units); ``NOSE_HEIGHT`` is where YuNet puts the nose between eyes (0) and
mouth (1) on a level face: 0.565, the median of 600 LFW faces (OMZ 0095's template has 0.494,
which made LFW's median pitch -10 degrees).

Angles are in degrees. Yaw is positive when the nose is to the right of the face's midline in
the picture, pitch positive when the face looks up, roll positive when the eye line turns
clockwise in the picture (y pointing down). ``atan2`` saturates gracefully: on a full profile,
where the far eye collapses onto the near one, yaw tends to +-90 instead of blowing up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EYE_OVER_DEPTH = 150.0 / 130.0
HEIGHT_OVER_DEPTH = 320.0 / 130.0
NOSE_HEIGHT = 0.565


@dataclass(frozen=True)
class Pose:
    yaw: float
    pitch: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return {"yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1),
                "roll": round(self.roll, 1)}


def face_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(eye midpoint, unit "right" axis, unit "down" axis, eye-mouth distance) of five
    landmarks. The down axis runs from the eye midpoint to the mouth midpoint; the right axis
    is perpendicular to it (not the eye line, which collapses on profiles)."""
    p = np.asarray(points, dtype=np.float64).reshape(5, 2)
    eyes = (p[0] + p[1]) / 2.0
    mouth = (p[3] + p[4]) / 2.0
    down = mouth - eyes
    height = float(np.hypot(*down))
    if height < 1e-9:  # degenerate: fall back to the eye line, then to the image axes
        line = p[1] - p[0]
        norm = float(np.hypot(*line))
        right = line / norm if norm > 1e-9 else np.array([1.0, 0.0])
        return eyes, right, np.array([-right[1], right[0]]), 0.0
    down = down / height
    right = np.array([down[1], -down[0]])  # y down: rotating "down" a quarter turn back
    return eyes, right, down, height


def estimate_pose(points: np.ndarray) -> Pose:
    """Yaw, pitch and roll (degrees) of a face from its five landmarks (left eye, right eye,
    nose, left and right mouth corners, in picture order). The arithmetic of
    :func:`face_axes`, in plain floats: it runs for every face twice (alignment and
    quality), where NumPy's per-call cost on ten numbers is most of the time."""
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = (
        np.asarray(points, dtype=np.float64).reshape(5, 2).tolist())
    ex, ey = (lx + rx) / 2.0, (ly + ry) / 2.0
    downx, downy = (mlx + mrx) / 2.0 - ex, (mly + mry) / 2.0 - ey
    height = math.hypot(downx, downy)
    if height < 1e-9:  # degenerate (face_axes' fallback axes give a height of 0 too)
        return Pose(0.0, 0.0, 0.0)
    downx, downy = downx / height, downy / height
    rightx, righty = downy, -downx  # y down: rotating "down" a quarter turn back
    nosex, nosey = nx - ex, ny - ey
    offset = nosex * rightx + nosey * righty  # sideways, from the eye-mouth midline
    along = (nosex * downx + nosey * downy) / height  # 0 at the eyes, 1 at the mouth
    half_eyes = abs((rx - lx) * rightx + (ry - ly) * righty) / 2.0
    yaw = math.degrees(math.atan2(offset * EYE_OVER_DEPTH, half_eyes))
    pitch = math.degrees(math.atan((NOSE_HEIGHT - along) * HEIGHT_OVER_DEPTH))
    roll = math.degrees(math.atan2(-downx, downy))
    return Pose(yaw, pitch, roll)
