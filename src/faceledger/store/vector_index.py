"""The vector index interface and the exact flat implementation.

Every implementation is keyed by face id (int64) and stores L2-normalised float32 vectors,
so inner product is cosine similarity. The catalog is the source of truth: an index can
always be rebuilt from it, and ``ids()`` lets a check compare the two.

Implementations must make ``remove`` real: a removed vector is never returned again, and
is physically gone from the file written by the next ``save``.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

from ..errors import StoreError


class VectorIndex(abc.ABC):
    """Add, remove, search, save, load, train."""

    kind: str = "abstract"
    #: True when ``train`` must run on a sample before ``add`` (the store checks
    #: ``is_trained``); False for indexes where ``train`` is a no-op.
    needs_training: bool = False

    def __init__(self, dim: int) -> None:
        self.dim = dim

    @abc.abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    @abc.abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Remove these ids; returns how many were present."""

    @abc.abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (similarities, ids) per query, best first; missing slots have id -1."""

    def graph_search(self, queries: np.ndarray, k: int, wide: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for building a k-NN graph of the gallery's own faces (clustering):
        only neighbours as alike as one person's faces matter there, which an approximate
        index finds with far less work than a query-time search (``wide``: for a new face
        looking for its person, a search one direction only). Exact indexes search."""
        return self.search(queries, k)

    @abc.abstractmethod
    def ids(self) -> np.ndarray:
        """All ids held, as int64."""

    @abc.abstractmethod
    def to_bytes(self) -> bytes: ...

    @classmethod
    @abc.abstractmethod
    def from_bytes(cls, data: bytes, dim: int) -> VectorIndex: ...

    def __len__(self) -> int:
        return int(self.ids().shape[0])

    @property
    def is_trained(self) -> bool:
        return True

    def train(self, sample: np.ndarray) -> None:
        """Learn from a sample of vectors; a no-op for indexes that need no training."""

    def compact(self) -> None:
        """Make earlier removals physical everywhere (a no-op where they already are)."""

    def memory_bytes(self) -> int:
        """Bytes of RAM the index holds for its vectors (an estimate, for benchmarks)."""
        return 0

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of every face held, in batches; indexes that keep only
        lossy codes raise :class:`StoreError` (rebuild those from the catalog)."""
        raise StoreError(f"a {self.kind} index keeps no full vectors; rebuild from the catalog")

    # -- codes: how the store keeps an index on disk, in segments -------------------------
    # A segment holds (ids, codes); ``codec()`` is the trained, empty state that turns
    # vectors into codes and codes back into a searchable index. By default a code is the
    # float32 vector itself; IVF-PQ's is its list number and PQ code.

    def codec(self) -> bytes:
        """The trained, empty state of this index (no face in it)."""
        return json.dumps({"kind": self.kind, "dim": self.dim, **self._codec_params()}).encode()

    def _codec_params(self) -> dict:
        return {}

    @classmethod
    def from_codec(cls, data: bytes, dim: int) -> VectorIndex:
        header = json.loads(bytes(data))
        if header.get("kind") != cls.kind or header.get("dim") != dim:
            raise StoreError(f"codec for a {header.get('kind')} index of {header.get('dim')}-d "
                             f"vectors, expected {cls.kind} of {dim}")
        params = {k: v for k, v in header.items() if k not in ("kind", "dim")}
        return cls(dim, **params)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """The codes of ``vectors`` (N x code bytes, uint8) as a segment stores them."""
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype="<f4").reshape(-1, self.dim))
        return vectors.view(np.uint8).reshape(vectors.shape[0], self.dim * 4)

    def add_codes(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Add faces from their codes (as ``encode`` made them)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        self.add(ids, codes.view("<f4").reshape(codes.shape[0], self.dim).astype(np.float32))

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, dim: int) -> VectorIndex:
        return cls.from_bytes(Path(path).read_bytes(), dim)

    def _check(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise StoreError(f"vectors must be N x {self.dim}, got {vectors.shape}")
        if vectors.shape[0] != ids.shape[0]:
            raise StoreError(f"{ids.shape[0]} ids for {vectors.shape[0]} vectors")
        return ids, vectors


class FlatIndex(VectorIndex):
    """Exact inner-product search (FAISS IndexFlatIP behind an IndexIDMap2).

    The ground truth every approximate index is measured against. Removal compacts the
    underlying array, so removed vectors are gone from memory and from the next save."""

    kind = "flat"

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        super().__init__(dim)
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = self._check(ids, vectors)
        if ids.size:
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not ids.size:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        if self._index.ntotal == 0 or k <= 0:
            n = queries.shape[0]
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        k = min(k, self._index.ntotal)
        sims, ids = self._index.search(queries, k)
        return sims, ids

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def memory_bytes(self) -> int:
        return int(self._index.ntotal) * (self.dim * 4 + 8)

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = int(self._index.ntotal)
        flat = faiss.downcast_index(self._index.index)
        xb = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)
        ids = self.ids()
        for s in range(0, n, batch):
            yield ids[s:s + batch].copy(), xb[s:s + batch].copy()

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self._index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, dim: int) -> FlatIndex:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if index.d != dim:
            raise StoreError(f"index file holds {index.d}-d vectors, expected {dim}")
        return cls(dim, index)
