"""Pose from five landmarks, the quality factors, the landmark plausibility check, "the" face
by prominence and the profile alignment: on landmark geometry with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from faceledger.models.align import (
    OMZ_REFERENCE_96x112,
    alignment_matrix,
    is_profile,
    midline_similarity,
    umeyama_similarity,
)
from faceledger.models.plausible import implausible
from faceledger.models.pose import estimate_pose
from faceledger.models.prominence import main_face, most_prominent, prominence
from faceledger.models.quality import assess, laplacian_variance, sharpness_factor
from faceledger.search.decisions import OperatingPoint
from faceledger.search.probe_quality import POOR_PROBE_QUALITY, point_for_probe
from faceledger.types import Box, DetectedFace, Landmarks

FRONTAL = OMZ_REFERENCE_96x112 * np.array([96.0, 112.0])  # a level, frontal face


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = points.mean(axis=0)
    return (points - c) @ rot.T + c


def face(points, box=(0.0, 0.0, 96.0, 112.0), score=0.9) -> DetectedFace:
    return DetectedFace(Box(*box), Landmarks(tuple(map(tuple, np.asarray(points, float)))),
                        score)


def test_a_frontal_face_has_no_yaw_and_little_pitch():
    pose = estimate_pose(FRONTAL)
    assert abs(pose.yaw) < 1 and abs(pose.roll) < 1
    assert abs(pose.pitch) < 12  # the template's nose sits a little above YuNet's median


def test_yaw_follows_the_nose_and_changes_sign_with_a_mirror():
    turned = FRONTAL.copy()
    turned[2, 0] += 15  # nose towards the picture's right
    right = estimate_pose(turned).yaw
    mirrored = turned * np.array([-1.0, 1.0])
    mirrored[[0, 1]] = mirrored[[1, 0]]  # keep "left eye" the smaller x
    mirrored[[3, 4]] = mirrored[[4, 3]]
    assert 25 < right < 60
    assert estimate_pose(mirrored).yaw == pytest.approx(-right, abs=1e-6)


def test_pose_does_not_depend_on_roll_or_scale():
    turned = FRONTAL.copy()
    turned[2, 0] += 10
    turned[2, 1] += 6
    base = estimate_pose(turned)
    moved = estimate_pose(rotate(turned, 25) * 3.0 + 40)
    assert moved.yaw == pytest.approx(base.yaw, abs=1e-6)
    assert moved.pitch == pytest.approx(base.pitch, abs=1e-6)
    assert moved.roll == pytest.approx(base.roll + 25, abs=1e-6)


def test_a_profile_whose_eyes_collapse_reads_near_ninety_degrees():
    profile = np.array([[50, 50], [53, 50], [75, 70], [51, 90], [54, 90]], float)
    assert estimate_pose(profile).yaw > 75
    looking_down = FRONTAL.copy()
    looking_down[2, 1] += 12
    assert estimate_pose(looking_down).pitch < -15


def test_sharpness_rises_with_the_laplacian_and_saturates():
    assert sharpness_factor(2.0) == 0.0
    assert 0 < sharpness_factor(5.0) < sharpness_factor(10.0) < 1.0
    assert sharpness_factor(500.0) == 1.0


def test_quality_falls_for_blur_small_size_and_pose():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    crop = cv2.GaussianBlur(crop, (0, 0), 0.8)
    blurred = cv2.GaussianBlur(crop, (0, 0), 4.0)
    sharp = assess(face(FRONTAL), crop)
    assert sharp.quality == pytest.approx(0.9 * sharp.sharpness)
    assert sharp.sharpness == 1.0
    assert assess(face(FRONTAL), blurred).quality < 0.5 * sharp.quality
    small = face(FRONTAL / 4.0, box=(0, 0, 24, 28))
    assert assess(small, crop).quality == pytest.approx(0.9 * 24 / 64)
    turned = FRONTAL.copy()
    turned[2, 0] += 30
    assert assess(face(turned), crop).quality < sharp.quality
    assert assess(face(FRONTAL)).laplacian is None  # no crop: sharpness unknown, counted 1


def test_plausible_faces_pass_and_impossible_geometry_is_refused():
    assert implausible(face(FRONTAL)) is None
    outside = FRONTAL.copy()
    outside[0] -= [60, 0]
    assert "outside" in implausible(face(outside))
    wide_eyes = face(FRONTAL, box=(35, 0, 30, 112))  # eyes 35 px apart in a 30 px box
    assert "eye distance" in implausible(wide_eyes)
    flat = FRONTAL.copy()
    flat[3:, 1] = flat[0, 1] + 3  # the "mouth" on the eye line
    assert "eye-mouth" in implausible(face(flat))


def test_an_ear_like_pattern_is_refused_only_on_a_low_score():
    # both "eyes" squeezed together on one side of the "nose": an ear's pattern, or a profile
    ear = np.array([[20, 40], [24, 40], [60, 60], [22, 80], [26, 80]], float)
    assert "one side" in implausible(face(ear, box=(0, 0, 96, 112), score=0.4))
    assert implausible(face(ear, box=(0, 0, 96, 112), score=0.9)) is None  # a real profile


def test_the_prominent_face_wins_over_the_merely_central_one():
    w, h = 1000, 800
    small_central = face(FRONTAL, box=(480, 380, 40, 40), score=0.95)
    big_off_centre = face(FRONTAL, box=(150, 150, 300, 300), score=0.9)
    big_corner_low = face(FRONTAL, box=(700, 500, 300, 300), score=0.4)
    faces = [small_central, big_off_centre, big_corner_low]
    assert most_prominent(faces, w, h) == 1
    assert most_prominent([], w, h) is None
    assert prominence(small_central, w, h) > 0
    # at equal size and score, the more central one wins
    left = face(FRONTAL, box=(100, 350, 100, 100))
    middle = face(FRONTAL, box=(450, 350, 100, 100))
    assert most_prominent([left, middle], w, h) == 1
    # main_face (what the benchmarks and the fused verification use) is the same choice
    assert main_face(faces, w, h) is big_off_centre
    assert main_face([], w, h) is None


def test_frontal_faces_are_aligned_exactly_as_before():
    dst = OMZ_REFERENCE_96x112 * 128
    points = rotate(FRONTAL, 12) * 1.3 + 20
    assert not is_profile(points)
    assert np.array_equal(alignment_matrix(points, dst), umeyama_similarity(points, dst))


def test_a_profile_is_aligned_upright_on_its_midline():
    dst = OMZ_REFERENCE_96x112 * 128
    profile = np.array([[50, 50], [53, 50], [75, 70], [51, 90], [54, 90]], float)
    tilted = rotate(profile, 20)
    assert is_profile(tilted)
    m = alignment_matrix(tilted, dst)
    assert np.array_equal(m, midline_similarity(tilted, dst))
    mapped = np.c_[tilted, np.ones(5)] @ m.T
    # eye and mouth midpoints land exactly on the template's: the crop is upright
    assert np.allclose((mapped[0] + mapped[1]) / 2, (dst[0] + dst[1]) / 2, atol=1e-9)
    assert np.allclose((mapped[3] + mapped[4]) / 2, (dst[3] + dst[4]) / 2, atol=1e-9)


def test_a_poor_probe_is_marked_and_a_good_one_is_not():
    point = OperatingPoint(far=1e-3, match_threshold=0.36, possible_threshold=0.25)
    same, warning = point_for_probe(point, 0.9)
    assert same == point and warning == ""
    poor, warning = point_for_probe(point, POOR_PROBE_QUALITY - 0.01)
    assert "poor probe" in warning and "uncertain" in warning
    stricter, warning = point_for_probe(point, 0.1, margin=0.05)
    assert stricter.match_threshold == pytest.approx(0.41)
    assert stricter.possible_threshold == pytest.approx(0.30)
    assert "0.410" in warning


def test_laplacian_variance_is_numpys_variance_of_the_float_laplacian():
    rng = np.random.default_rng(3)
    board = (np.indices((128, 128)).sum(axis=0) % 2 * 255).astype(np.uint8)  # +-1020 peaks
    crops = [rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for _ in range(20)]
    crops += [np.dstack([board] * 3), np.zeros((128, 128, 3), np.uint8), board]
    for crop in crops:
        grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        expected = float(cv2.Laplacian(grey, cv2.CV_64F).var())
        assert laplacian_variance(crop) == pytest.approx(expected, rel=1e-12, abs=1e-12)
