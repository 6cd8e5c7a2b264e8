"""Merging detector passes and choosing which passes a photo gets (no model files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.models.detect_merge import Candidate, merge_candidates, size_penalty
from faceledger.models.detect_passes import Region, coarse_factor, proposal_regions
from faceledger.models.yunet import YuNetDetector
from faceledger.types import Box, DetectedFace, Landmarks


def _face(x, y, side, score=0.9, dx=0.0):
    """A square face whose landmarks sit at fixed fractions of the box (shifted by dx)."""
    fr = ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))
    pts = tuple((x + side * u + dx, y + side * v) for u, v in fr)
    return DetectedFace(Box(x, y, side, side), Landmarks(pts), score)


def test_size_penalty_is_zero_inside_and_grows_outside():
    assert size_penalty(100, (40, 160)) == 0.0
    assert size_penalty(20, (40, 160)) == pytest.approx(np.log(2))
    assert size_penalty(640, (40, 160)) == pytest.approx(np.log(4))
    assert size_penalty(0, (40, 160)) == np.inf


def test_a_coarse_pass_never_moves_a_face_the_reference_pass_saw_well():
    ref = _face(100, 100, 100, score=0.80)
    coarse = _face(104, 98, 100, score=0.95, dx=3.0)  # higher score, shifted landmarks
    merged = merge_candidates([Candidate(coarse, 0.25), Candidate(ref, 1.0, anchor=True)], 0.3)
    assert len(merged) == 1
    assert merged[0].box == ref.box and merged[0].landmarks == ref.landmarks
    assert merged[0].score == pytest.approx(0.95)  # the group's best score


def test_a_face_too_large_for_the_reference_pass_takes_the_coarse_landmarks():
    ref = _face(0, 0, 600, score=0.9)  # 600 px at the reference pass: beyond its range
    coarse = _face(5, 5, 590, score=0.7, dx=4.0)  # 590 * 0.2 = 118 px at the coarse pass
    merged = merge_candidates([Candidate(ref, 1.0, anchor=True), Candidate(coarse, 0.2)], 0.3)
    assert len(merged) == 1
    assert merged[0].landmarks == coarse.landmarks and merged[0].score == pytest.approx(0.9)


def test_a_tiny_face_takes_the_fine_pass_landmarks():
    ref = _face(50, 50, 12, score=0.5)
    fine = _face(50.5, 50, 12, score=0.4, dx=0.5)  # 24 px at 2x: nearer the good range
    merged = merge_candidates([Candidate(ref, 1.0, anchor=True), Candidate(fine, 2.0)], 0.3)
    assert [f.landmarks for f in merged] == [fine.landmarks]


def test_separate_faces_all_survive_and_come_largest_first():
    faces = [_face(0, 0, 20, 0.9), _face(300, 0, 80, 0.5), _face(600, 0, 40, 0.7)]
    merged = merge_candidates([Candidate(f, 1.0, anchor=True) for f in faces], 0.3)
    assert [f.box.width for f in merged] == [80, 40, 20]


def test_overlap_below_the_threshold_keeps_both():
    a, b = _face(0, 0, 100, 0.9), _face(70, 0, 100, 0.8)  # IoU 30/170 = 0.18
    assert len(merge_candidates([Candidate(a, 1.0), Candidate(b, 1.0)], 0.3)) == 2


def test_a_part_of_a_large_face_the_reference_pass_fires_on_gives_no_box():
    # upscaled LFW (James_Cameron_0003 at 3,000 px): the reference pass sees the face at
    # ~445 px and also fires on a part of it (0.7 of its width, inside it); the coarse pass
    # sees the whole face at ~86 px. The part, in the reference pass's trusted range, must
    # not take the face's place.
    whole_ref = _face(1000, 1000, 445, score=0.85)
    part_ref = _face(1080, 1100, 310, score=0.56)
    coarse = _face(1010, 1000, 430, score=0.92, dx=2.0)
    merged = merge_candidates([Candidate(whole_ref, 1.0, anchor=True),
                               Candidate(part_ref, 1.0, anchor=True),
                               Candidate(coarse, 0.2)], 0.3)
    assert len(merged) == 1
    assert merged[0].box == coarse.box and merged[0].score == pytest.approx(0.92)


def test_a_second_box_mostly_inside_a_better_one_is_dropped_below_the_iou_threshold():
    # two boxes on one half-hidden head (LFW Dominique_de_Villepin_0013): IoU 0.28, but 2/3
    # of the weaker box lies inside the stronger one
    strong = DetectedFace(Box(66.1, 139.1, 50.7, 70.9), _face(66, 139, 50).landmarks, 0.507)
    weak = DetectedFace(Box(72.0, 121.5, 32.2, 54.2), _face(72, 121, 32).landmarks, 0.423)
    merged = merge_candidates([Candidate(weak, 1.0, anchor=True),
                               Candidate(strong, 1.0, anchor=True)], 0.3)
    assert [f.box for f in merged] == [strong.box]
    # the stronger box is never dropped for the weaker one, and a face merely touching
    # another is kept
    neighbour = _face(110, 139, 50, score=0.9)  # 7 px of its 50 overlap the strong box
    merged = merge_candidates([Candidate(strong, 1.0), Candidate(neighbour, 1.0)], 0.3)
    assert len(merged) == 2


def test_coarse_pass_only_for_photos_too_large_for_faces_to_fit():
    assert coarse_factor(250) is None  # LFW: the reference pass sees every face
    assert coarse_factor(383) is None
    assert coarse_factor(1024) == pytest.approx(0.25)
    assert coarse_factor(1280) == pytest.approx(0.2)


def test_proposal_regions_select_cells_with_small_confident_proposals():
    proposals = [
        _face(10, 10, 12, 0.2),     # cell (0, 0)
        _face(300, 20, 16, 0.3),    # cell (0, 1): joins (0, 0) into one run
        _face(700, 600, 20, 0.15),  # cell (2, 2)
        _face(400, 400, 90, 0.9),   # too large: the reference pass saw it
        _face(100, 600, 10, 0.05),  # too unsure to propose
    ]
    regions = proposal_regions(proposals, 1000, 700, cell=256, max_face=32, min_score=0.1,
                               margin=24)
    assert regions == [Region(0, 0, 536, 280), Region(488, 488, 792, 700)]


def test_no_proposals_no_regions():
    assert proposal_regions([_face(50, 50, 100, 0.95)], 250, 250) == []


class _FakeNet(YuNetDetector):
    """YuNet with the network replaced: records each pass's input size and returns the
    faces a test gives for an input of that size."""

    def __init__(self, answers: dict[tuple[int, int], list[DetectedFace]], **kwargs):
        super().__init__(Path("none.onnx"), **kwargs)
        self.answers = answers
        self.calls: list[tuple[int, int]] = []
        self._loaded = True

    def detect_raw(self, bgr):
        size = (bgr.shape[1], bgr.shape[0])
        self.calls.append(size)
        return list(self.answers.get(size, []))


def test_an_lfw_sized_photo_with_one_clear_face_gets_one_pass():
    face = _face(70, 70, 110, 0.95)
    det = _FakeNet({(250, 250): [face]})
    assert det.detect(np.zeros((250, 250, 3), np.uint8)) == [face]
    assert det.calls == [(250, 250)]


def test_a_large_photo_gets_the_coarse_pass_and_fine_tiles_only_where_proposed():
    tiny = _face(600, 300, 14, 0.2)  # below the 0.6 threshold, but a proposal
    det = _FakeNet({(1024, 683): [tiny]})
    assert det.detect(np.zeros((683, 1024, 3), np.uint8)) == []
    ref, coarse, fine = det.calls
    assert ref == (1024, 683)
    assert coarse == (256 + 2 * 64, 171 + 2 * 64)  # 1/4 of the photo, padded by a quarter
    # one cell (512..768, 256..512) plus 24 px margins, at twice the size
    assert fine == (2 * (792 - 488), 2 * (536 - 232))


def test_a_phone_photo_reads_its_reference_pass_at_1280_and_a_big_face_at_the_coarse_pass():
    # 4000 x 3000: reference 1280 x 960 (scale 0.32), coarse 256 x 192 padded by 64
    big = _face(64 + 60, 64 + 40, 120, 0.9)  # at the coarse pass: 120 px there
    det = _FakeNet({(384, 320): [big]})
    faces = det.detect(np.zeros((3000, 4000, 3), np.uint8))
    assert det.calls == [(1280, 960), (384, 320)]
    assert len(faces) == 1
    scale = 256 / 4000
    assert faces[0].box.x == pytest.approx(60 / scale) and faces[0].box.width == pytest.approx(
        120 / scale)


def test_single_mode_is_the_reference_pass_alone():
    tiny = _face(600, 300, 14, 0.2)
    det = _FakeNet({(1024, 683): [tiny]}, passes="single")
    det.detect(np.zeros((683, 1024, 3), np.uint8))
    assert det.calls == [(1024, 683)]


def test_unknown_passes_mode_is_refused():
    with pytest.raises(Exception, match="passes"):
        YuNetDetector(Path("none.onnx"), passes="pyramid")
