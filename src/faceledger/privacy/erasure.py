"""Erasure (GDPR Art. 17): faces and photos gone from the catalog, the index and the disk.

One path serves erasure requests and retention alike (:func:`erase`):

1. resolve what goes: the faces asked for, every face of the photos asked for, and each
   photo left without faces unless its source keeps such photos (duplicates of an erased
   photo, i.e. the same bytes at another path, go with it);
2. one catalog transaction deletes the rows. ``secure_delete`` is on, so SQLite overwrites
   the deleted cells and freed pages with zeros;
3. the vectors leave the index and the index file is rewritten (encrypted, fresh nonce);
4. the WAL is checkpointed and truncated, so no older copy of a page survives in
   ``catalog.db-wal``; ``vacuum=True`` also rebuilds the file;
5. each erased photo's URI is kept as a salted hash tombstone in ``privacy.db`` so that
   re-ingesting the same folder does not bring it back (the controller should also remove
   the file itself: faceledger never deletes a source's files);
6. the audit log records the ids erased and the hashes of any selfie used, never a template.

Crops are never cached (they are cut from the photo on demand), so once the face row is
gone no crop of it can be produced. What this cannot reach: copies outside the data dir
(backups, snapshots) and blocks the filesystem or an SSD has already released; rotating
the template key after an erasure makes any such leftover ciphertext unreadable.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NotFoundError, StoreError

if TYPE_CHECKING:
    from ..store.store import ActionContext, Store

_TOMBSTONE_SCHEMA = """
CREATE TABLE IF NOT EXISTS erased_photos (
    source_id INTEGER NOT NULL,
    uri_hash TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (source_id, uri_hash)
);
CREATE TABLE IF NOT EXISTS privacy_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class ErasurePlan:
    face_ids: list[int]
    photo_ids: list[int]  # photo records that go too

    @property
    def empty(self) -> bool:
        return not self.face_ids and not self.photo_ids


@dataclass(frozen=True)
class ErasureReport:
    faces: list[int]
    photos: list[int]
    index_vectors: int
    checkpointed: bool
    vacuumed: bool
    audit_seq: int | None = None
    not_found: list[int] = field(default_factory=list)


