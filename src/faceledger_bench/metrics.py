"""Biometric metrics on plain arrays: k-fold verification accuracy, TAR at FAR, ROC AUC,
open-set identification (rank-k, FNIR at FPIR).

Conventions, used everywhere here:

* a comparison *accepts* when its score is strictly greater than the threshold;
* the threshold for a false-accept (or false-positive identification) rate ``far`` over ``n``
  impostor scores is the ``floor(far * n)``-th largest impostor score (0-based), so at most
  ``floor(far * n)`` impostors are accepted. When ``far * n < 1`` the threshold is the largest
  impostor score (no impostor accepted): the rate is below what the data can resolve, which
  :class:`OperatingPoint` reports through ``resolvable``;
* a score of NaN is a comparison that could not be made (no face found). In accuracy it is an
  error whatever its label; elsewhere it never accepts (a genuine NaN is a miss, an impostor
  NaN a correct reject).

WIDER FACE average precision lives in :mod:`faceledger_bench.wider_eval`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


@dataclass(frozen=True)
class KFoldAccuracy:
    mean: float
    std: float  # population standard deviation over folds (numpy's default, ddof=0)
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]


@dataclass(frozen=True)
class OperatingPoint:
    far: float
    threshold: float
    tar: float  # true-accept rate (or 1 - FNIR for identification)
    achieved_far: float
    resolvable: bool  # far * number of impostors >= 1


def _as_arrays(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape} vs {y.shape}")
    return s, y


def best_threshold(scores, labels) -> float:
    """The threshold that maximises accuracy (accept when score > threshold) on these
    comparisons; NaN scores are ignored for choosing. Ties go to the midpoint between the two
    neighbouring scores, the smallest such threshold winning."""
    s, y = _as_arrays(scores, labels)
    ok = ~np.isnan(s)
    s, y = s[ok], y[ok]
    if s.size == 0:
        return 0.0
    order = np.argsort(s, kind="mergesort")
    s, y = s[order], y[order]
    uniq, first = np.unique(s, return_index=True)
    # threshold just below uniq[i] accepts everything from first[i] on; also "accept nothing"
    n_pos = int(y.sum())
    neg_below = np.concatenate([[0], np.cumsum(~y)])  # negatives among the first k
    pos_below = np.concatenate([[0], np.cumsum(y)])
    cut = np.concatenate([first, [s.size]])  # k = number rejected
    correct = neg_below[cut] + (n_pos - pos_below[cut])
    best = int(np.argmax(correct))
    if best == 0:
        return float(uniq[0]) - 1e-6
    if best == len(uniq):
        return float(uniq[-1])
    return float((uniq[best - 1] + uniq[best]) / 2.0)


def accuracy_at(scores, labels, threshold: float) -> float:
    """Fraction of comparisons decided right at ``threshold``; NaN scores count as wrong."""
    s, y = _as_arrays(scores, labels)
    if s.size == 0:
        return float("nan")
    with np.errstate(invalid="ignore"):
        right = np.where(np.isnan(s), False, (s > threshold) == y)
    return float(right.mean())


def kfold_accuracy(scores, labels, folds) -> KFoldAccuracy:
    """LFW-style cross-validated accuracy: for each fold, the threshold is chosen on all other
    folds and applied to it."""
    s, y = _as_arrays(scores, labels)
    f = np.asarray(folds).ravel()
    if f.shape != s.shape:
        raise ValueError("folds must give one fold id per comparison")
    ids = np.unique(f)
    if ids.size < 2:
        raise ValueError("k-fold accuracy needs at least two folds")
    accs, thrs = [], []
    for fold in ids:
        test = f == fold
        thr = best_threshold(s[~test], y[~test])
        thrs.append(thr)
        accs.append(accuracy_at(s[test], y[test], thr))
    a = np.asarray(accs)
    return KFoldAccuracy(float(a.mean()), float(a.std()), tuple(accs), tuple(thrs))


def threshold_at_far(impostor_scores, far: float) -> tuple[float, bool]:
    """Threshold accepting at most ``floor(far * n)`` of ``n`` impostor scores, and whether
    ``far`` is resolvable with this many impostors."""
    imp = np.asarray(impostor_scores, dtype=np.float64).ravel()
    imp = np.where(np.isnan(imp), -np.inf, imp)
    if imp.size == 0:
        raise ValueError("no impostor scores")
    k = int(np.floor(far * imp.size + 1e-9))
    resolvable = k >= 1
    k = min(k, imp.size - 1)
    # k-th largest (0-based): partition instead of a full sort for millions of scores
    kth = imp.size - 1 - k
    thr = float(np.partition(imp, kth)[kth])
    return thr, resolvable


def tar_at_far(scores, labels, far: float) -> OperatingPoint:
    s, y = _as_arrays(scores, labels)
    gen, imp = s[y], s[~y]
    if gen.size == 0:
        raise ValueError("no genuine scores")
    thr, resolvable = threshold_at_far(imp, far)
    with np.errstate(invalid="ignore"):
        tar = float(np.mean(np.nan_to_num(gen, nan=-np.inf) > thr))
        achieved = float(np.mean(np.nan_to_num(imp, nan=-np.inf) > thr))
    return OperatingPoint(far, thr, tar, achieved, resolvable)


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve (probability that a genuine score beats an impostor score,
    ties counting one half). NaN scores rank below every real score."""
    s, y = _as_arrays(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both genuine and impostor scores")
    s = np.where(np.isnan(s), -np.inf, s)
    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


# ---------------------------------------------------------------- open-set identification


def rank_hit_rate(mate_ranks, k: int) -> float:
    """Fraction of mated searches whose mate is at rank <= k (ranks start at 1; a rank of 0
    or less means the mate was not returned at all)."""
    r = np.asarray(mate_ranks).ravel()
    if r.size == 0:
        return float("nan")
    return float(np.mean((r >= 1) & (r <= k)))


def fnir_at_fpir(
    mated_rank1_hit, mated_rank1_scores, nonmated_top_scores, fpir: float
) -> OperatingPoint:
    """False-negative identification rate at a false-positive identification rate.

    A non-mated search is a false positive when its top score is over the threshold; the
    threshold is set from the non-mated top scores like :func:`threshold_at_far`. A mated
    search is a false negative unless its mate is at rank 1 with a score over the threshold.
    Returned as an :class:`OperatingPoint` whose ``tar`` is ``1 - FNIR``.
    """
    hit = np.asarray(mated_rank1_hit).astype(bool).ravel()
    top = np.asarray(mated_rank1_scores, dtype=np.float64).ravel()
    if hit.shape != top.shape or hit.size == 0:
        raise ValueError("need one rank-1 flag and score per mated search")
    thr, resolvable = threshold_at_far(nonmated_top_scores, fpir)
    non = np.nan_to_num(np.asarray(nonmated_top_scores, dtype=np.float64), nan=-np.inf)
    accepted = hit & (np.nan_to_num(top, nan=-np.inf) > thr)
    return OperatingPoint(fpir, thr, float(accepted.mean()), float(np.mean(non > thr)), resolvable)
