"""bench poor-probe's degradations and rates, on arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger.errors import ConfigError
from faceledger_bench.poor_probe import _rates, degrade


def test_degradations_shrink_enlarge_and_blur():
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 255, (250, 250, 3), dtype=np.uint8)
    assert degrade(bgr, "none") is bgr
    assert degrade(bgr, "face19").shape == (50, 50, 3)  # 19 / 95 of 250 px
    assert degrade(bgr, "face19-up").shape == bgr.shape
    blurred = degrade(bgr, "blur3")
    assert blurred.shape == bgr.shape and blurred.std() < bgr.std() / 2
    with pytest.raises(ConfigError):
        degrade(bgr, "sepia")


def test_rates_count_comparisons_at_each_probes_own_thresholds():
    sims = np.array([[0.9, 0.40, 0.10],
                     [0.2, 0.40, 0.30]])
    same = np.array([[True, False, False],
                     [False, True, False]])
    # probe 0 decided at 0.35 / 0.25, probe 1 (a poor one) at 0.45 / 0.35
    r = _rates(sims, same, [0.35, 0.45], [0.25, 0.35])
    assert (r.impostors, r.genuines) == (4, 2)
    assert r.false_match == pytest.approx(1 / 4)  # 0.40 for probe 0
    assert r.false_possible == pytest.approx(1 / 4)  # probe 1's 0.30 is under its 0.35
    assert r.true_match == pytest.approx(1 / 2)  # probe 1's genuine 0.40 is under 0.45
