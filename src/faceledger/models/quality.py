"""A face's quality in [0, 1]: the product of four factors, each in [0, 1].

* **score**: the detector's confidence.
* **size**: the box's short side over :data:`FULL_SIZE` pixels (small faces carry less
  identity information).
* **sharpness**: the variance of the Laplacian of the aligned crop (grey), on a log scale
  from :data:`BLUR_FLOOR` (0) to :data:`SHARP` (1). The crop is the recognizer's input, so
  the measure sees what the recognizer sees: a face blurred, or upscaled from a few pixels,
  has a flat crop. On LFW (600 central faces, 128x128 OMZ crops) the 5th percentile is 29,
  the median 78, the softest original photos about 9; the same photos downscaled to 24 px
  faces and enlarged back give a median of 13, a Gaussian blur of sigma 2 gives 9, sigma 3
  gives 5 and sigma 4 gives 4. The scale is set so that a blur of sigma 3 (true-match rate
  94 % instead of 98 % on LFW) is poor and LFW's softest originals are not.
* **pose**: 1 up to :data:`YAW_FREE` degrees of yaw, falling linearly to
  :data:`YAW_FLOOR` at 90; the same for pitch from :data:`PITCH_FREE` to
  :data:`PITCH_FLOOR` at 90.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import DetectedFace
from .pose import Pose, estimate_pose

FULL_SIZE = 64.0
BLUR_FLOOR = 3.0
SHARP = 20.0
YAW_FREE, YAW_FLOOR = 30.0, 0.25
PITCH_FREE, PITCH_FLOOR = 25.0, 0.5


@dataclass(frozen=True)
class FaceQuality:
    """A face's quality and what it is made of."""

    quality: float
    score: float
    size: float
    sharpness: float  # the factor in [0, 1]
    laplacian: float | None  # the raw variance of the Laplacian (None: no crop measured)
    pose: Pose

    def as_dict(self) -> dict:
        return {"quality": round(self.quality, 3), "score": round(self.score, 3),
                "size": round(self.size, 3), "sharpness": round(self.sharpness, 3),
                **self.pose.as_dict()}


def laplacian_variance(crop: np.ndarray) -> float:
    """Variance of the Laplacian of a BGR (or grey) uint8 crop. The 3x3 Laplacian of 8-bit
    pixels is an integer within +-1020, exact in 16 bits, and OpenCV's mean and deviation
    take one pass over it: the same value as NumPy's variance of a float64 Laplacian up to
    rounding, in well under half the time (it runs for every face an ingest keeps)."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    _mean, std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S))
    return float(std[0, 0]) ** 2


def sharpness_factor(laplacian: float) -> float:
    if laplacian <= BLUR_FLOOR:
        return 0.0
    return float(min(1.0, math.log(laplacian / BLUR_FLOOR) / math.log(SHARP / BLUR_FLOOR)))


def _angle_factor(angle: float, free: float, floor: float) -> float:
    a = abs(angle)
    if a <= free:
        return 1.0
    return float(max(floor, 1.0 - (1.0 - floor) * (a - free) / (90.0 - free)))


def pose_factor(pose: Pose) -> float:
    return (_angle_factor(pose.yaw, YAW_FREE, YAW_FLOOR)
            * _angle_factor(pose.pitch, PITCH_FREE, PITCH_FLOOR))


def assess(face: DetectedFace, crop: np.ndarray | None = None) -> FaceQuality:
    """The quality of ``face``; ``crop`` is its aligned crop (without one, sharpness counts
    as 1: only size, score and pose are known)."""
    pose = estimate_pose(face.landmarks.as_array())
    score = float(max(0.0, min(1.0, face.score)))
    size = float(min(1.0, max(min(face.box.width, face.box.height), 0.0) / FULL_SIZE))
    lap = laplacian_variance(crop) if crop is not None else None
    sharp = sharpness_factor(lap) if lap is not None else 1.0
    quality = score * size * sharp * pose_factor(pose)
    return FaceQuality(quality, score, size, sharp, lap, pose)
