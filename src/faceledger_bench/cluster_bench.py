"""``bench cluster``: faces grouped into persons, against the truth, beside DBSCAN and HDBSCAN.

Accuracy is BCubed precision, recall and F (Bagga & Baldwin): for each face, the share of
its cluster that is the same person (precision) and the share of its person that is in its
cluster (recall), averaged over faces; F is their harmonic mean. A face left as noise by
DBSCAN/HDBSCAN is a cluster of its own.

Every method's parameter is chosen on LFW's ``peopleDevTrain.txt`` people only; the figures
are then measured on all of LFW (13,233 photos, 5,749 people) and, held out, on the
``peopleDevTest.txt`` people (whom no parameter saw).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from faceledger.people.cluster import average_linkage, best_person, knn_edges


@dataclass(frozen=True)
class Scores:
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    seconds: float
    clusters: int
    parameter: str = ""

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def bcubed(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """BCubed (precision, recall, F) of cluster ``labels`` against ``truth``, O(n log n)."""
    labels = np.asarray(labels, np.int64)
    truth = np.asarray(truth, np.int64)
    _, lab = np.unique(labels, return_inverse=True)
    _, tru = np.unique(truth, return_inverse=True)
    pair = lab * (int(tru.max()) + 1) + tru
    _, pair_idx, pair_count = np.unique(pair, return_inverse=True, return_counts=True)
    both = pair_count[pair_idx].astype(np.float64)  # |cluster ∩ class| for each face
    precision = float(np.mean(both / np.bincount(lab)[lab]))
    recall = float(np.mean(both / np.bincount(tru)[tru]))
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f


def knn(vectors: np.ndarray, k: int, nlist: int = 0, nprobe: int = 16
        ) -> tuple[np.ndarray, np.ndarray]:
    """(ids, sims) of every row's k nearest rows (itself included): exact below 50,000
    rows, IVF above (as the store's own index is approximate at scale)."""
    d = vectors.shape[1]
    if vectors.shape[0] < 50_000 and not nlist:
        index = faiss.IndexFlatIP(d)
        index.add(vectors)
    else:
        nlist = nlist or int(4 * np.sqrt(vectors.shape[0]))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(vectors.shape[0], min(vectors.shape[0], 50 * nlist),
                                    replace=False)]
        index.train(sample)
        index.add(vectors)
        index.nprobe = nprobe
    sims, ids = index.search(vectors, k)
    return ids, sims


def faceledger_cluster(vectors: np.ndarray, threshold: float, k: int = 32,
                       neighbours: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    ids, sims = neighbours if neighbours is not None else knn(vectors, k)
    return average_linkage(vectors, knn_edges(ids, sims, threshold), threshold)


def incremental_cluster(vectors: np.ndarray, threshold: float, k: int = 32) -> np.ndarray:
    """One face at a time, as ingest does: search the index for its neighbours, join the
    neighbouring person whose faces are on average most alike (or start a person), and
    merge two neighbouring persons the new face shows to be alike on average."""
    n, d = vectors.shape
    index = faiss.IndexFlatIP(d)
    persons = IncrementalPersons(d)
    for i in range(n):
        v = vectors[i : i + 1]
        if i:
            sims, ids = index.search(v, min(k, i))
            cand = [int(j) for j, s in zip(ids[0], sims[0]) if j >= 0 and s >= threshold]
        else:
            cand = []
        persons.add(i, v[0], cand, threshold)
        index.add(v)
    return persons.labels(n)


class IncrementalPersons:
    """Persons in memory (sum of embeddings and count per person, person of each face),
    updated one face at a time: what the store does at ingest, without the catalog."""

    def __init__(self, dim: int) -> None:
        self.person_of: dict[int, int] = {}
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self._next = 0

    def add(self, face: int, vector: np.ndarray, neighbours: Iterable[int],
            threshold: float) -> int:
        cand = {self.person_of[j] for j in neighbours if j in self.person_of}
        pid, _ = best_person(vector, {p: (self.sums[p], self.counts[p]) for p in cand},
                             threshold)
        if pid is None:
            pid = self._next
            self._next += 1
            self.sums[pid] = np.zeros_like(vector, dtype=np.float32)
            self.counts[pid] = 0
            self.members[pid] = []
        self.sums[pid] = self.sums[pid] + vector
        self.counts[pid] += 1
        self.members[pid].append(face)
        self.person_of[face] = pid
        for q in sorted(cand - {pid}):  # the new face may show two persons to be one
            if q in self.sums and (float(self.sums[pid] @ self.sums[q])
                                   / (self.counts[pid] * self.counts[q])) >= threshold:
                self.sums[pid] = self.sums[pid] + self.sums.pop(q)
                self.counts[pid] += self.counts.pop(q)
                for f in self.members.pop(q):
                    self.person_of[f] = pid
                    self.members[pid].append(f)
        return pid

    def labels(self, n: int) -> np.ndarray:
        return np.array([self.person_of.get(i, -1 - i) for i in range(n)], np.int64)


def dbscan(vectors: np.ndarray, eps: float) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    labels = DBSCAN(eps=eps, min_samples=2, metric="cosine", algorithm="brute",
                    n_jobs=1).fit_predict(vectors)
    return _noise_apart(labels)


def hdbscan(vectors: np.ndarray, min_cluster_size: int, epsilon: float = 0.0) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    labels = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=1,
                     cluster_selection_epsilon=epsilon, metric="euclidean").fit_predict(vectors)
    return _noise_apart(labels)


def _noise_apart(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels, np.int64).copy()
    noise = labels < 0
    labels[noise] = labels.max(initial=0) + 1 + np.arange(int(noise.sum()))
    return labels


def timed(fn: Callable[[], np.ndarray], truth: np.ndarray, parameter: str = "") -> Scores:
    t = time.perf_counter()
    labels = fn()
    seconds = time.perf_counter() - t
    p, r, f = bcubed(labels, truth)
    return Scores(p, r, f, seconds, int(np.unique(labels).size), parameter)


def tune(run: Callable[[float], np.ndarray], grid: Iterable[float], truth: np.ndarray
         ) -> tuple[float, float]:
    """(best parameter, its F) over ``grid`` on the calibration split."""
    best = (float("nan"), -1.0)
    for value in grid:
        f = bcubed(run(value), truth)[2]
        if f > best[1]:
            best = (float(value), f)
    return best


def people_split(lfw_dir: Path, names: np.ndarray, person: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Row masks of the faces of LFW's peopleDevTrain and peopleDevTest people."""
    from .lfw import parse_people

    def mask(file: str) -> np.ndarray:
        listed = {p.name for p in parse_people(Path(lfw_dir) / file)}
        keep = np.array([str(n) in listed for n in names])
        return keep[person]

    return mask("peopleDevTrain.txt"), mask("peopleDevTest.txt")
