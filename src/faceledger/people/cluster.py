"""Average-linkage clustering over a k-nearest-neighbour graph, with no O(n^2) step.

Average linkage merges, again and again, the two clusters whose faces are most alike on
average, and stops when no pair is alike enough. Done exactly it compares every face with
every other face (O(n^2) memory and time). Two facts make it cheap here:

* with L2-normalised embeddings, the average cosine similarity between the faces of two
  clusters is the dot product of their *sums* divided by both sizes
  (``mean_{a in A, b in B} a.b = (sum A . sum B) / (|A| |B|)``), so a candidate pair is
  scored exactly from two vectors, whatever the clusters' sizes;
* two clusters worth merging have at least one pair of faces alike above the threshold,
  and such pairs are found by the vector index's k nearest neighbours. Only clusters
  joined by such an edge are ever compared.

So the cost is the k-NN search (the index's job: approximate, sub-linear per face) plus
one heap operation per edge and per merge. Merging keeps average linkage's property that
the best score never rises, so the first score under the threshold ends the work.

Corrections are constraints: faces a user placed (``seeds``: face -> person) form fixed
clusters that never merge with another person's fixed cluster, and a face marked "not this
person" (``rejects``) never lands in that person's cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Constraints:
    """What users said, by row position: ``seeds[i] = label`` puts row i in the cluster
    that carries ``label`` (labels are person ids, >= 0); ``rejects[i]`` holds labels row
    i must not join."""

    seeds: Mapping[int, int] = field(default_factory=dict)
    rejects: Mapping[int, set[int]] = field(default_factory=dict)


def knn_edges(ids: np.ndarray, sims: np.ndarray, threshold: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The graph's edges from a k-NN search of every row: ``ids[i]`` and ``sims[i]`` are
    row i's neighbours (row positions, -1 for none) and similarities. Returns (a, b, sim)
    with a < b, each pair once, only pairs alike at or above ``threshold``."""
    n, k = ids.shape
    a = np.repeat(np.arange(n, dtype=np.int64), k)
    b = ids.reshape(-1).astype(np.int64)
    s = sims.reshape(-1).astype(np.float32)
    keep = (b >= 0) & (b != a) & (s >= threshold)
    a, b, s = a[keep], b[keep], s[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * (n + 1) + hi
    key, first = np.unique(key, return_index=True)
    return lo[first], hi[first], s[first]


def average_linkage(
    vectors: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    threshold: float,
    constraints: Constraints | None = None,
) -> np.ndarray:
    """A cluster label per row (the smallest row of its cluster; seeded rows share their
    seed's cluster). ``vectors`` are the L2-normalised embeddings, ``edges`` from
    :func:`knn_edges` (drawn with a floor at or below ``threshold``).

    Merges go by rounds of reciprocal best pairs (each cluster's best-scoring neighbour;
    pairs that are each other's best merge together). For average linkage, which is
    reducible, that gives the same merges as taking the single best pair each time, and a
    round is a few array operations over the edges instead of one heap step per merge."""
    n = int(vectors.shape[0])
    constraints = constraints or Constraints()
    label = np.arange(n, dtype=np.int64)  # row -> its cluster (the cluster's smallest row)
    sums = np.array(vectors, dtype=np.float32, copy=True)
    size = np.ones(n, dtype=np.float64)
    seed = np.full(n, -1, dtype=np.int64)
    groups: dict[int, list[int]] = {}
    for row, person in constraints.seeds.items():
        groups.setdefault(int(person), []).append(int(row))
    for person, rows in groups.items():
        rows.sort()
        root = rows[0]
        label[rows] = root
        sums[root] = vectors[rows].sum(axis=0)
        size[root] = len(rows)
        seed[root] = person
    rej_rows = np.array([r for r, ls in constraints.rejects.items() for _ in ls], np.int64)
    rej_person = np.array([p for ls in constraints.rejects.values() for p in ls], np.int64)

    a, b = label[edges[0]], label[edges[1]]
    while True:
        a, b = _dedupe(a, b, n)
        if a.size == 0:
            break
        scores = _scores(sums, size, a, b)
        ok = (scores >= threshold) & _allowed(seed, a, b, label, rej_rows, rej_person, n)
        if not ok.any():
            break
        ea, eb, es = a[ok], b[ok], scores[ok]
        ends = np.concatenate([ea, eb])
        other = np.concatenate([eb, ea])
        sc = np.concatenate([es, es])
        order = np.lexsort((other, -sc, ends))  # per cluster: best score, then smallest id
        ends, other = ends[order], other[order]
        first = np.ones(ends.size, bool)
        first[1:] = ends[1:] != ends[:-1]
        best = np.full(n, -1, dtype=np.int64)
        best[ends[first]] = other[first]
        x = ends[first]
        y = best[x]
        mutual = (best[y] == x) & (x < y)
        x, y = x[mutual], y[mutual]
        # y joins x (x < y, so a cluster stays named by its smallest row)
        sums[x] += sums[y]
        size[x] += size[y]
        seed[x] = np.maximum(seed[x], seed[y])  # at most one side has a seed (_allowed)
        remap = np.arange(n, dtype=np.int64)
        remap[y] = x
        label = remap[label]
        a, b = remap[a], remap[b]
    return label


def _dedupe(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    key = np.unique(lo[keep] * n + hi[keep])
    return key // n, key % n


def _scores(sums: np.ndarray, size: np.ndarray, a: np.ndarray, b: np.ndarray,
            chunk: int = 262_144) -> np.ndarray:
    """Average similarity between the faces of clusters a[i] and b[i]: sum . sum / sizes."""
    out = np.empty(a.size, dtype=np.float64)
    for s in range(0, a.size, chunk):
        ia, ib = a[s:s + chunk], b[s:s + chunk]
        out[s:s + chunk] = np.einsum("ij,ij->i", sums[ia], sums[ib]) / (size[ia] * size[ib])
    return out


def _allowed(seed: np.ndarray, a: np.ndarray, b: np.ndarray, label: np.ndarray,
             rej_rows: np.ndarray, rej_person: np.ndarray, n: int) -> np.ndarray:
    """Edges whose merge breaks no correction: two persons a user placed stay apart, and
    a face marked "not this person" stays out of that person's cluster."""
    sa, sb = seed[a], seed[b]
    ok = ~((sa >= 0) & (sb >= 0) & (sa != sb))
    if rej_rows.size:
        seeded = np.flatnonzero(seed >= 0)
        person_root = dict(zip(seed[seeded].tolist(), seeded.tolist()))
        pairs = [(int(label[r]), person_root[p]) for r, p in zip(rej_rows.tolist(),
                                                                 rej_person.tolist())
                 if p in person_root]
        if pairs:
            pa = np.array(pairs, np.int64)
            lo, hi = np.minimum(pa[:, 0], pa[:, 1]), np.maximum(pa[:, 0], pa[:, 1])
            ok &= ~np.isin(np.minimum(a, b) * n + np.maximum(a, b), lo * n + hi)
    return ok


def best_person(vector: np.ndarray, candidates: Mapping[int, tuple[np.ndarray, int]],
                threshold: float, exclude: set[int] | None = None) -> tuple[int | None, float]:
    """The candidate person (id -> (sum of its faces' embeddings, count)) whose faces are on
    average most alike ``vector``, if that average reaches ``threshold``; else (None, best)."""
    best, best_score = None, -1.0
    for pid, (total, count) in candidates.items():
        if exclude and pid in exclude or count <= 0:
            continue
        score = float(np.dot(vector, total)) / count
        if score > best_score:
            best, best_score = pid, score
    if best is not None and best_score >= threshold:
        return best, best_score
    return None, best_score
