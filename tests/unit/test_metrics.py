"""Metric code on small hand-made inputs whose answers are known."""

import math

import numpy as np
import pytest

from faceledger_bench.metrics import (
    accuracy_at,
    best_threshold,
    fnir_at_fpir,
    kfold_accuracy,
    rank_hit_rate,
    roc_auc,
    tar_at_far,
    threshold_at_far,
)


def test_best_threshold_separable():
    thr = best_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert 0.2 < thr < 0.8
    assert thr == pytest.approx(0.5)


def test_best_threshold_ignores_nan_and_handles_all_positive():
    assert best_threshold([np.nan, 0.3, 0.4], [0, 1, 1]) < 0.3


def test_accuracy_counts_nan_as_error():
    # four right, one NaN (no face): 4/5 whatever its label
    assert accuracy_at([0.9, 0.8, 0.1, 0.2, np.nan], [1, 1, 0, 0, 0], 0.5) == pytest.approx(0.8)
    # score equal to the threshold does not accept
    assert accuracy_at([0.5], [1], 0.5) == 0.0


def test_kfold_accuracy_known_answer():
    # two folds; each fold's threshold comes from the other fold
    scores = np.array([0.9, 0.1, 0.6, 0.4, 0.7, 0.3, 0.2, 0.8])
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    res = kfold_accuracy(scores, labels, folds)
    # fold 0 separable between 0.4 and 0.6 -> threshold 0.5; fold 1 at 0.5: 0.7 acc, 0.3 rej,
    # 0.2 genuine rejected (wrong), 0.8 impostor accepted (wrong) -> 50 %
    # fold 1 scores: best threshold maximises 3/4 right; applied to fold 0
    assert res.fold_accuracies[1] == pytest.approx(0.5)
    assert res.fold_thresholds[1] == pytest.approx(0.5)
    assert res.fold_accuracies[0] in (0.75, 1.0)
    assert res.mean == pytest.approx(np.mean(res.fold_accuracies))
    assert res.std == pytest.approx(np.std(res.fold_accuracies))


def test_kfold_perfect_separation_is_one():
    rng = np.random.default_rng(1)
    gen = rng.uniform(0.6, 1.0, 50)
    imp = rng.uniform(-0.2, 0.4, 50)
    scores = np.concatenate([gen, imp])
    labels = np.r_[np.ones(50), np.zeros(50)]
    folds = np.r_[np.arange(50) % 10, np.arange(50) % 10]
    res = kfold_accuracy(scores, labels, folds)
    assert res.mean == 1.0 and res.std == 0.0


def test_threshold_at_far():
    imp = np.arange(1000) / 1000.0  # 0.000 ... 0.999
    thr, ok = threshold_at_far(imp, 1e-2)  # accept at most 10 impostors: those > 0.989
    assert ok and thr == pytest.approx(0.989)
    assert np.sum(imp > thr) == 10
    thr, ok = threshold_at_far(imp, 1e-4)  # below 1/1000: nothing accepted
    assert not ok and thr == pytest.approx(0.999)


def test_tar_at_far_known_answer():
    imp = np.linspace(0.0, 0.5, 100)  # largest 0.5, second largest ~0.4949
    gen = np.array([0.45, 0.495, 0.6, 0.7, np.nan])
    scores = np.r_[gen, imp]
    labels = np.r_[np.ones(5), np.zeros(100)]
    p = tar_at_far(scores, labels, 1e-2)  # one impostor accepted: threshold = 2nd largest
    assert p.threshold == pytest.approx(imp[-2])
    assert p.achieved_far == pytest.approx(0.01)
    assert p.tar == pytest.approx(3 / 5)  # 0.495, 0.6, 0.7 (NaN never accepts)


def test_roc_auc_known_answers():
    assert roc_auc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 0.0
    # one genuine tied with one impostor: 3 wins + 0.5 out of 4
    assert roc_auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)


def test_rank_hit_rate():
    ranks = [1, 2, 5, 6, 0]
    assert rank_hit_rate(ranks, 1) == pytest.approx(0.2)
    assert rank_hit_rate(ranks, 5) == pytest.approx(0.6)
    assert math.isnan(rank_hit_rate([], 1))


def test_fnir_at_fpir_known_answer():
    nonmated = np.arange(10) / 10.0  # 0.0 ... 0.9
    hit = np.array([True, True, True, False])
    top = np.array([0.95, 0.85, 0.99, 0.99])
    p = fnir_at_fpir(hit, top, nonmated, 1e-1)  # one false positive allowed: threshold 0.8
    assert p.threshold == pytest.approx(0.8)
    assert p.achieved_far == pytest.approx(0.1)
    assert 1 - p.tar == pytest.approx(0.25)  # only the rank-1 miss
    p = fnir_at_fpir(hit, top, nonmated, 1e-2)  # unresolvable: threshold = top non-mated 0.9
    assert not p.resolvable
    assert 1 - p.tar == pytest.approx(0.5)  # 0.85 now below too
