"""The vector index on disk, kept in step with the catalog.

The catalog is the truth. The index file is written with the cipher, beside a small JSON
sidecar that records the highest face id it holds. Face ids are never reused (AUTOINCREMENT),
so on open the index catches up by adding the faces after that id; if the counts still
disagree (a crash between a catalog delete and an index save) it is reconciled id by id.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import faiss
import numpy as np

from ..errors import IntegrityError, StoreError
from .catalog import Catalog
from .files import write_private
from .records import CheckReport
from .templates import Cipher
from .vector_index import VectorIndex, choose_index_kind, index_class, retrain


def _locked(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class IndexFile:
    def __init__(
        self, directory: Path, pack: str, dim: int, kind: str, catalog: Catalog, cipher: Cipher
    ) -> None:
        self.directory = Path(directory)
        self.pack = pack
        self.dim = dim
        self.requested_kind = kind  # a kind, or "auto": chosen by gallery size when opened
        self.catalog = catalog
        self.cipher = cipher
        self._use_kind(kind if kind != "auto" else "flat")
        self.index: VectorIndex = index_class(self.kind)(dim)
        self.last_face_id = 0
        # FAISS may reallocate on add while a search reads: every use of the index holds this
        self._lock = threading.RLock()

    def _use_kind(self, kind: str) -> None:
        self.kind = kind
        self.path = self.directory / f"{self.pack}.{kind}.index"
        self.sidecar = self.directory / f"{self.pack}.{kind}.json"

    # -- open / save ----------------------------------------------------------------------
    @_locked
    def open(self) -> None:
        """Load the index file (or build it from the catalog), catch up, and remove index
        files of other kinds, which would otherwise keep vectors that are later erased."""
        if self.requested_kind == "auto":
            self._use_kind(choose_index_kind(self.catalog.count_faces(self.pack)))
        self._remove_stale_files()
        if not (self.path.exists() and self.sidecar.exists()):
            self.rebuild()
            return
        try:
            meta = json.loads(self.sidecar.read_text())
            data = self.cipher.decrypt_blob(self.path.read_bytes())
            self.index = index_class(self.kind).from_bytes(data, self.dim)
            self.last_face_id = int(meta["last_face_id"])
        except (OSError, ValueError, KeyError, StoreError, IntegrityError, RuntimeError):
            self.rebuild()
            return
        self.catch_up()
        if len(self.index) != self.catalog.count_faces(self.pack):
            self.reconcile()

    @_locked
    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.cipher.encrypt_blob(self.index.to_bytes())
        tmp = self.path.with_suffix(".tmp")
        write_private(tmp, data)  # 0600 (store/files.py)
        tmp.replace(self.path)
        side_tmp = self.sidecar.with_suffix(".json.tmp")
        write_private(side_tmp, json.dumps(
            {"last_face_id": self.last_face_id, "count": len(self.index)}).encode())
        side_tmp.replace(self.sidecar)

    # -- keeping in step ------------------------------------------------------------------
    @_locked
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if not ids.size:
            return
        if not self.index.is_trained:
            self.index.train(vectors)
        self.index.add(ids, vectors)
        self.last_face_id = max(self.last_face_id, int(ids.max()))

    @_locked
    def remove(self, ids: list[int] | np.ndarray) -> int:
        return self.index.remove(np.asarray(ids, dtype=np.int64))

    @_locked
    def catch_up(self) -> int:
        added = 0
        for rows in self.catalog.iter_embeddings(self.pack, after_id=self.last_face_id):
            ids, vectors = self._decode(rows)
            self.add(ids, vectors)
            added += len(ids)
        return added

    @_locked
    def rebuild(self, kind: str | None = None) -> None:
        """Build a fresh index from the catalog (training a kind that needs it on a uniform
        sample of all faces, streaming the adds). The way to retrain after drift, and to
        switch kind; ``kind=None`` keeps the current one ("auto" re-chooses by size)."""
        n = self.catalog.count_faces(self.pack)
        requested = kind or self.requested_kind
        chosen = choose_index_kind(n) if requested == "auto" else requested
        index_class(chosen)  # an unknown kind is refused before anything changes
        if n:
            self.index = retrain(self._batches, self.dim, kind=chosen, n=n)
        else:  # nothing to train on yet: the first ingest batch trains it
            self.index = index_class(chosen)(self.dim)
        self.last_face_id = int(self.catalog.max_face_id(self.pack))
        self._use_kind(chosen)
        self.save()
        self._remove_stale_files()

    def _batches(self):
        for rows in self.catalog.iter_embeddings(self.pack):
            yield self._decode(rows)

    def _remove_stale_files(self) -> None:
        if not self.directory.is_dir():
            return
        keep = {self.path.name, self.sidecar.name}
        for old in self.directory.glob(f"{self.pack}.*"):
            if old.name not in keep:
                old.unlink()

    @_locked
    def reconcile(self) -> None:
        catalog_ids = np.asarray(self.catalog.face_ids(self.pack), dtype=np.int64)
        index_ids = self.index.ids()
        extra = np.setdiff1d(index_ids, catalog_ids)
        missing = np.setdiff1d(catalog_ids, index_ids)
        if extra.size:
            self.index.remove(extra)
        if missing.size:
            for start in range(0, missing.size, 5000):
                chunk = [int(i) for i in missing[start : start + 5000]]
                marks = ",".join("?" * len(chunk))
                rows = self.catalog.query(
                    f"SELECT id, embedding FROM faces WHERE id IN ({marks})", tuple(chunk)
                )
                ids, vectors = self._decode([(int(r[0]), bytes(r[1])) for r in rows])
                self.add(ids, vectors)
        self.save()

    @_locked
    def check(self) -> CheckReport:
        catalog_ids = np.asarray(self.catalog.face_ids(self.pack), dtype=np.int64)
        index_ids = self.index.ids()
        missing = np.setdiff1d(catalog_ids, index_ids)
        extra = np.setdiff1d(index_ids, catalog_ids)
        return CheckReport(
            ok=not missing.size and not extra.size and catalog_ids.size == index_ids.size,
            catalog_faces=int(catalog_ids.size),
            index_faces=int(index_ids.size),
            missing_in_index=[int(i) for i in missing[:1000]],
            extra_in_index=[int(i) for i in extra[:1000]],
        )

    @_locked
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # A probe has a few faces: spreading that over OpenMP threads costs more than it
        # saves, and on a busy machine (model threads, other requests) it costs a lot
        # (measured: p50 41 ms with 2 threads, 0.7 ms with 1, over 16k LFW faces).
        if len(queries) >= 16:
            return self.index.search(queries, k)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)

    @_locked
    def __len__(self) -> int:
        return len(self.index)

    def _decode(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, self.dim), np.float32)
        vectors = np.stack([self.cipher.decrypt_vector(r[1]) for r in rows]).astype(np.float32)
        return ids, vectors
