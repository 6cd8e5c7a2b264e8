"""Erasure (GDPR Art. 17): faces and photos gone from the catalog, the index and the disk.

One path serves erasure requests and retention alike (:func:`erase`):

1. resolve what goes: the faces asked for, every face of the photos asked for, and each
   photo left without faces unless its source keeps such photos (duplicates of an erased
   photo, i.e. the same bytes at another path, go with it); an ``erase_intent`` audit entry
   records it (ids, reason, who, why) before anything is deleted;
2. one catalog transaction deletes the rows. ``secure_delete`` is on, so SQLite overwrites
   the deleted cells and freed pages with zeros;
3. the vectors leave the index and the index file is rewritten (encrypted, fresh nonce);
4. the WAL is checkpointed and truncated, so no older copy of a page survives in
   ``catalog.db-wal``; ``vacuum=True`` also rebuilds the file;
5. each erased photo's URI is kept as a keyed-hash tombstone in ``privacy.db`` (a cluster
   store: in its PostgreSQL catalog, so every machine sees it; written
   before step 2, so a crash cannot lose it) so that re-ingesting the same folder does not
   bring it back (the controller should also remove the file itself: faceledger never
   deletes a source's files);
6. the ``erase`` audit entry records the ids erased and the hashes of any selfie used,
   never a template. An erasure killed between its two entries is finished by the next
   open of the store (:func:`resume_erasure`), and ``audit verify`` lists it until then.

Crops are never cached (they are cut from the photo on demand), so once the face row is
gone no crop of it can be produced. What this cannot reach: copies outside the data dir
(backups, snapshots) and blocks the filesystem or an SSD has already released; rotating
the template key after an erasure makes any such leftover ciphertext unreadable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..errors import IntegrityError, StoreError
from ..parts import HasAudit, HasCatalog, HasLocks, HasPrivacyLists, HasVectors
from ..store.sql import Database, SQLiteDB
from .crypto import TemplateCipher

if TYPE_CHECKING:
    from ..types import ActionContext
    from .audit import AuditEntry

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
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA secure_delete=ON")
MIGRATIONS = [("tombstones_0001_erased_photos", _TOMBSTONE_SCHEMA)]  # privacy.db
_TOMBSTONE_KEY_AAD = b"faceledger:tombstone-key"
ERASURE_LOCK = "erasure"
ERASURE_WAIT = 300.0  # seconds to wait for another erasure to finish


@runtime_checkable
class ErasureParts(HasCatalog, HasVectors, HasAudit, HasLocks, HasPrivacyLists, Protocol):
    """An erasure: the catalog's rows, the index's vectors, the audit log (intent and
    entry), the erasure lock and the tombstones."""


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
    """Keyed hashes of erased photos' URIs, per source, so that ingest skips them.

    Each tombstone is ``HMAC-SHA256(tombstone key, "<source id>\\n<uri>")``. The tombstone key
    is random and kept in ``privacy.db`` only encrypted with the store's template key (which
    lives outside the data dir), so a copy of the data dir cannot be used to confirm a
    guessed URI. A cluster store keeps the same tables in its catalog's PostgreSQL database
    (``pg_0012_privacy``), so a photo erased through one machine is skipped by every
    machine's ingest. Key rotation re-encrypts it (:meth:`rewrap`); the tombstones stay valid.

    Stores made before this kept ``sha256(salt + uri)`` with the salt beside the hashes.
    Those rows cannot be re-keyed without the URIs, so they are kept (scheme ``salt``) and
    still checked with the old salt; each one is re-keyed the first time ingest lists its
    URI again, and the salt is deleted once no salted row is left.
    """

    def __init__(self, db: Path | Database, cipher: object | None = None) -> None:
        self.cipher = cipher
        self._db, self._owned = open_privacy_db(db, MIGRATIONS, PRAGMAS)
        self.path = getattr(self._db, "path", None)
        self.location = self._db.location
        self._lock = getattr(self._db, "lock", None) or threading.RLock()
        try:
            if self._db.dialect == "sqlite":
                columns = {r[1] for r in self._db.query("PRAGMA table_info(erased_photos)")}
                if "scheme" not in columns:  # rows from before keyed tombstones are salted
                    self._db.execute(
                        "ALTER TABLE erased_photos ADD COLUMN scheme TEXT NOT NULL "
                        "DEFAULT 'salt'")
            self._key = self._load_key()
            rows = self._db.query("SELECT value FROM privacy_meta WHERE key = 'tombstone_salt'")
            self._salt = bytes.fromhex(rows[0][0]) if rows else None
        except StoreError as exc:
            if self._owned:
                self._db.close()
            raise StoreError(f"cannot open {self.location}: {exc.message}") from exc

    # -- the key -------------------------------------------------------------------------
    def _wrap(self, key: bytes, cipher: object | None) -> str:
        if isinstance(cipher, TemplateCipher):
            return "enc:" + cipher.encrypt_blob(key, _TOMBSTONE_KEY_AAD).hex()
        return "plain:" + key.hex()  # no store key: nothing to hide it with

    def _load_key(self) -> bytes:
        row = self._db.execute(
            "SELECT value FROM privacy_meta WHERE key = 'tombstone_key'"
        ).fetchone()
        if row is None:
            key = secrets.token_bytes(32)
            self._db.execute(  # two machines may race here: the first key written wins
                "INSERT INTO privacy_meta (key, value) VALUES ('tombstone_key', ?) "
                "ON CONFLICT DO NOTHING",
                (self._wrap(key, self.cipher),),
            )
            row = self._db.execute(
                "SELECT value FROM privacy_meta WHERE key = 'tombstone_key'"
            ).fetchone()
        kind, _, value = str(row[0]).partition(":")
        if kind == "enc":
            try:
                if not isinstance(self.cipher, TemplateCipher):
                    raise IntegrityError("no template key is loaded")
                return self.cipher.decrypt_blob(bytes.fromhex(value), _TOMBSTONE_KEY_AAD)
            except (IntegrityError, ValueError) as exc:
                keyed = self._db.execute(
                    "SELECT COUNT(*) FROM erased_photos WHERE scheme = 'hmac'"
                ).fetchone()[0]
                if keyed:  # without the key, erased photos would be collected again
                    raise IntegrityError(
                        f"cannot read the tombstone key in {self._where} ({exc}); "
                        f"{keyed} erased photos could be re-ingested: restore the template "
                        "key this store was made with"
                    ) from None
                key = secrets.token_bytes(32)  # it protected nothing yet: a new one
                self._db.execute(
                    "UPDATE privacy_meta SET value = ? WHERE key = 'tombstone_key'",
                    (self._wrap(key, self.cipher),),
                )
                return key
        if kind == "plain":
            key = bytes.fromhex(value)
            if isinstance(self.cipher, TemplateCipher):  # the store has a key now: hide it
                self._db.execute(
                    "UPDATE privacy_meta SET value = ? WHERE key = 'tombstone_key'",
                    (self._wrap(key, self.cipher),),
                )
            return key
        raise IntegrityError(f"the tombstone key in {self._where} is malformed")

    @property
    def _where(self) -> str:
        return self.path.name if self.path is not None else self.location

    def rewrap(self, cipher: object) -> None:
        """Encrypt the tombstone key with another template key (key rotation)."""
        with self._lock:
            self._db.execute(
                "UPDATE privacy_meta SET value = ? WHERE key = 'tombstone_key'",
                (self._wrap(self._key, cipher),),
            )
            self.cipher = cipher

    def _hash(self, source_id: int, uri: str) -> str:
        return hmac.new(
            self._key, f"{int(source_id)}\n{uri}".encode(), hashlib.sha256
        ).hexdigest()

    def _salted(self, uri: str) -> str | None:
        if self._salt is None:
            return None
        return hashlib.sha256(self._salt + uri.encode("utf-8")).hexdigest()

    # -- use -----------------------------------------------------------------------------
    def add(self, items: Iterable[tuple[int, str]], reason: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            with self._db.write() as tx:
                for source_id, uri in items:
                    tx.execute(
                        "INSERT INTO erased_photos (source_id, uri_hash, erased_at, "
                        "reason, scheme) VALUES (?, ?, ?, ?, 'hmac') ON CONFLICT DO NOTHING",
                        (int(source_id), self._hash(source_id, uri), now, reason),
                    )

    def is_erased(self, source_id: int, uri: str) -> bool:
        return bool(self.filter(source_id, [uri]))

    def filter(self, source_id: int, uris: Iterable[str]) -> set[str]:
        """The subset of ``uris`` that were erased from this source (one query). Salted
        tombstones found on the way are re-keyed."""
        with self._lock:
            rows = self._db.execute(
                "SELECT uri_hash, scheme FROM erased_photos WHERE source_id = ?",
                (int(source_id),),
            ).fetchall()
        if not rows:
            return set()
        keyed = {r[0] for r in rows if r[1] == "hmac"}
        salted = {r[0] for r in rows if r[1] == "salt"}
        found: set[str] = set()
        upgrade: list[tuple[str, str]] = []
        for uri in uris:
            if self._hash(source_id, uri) in keyed:
                found.add(uri)
                continue
            old = self._salted(uri) if salted else None
            if old is not None and old in salted:
                found.add(uri)
                upgrade.append((uri, old))
        if upgrade:
            self._rekey(int(source_id), upgrade)
        return found

    def _rekey(self, source_id: int, items: list[tuple[str, str]]) -> None:
        with self._lock:
            with self._db.write() as tx:
                for uri, old in items:
                    tx.execute(
                        "UPDATE OR IGNORE erased_photos SET uri_hash = ?, scheme = 'hmac' "
                        "WHERE source_id = ? AND uri_hash = ? AND scheme = 'salt'",
                        (self._hash(source_id, uri), source_id, old),
                    )
                left = tx.execute(
                    "SELECT COUNT(*) FROM erased_photos WHERE scheme = 'salt'"
                ).fetchone()[0]
                if not left:
                    tx.execute("DELETE FROM privacy_meta WHERE key = 'tombstone_salt'")
            if not left:
                self._salt = None

    def salted_count(self) -> int:
        """Tombstones still hashed with the old salt (see the class docstring)."""
        with self._lock:
            return int(self._db.execute(
                "SELECT COUNT(*) FROM erased_photos WHERE scheme = 'salt'").fetchone()[0])

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM erased_photos").fetchone()[0])

    def close(self) -> None:
        """Close the database if this object opened it (a cluster store's is the
        catalog's, closed with the catalog)."""
        if self._owned:
            with self._lock:
                self._db.close()


def open_privacy_db(where: Path | Database, migrations, pragmas) -> tuple[Database, bool]:
    """(the database, whether the caller owns it): a path opens a SQLite file of the
    caller's own with ``migrations``; a Database (a cluster store's catalog database, whose
    migrations made these tables) is used as it is."""
    if isinstance(where, (str, Path)):
        return SQLiteDB(Path(where), migrations=migrations, pragmas=pragmas), True
    return where, False


def plan_erasure(
    store: ErasureParts, face_ids: Iterable[int] = (), photo_ids: Iterable[int] = ()
) -> tuple[ErasurePlan, list[int]]:
    """What an erasure of these ids removes; also the ids that do not exist."""
    catalog = store.catalog
    face_ids = sorted({int(i) for i in face_ids})
    photo_ids = sorted({int(i) for i in photo_ids})
    missing: list[int] = []
    faces: set[int] = set()
    if face_ids:
        found = catalog.existing_face_ids(face_ids)
        missing += [i for i in face_ids if i not in found]
        faces |= found
    photos: set[int] = set()
    if photo_ids:
        found = catalog.existing_photo_ids(photo_ids)
        missing += [i for i in photo_ids if i not in found]
        photos |= found
        faces |= catalog.face_ids_of_photos(sorted(found))
    # photos that the erased faces leave empty
    touched = catalog.photo_ids_of_faces(sorted(faces))
    for pid in sorted(touched - photos):
        if catalog.keeps_photo_without_faces(pid):
            continue
        if not (catalog.face_ids_of_photos([pid]) - faces):
            photos.add(pid)
    # duplicates (same bytes at another URI) follow their original
    if photos:
        photos |= catalog.duplicates_of(sorted(photos))
    return ErasurePlan(sorted(faces), sorted(photos)), missing


def erase(
    store: ErasureParts,
    face_ids: Iterable[int] = (),
    photo_ids: Iterable[int] = (),
    context: ActionContext | None = None,
    reason: str = "art17-request",
    inputs: dict | None = None,
    vacuum: bool = False,
) -> ErasureReport:
    """Erase faces and photos everywhere they are held; see the module docstring.

    One erasure at a time per store (a named lock: across processes, and across the
    machines of a cluster store). The audit log gets an
    ``erase_intent`` entry (the ids, the reason, who and why) before anything is deleted,
    and the ``erase`` entry after; an erasure killed in between is finished, and its
    ``erase`` entry written, by the next open of the store."""
    from ..types import ActionContext

    context = context or ActionContext()
    request = {
        "reason": reason,
        "face_ids": sorted({int(i) for i in face_ids}),
        "photo_ids": sorted({int(i) for i in photo_ids}),
        **(inputs or {}),
    }
    store.audit.require_writable()  # before taking anything: a log that cannot record it
    with store.locks.lock(ERASURE_LOCK).require("another erasure", ERASURE_WAIT):
        return _erase_locked(store, request, context, vacuum)


def resume_erasure(store: ErasureParts, intent: AuditEntry) -> ErasureReport:
    """Finish an erasure whose process died after its intent was written (the caller holds
    the erasure lock). Whatever of the plan is still held is erased now."""
    from ..types import ActionContext

    context = ActionContext(intent.actor, intent.purpose, intent.case)
    request = {k: v for k, v in intent.inputs.items() if k not in ("faces", "photos")}
    planned = (intent.inputs.get("faces", []), intent.inputs.get("photos", []))
    return _erase_locked(store, request, context, False, resume=intent, planned=planned)


def _erase_locked(
    store: ErasureParts,
    request: dict,
    context: ActionContext,
    vacuum: bool,
    resume: AuditEntry | None = None,
    planned: tuple[list[int], list[int]] | None = None,
) -> ErasureReport:
    reason = str(request.get("reason", "art17-request"))
    face_ids, photo_ids = planned or (request["face_ids"], request["photo_ids"])
    plan, missing = plan_erasure(store, face_ids, photo_ids)
    purpose = context.purpose or reason
    intent = resume
    if intent is None and not plan.empty:
        intent = store.audit.begin(
            "erase", context.actor, purpose, context.case,
            inputs={**request, "faces": plan.face_ids, "photos": plan.photo_ids},
            lock=ERASURE_LOCK,
        )
    removed = 0
    checkpointed = vacuumed = False
    sources = erased_sources(store, plan)  # before the rows go: for receipts (issue 15)
    if not plan.empty:
        catalog = store.catalog
        tomb_items = catalog.photo_sources_and_uris(plan.photo_ids)
        if tomb_items:  # before the delete: once the rows are gone their URIs are too
            tombstones(store).add(tomb_items, reason)
        catalog.delete_faces_and_photos(plan.face_ids, plan.photo_ids)
        removed = store.index_file.remove(np.asarray(plan.face_ids, dtype=np.int64))
        store.index_file.save()
        checkpointed, vacuumed = catalog.scrub(vacuum=vacuum)
    outputs = {
        "faces": plan.face_ids,
        "photos": plan.photo_ids,
        "index_vectors": removed,
        "not_found": missing,
        "sources": sources,
        "checkpointed": checkpointed,
        "vacuumed": vacuumed,
    }
    if intent is None:  # nothing to erase: one entry says so
        entry = store.audit.append("erase", context.actor, purpose, context.case,
                                   inputs=request, outputs=outputs)
    else:
        if resume is not None:
            outputs["resumed"] = True  # the first process died; this one finished it
        entry = store.audit.complete(intent, "erase", context.actor, purpose, context.case,
                                     inputs=request, outputs=outputs)
        if checkpointed:  # the entry moved the catalog's audit anchor: leave the WAL empty
            store.catalog.scrub()
    return ErasureReport(
        plan.face_ids, plan.photo_ids, removed, checkpointed, vacuumed, entry.seq, missing
    )


def erased_sources(store: ErasureParts, plan: ErasurePlan) -> list[dict]:
    """Per source, how many of the plan's faces and photos it holds (names and counts only:
    what an erasure receipt tells the person)."""
    counts: dict[str, dict[str, int]] = {}
    for what, rows in (("faces", store.catalog.sources_of_faces(plan.face_ids)),
                       ("photos", store.catalog.sources_of_photos(plan.photo_ids))):
        for name, n in rows:
            entry = counts.setdefault(name, {"faces": 0, "photos": 0})
            entry[what] += n
    return [{"source": k, **v} for k, v in sorted(counts.items())]


def tombstones(store: HasPrivacyLists) -> Tombstones:
    """The store's tombstone list (``privacy.db``, or the cluster store's catalog)."""
    return store.tombstones
