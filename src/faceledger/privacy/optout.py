"""The opt-out list: people who asked never to be collected again.

Each entry holds one protected template of the person: the normalised mean of the
embeddings of the selfies they gave, encrypted with the store's template key, in
``privacy.db`` in the data dir (a cluster store: in its PostgreSQL catalog, tables made by
``pg_0012_privacy``, so that every machine's ingest honours the list). It has one use:
every ingest compares each new face with the list and drops the faces that match, before
anything about that face is written (the run report only counts them). Templates are never
searched, never exported, never shown; removing an entry deletes its template with
``secure_delete`` on (on PostgreSQL the tables are rewritten by ``VACUUM FULL`` and the old
files unlinked: :meth:`OptOutList._scrub`).

The blocking threshold is looser than the search's: missing an opted-out person is worse
than dropping a stranger's face from a collection. It was tuned per pack on LFW
peopleDevTrain (111 people opting out with 3 selfies each, 1,500 other people) for >= 99 %
of the people's later photos blocked with the fewest others blocked, and checked on the
disjoint peopleDevTest (docs/benchmarks.md, "Opt-out"). One mean template per person
blocked fewer strangers at the same recall than keeping each selfie's template and taking
the best match. Packs without a tuned value use their calibrated threshold at a
false-accept rate of :data:`OPTOUT_FAR`, interpolated on a log scale. The chance of blocking a
stranger grows with the number of people on the list.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import NotFoundError, StoreError
from ..models.registry import PackSpec
from ..store.sql import Database

log = logging.getLogger("faceledger.privacy")

OPTOUT_FAR = 2e-3
OPTOUT_THRESHOLDS = {"yunet-omz0095": 0.47}  # tuned on LFW peopleDevTrain, see above
PRIVACY_FILE = "privacy.db"
_AAD = b"faceledger:optout"

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON", "PRAGMA secure_delete=ON")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS optout_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL,
    selfies INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS optout_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id INTEGER NOT NULL REFERENCES optout_entries(id) ON DELETE CASCADE,
    template BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS optout_templates_entry ON optout_templates(entry_id);
"""
MIGRATIONS = [("optout_0001_entries_and_templates", _SCHEMA)]  # privacy.db, beside tombstones


def optout_threshold(pack: PackSpec, far: float | None = None) -> float:
    """The pack's tuned opt-out threshold; else its threshold at ``far`` (default
    :data:`OPTOUT_FAR`), interpolated on log10(FAR) between calibrated points."""
    if far is None:
        if pack.name in OPTOUT_THRESHOLDS:
            return OPTOUT_THRESHOLDS[pack.name]
        far = OPTOUT_FAR
    points = sorted(pack.thresholds.items())  # ascending FAR -> descending threshold
    if far in pack.thresholds:
        return pack.thresholds[far]
    below = [(f, t) for f, t in points if f < far]
    above = [(f, t) for f, t in points if f > far]
    if not below:
        return points[0][1]
    if not above:
        return points[-1][1]
    (f0, t0), (f1, t1) = below[-1], above[0]
    w = (math.log10(far) - math.log10(f0)) / (math.log10(f1) - math.log10(f0))
    return round(t0 + w * (t1 - t0), 4)


@dataclass(frozen=True)
class OptOutEntry:
    id: int
    reference: str
    templates: int
    created_at: str
    created_by: str
    selfies: int = 1


