"""Open-set 1:N identification on LFW.

Protocol (deterministic, no randomness):

* people with two or more images, sorted by name, are split alternately: the 1st, 3rd, 5th
  ... are *enrolled* with their first image in the gallery; their other images are *mated*
  probes. The 2nd, 4th ... are kept out of the gallery; all their images are *non-mated*
  probes;
* every single-image person is enrolled as a distractor;
* each probe is searched against the whole gallery by cosine similarity.

Reported: gallery size, rank-1 / rank-5 hit rates of mated probes, and FNIR at FPIR 1e-1 and
1e-2 (a mated probe counts as found only at rank 1 and over the threshold). An image without a
face is never dropped: as a mated probe it is a miss, as a non-mated probe it returns nothing
(a correct reject), as a gallery entry it can never be found.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embed import EmbedOptions, embed_images
from .lfw import Person, images_dir, parse_people, resolve_list_file
from .metrics import OperatingPoint, fnir_at_fpir, rank_hit_rate

REPORT_FPIRS = (1e-1, 1e-2)


@dataclass(frozen=True)
class Split:
    gallery: tuple[str, ...]
    gallery_ids: tuple[str, ...]
    mated: tuple[str, ...]
    mated_ids: tuple[str, ...]
    nonmated: tuple[str, ...]


@dataclass(frozen=True)
class IdentifyReport:
    pack: str
    gallery_size: int
    enrolled_with_probes: int
    distractors: int
    mated_probes: int
    nonmated_probes: int
    rank1: float
    rank5: float
    operating_points: tuple[OperatingPoint, ...]
    no_face_images: int
    seconds: float
    settings: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "pack": self.pack,
            "gallery_size": self.gallery_size,
            "enrolled_with_probes": self.enrolled_with_probes,
            "distractors": self.distractors,
            "mated_probes": self.mated_probes,
            "nonmated_probes": self.nonmated_probes,
            "rank1": self.rank1,
            "rank5": self.rank5,
            "fnir_at_fpir": {
                f"{p.far:g}": {
                    "fnir": 1.0 - p.tar,
                    "threshold": p.threshold,
                    "achieved_fpir": p.achieved_far,
                    "resolvable": p.resolvable,
                }
                for p in self.operating_points
            },
            "no_face_images": self.no_face_images,
            "seconds": self.seconds,
            "settings": self.settings,
        }


def split_people(people: list[Person]) -> Split:
    multi = sorted((p for p in people if p.count >= 2), key=lambda p: p.name)
    single = sorted((p for p in people if p.count == 1), key=lambda p: p.name)
    gallery, gallery_ids, mated, mated_ids, nonmated = [], [], [], [], []
    for i, person in enumerate(multi):
        imgs = person.images()
        if i % 2 == 0:
            gallery.append(imgs[0])
            gallery_ids.append(person.name)
            mated.extend(imgs[1:])
            mated_ids.extend([person.name] * (len(imgs) - 1))
        else:
            nonmated.extend(imgs)
    for person in single:
        gallery.append(person.images()[0])
        gallery_ids.append(person.name)
    return Split(tuple(gallery), tuple(gallery_ids), tuple(mated), tuple(mated_ids),
                 tuple(nonmated))


def _search(probes: np.ndarray, gallery: np.ndarray, block: int = 2048) -> np.ndarray:
    """Similarity matrix probes x gallery, with -inf wherever either side has no face."""
    g = np.nan_to_num(gallery, nan=0.0)
    g_missing = np.isnan(gallery[:, 0])
    out = np.empty((probes.shape[0], gallery.shape[0]), dtype=np.float32)
    for s in range(0, probes.shape[0], block):
        p = probes[s : s + block]
        sim = np.nan_to_num(p, nan=0.0) @ g.T
        sim[:, g_missing] = -np.inf
        sim[np.isnan(p[:, 0])] = -np.inf
        out[s : s + block] = sim
    return out


def identification_metrics(
    sims_mated: np.ndarray, mate_index: np.ndarray, sims_nonmated: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mate ranks (1-based, 0 = not findable), rank-1 hit flags, rank-1 scores of the mated
    searches, and top scores of the non-mated searches."""
    rows = np.arange(sims_mated.shape[0])
    mate_score = sims_mated[rows, mate_index]
    findable = np.isfinite(mate_score)
    ranks = 1 + (sims_mated > mate_score[:, None]).sum(axis=1)
    ranks = np.where(findable, ranks, 0)
    top = sims_mated.max(axis=1) if sims_mated.size else np.zeros(0)
    hit1 = ranks == 1
    non_top = sims_nonmated.max(axis=1) if sims_nonmated.size else np.zeros(0)
    return ranks, hit1, top, non_top


def run_identify(
    analyzer,
    lfw_dir: Path,
    people_file: str = "lfw-names.txt",
    flip: bool = True,
    options: EmbedOptions | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IdentifyReport:
    start = time.perf_counter()
    people = parse_people(resolve_list_file(lfw_dir, people_file))
    split = split_people(people)
    root = images_dir(lfw_dir)
    everything = list(split.gallery) + list(split.mated) + list(split.nonmated)
    options = options or EmbedOptions()
    emb = embed_images(analyzer, root, everything, options, cache_dir, progress)
    vec = emb.vectors(flip)
    idx = emb.index()
    gal = vec[[idx[p] for p in split.gallery]]
    mated = vec[[idx[p] for p in split.mated]]
    non = vec[[idx[p] for p in split.nonmated]]
    pos = {name: i for i, name in enumerate(split.gallery_ids)}
    mate_index = np.array([pos[n] for n in split.mated_ids])
    ranks, hit1, top, non_top = identification_metrics(
        _search(mated, gal), mate_index, _search(non, gal)
    )
    points = tuple(fnir_at_fpir(hit1, top, non_top, f) for f in REPORT_FPIRS)
    enrolled = len(set(split.mated_ids))
    return IdentifyReport(
        pack=analyzer.name,
        gallery_size=len(split.gallery),
        enrolled_with_probes=enrolled,
        distractors=len(split.gallery) - enrolled,
        mated_probes=len(split.mated),
        nonmated_probes=len(split.nonmated),
        rank1=rank_hit_rate(ranks, 1),
        rank5=rank_hit_rate(ranks, 5),
        operating_points=points,
        no_face_images=int(emb.missing.sum()),
        seconds=time.perf_counter() - start,
        settings={"flip": flip, "align": options.align, "people_file": people_file,
                  "embedding_seconds": emb.seconds},
    )
