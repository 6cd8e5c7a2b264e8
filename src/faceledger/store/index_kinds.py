"""The index kinds the store knows, and which one a gallery of a given size gets."""

from __future__ import annotations

from ..errors import StoreError
from .hnsw_index import HNSWIndex
from .ivf_index import IVFPQIndex
from .vector_index import FlatIndex, VectorIndex

INDEX_KINDS: dict[str, type[VectorIndex]] = {
    "flat": FlatIndex,
    "ivfpq": IVFPQIndex,
    "hnsw": HNSWIndex,
}

#: Below this many faces exact search answers in a few milliseconds on one core and needs
#: no training; above it IVF-PQ finds the same mates (measured: docs/benchmarks.md).
FLAT_MAX = 100_000


def choose_index_kind(n: int) -> str:
    """The kind ``Settings.index_kind = "auto"`` resolves to for a gallery of ``n`` faces.

    HNSW is never chosen automatically: on face embeddings (nearly isotropic, 256-d) it
    needed more memory (~1.2 KiB per face) and found fewer mates than IVF-PQ at equal
    latency in our measurements; it stays available as ``index_kind = "hnsw"``."""
    return "flat" if n < FLAT_MAX else "ivfpq"


def index_class(kind: str, n: int = 0) -> type[VectorIndex]:
    """The class for ``kind``; ``"auto"`` picks by gallery size ``n``."""
    if kind == "auto":
        kind = choose_index_kind(n)
    try:
        return INDEX_KINDS[kind]
    except KeyError:
        raise StoreError(
            f"unknown index kind {kind!r}; known: {', '.join(sorted(INDEX_KINDS))}"
        ) from None
