"""Poor probes on LFW: how often a degraded probe meets a stranger above the pack's
thresholds, without and with the poor-probe rule (:mod:`faceledger.search.probe_quality`).

The gallery is every image of an LFW pairs file (embedded as ``bench verify`` embeds it); the
probes are the pairs' second images, degraded and then analyzed as ``store.search`` analyzes
a probe (its most prominent face, the analyzer's quality). Every probe is compared with every
gallery image but itself (about a million impostor comparisons for View 1's test pairs): an
impostor comparison reaching the match (or "possible") threshold is a false match, a genuine
one reaching it a true match. Degradations:

* ``none``: the probe as it is (how often the rule fires on good probes);
* ``faceN``: the photo downscaled so that its face is about N pixels (LFW faces are about
  95 px in the 250 px photo), as a small photo;
* ``faceN-up``: the same, scaled back to 250 px (a small face enlarged);
* ``blurS``: a Gaussian blur of sigma S pixels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceledger.errors import ConfigError, FaceLedgerError
from faceledger.images.decode import read_image_file
from faceledger.search.decisions import OperatingPoint
from faceledger.search.probe_quality import POOR_PROBE_QUALITY, point_for_probe

from .embed import embed_images
from .lfw import images_dir, parse_pairs, resolve_list_file

LFW_FACE_PX = 95.0  # median short side of YuNet's box on LFW's central faces
QUALITY_BINS = (0.0, 0.2, 0.35, 0.5, 0.7, 1.01)


def degrade(bgr: np.ndarray, kind: str) -> np.ndarray:
    if kind == "none":
        return bgr
    if kind.startswith("face"):
        up = kind.endswith("-up")
        px = float(kind[4:].removesuffix("-up"))
        s = px / LFW_FACE_PX
        small = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        if not up:
            return small
        return cv2.resize(small, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
    if kind.startswith("blur"):
        return cv2.GaussianBlur(bgr, (0, 0), float(kind[4:]))
    raise ConfigError(f"unknown degradation {kind!r}: none, faceN, faceN-up or blurS")


@dataclass(frozen=True)
class Rates:
    impostors: int
    genuines: int
    false_match: float  # impostors at or above the match threshold
    false_possible: float  # impostors at or above the "possible" threshold
    true_match: float  # genuines at or above the match threshold

    def as_dict(self) -> dict:
        return {"impostors": self.impostors, "genuines": self.genuines,
                "false_match": self.false_match, "false_possible": self.false_possible,
                "true_match": self.true_match}


@dataclass(frozen=True)
class DegradationReport:
    kind: str
    probes: int
    no_face: int  # counted as neither false nor true matches
    flagged: int  # probes the rule marks uncertain
    without_rule: Rates
    with_rule: Rates
    # impostor false-match rate by probe-quality bin: (low, high, probes, rate)
    by_quality: tuple[tuple[float, float, int, float], ...]
    # the impostor similarity reaching the pack's FAR among flagged probes
    flagged_impostor_threshold: float | None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "probes": self.probes, "no_face": self.no_face,
                "flagged": self.flagged, "without_rule": self.without_rule.as_dict(),
                "with_rule": self.with_rule.as_dict(),
                "by_quality": [list(b) for b in self.by_quality],
                "flagged_impostor_threshold": self.flagged_impostor_threshold}


def _rates(sims, same, match_thr, possible_thr) -> Rates:
    """Rates over a probes x gallery similarity matrix; thresholds are per probe (rows)."""
    match_thr = np.asarray(match_thr, float)[:, None]
    possible_thr = np.asarray(possible_thr, float)[:, None]
    imp, gen = ~same, same
    n_imp, n_gen = max(int(imp.sum()), 1), max(int(gen.sum()), 1)
    return Rates(int(imp.sum()), int(gen.sum()),
                 float(np.sum((sims >= match_thr) & imp) / n_imp),
                 float(np.sum((sims >= possible_thr) & imp) / n_imp),
                 float(np.sum((sims >= match_thr) & gen) / n_gen))


def _identity(rel: str) -> str:
    return rel.split("/", 1)[0]


def run_poor_probe(
    analyzer, lfw_dir: Path, point: OperatingPoint, kinds: tuple[str, ...],
    pairs_file: str = "pairs.txt", cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[DegradationReport], float]:
    """One report per degradation, and the seconds spent. The gallery is every image of the
    pairs file (embedded as ``bench verify`` does); the probes are the pairs' second images,
    degraded. Every probe is compared with every gallery image but itself: impostors are the
    comparisons across identities, genuines those within one."""
    start = time.perf_counter()
    pairs = parse_pairs(resolve_list_file(lfw_dir, pairs_file))
    root = images_dir(lfw_dir)
    names = sorted({p.image_a for p in pairs} | {p.image_b for p in pairs})
    gallery = embed_images(analyzer, root, names, cache_dir=cache_dir)
    gvec = gallery.vectors(flip=analyzer.spec.flip)
    keep = np.all(np.isfinite(gvec), axis=1)
    gvec = gvec[keep]
    gnames = [n for n, k in zip(names, keep) if k]
    gids = np.array([_identity(n) for n in gnames])
    probes = sorted({p.image_b for p in pairs})
    analyzer.load()
    reports = []
    total, done = len(kinds) * len(probes), 0
    for kind in kinds:
        rows, quals, used = [], [], []
        for rel in probes:
            try:
                bgr = degrade(read_image_file(root / rel).bgr, kind)
                faces = analyzer.analyze(bgr, largest_only=True)
            except FaceLedgerError:
                faces = []
            if faces:
                rows.append(faces[0].embedding)
                quals.append(faces[0].quality)
                used.append(rel)
            done += 1
            if progress is not None:
                progress(done, total)
        qual = np.array(quals, float)
        sims = np.stack(rows) @ gvec.T if rows else np.zeros((0, len(gnames)))
        pids = np.array([_identity(r) for r in used])
        same = pids[:, None] == gids[None, :]
        self_cmp = np.array(used)[:, None] == np.array(gnames)[None, :]
        sims = np.where(self_cmp, -np.inf, sims)  # never compare a probe with itself
        same &= ~self_cmp
        n = len(used)
        base = _rates(sims, same, np.full(n, point.match_threshold),
                      np.full(n, point.possible_threshold))
        ruled = [point_for_probe(point, q)[0] for q in qual]
        with_rule = _rates(sims, same, [r.match_threshold for r in ruled],
                           [r.possible_threshold for r in ruled])
        imp_mask = ~same & ~self_cmp
        bins = []
        for lo, hi in zip(QUALITY_BINS[:-1], QUALITY_BINS[1:]):
            rows_in = (qual >= lo) & (qual < hi)
            sel = imp_mask & rows_in[:, None]
            rate = float(np.mean(sims[sel] >= point.match_threshold)) if sel.any() else 0.0
            bins.append((lo, min(hi, 1.0), int(rows_in.sum()), rate))
        poor = qual < POOR_PROBE_QUALITY
        flagged_imp = np.sort(sims[imp_mask & poor[:, None]])[::-1]
        k = int(point.far * len(flagged_imp))
        thr = float(flagged_imp[k]) if len(flagged_imp) > k else None
        reports.append(DegradationReport(
            kind, len(probes), len(probes) - len(used), int(poor.sum()), base, with_rule,
            tuple(bins), thr))
    return reports, time.perf_counter() - start
