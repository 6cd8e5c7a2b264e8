"""Accurate mode: calibrate a fusion of two packs on LFW View 1 training data, and measure it.

Calibration (:func:`calibrate_fusion`) sees only the images of ``pairsDevTrain.txt`` (View 1
training: 2,200 pairs, 3,443 images of 2,132 people), never View 2:

* each pack's score norm is the mean and spread of its cosine over **all** pairs of those
  images, labels unused (almost every pair is two different people);
* the weight is chosen on the grid :data:`WEIGHTS`: the one whose fused scores accept most
  of the file's 1,100 matched pairs at the thresholds for FAR 1e-3 and 1e-4 (mean of the two),
  those thresholds being taken from all different-person pairs among the images;
* the thresholds for FAR 1e-2 ... 1e-5 are then the fused scores that at most that share of
  all different-person pairs exceed (millions of pairs).

Evaluation (:func:`evaluate_fusion`) scores a pairs file (View 2's ``pairs.txt``: the test)
with the primary pack alone, the secondary alone and the library's fused scorer
(:meth:`faceledger.models.fusion.FusionSpec.fuse`), under the official 10-fold protocol, and
applies the fusion's calibrated thresholds. :func:`time_pairs` measures milliseconds per pair
of the two verifiers as the store runs them (decode, detect, embed, score).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceledger.models.fusion import FusedEmbedder, FusionSpec, ScoreNorm

from .calibrate import CALIBRATION_FARS, all_pair_scores
from .embed import EmbedOptions, ImageEmbeddings, embed_images
from .lfw import Pair, images_dir, parse_pairs, resolve_list_file
from .metrics import kfold_accuracy, roc_auc, tar_at_far, threshold_at_far
from .verify import fixed_threshold_point, pair_scores

WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
CHOICE_FARS = (1e-3, 1e-4)


def _embed_both(analyzers, lfw_dir: Path, images: list[str], cache_dir, progress):
    """Embeddings of both packs, each with its own flip setting (as the store runs them)."""
    root = images_dir(lfw_dir)
    return [embed_images(a, root, images, EmbedOptions(mirror=a.spec.flip), cache_dir, progress)
            for a in analyzers]


def _person(image: str) -> str:
    return image.split("/", 1)[0]


@dataclass(frozen=True)
class FusionCalibration:
    pairs_file: str
    images: int
    no_face_images: int
    impostor_pairs: int
    genuine_pairs_for_weight: int
    weight: float
    weight_table: dict[float, dict[str, float]]  # weight -> TAR at each choice FAR
    primary_norm: ScoreNorm
    secondary_norm: ScoreNorm
    thresholds: dict[float, float]
    tar_at_thresholds: dict[float, float]  # on the file's matched pairs
    seconds: float

    def as_dict(self) -> dict:
        return {
            "pairs_file": self.pairs_file, "images": self.images,
            "no_face_images": self.no_face_images, "impostor_pairs": self.impostor_pairs,
            "genuine_pairs_for_weight": self.genuine_pairs_for_weight, "weight": self.weight,
            "weight_table": {f"{w:g}": v for w, v in self.weight_table.items()},
            "primary_norm": [self.primary_norm.mean, self.primary_norm.std],
            "secondary_norm": [self.secondary_norm.mean, self.secondary_norm.std],
            "thresholds": {f"{f:g}": t for f, t in self.thresholds.items()},
            "tar_at_thresholds": {f"{f:g}": t for f, t in self.tar_at_thresholds.items()},
            "seconds": self.seconds,
        }


def _spec(base: FusionSpec, weight: float, norms: tuple[ScoreNorm, ScoreNorm],
          thresholds: dict[float, float] | None = None) -> FusionSpec:
    return FusionSpec(base.name, base.primary, base.secondary, weight, norms[0], norms[1],
                      thresholds or {}, base.calibration)


def calibrate_fusion(
    base: FusionSpec, analyzers: list, lfw_dir: Path, pairs_file: str = "pairsDevTrain.txt",
    cache_dir: Path | None = None, progress: Callable[[int, int], None] | None = None,
    weights: tuple[float, ...] = WEIGHTS,
) -> FusionCalibration:
    start = time.perf_counter()
    pairs = parse_pairs(resolve_list_file(lfw_dir, pairs_file))
    images = list(dict.fromkeys([p.image_a for p in pairs] + [p.image_b for p in pairs]))
    embs = _embed_both(analyzers, lfw_dir, images, cache_dir, progress)
    vecs = [e.vectors(a.spec.flip) for e, a in zip(embs, analyzers)]
    ok = ~np.isnan(vecs[0][:, 0]) & ~np.isnan(vecs[1][:, 0])
    names = np.array([_person(i) for i in images])[ok]
    labels = np.unique(names, return_inverse=True)[1]
    scores = [all_pair_scores(v[ok], labels) for v in vecs]  # (genuine, impostor) each
    norms = tuple(ScoreNorm(float(np.concatenate(s).mean()), float(np.concatenate(s).std()))
                  for s in scores)
    matched = [p for p in pairs if p.same]
    pair_cos = [pair_scores(e, matched, a.spec.flip) for e, a in zip(embs, analyzers)]
    table: dict[float, dict[str, float]] = {}
    for w in weights:
        spec = _spec(base, w, norms)
        impostor = spec.fuse(scores[0][1], scores[1][1])
        genuine = np.nan_to_num(spec.fuse(pair_cos[0], pair_cos[1]), nan=-np.inf)
        table[w] = {f"{far:g}": float(np.mean(genuine > threshold_at_far(impostor, far)[0]))
                    for far in CHOICE_FARS}
    # best mean TAR; a tie goes to the weight nearest the primary pack alone
    weight = max(weights, key=lambda w: (round(np.mean(list(table[w].values())), 9), w))
    spec = _spec(base, weight, norms)
    impostor = spec.fuse(scores[0][1], scores[1][1])
    genuine = np.nan_to_num(spec.fuse(pair_cos[0], pair_cos[1]), nan=-np.inf)
    thresholds = {far: threshold_at_far(impostor, far)[0] for far in CALIBRATION_FARS}
    return FusionCalibration(
        pairs_file=pairs_file, images=len(images), no_face_images=int((~ok).sum()),
        impostor_pairs=int(impostor.size), genuine_pairs_for_weight=len(matched),
        weight=weight, weight_table=table, primary_norm=norms[0], secondary_norm=norms[1],
        thresholds=thresholds,
        tar_at_thresholds={f: float(np.mean(genuine > t)) for f, t in thresholds.items()},
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class ScorerFigures:
    scorer: str
    accuracy_mean: float
    accuracy_std: float
    tar: dict[str, float]  # at FAR, threshold from these pairs' impostors
    roc_auc: float
    at_calibrated: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class FusionEvaluation:
    pairs_file: str
    pairs: int
    images: int
    no_face_images: int
    scorers: list[ScorerFigures]
    timing: dict[str, float]
    seconds: float

    def as_dict(self) -> dict:
        return {"pairs_file": self.pairs_file, "pairs": self.pairs, "images": self.images,
                "no_face_images": self.no_face_images,
                "scorers": [s.__dict__ for s in self.scorers], "timing": self.timing,
                "seconds": self.seconds}


def _figures(name: str, scores: np.ndarray, pairs: list[Pair],
             calibrated: dict[float, float] | None = None) -> ScorerFigures:
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    acc = kfold_accuracy(scores, labels, folds)
    at = {}
    for far, thr in sorted((calibrated or {}).items(), reverse=True):
        point = fixed_threshold_point(scores, labels, far, thr)
        at[f"{far:g}"] = {"threshold": thr, "tar": point.tar, "far": point.achieved_far}
    return ScorerFigures(
        name, acc.mean, acc.std,
        {f"{f:g}": tar_at_far(scores, labels, f).tar for f in (1e-2, 1e-3, 1e-4)},
        roc_auc(scores, labels), at)


def evaluate_fusion(
    spec: FusionSpec, analyzers: list, lfw_dir: Path, pairs_file: str = "pairs.txt",
    cache_dir: Path | None = None, progress: Callable[[int, int], None] | None = None,
) -> tuple[FusionEvaluation, list[Pair], list[ImageEmbeddings]]:
    start = time.perf_counter()
    pairs = parse_pairs(resolve_list_file(lfw_dir, pairs_file))
    images = list(dict.fromkeys([p.image_a for p in pairs] + [p.image_b for p in pairs]))
    embs = _embed_both(analyzers, lfw_dir, images, cache_dir, progress)
    cos = [pair_scores(e, pairs, a.spec.flip) for e, a in zip(embs, analyzers)]
    fused = spec.fuse(cos[0], cos[1])
    scorers = [
        _figures(analyzers[0].name, cos[0], pairs, analyzers[0].spec.thresholds),
        _figures(analyzers[1].name, cos[1], pairs, analyzers[1].spec.thresholds),
        _figures(spec.name, fused, pairs, spec.thresholds),
    ]
    missing = sum(int(e.missing.sum()) for e in embs)
    report = FusionEvaluation(pairs_file, len(pairs), len(images), missing, scorers, {},
                              time.perf_counter() - start)
    return report, pairs, embs


def time_pairs(embedder: FusedEmbedder, lfw_dir: Path, pairs: list[Pair], n: int = 100,
               ) -> dict[str, float]:
    """Milliseconds per pair, on the first ``n`` pairs: the default verifier (decode, detect,
    most prominent face, embed, cosine) and the accurate one (the same, then the second recognizer
    and the fused score), as ``Store.verify`` runs them, one pair at a time."""
    from faceledger.images.decode import read_image_file
    from faceledger.models.prominence import main_face

    root = images_dir(lfw_dir)
    chosen = pairs[:: max(1, len(pairs) // n)][:n]
    analyzer = embedder.primary
    embedder.secondary  # noqa: B018 - load before timing
    out: dict[str, float] = {}
    for mode in ("default", "accurate"):
        start = time.perf_counter()
        for p in chosen:
            templates = []
            for image in (p.image_a, p.image_b):
                bgr = read_image_file(root / image).bgr
                faces = analyzer.detect(bgr)
                face = main_face(faces, bgr.shape[1], bgr.shape[0])
                if mode == "default":
                    templates.append(analyzer.embed(bgr, [face])[0])
                else:
                    templates.append(embedder.embed(bgr, [face])[0])
            if mode == "default":
                float(np.dot(templates[0], templates[1]))
            else:
                embedder.score(templates[0], templates[1])
        out[f"{mode}_ms_per_pair"] = 1000.0 * (time.perf_counter() - start) / len(chosen)
    out["pairs_timed"] = float(len(chosen))
    return out
