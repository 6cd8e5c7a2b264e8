from __future__ import annotations

import numpy as np
import pytest

from faceledger.models.align import (
    OMZ_REFERENCE_96x112,
    align_face,
    spread_ratio,
    umeyama_similarity,
)


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, t = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (scale * (rot @ src.T)).T + t
    m = umeyama_similarity(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-9)
    assert np.allclose(m[:, 2], t, atol=1e-9)


def test_umeyama_never_reflects():
    src = np.array([[0, 0], [3, 0.5], [1, 2], [2.5, 3], [0.2, 1.1]], float)
    dst = src * np.array([-1, 1])  # a mirror image
    m = umeyama_similarity(src, dst)
    assert np.linalg.det(m[:, :2]) > 0


def test_umeyama_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        umeyama_similarity(np.zeros((5, 2)), np.zeros((4, 2)))


def test_align_puts_landmarks_on_the_reference():
    image = np.zeros((200, 200, 3), np.uint8)
    ref = OMZ_REFERENCE_96x112 * 128
    landmarks = ref * 1.2 + 30  # the same shape, scaled and shifted
    for x, y in landmarks.astype(int):
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    out = align_face(image, landmarks, OMZ_REFERENCE_96x112, (128, 128))
    assert out.shape == (128, 128, 3)
    for x, y in ref.round().astype(int):
        assert out[y, x].max() > 100


def _svd_umeyama(src, dst):
    """Umeyama (1991) as published: the SVD of the cross-covariance, reflection removed."""
    n = len(src)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    u, sing, vt = np.linalg.svd(d_c.T @ s_c / n)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sing) @ sign) / ((s_c**2).sum() / n)
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def test_the_closed_form_is_umeyamas_svd_solution():
    rng = np.random.default_rng(7)
    dst = OMZ_REFERENCE_96x112 * 128
    for k in range(500):
        src = rng.normal(0, 30, (5, 2)) + rng.uniform(0, 400, 2)
        if k % 3 == 0:
            src[:, 0] *= -1  # mirrored faces: the fit must not reflect
        if k % 5 == 0:
            src[:, 1] = 0.5 * src[:, 0] + rng.normal(0, 0.01, 5)  # nearly collinear
        assert np.allclose(umeyama_similarity(src, dst), _svd_umeyama(src, dst), atol=1e-9)
    same = np.full((5, 2), 7.0)  # no spread at all: no rotation, unit scale
    assert np.allclose(umeyama_similarity(same, dst)[:, :2], np.eye(2))


def test_spread_ratio_is_the_ratio_of_singular_values():
    rng = np.random.default_rng(8)
    for _ in range(300):
        points = rng.normal(0, 20, (5, 2)) * rng.uniform(0.001, 1, 2)
        sing = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
        assert spread_ratio(points) == pytest.approx(sing[-1] / sing[0], abs=1e-9)
    assert spread_ratio(np.zeros((5, 2))) == 0.0
