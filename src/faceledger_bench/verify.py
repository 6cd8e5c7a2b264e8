"""LFW verification under the official protocol: 10-fold accuracy (threshold chosen on nine
folds, applied to the tenth), TAR at fixed FAR over all pairs, ROC AUC.

Images where no face is found are never dropped: every pair that involves one is decided
wrong in accuracy, and never accepted in TAR / FAR.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from faceledger.errors import ConfigError

from .embed import EmbedOptions, ImageEmbeddings, embed_images
from .lfw import Pair, images_dir, parse_pairs, resolve_list_file
from .metrics import KFoldAccuracy, OperatingPoint, kfold_accuracy, roc_auc, tar_at_far

REPORT_FARS = (1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class VerifyConfig:
    pairs: str = "pairs.txt"
    flip: bool = True
    options: EmbedOptions = field(default_factory=EmbedOptions)
    min_quality: float = 0.0  # comparisons with a face below this never accept
    fuse_weight: float = 0.5  # weight of the first pack when a second one is fused


@dataclass(frozen=True)
class VerifyReport:
    pack: str
    pairs_file: str
    pairs: int
    images: int
    accuracy: KFoldAccuracy
    operating_points: tuple[OperatingPoint, ...]
    roc_auc: float
    no_face_images: tuple[str, ...]
    gated_pairs: int
    seconds: float
    settings: dict = field(default_factory=dict)
    # the pack's own calibrated thresholds applied to these pairs (single pack only)
    at_pack_thresholds: tuple[OperatingPoint, ...] = ()

    def as_dict(self) -> dict:
        return {
            "pack": self.pack,
            "pairs_file": self.pairs_file,
            "pairs": self.pairs,
            "images": self.images,
            "accuracy_mean": self.accuracy.mean,
            "accuracy_std": self.accuracy.std,
            "fold_accuracies": list(self.accuracy.fold_accuracies),
            "fold_thresholds": list(self.accuracy.fold_thresholds),
            "tar_at_far": {
                f"{p.far:g}": {
                    "tar": p.tar,
                    "threshold": p.threshold,
                    "achieved_far": p.achieved_far,
                    "resolvable": p.resolvable,
                }
                for p in self.operating_points
            },
            "roc_auc": self.roc_auc,
            "no_face_images": list(self.no_face_images),
            "gated_pairs": self.gated_pairs,
            "at_pack_thresholds": {
                f"{p.far:g}": {"threshold": p.threshold, "tar": p.tar, "far": p.achieved_far}
                for p in self.at_pack_thresholds
            },
            "seconds": self.seconds,
            "settings": self.settings,
        }


def fixed_threshold_point(scores, labels, far: float, threshold: float) -> OperatingPoint:
    """TAR and FAR measured on these pairs at a threshold fixed beforehand (calibration)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    y = np.asarray(labels, dtype=bool)
    return OperatingPoint(
        far, threshold, float(np.mean(s[y] > threshold)), float(np.mean(s[~y] > threshold)),
        bool(far * int((~y).sum()) >= 1),
    )


def pair_scores(emb: ImageEmbeddings, pairs: list[Pair], flip: bool) -> np.ndarray:
    """Cosine similarity per pair; NaN when either image has no face."""
    vec = emb.vectors(flip)
    idx = emb.index()
    a = np.array([idx[p.image_a] for p in pairs])
    b = np.array([idx[p.image_b] for p in pairs])
    return np.einsum("ij,ij->i", vec[a].astype(np.float64), vec[b].astype(np.float64))


def cohort_normalise(emb: ImageEmbeddings, flip: bool, scores: np.ndarray, n: int = 20000,
                     seed: int = 0) -> np.ndarray:
    """Z-normalise scores by the similarity of random pairs of distinct images of the same
    set (label free: almost all such pairs are of different people)."""
    vec = emb.vectors(flip).astype(np.float64)
    ok = np.flatnonzero(~np.isnan(vec[:, 0]))
    rng = np.random.default_rng(seed)
    a, b = rng.choice(ok, n), rng.choice(ok, n)
    keep = a != b
    cohort = np.einsum("ij,ij->i", vec[a[keep]], vec[b[keep]])
    return (scores - cohort.mean()) / max(cohort.std(), 1e-9)


def score_pairs(
    analyzers: list,
    lfw_dir: Path,
    config: VerifyConfig,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Pair], np.ndarray, list[ImageEmbeddings], int]:
    """Scores of every pair of ``config.pairs`` (fused over ``analyzers`` when more than
    one), the embeddings used, and the number of pairs closed by the quality gate."""
    if not analyzers:
        raise ConfigError("no model pack given")
    pairs = parse_pairs(resolve_list_file(lfw_dir, config.pairs))
    root = images_dir(lfw_dir)
    images = list(dict.fromkeys([p.image_a for p in pairs] + [p.image_b for p in pairs]))
    # the first pack follows config.flip; a fused pack uses its own flip setting
    # (the first is embedded mirrored too when its pack flips, so that flip on and off share
    # one cache)
    flips = [config.flip] + [a.spec.flip for a in analyzers[1:]]
    mirrors = [config.flip or analyzers[0].spec.flip] + flips[1:]
    embs = [
        embed_images(a, root, images, replace(config.options, mirror=m), cache_dir, progress)
        for a, m in zip(analyzers, mirrors)
    ]
    if len(embs) == 1:
        scores = pair_scores(embs[0], pairs, config.flip)
    else:
        w = [config.fuse_weight] + [(1 - config.fuse_weight) / (len(embs) - 1)] * (len(embs) - 1)
        scores = sum(
            wi * cohort_normalise(e, f, pair_scores(e, pairs, f))
            for wi, e, f in zip(w, embs, flips)
        )
    gated = 0
    if config.min_quality > 0:
        idx = embs[0].index()
        q = embs[0].quality
        low = np.array(
            [min(q[idx[p.image_a]], q[idx[p.image_b]]) < config.min_quality for p in pairs]
        )
        gated = int(low.sum())
        scores = np.where(low & ~np.isnan(scores), -np.inf, scores)
    return pairs, scores, embs, gated


def run_verify(
    analyzers: list,
    lfw_dir: Path,
    config: VerifyConfig = VerifyConfig(),
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    start = time.perf_counter()
    pairs, scores, embs, gated = score_pairs(analyzers, lfw_dir, config, cache_dir, progress)
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    missing = sorted({img for e in embs for img, m in zip(e.images, e.missing) if m})
    elapsed = time.perf_counter() - start
    at_pack = ()
    if len(analyzers) == 1:
        at_pack = tuple(
            fixed_threshold_point(scores, labels, far, thr)
            for far, thr in sorted(analyzers[0].spec.thresholds.items(), reverse=True)
        )
    return VerifyReport(
        pack="+".join(a.name for a in analyzers),
        pairs_file=config.pairs,
        pairs=len(pairs),
        images=len(embs[0].images),
        accuracy=kfold_accuracy(scores, labels, folds),
        operating_points=tuple(tar_at_far(scores, labels, f) for f in REPORT_FARS),
        roc_auc=roc_auc(scores, labels),
        no_face_images=tuple(missing),
        gated_pairs=gated,
        seconds=elapsed,
        at_pack_thresholds=at_pack,
        settings={
            "flip": config.flip,
            "align": config.options.align,
            "detector_scales": list(config.options.detector_scales),
            "min_quality": config.min_quality,
            "fuse_weight": config.fuse_weight if len(analyzers) > 1 else None,
            "embedding_seconds": sum(e.seconds for e in embs),
            "cached": all(e.seconds == 0.0 for e in embs),
        },
    )
