"""The fused score's arithmetic and the fusion's calibration as data (no model is loaded)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceledger.errors import ModelError, UncalibratedFarError
from faceledger.models.fusion import FUSIONS, FusionSpec, ScoreNorm, fusion_for
from faceledger.search.fused import fused_point, shortlist

SPEC = FusionSpec("a+b", "a", "b", 0.6, ScoreNorm(0.02, 0.12), ScoreNorm(0.84, 0.035),
                  {1e-3: 0.3, 1e-4: 0.35})


def test_a_pair_both_packs_agree_on_scores_the_primary_cosine():
    # the secondary cosine with the same z-score as the primary's
    for cos in (-0.1, 0.2, 0.5):
        z = (cos - 0.02) / 0.12
        assert SPEC.fuse(cos, 0.84 + 0.035 * z) == pytest.approx(cos)


def test_the_fused_score_is_the_weighted_mean_of_z_scores_on_the_primary_scale():
    z1, z2 = (0.3 - 0.02) / 0.12, (0.9 - 0.84) / 0.035
    assert SPEC.fuse(0.3, 0.9) == pytest.approx(0.02 + 0.12 * (0.6 * z1 + 0.4 * z2))
    many = SPEC.fuse(np.array([0.3, np.nan]), np.array([0.9, 0.9]))
    assert many[0] == pytest.approx(SPEC.fuse(0.3, 0.9)) and math.isnan(many[1])


def test_decisions_use_only_the_fusions_calibrated_rates():
    point = fused_point(SPEC, 1e-4)
    assert point.match_threshold == 0.35 and point.possible_threshold == 0.35
    with pytest.raises(UncalibratedFarError):
        fused_point(SPEC, 1e-2)


def test_the_shipped_fusion_is_calibrated_at_every_rate_a_pack_is():
    spec = fusion_for("yunet-omz0095")
    assert set(spec.thresholds) == {1e-2, 1e-3, 1e-4, 1e-5}
    ordered = [spec.thresholds[f] for f in sorted(spec.thresholds, reverse=True)]
    assert ordered == sorted(ordered) and 0.0 < spec.weight < 1.0
    assert "pairsDevTrain" in spec.calibration and "pairs.txt" not in spec.calibration
    assert spec.secondary == "yunet-dlib" and set(FUSIONS) == {"yunet-omz0095"}


def test_a_pack_without_a_fusion_is_refused():
    with pytest.raises(ModelError, match="no calibrated accurate mode"):
        fusion_for("scrfd-mbf")


def test_the_shortlist_keeps_all_over_the_threshold_and_the_next_best():
    scores = {1: 0.9, 2: 0.2, 3: 0.5, 4: 0.31, 5: 0.1}
    assert shortlist(scores, 0.3, extra=2) == [1, 3, 4, 2, 5]
    assert shortlist(scores, 0.3, extra=1) == [1, 3, 4, 2]
    assert shortlist({}, 0.3) == []
