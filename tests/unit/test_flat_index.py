from __future__ import annotations

import numpy as np
import pytest

from faceledger.errors import StoreError
from faceledger.store.vector_index import FlatIndex


def unit(rng, n, d=16):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_returns_exact_neighbours_by_id():
    rng = np.random.default_rng(1)
    x = unit(rng, 50)
    ids = np.arange(1000, 1050)
    index = FlatIndex(16)
    index.add(ids, x)
    sims, found = index.search(x[7:8], 3)
    assert found[0, 0] == 1007 and sims[0, 0] == pytest.approx(1.0, abs=1e-5)
    brute = np.argsort(-(x @ x[7]))[:3] + 1000
    assert list(found[0]) == list(brute)


def test_removed_vectors_are_never_returned_and_gone_from_saved_bytes(tmp_path):
    rng = np.random.default_rng(2)
    x = unit(rng, 20)
    index = FlatIndex(16)
    index.add(np.arange(20), x)
    assert index.remove(np.array([3, 4, 99])) == 2
    _, found = index.search(x[3:4], 20)
    assert 3 not in found[0] and 4 not in found[0]
    index.save(tmp_path / "i.faiss")
    raw = (tmp_path / "i.faiss").read_bytes()
    assert x[3].tobytes() not in raw and x[5].tobytes() in raw
    loaded = FlatIndex.load(tmp_path / "i.faiss", 16)
    assert sorted(loaded.ids()) == [i for i in range(20) if i not in (3, 4)]


def test_wrong_dimension_is_refused():
    with pytest.raises(StoreError):
        FlatIndex(16).add(np.arange(2), np.zeros((2, 8), np.float32))


def test_empty_index_searches_to_nothing():
    sims, ids = FlatIndex(16).search(np.zeros((1, 16), np.float32), 5)
    assert sims.shape == (1, 0) and ids.shape == (1, 0)
