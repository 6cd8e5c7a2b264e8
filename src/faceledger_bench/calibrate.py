"""Calibrate a pack's decision thresholds on development data that is never scored.

Every image of every identity listed in LFW ``peopleDevTrain.txt`` (4,038 people, 9,525
images) is embedded; *all* pairs among those images are compared: about 45 million impostor
pairs, enough for a false-accept rate of 1e-5 to rest on ~450 accepted impostors. The
threshold for a FAR is the score that at most that fraction of impostor pairs exceeds.
``peopleDevTrain`` shares no identity with ``pairsDevTest.txt`` (View 1), so thresholds
calibrated here and accuracy measured there are independent. An image without a face takes
no part in any pair (reported as a count).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embed import EmbedOptions, embed_images
from .lfw import images_dir, parse_people, resolve_list_file
from .metrics import threshold_at_far

CALIBRATION_FARS = (1e-2, 1e-3, 1e-4, 1e-5)


@dataclass(frozen=True)
class CalibrationPoint:
    far: float
    threshold: float
    tar: float  # genuine pairs accepted at this threshold, on the same development data
    resolvable: bool


@dataclass(frozen=True)
class CalibrationReport:
    pack: str
    people_file: str
    identities: int
    images: int
    no_face_images: int
    genuine_pairs: int
    impostor_pairs: int
    points: tuple[CalibrationPoint, ...]
    seconds: float
    settings: dict = field(default_factory=dict)

    def thresholds(self, digits: int = 3) -> dict[float, float]:
        return {p.far: round(p.threshold, digits) for p in self.points}

    def as_dict(self) -> dict:
        return {
            "pack": self.pack,
            "people_file": self.people_file,
            "identities": self.identities,
            "images": self.images,
            "no_face_images": self.no_face_images,
            "genuine_pairs": self.genuine_pairs,
            "impostor_pairs": self.impostor_pairs,
            "thresholds": {f"{p.far:g}": p.threshold for p in self.points},
            "tar": {f"{p.far:g}": p.tar for p in self.points},
            "resolvable": {f"{p.far:g}": p.resolvable for p in self.points},
            "seconds": self.seconds,
            "settings": self.settings,
        }


def all_pair_scores(vectors: np.ndarray, labels: np.ndarray, block: int = 1024):
    """Genuine and impostor cosine scores over all unordered pairs of rows (float32)."""
    n = vectors.shape[0]
    v = vectors.astype(np.float32)
    genuine, impostor = [], []
    for s in range(0, n, block):
        sim = v[s : s + block] @ v[s:].T  # rows s.., columns s..
        rows = np.arange(sim.shape[0])[:, None]
        cols = np.arange(sim.shape[1])[None, :]
        upper = cols > rows
        same = labels[s : s + block, None] == labels[None, s:]
        genuine.append(sim[upper & same])
        impostor.append(sim[upper & ~same])
    return np.concatenate(genuine), np.concatenate(impostor)


def run_calibrate(
    analyzer,
    lfw_dir: Path,
    people_file: str = "peopleDevTrain.txt",
    flip: bool | None = None,
    options: EmbedOptions | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    fars: tuple[float, ...] = CALIBRATION_FARS,
) -> CalibrationReport:
    start = time.perf_counter()
    flip = analyzer.spec.flip if flip is None else flip
    people = parse_people(resolve_list_file(lfw_dir, people_file))
    images, labels = [], []
    for i, person in enumerate(people):
        images.extend(person.images())
        labels.extend([i] * person.count)
    options = options or EmbedOptions(mirror=flip)  # mirrored crops only when used
    emb = embed_images(analyzer, images_dir(lfw_dir), images, options, cache_dir, progress)
    vec = emb.vectors(flip)
    ok = ~np.isnan(vec[:, 0])
    genuine, impostor = all_pair_scores(vec[ok], np.asarray(labels)[ok])
    points = []
    for far in fars:
        thr, resolvable = threshold_at_far(impostor, far)
        points.append(CalibrationPoint(far, thr, float(np.mean(genuine > thr)), resolvable))
    return CalibrationReport(
        pack=analyzer.name,
        people_file=people_file,
        identities=len(people),
        images=len(images),
        no_face_images=int((~ok).sum()),
        genuine_pairs=int(genuine.size),
        impostor_pairs=int(impostor.size),
        points=tuple(points),
        seconds=time.perf_counter() - start,
        settings={"flip": flip, "align": options.align, "embedding_seconds": emb.seconds},
    )
