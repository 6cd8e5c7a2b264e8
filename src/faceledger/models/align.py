"""Similarity-transform alignment of a face to a recognizer's five reference points."""

from __future__ import annotations

import cv2
import numpy as np

# Open Model Zoo's reference points for face-reidentification-retail-0095, given in
# fractions of a 96x112 crop (face_recognition_demo); scaled to the recognizer's input.
OMZ_REFERENCE_96x112 = np.array(
    [
        [30.2946 / 96, 51.6963 / 112],
        [65.5318 / 96, 51.5014 / 112],
        [48.0252 / 96, 71.7366 / 112],
        [33.5493 / 96, 92.3655 / 112],
        [62.7299 / 96, 92.2041 / 112],
    ],
    dtype=np.float64,
)

# The ArcFace 112x112 template used by InsightFace-style recognizers, in fractions.
ARCFACE_REFERENCE_112 = (
    np.array(
        [
            [38.2946, 51.6963],
            [73.5318, 51.5014],
            [56.0252, 71.7366],
            [41.5493, 92.3655],
            [70.7299, 92.2041],
        ],
        dtype=np.float64,
    )
    / 112.0
)


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping
    ``src`` points onto ``dst`` points (Umeyama 1991). Returns a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"point sets must both be Nx2, got {src.shape} and {dst.shape}")
    n = src.shape[0]
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / n
    u, sing, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    var_s = (s_c**2).sum() / n
    scale = float(np.trace(np.diag(sing) @ sign) / var_s) if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    reference: np.ndarray,
    size: tuple[int, int],
) -> np.ndarray:
    """Warp ``image`` so that the five ``landmarks`` land on ``reference`` (fractions of the
    output), returning an image of ``size`` = (width, height)."""
    width, height = size
    dst = np.asarray(reference, dtype=np.float64) * np.array([width, height], dtype=np.float64)
    matrix = umeyama_similarity(np.asarray(landmarks, dtype=np.float64), dst)
    return cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
