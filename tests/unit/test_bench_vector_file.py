"""The index benchmark's float16 vector file: removal zeroes the rows for real."""

from __future__ import annotations

import numpy as np

from faceledger.store.ivf_index import IVFPQIndex
from faceledger_bench.vector_file import Float16VectorFile

DIM = 128


def test_ivf_reranking_from_the_vector_file_and_its_removal(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(1500, dtype=np.int64)
    idx = IVFPQIndex(DIM, m=32, nprobe=100, keep_vectors=False)
    idx.train(x)
    vf = Float16VectorFile(tmp_path / "vectors.npy", DIM, capacity=1500)
    idx.reranker = vf.reranker
    idx.add(ids, x)
    vf.put(ids, x)
    assert idx.search(x[:5], 1)[1][:, 0].tolist() == [0, 1, 2, 3, 4]
    idx.remove([3])
    vf.remove(np.array([3]))
    vf.flush()
    raw = (tmp_path / "vectors.npy").read_bytes()
    assert x[3].astype(np.float16).tobytes() not in raw
    assert x[4].astype(np.float16).tobytes() in raw
    assert 3 not in idx.search(x[3:4], 20)[1]
    assert x[4].astype(np.float16).tobytes() not in idx.to_bytes()  # codes only in the index
