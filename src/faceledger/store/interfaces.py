"""The store's two seams, as protocols: where the SQL lives and where the vectors live.

- :class:`~faceledger.store.sql.Database` (in ``sql.py``): what the catalog, the audit log
  and the privacy and keys files ask of a SQL database. The catalog's SQL is written once,
  in :class:`~faceledger.store.catalog.Catalog`, and runs on any implementation: SQLite
  (``SQLiteDB``, the embedded default) or a server database (PostgreSQL for a cluster
  store). A new database implements ``Database`` and its dialect's migrations; pipeline,
  search and privacy do not change.
- :class:`VectorStore` (below): the faces' vectors, searchable, kept in step with the
  catalog. Every implementation follows the catalog's change log (``vector_log``: face ids
  added and deleted, in commit order), so an erasure made by any process is honoured by
  every other process's next search. ``IndexFile`` (FAISS segments in the data dir) is the
  embedded one; a vector database (Milvus) is the cluster one.

Which implementations a store uses is recorded in its configuration (``store_meta``) and
chosen in :mod:`faceledger.store.backends`. ``tests/unit/test_catalog_contract.py`` and
``tests/unit/test_index_contract.py`` run one suite against every implementation.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .records import CheckReport
from .sql import Database
from .templates import Cipher

__all__ = ["Database", "VectorStore"]


@runtime_checkable
class VectorStore(Protocol):
    """The vectors of one model pack's faces."""

    requested_kind: str  # an index kind ("flat", "ivfpq", ...) or "auto"

    @property
    def cipher(self) -> Cipher: ...

    @cipher.setter
    def cipher(self, value: Cipher) -> None: ...

    def open(self) -> None:
        """Load (or build from the catalog), then catch up with the change log."""
        ...

    def sync(self, known: dict[int, np.ndarray] | None = None) -> tuple[int, int]:
        """Apply every change the catalog committed since this process last looked;
        (faces added, faces removed). ``known``: vectors the caller has at hand, by id."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, face ids), each (len(queries), k), best first; ids -1 pad."""
        ...

    def remove(self, ids: list[int] | np.ndarray) -> int:
        """After the catalog deleted these faces: take them out of reach at once; how many
        left. Becomes physical within one :meth:`save` / :meth:`compact`."""
        ...

    def save(self, compact: bool = False) -> None:
        """Persist what changed (and, with ``compact``, rewrite without deleted faces)."""
        ...

    def compact(self) -> None: ...

    def rebuild(self, kind: str | None = None) -> None:
        """Build again from the catalog (every process reloads at its next sync)."""
        ...

    def check(self) -> CheckReport:
        """Do the catalog, this process's view and the persisted vectors agree?"""
        ...

    def reencrypt(self, new_cipher: Cipher) -> None:
        """Key rotation: what is persisted, again under ``new_cipher``."""
        ...

    def disk_bytes(self) -> int: ...

    def __len__(self) -> int: ...
