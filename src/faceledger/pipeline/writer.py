"""The catalog writer of an ingest run: its own thread, fed batches of analysed photos.

Each batch is one catalog transaction (photos, their faces, the opt-out check on every
face); vectors reach the index only after their transaction commits. The queue between the
analysis and the writer holds at most ``depth`` batches, so a slow disk slows the analysis
down instead of filling memory. An error in the writer (a full disk, a broken catalog) is
raised again in the thread that feeds it, at its next ``put`` or at ``close``. ``on_commit``
is told the URIs of each batch once its transaction has committed (the run's
:class:`~.todo.TodoStream` then stops holding them as in flight).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from ..parts import HasPrivacyLists
from ..people.parts import PeopleParts
from ..store.catalog import utc_now
from ..subjects.alerts import raise_alerts
from ..subjects.parts import SubjectParts
from .worker import PhotoResult


@runtime_checkable
class WriterParts(SubjectParts, PeopleParts, HasPrivacyLists, Protocol):
    """Writing a batch: the catalog, the cipher and the pack (its rows and templates), the
    opt-out list, the vector index; the subjects' parts (consented watches' alerts) and the
    people's (each new face joins a person)."""


class Counts(Protocol):
    done: int
    faces: int
    errors: int
    duplicates: int
    blocked: int


_STOP = object()


class CatalogWriter:
    def __init__(self, store: WriterParts, source_id: int, run_id: int, counts: Counts,
                 depth: int = 4,
                 on_commit: Callable[[list[str]], None] | None = None) -> None:
        self._args = (store, source_id, run_id, counts)
        self._on_commit = on_commit
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"catalog-writer-{run_id}",
                                        daemon=True)
        self._thread.start()

    def put(self, batch: list[PhotoResult]) -> None:
        """Hand over a batch (waits while ``depth`` batches are queued)."""
        self._raise()
        while True:
            try:
                self._queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                self._raise()

    def close(self) -> None:
        """Write every batch handed over so far, stop the thread, raise its error if any."""
        if not self._closed:
            self._closed = True
            while self._thread.is_alive():
                try:
                    self._queue.put(_STOP, timeout=0.5)
                    break
                except queue.Full:
                    continue
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            if self._error is not None:
                continue  # drain without writing: the run is failing
            try:
                write_batch(*self._args, batch)
                if self._on_commit is not None:
                    self._on_commit([r.uri for r in batch])
            except BaseException as exc:  # handed to the feeding thread
                self._error = exc


def write_batch(
    store: WriterParts, source_id: int, run_id: int, counts: Counts, batch: list[PhotoResult]
) -> None:
    """One transaction for a batch of photos and their faces; the index catches up after.

    The catalog's triggers log every face added, so the vector index (this process's and
    every other one's) learns of them from the log; the vectors computed here are handed
    over only to save decrypting them again."""
    catalog, cipher, pack = store.catalog, store.cipher, store.pack.name
    now = utc_now()
    known: dict[int, np.ndarray] = {}
    seen_in_batch: dict[str, int] = {}
    done = faces_added = errors = duplicates = blocked_total = 0
    with catalog.write() as conn:
        for res in batch:
            done += 1
            common = dict(sha256=res.sha256, size_bytes=res.size_bytes, width=res.width,
                          height=res.height, now=now)
            if res.error is not None:
                errors += 1
                catalog.insert_photo(conn, source_id, run_id, res.uri, "error",
                                     error=res.error, **common)
                continue
            assert res.sha256 is not None
            original = seen_in_batch.get(res.sha256) or catalog.photo_by_sha(conn, res.sha256)
            if original is not None:
                duplicates += 1
                catalog.insert_photo(conn, source_id, run_id, res.uri, "duplicate",
                                     duplicate_of=original, **common)
                continue
            photo_id = catalog.insert_photo(conn, source_id, run_id, res.uri, "ok", **common)
            seen_in_batch[res.sha256] = photo_id
            faces = res.faces
            if faces and store.optout is not None:  # the opt-out list, at every ingest
                blocked = store.optout.blocked_mask(np.stack([f.embedding for f in faces]))
                blocked_total += int(np.count_nonzero(blocked))
                faces = [f for f, b in zip(faces, blocked) if not b]
            for face in faces:
                face_id = catalog.insert_face(
                    conn, photo_id, run_id, face.box, face.landmarks, face.score, face.quality,
                    pack, cipher.encrypt_vector(face.embedding), now,
                    yaw=face.yaw, pitch=face.pitch, sharpness=face.sharpness,
                )
                known[face_id] = face.embedding
            faces_added += len(faces)
    # counted once committed: a failed transaction leaves the counts as they were
    counts.done += done
    counts.faces += faces_added
    counts.errors += errors
    counts.duplicates += duplicates
    counts.blocked += blocked_total
    store.index_file.sync(known)
    raise_alerts(store, known)  # consented watches: alerts go to the outbox
    if known:  # each new face joins a person or starts one (faceledger.people)
        from ..people.service import assign_new_faces

        assign_new_faces(store, known)
