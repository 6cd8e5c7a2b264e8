"""The k-nearest-neighbour graph clustering runs on, built with the store's own vector index.

Every face is searched once, in blocks of queries (one index call per block, so the index
spreads a block over its threads and the Python cost is per block, not per face), and the
neighbours' face ids are turned into row positions with one sorted lookup per block. The
cost is n index searches: sub-linear each for an approximate index, never a comparison of
every face with every other.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def knn_graph(search: Search, vectors: np.ndarray, face_ids: np.ndarray, k: int,
              batch: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(neighbour rows, similarities), each (n, k): row i's k nearest faces as row
    positions in ``face_ids`` (-1 for an empty slot or a face not among ``face_ids``).
    ``search(queries, k)`` answers (similarities, face ids), best first."""
    face_ids = np.asarray(face_ids, np.int64)
    n = int(face_ids.size)
    order = np.argsort(face_ids, kind="stable")
    keys = face_ids[order]
    nbr = np.full((n, k), -1, np.int64)
    sims = np.zeros((n, k), np.float32)
    for s in range(0, n, batch):
        got_s, got_i = search(np.ascontiguousarray(vectors[s:s + batch], np.float32), k)
        w = got_i.shape[1]  # the index may hold fewer faces than k
        if not w or not n:
            continue
        pos = np.minimum(np.searchsorted(keys, got_i), n - 1)
        known = (got_i >= 0) & (keys[pos] == got_i)
        nbr[s:s + batch, :w] = np.where(known, order[pos], -1)
        sims[s:s + batch, :w] = np.where(known, got_s, 0.0)
    return nbr, sims
