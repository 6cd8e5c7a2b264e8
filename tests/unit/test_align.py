from __future__ import annotations

import numpy as np
import pytest

from faceledger.models.align import OMZ_REFERENCE_96x112, align_face, umeyama_similarity


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
