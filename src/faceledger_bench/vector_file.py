"""Float16 vectors in a memory-mapped file, for the index benchmark's re-ranking at scale.

The store never uses this (it re-ranks from the catalog's encrypted vectors, so no plaintext
template sits in a file); ``bench index`` uses it to measure IVF-PQ with codes-only RAM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceledger.errors import StoreError


class Float16VectorFile:
    """Float16 vectors on disk, row ``id`` = vector of face ``id``, memory-mapped.

    Removing zeroes the rows in place (``flush`` makes it durable), so an erased vector is
    physically gone from the file, not only hidden."""

    def __init__(self, path: Path, dim: int, capacity: int | None = None) -> None:
        self.path = Path(path)
        self.dim = dim
        if capacity is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._mm = np.lib.format.open_memmap(
                self.path, mode="w+", dtype=np.float16, shape=(capacity, dim))
        else:
            self._mm = np.load(self.path, mmap_mode="r+")
            if self._mm.shape[1] != dim or self._mm.dtype != np.float16:
                raise StoreError(f"{self.path}: expected float16 x {dim}, got "
                                 f"{self._mm.dtype} x {self._mm.shape[1]}")

    @property
    def capacity(self) -> int:
        return int(self._mm.shape[0])

    def put(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.capacity):
            raise StoreError(f"face ids must lie in [0, {self.capacity}) for {self.path}")
        self._mm[ids] = vectors.astype(np.float16)

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        order = np.argsort(ids)  # sorted reads are kinder to the disk
        out = np.empty((ids.size, self.dim), np.float32)
        out[order] = self._mm[ids[order]]
        return out

    def remove(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        ids = ids[(ids >= 0) & (ids < self.capacity)]
        self._mm[ids] = 0

    def flush(self) -> None:
        self._mm.flush()

    def reranker(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For ``IVFPQIndex.reranker``: (ids, their vectors)."""
        return ids, self.get(ids)