class OptOutList:
    """Encrypted opt-out templates and the one question they answer: is this face blocked?"""

    def __init__(self, db: Path | Database, cipher, threshold: float, dim: int) -> None:
        from .erasure import open_privacy_db

        self.cipher = cipher
        self.threshold = float(threshold)
        self.dim = int(dim)
        self._db, self._owned = open_privacy_db(db, MIGRATIONS, PRAGMAS)
        self.path = getattr(self._db, "path", None)
        self._lock = getattr(self._db, "lock", None) or threading.RLock()
        # decrypted templates, built on first use, with the state of the table they were
        # read at: another process (the CLI beside a server) may add or remove an entry
        self._matrix: np.ndarray | None = None
        self._matrix_state: tuple[int, int] | None = None

    # -- writing -------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, reference: str, actor: str = "cli") -> OptOutEntry:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if not len(vectors):
            raise StoreError("an opt-out entry needs at least one face template")
        if not reference.strip():
            raise StoreError("an opt-out entry needs a reference (the request it answers)")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        template = _unit(np.mean([_unit(v) for v in vectors], axis=0))
        with self._db.write() as tx:
            entry_id = tx.insert(
                "INSERT INTO optout_entries (reference, selfies, created_at, created_by) "
                "VALUES (?, ?, ?, ?)",
                (reference, len(vectors), now, actor),
            )
            tx.execute(
                "INSERT INTO optout_templates (entry_id, template) VALUES (?, ?)",
                (entry_id, self.cipher.encrypt_vector(template, _AAD)),
            )
            self._matrix = None
        return OptOutEntry(entry_id, reference, 1, now, actor, len(vectors))

    def remove(self, entry_id: int) -> OptOutEntry:
        entry = self.entry(entry_id)
        with self._lock:
            with self._db.write() as tx:
                tx.execute("DELETE FROM optout_templates WHERE entry_id = ?", (entry_id,))
                tx.execute("DELETE FROM optout_entries WHERE id = ?", (entry_id,))
            self._scrub()
            self._matrix = None
        return entry

    def reencrypt(self, new_cipher) -> int:
        """Re-encrypt every template with ``new_cipher`` (which can still read the old key)."""
        changed = 0
        with self._lock:
            with self._db.write() as tx:
                rows = tx.execute("SELECT id, template FROM optout_templates").fetchall()
                for tid, blob in rows:
                    if new_cipher.is_current(bytes(blob)):
                        continue
                    vec = new_cipher.decrypt_vector(bytes(blob), _AAD)
                    tx.execute(
                        "UPDATE optout_templates SET template = ? WHERE id = ?",
                        (new_cipher.encrypt_vector(vec, _AAD), int(tid)),
                    )
                    changed += 1
            self._scrub()
            self._matrix = None
        return changed

    # -- reading -------------------------------------------------------------------------
    def entry(self, entry_id: int) -> OptOutEntry:
        found = [e for e in self.entries() if e.id == int(entry_id)]
        if not found:
            raise NotFoundError(f"no opt-out entry {entry_id}")
        return found[0]

    def entries(self) -> list[OptOutEntry]:
        rows = self._db.query(
            "SELECT e.id, e.reference, COUNT(t.id), e.created_at, e.created_by, e.selfies "
            "FROM optout_entries e LEFT JOIN optout_templates t ON t.entry_id = e.id "
            "GROUP BY e.id ORDER BY e.id"
        )
        return [OptOutEntry(int(r[0]), r[1], int(r[2]), r[3], r[4], int(r[5])) for r in rows]

    def __len__(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM optout_entries")[0][0])

    def _templates(self) -> np.ndarray:
        with self._lock:
            state = self._state()
            if self._matrix is None or state != self._matrix_state:
                rows = self._db.query("SELECT template FROM optout_templates")
                self._matrix_state = state
                if rows:
                    self._matrix = np.stack(
                        [self.cipher.decrypt_vector(bytes(r[0]), _AAD) for r in rows]
                    ).astype(np.float32)
                else:
                    self._matrix = np.zeros((0, self.dim), np.float32)
            return self._matrix

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """For each vector, its highest similarity to any opt-out template (-1 if none)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        templates = self._templates()
        if not len(templates) or not len(vectors):
            return np.full(len(vectors), -1.0, np.float32)
        return (vectors @ templates.T).max(axis=1)

    def blocked_mask(self, vectors: np.ndarray) -> np.ndarray:
        """True for each face that matches an opt-out template and must not be stored."""
        return self.similarities(vectors) >= self.threshold

    def close(self) -> None:
        """Forget the decrypted templates; close the database if this object opened it (a
        cluster store's is the catalog's, closed with the catalog)."""
        with self._lock:
            self._matrix = None
            if self._owned:
                self._db.close()

    def _scrub(self) -> None:
        """Leave no removed or re-encrypted template readable in the database's files.
        SQLite: ``secure_delete`` zeroed the rows; the WAL is truncated. PostgreSQL keeps
        dead rows until VACUUM: ``VACUUM FULL`` writes the two small tables (one row per
        person) anew and unlinks the old files; ``pg_switch_wal()`` and a CHECKPOINT let
        the WAL segments that carried the rows be removed (on a service set up as for the
        catalog's erasure: docs/privacy.md). What a replica or a WAL archive holds is
        ciphertext under the store key, which a key rotation retires."""
        if self._db.dialect == "sqlite":
            self._db.checkpoint()
            return
        try:
            self._db.execute("SET lock_timeout = '30s'")
            for sql in ("VACUUM FULL optout_templates", "VACUUM FULL optout_entries",
                        "SELECT pg_switch_wal()", "CHECKPOINT"):
                self._db.execute(sql)
        except StoreError as exc:  # a busy table or no privilege: the rows go at the next
            log.warning("opt-out list: %s (the removed rows stay in the database's files "
                        "until the next VACUUM and checkpoint)", exc.message)
        finally:
            try:
                self._db.execute("SET lock_timeout = 0")
            except StoreError:
                pass

    def _state(self) -> tuple[int, int]:
        """(templates ever added, templates held): changes when any process (on a cluster
        store, any machine) adds or removes an entry, so every ingest checks the list as
        it is now. On PostgreSQL the highest id committed stands for the first: ids are
        handed out under the write lock, so they grow in commit order, and a (highest,
        count) pair seen once cannot come back with other rows."""
        if self._db.dialect == "sqlite":
            sql = ("SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'optout_templates'), "
                   "COUNT(*) FROM optout_templates")
        else:
            sql = "SELECT MAX(id), COUNT(*) FROM optout_templates"
        row = self._db.query(sql)[0]  # one query: it runs for every photo an ingest stores
        return int(row[0] or 0), int(row[1])


def _unit(vec: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def open_optout(store) -> OptOutList:
    """The store's opt-out list (in ``<data dir>/privacy.db``, or in a cluster store's
    catalog) at the pack's opt-out threshold."""
    from ..store.backends import privacy_db

    return OptOutList(
        privacy_db(Path(store.data_dir), store.catalog, PRIVACY_FILE),
        store.cipher,
        optout_threshold(store.pack),
        store.pack.embedding_size,
    )
