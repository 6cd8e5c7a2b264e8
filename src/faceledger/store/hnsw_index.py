"""Graph search (FAISS HNSW over float32 vectors): the fastest queries, the most memory.

HNSW cannot unlink a node from its graph, so erasure works in two steps:

1. :meth:`HNSWIndex.remove` marks the node deleted (a search filter excludes it at once,
   so it is never returned again) **and overwrites its vector with zeros in place**: the
   face's numbers are gone from memory and from the next ``save`` straight away; only an
   anonymous node (its graph links) remains, so searches still route through it.
2. :meth:`HNSWIndex.compact` rebuilds the graph without the deleted nodes; ``save`` runs
   it when more than ``compact_fraction`` of the nodes are deleted.

Costs ~1 KiB (vector) + ~2*M*4 bytes (links) per face (1,293 B measured with M = 32), so
it suits galleries that fit in RAM several times over. Defaults M = 32, efConstruction =
200, efSearch = 128: at 100 k faces recall@10 0.94 in 0.55 ms; with M = 16, efConstruction
= 40 the graph was much worse (docs/benchmarks.md, "Vector index").
"""

from __future__ import annotations

import io
import json

import faiss
import numpy as np

from ..errors import StoreError
from .vector_index import VectorIndex

_MAGIC = b"FLHNSW01"


class HNSWIndex(VectorIndex):
    kind = "hnsw"
    needs_training = False
    MAGIC = _MAGIC

    def __init__(self, dim: int, m: int = 32, ef_construction: int = 200, ef_search: int = 128,
                 compact_fraction: float = 0.1) -> None:
        super().__init__(dim)
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.compact_fraction = compact_fraction
        self._index = self._new_graph()
        self._labels = np.zeros(0, np.int64)  # graph position -> face id
        self._alive = np.zeros(0, bool)
        self._selector: faiss.IDSelector | None = None
        self._selector_keep: object = None

    def _codec_params(self) -> dict:
        return {"m": self.m, "ef_construction": self.ef_construction,
                "ef_search": self.ef_search, "compact_fraction": self.compact_fraction}

    def _new_graph(self) -> faiss.IndexHNSWFlat:
        index = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = self._check(ids, vectors)
        if not ids.size:
            return
        self._index.add(vectors)
        self._labels = np.concatenate([self._labels, ids])
        self._alive = np.concatenate([self._alive, np.ones(ids.size, bool)])
        self._selector = None

    def _vectors_view(self) -> np.ndarray:
        n = int(self._index.ntotal)
        flat = faiss.downcast_index(self._index.storage)
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not ids.size or not self._labels.size:
            return 0
        hit = np.flatnonzero(np.isin(self._labels, ids) & self._alive)
        if hit.size:
            self._alive[hit] = False
            self._vectors_view()[hit] = 0.0  # the face's numbers are gone now
            self._selector = None
        return int(np.unique(self._labels[hit]).size)

    def _params(self) -> faiss.SearchParametersHNSW:
        params = faiss.SearchParametersHNSW()
        params.efSearch = self.ef_search
        if not self._alive.all():
            if self._selector is None:
                dead = np.flatnonzero(~self._alive).astype(np.int64)
                batch = faiss.IDSelectorBatch(dead)
                self._selector = faiss.IDSelectorNot(batch)
                self._selector_keep = batch  # keep the wrapped selector alive
            params.sel = self._selector
        return params

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.asarray(queries, np.float32).reshape(-1, self.dim))
        nq = queries.shape[0]
        alive = int(self._alive.sum())
        if alive == 0 or k <= 0:
            return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
        k = min(k, alive)
        params = self._params()
        params.efSearch = max(self.ef_search, k)
        sims, pos = self._index.search(queries, k, params=params)
        ids = np.where(pos >= 0, self._labels[np.maximum(pos, 0)], -1)
        return sims, ids

    def ids(self) -> np.ndarray:
        return self._labels[self._alive].copy()

    def __len__(self) -> int:
        return int(self._alive.sum())

    @property
    def deleted_fraction(self) -> float:
        return 0.0 if not self._alive.size else float(1 - self._alive.mean())

    def compact(self) -> None:
        """Rebuild the graph from the live vectors only."""
        if self._alive.all():
            return
        keep = np.flatnonzero(self._alive)
        vectors = self._vectors_view()[keep].copy()
        labels = self._labels[keep]
        self._index = self._new_graph()
        self._labels = np.zeros(0, np.int64)
        self._alive = np.zeros(0, bool)
        self._selector = None
        self.add(labels, vectors)

    def iter_vectors(self, batch: int = 65536):
        live = np.flatnonzero(self._alive)
        view = self._vectors_view()
        for s in range(0, live.size, batch):
            rows = live[s:s + batch]
            yield self._labels[rows].copy(), view[rows].copy()

    def memory_bytes(self) -> int:
        n = int(self._index.ntotal)
        links = faiss.vector_to_array(self._index.hnsw.neighbors).nbytes if n else 0
        return n * self.dim * 4 + links + self._labels.nbytes + self._alive.nbytes

    def to_bytes(self) -> bytes:
        if self.deleted_fraction > self.compact_fraction:
            self.compact()
        header = {"dim": self.dim, "m": self.m, "ef_construction": self.ef_construction,
                  "ef_search": self.ef_search, "compact_fraction": self.compact_fraction}
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                 faiss=faiss.serialize_index(self._index), labels=self._labels,
                 alive=self._alive)
        return _MAGIC + buf.getvalue()

    @staticmethod
    def dim_of(data: bytes) -> int:
        with np.load(io.BytesIO(data[len(_MAGIC):]), allow_pickle=False) as z:
            return int(json.loads(z["header"].tobytes())["dim"])

    @classmethod
    def from_bytes(cls, data: bytes, dim: int) -> HNSWIndex:
        if not data.startswith(_MAGIC):
            raise StoreError("not an HNSW index file")
        with np.load(io.BytesIO(data[len(_MAGIC):]), allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes())
            if header["dim"] != dim:
                raise StoreError(f"index file holds {header['dim']}-d vectors, expected {dim}")
            self = cls(dim, m=header["m"], ef_construction=header["ef_construction"],
                       ef_search=header["ef_search"], compact_fraction=header["compact_fraction"])
            self._index = faiss.deserialize_index(z["faiss"])
            self._labels = z["labels"].astype(np.int64)
            self._alive = z["alive"].astype(bool)
        return self