class Tombstones:
    """Salted hashes of erased photos' URIs, per source, so that ingest skips them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA secure_delete=ON")
            self._conn.executescript(_TOMBSTONE_SCHEMA)
            row = self._conn.execute(
                "SELECT value FROM privacy_meta WHERE key = 'tombstone_salt'"
            ).fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT OR IGNORE INTO privacy_meta (key, value) VALUES ('tombstone_salt', ?)",
                    (secrets.token_hex(16),),
                )
                row = self._conn.execute(
                    "SELECT value FROM privacy_meta WHERE key = 'tombstone_salt'"
                ).fetchone()
            self._salt = bytes.fromhex(row[0])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc

    def _hash(self, uri: str) -> str:
        return hashlib.sha256(self._salt + uri.encode("utf-8")).hexdigest()

    def add(self, items: Iterable[tuple[int, str]], reason: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for source_id, uri in items:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO erased_photos (source_id, uri_hash, erased_at, "
                        "reason) VALUES (?, ?, ?, ?)",
                        (int(source_id), self._hash(uri), now, reason),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def is_erased(self, source_id: int, uri: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM erased_photos WHERE source_id = ? AND uri_hash = ?",
                (int(source_id), self._hash(uri)),
            ).fetchone()
        return row is not None

    def filter(self, source_id: int, uris: Iterable[str]) -> set[str]:
        """The subset of ``uris`` that were erased from this source (one query)."""
        with self._lock:
            hashes = {
                r[0]
                for r in self._conn.execute(
                    "SELECT uri_hash FROM erased_photos WHERE source_id = ?", (int(source_id),)
                )
            }
        if not hashes:
            return set()
        return {u for u in uris if self._hash(u) in hashes}

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM erased_photos").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass


def plan_erasure(
    store: Store, face_ids: Iterable[int] = (), photo_ids: Iterable[int] = ()
) -> tuple[ErasurePlan, list[int]]:
    """What an erasure of these ids removes; also the ids that do not exist."""
    catalog = store.catalog
    face_ids = sorted({int(i) for i in face_ids})
    photo_ids = sorted({int(i) for i in photo_ids})
    missing: list[int] = []
    faces: set[int] = set()
    if face_ids:
        found = {int(r[0]) for r in _in(catalog, "SELECT id FROM faces WHERE id IN ({})", face_ids)}
        missing += [i for i in face_ids if i not in found]
        faces |= found
    photos: set[int] = set()
    if photo_ids:
        found = {
            int(r[0]) for r in _in(catalog, "SELECT id FROM photos WHERE id IN ({})", photo_ids)
        }
        missing += [i for i in photo_ids if i not in found]
        photos |= found
        faces |= {
            int(r[0])
            for r in _in(catalog, "SELECT id FROM faces WHERE photo_id IN ({})", sorted(found))
        }
    # photos that the erased faces leave empty
    touched = {
        int(r[0])
        for r in _in(catalog, "SELECT DISTINCT photo_id FROM faces WHERE id IN ({})", sorted(faces))
    }
    for pid in sorted(touched - photos):
        rows = catalog.query(
            "SELECT s.keep_photos_without_faces FROM photos p JOIN sources s ON s.id = p.source_id"
            " WHERE p.id = ?",
            (pid,),
        )
        if rows and int(rows[0][0]):
            continue
        left = catalog.query("SELECT id FROM faces WHERE photo_id = ?", (pid,))
        if not ({int(r[0]) for r in left} - faces):
            photos.add(pid)
    # duplicates (same bytes at another URI) follow their original
    if photos:
        photos |= {
            int(r[0])
            for r in _in(
                catalog, "SELECT id FROM photos WHERE duplicate_of IN ({})", sorted(photos)
            )
        }
    return ErasurePlan(sorted(faces), sorted(photos)), missing


def erase(
    store: Store,
    face_ids: Iterable[int] = (),
    photo_ids: Iterable[int] = (),
    context: ActionContext | None = None,
    reason: str = "art17-request",
    inputs: dict | None = None,
    vacuum: bool = False,
) -> ErasureReport:
    """Erase faces and photos everywhere they are held; see the module docstring."""
    from ..store.store import ActionContext

    context = context or ActionContext()
    plan, missing = plan_erasure(store, face_ids, photo_ids)
    removed = 0
    checkpointed = vacuumed = False
    if not plan.empty:
        catalog = store.catalog
        tomb_items = [
            (int(r[0]), str(r[1]))
            for r in _in(
                catalog, "SELECT source_id, uri FROM photos WHERE id IN ({})", plan.photo_ids
            )
        ]
        with catalog.write() as conn:
            for chunk in _chunks(plan.face_ids):
                conn.execute(
                    f"DELETE FROM faces WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk)
                )
            for chunk in _chunks(plan.photo_ids):
                marks = ",".join("?" * len(chunk))
                # duplicates point at their original; clear the links before deleting
                conn.execute(
                    f"UPDATE photos SET duplicate_of = NULL WHERE duplicate_of IN ({marks})",
                    tuple(chunk),
                )
                conn.execute(f"DELETE FROM photos WHERE id IN ({marks})", tuple(chunk))
        if tomb_items:
            tombstones(store).add(tomb_items, reason)
        removed = store.index_file.remove(np.asarray(plan.face_ids, dtype=np.int64))
        store.index_file.save()
        checkpointed, vacuumed = scrub_sqlite(catalog.path, vacuum=vacuum)
    entry = store.audit.append(
        "erase",
        context.actor,
        context.purpose or reason,
        context.case,
        inputs={
            "reason": reason,
            "face_ids": sorted({int(i) for i in face_ids}),
            "photo_ids": sorted({int(i) for i in photo_ids}),
            **(inputs or {}),
        },
        outputs={
            "faces": plan.face_ids,
            "photos": plan.photo_ids,
            "index_vectors": removed,
            "not_found": missing,
            "checkpointed": checkpointed,
            "vacuumed": vacuumed,
        },
    )
    return ErasureReport(
        plan.face_ids, plan.photo_ids, removed, checkpointed, vacuumed, entry.seq, missing
    )


def tombstones(store: Store) -> Tombstones:
    """The store's tombstone list (``privacy.db``)."""
    return store.tombstones


def scrub_sqlite(path: Path, vacuum: bool = False) -> tuple[bool, bool]:
    """Checkpoint the WAL into the database and truncate it (and VACUUM if asked), from a
    short-lived connection. Returns (checkpoint completed, vacuumed)."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        done = False
        if vacuum:
            conn.execute("VACUUM")
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            done = True
        return busy == 0, done
    except sqlite3.Error as exc:
        raise StoreError(f"could not scrub {path}: {exc}") from exc
    finally:
        conn.close()


def require_ids_exist(store: Store, face_ids: Iterable[int]) -> None:
    _plan, missing = plan_erasure(store, face_ids)
    if missing:
        raise NotFoundError(f"no face {', '.join(map(str, missing))}")


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _in(catalog, sql: str, ids: list[int]) -> list:
    rows: list = []
    for chunk in _chunks(list(ids)):
        rows += catalog.query(sql.format(",".join("?" * len(chunk))), tuple(chunk))
    return rows
