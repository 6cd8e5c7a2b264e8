"""Decrypted subject and watch templates, kept in this process's memory between calls.

Every call still lists the ids from the catalog (one small query), so a template deleted
by any process (withdrawal, expiry, erasure, deletion) is dropped here at the next call
and never used again; only templates not seen before are read and decrypted. Ids are
never reused (``AUTOINCREMENT``), so an id names one template for good. Nothing here is
written anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np


class TemplateCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vectors: dict[str, dict[int, np.ndarray]] = {"subject": {}, "watch": {}}
        self._stacked: dict[str, tuple[tuple[int, ...], list[int], np.ndarray]] = {}

    def get(self, kind: str, ids: list[int], fetch: Callable[[list[int]], dict[int, bytes]],
            unseal: Callable[[int, bytes], np.ndarray]) -> dict[int, np.ndarray]:
        """The decrypted templates of exactly ``ids`` (those still stored)."""
        with self._lock:
            known = self._vectors[kind]
            wanted = set(ids)
            for gone in set(known) - wanted:
                del known[gone]
            missing = [i for i in ids if i not in known]
            if missing:
                for i, blob in fetch(missing).items():
                    known[i] = unseal(i, blob)
            return {i: known[i] for i in ids if i in known}

    def matrix(self, kind: str, ids: list[int], dim: int,
               fetch: Callable[[list[int]], dict[int, bytes]],
               unseal: Callable[[int, bytes], np.ndarray]) -> tuple[list[int], np.ndarray]:
        """:meth:`get` as (the ids still stored, their templates stacked in that order); the
        stack is kept while the ids stay the same."""
        key = tuple(ids)
        with self._lock:
            cached = self._stacked.get(kind)
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
        vectors = self.get(kind, ids, fetch, unseal)
        kept = [i for i in ids if i in vectors]
        stacked = (np.stack([vectors[i] for i in kept]).astype(np.float32) if kept
                   else np.zeros((0, dim), np.float32))
        with self._lock:
            self._stacked[kind] = (key, kept, stacked)
        return kept, stacked

    def clear(self) -> None:
        with self._lock:
            for part in self._vectors.values():
                part.clear()
            self._stacked.clear()
