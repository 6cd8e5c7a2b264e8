"""The k-NN graph clustering runs on: face ids from the index become row positions, a face
the rows do not hold (or an empty slot) becomes -1, and blocks of queries give the same
graph as one search of everything."""

from __future__ import annotations

import numpy as np

from faceledger.people.graph import knn_graph
from faceledger.store.ivf_index import IVFPQIndex
from faceledger.store.vector_index import FlatIndex


def _unit(rng, n, d=64):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_ids_become_rows_and_blocks_do_not_change_the_graph():
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 300)
    face_ids = rng.permutation(np.arange(1000, 1300)).astype(np.int64)  # not in row order
    index = FlatIndex(64)
    index.add(face_ids, vecs)
    extra = _unit(rng, 5)
    index.add(np.arange(5000, 5005), extra)  # faces the rows do not hold
    nbr, sims = knn_graph(index.search, vecs, face_ids, 8, batch=7)
    whole, whole_sims = knn_graph(index.search, vecs, face_ids, 8, batch=10_000)
    assert np.array_equal(nbr, whole) and np.allclose(sims, whole_sims)
    assert np.array_equal(nbr[:, 0], np.arange(300))  # each face's nearest is itself
    exact = vecs @ vecs.T
    top = np.argsort(-exact, axis=1)[:, :8]
    held = nbr >= 0
    assert np.all(np.isin(nbr[held], np.arange(300)))
    assert np.mean([len(set(a[a >= 0]) & set(b)) / 8 for a, b in zip(nbr, top)]) > 0.95
    assert np.allclose(sims[held], np.take_along_axis(exact, np.where(held, nbr, 0), 1)[held],
                       atol=1e-5)


def test_fewer_faces_than_k_leave_empty_slots():
    rng = np.random.default_rng(4)
    vecs = _unit(rng, 3)
    index = FlatIndex(64)
    index.add(np.array([7, 8, 9]), vecs)
    nbr, sims = knn_graph(index.search, vecs, np.array([7, 8, 9]), 5)
    assert nbr.shape == (3, 5) and np.all(nbr[:, 3:] == -1) and np.all(sims[:, 3:] == 0)
    assert sorted(nbr[0, :3].tolist()) == [0, 1, 2]


def test_ivfpq_batched_reranking_is_exact_on_its_shortlist():
    """The re-ranking of a block of queries gives each query's exact top k among its PQ
    shortlist, as the per-query loop did, also after faces were appended and removed."""
    rng = np.random.default_rng(5)
    vecs = _unit(rng, 4000)
    index = IVFPQIndex(64, m=16, nlist=16, nprobe=16, rerank=64)
    index.train(vecs)
    index.add(np.arange(3000), vecs[:3000])
    for s in range(3000, 4000, 37):  # appended in small chunks, as ingest does
        index.add(np.arange(s, min(s + 37, 4000)), vecs[s:s + 37])
    index.remove(np.arange(0, 4000, 5))
    q = vecs[1:200]
    got_s, got_i = index.search(q, 10)
    index._index.nprobe = 16
    _, short = index._index.search(q, 64)
    held16 = vecs.astype(np.float16).astype(np.float32)  # what the index re-ranks against
    for row in range(q.shape[0]):
        cand = short[row][(short[row] >= 0)]
        exact = held16[cand] @ q[row]
        best = cand[np.argsort(-exact, kind="stable")[:10]]
        assert set(got_i[row].tolist()) == set(best.tolist())
        assert not set(got_i[row].tolist()) & set(range(0, 4000, 5))
    assert np.allclose(got_s[:, 0], np.sum(vecs[got_i[:, 0]] * q, axis=1), atol=2e-3)
