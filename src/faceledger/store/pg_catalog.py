"""The catalog on PostgreSQL: :class:`~faceledger.store.catalog.Catalog`'s SQL on a
:class:`~faceledger.store.pg_sql.PostgresDB`, with how the templates are kept changed so that
an erasure is physical.

Connections (one per thread and process), the write lock (an advisory lock, so writes from
many processes on many machines are ordered as ``BEGIN IMMEDIATE`` orders them in SQLite)
and migrations are :class:`PostgresDB`'s; the schema is :mod:`.pg_schema`'s.

The vector log
--------------
Triggers number every face added or deleted under the write lock, so sequence numbers
follow commit order. The log's head is the highest number committed (or the position the
log was pruned to, kept in ``store_meta``), never the sequence's current value, which counts
changes not committed yet. Another
process's ``IndexFile.sync`` replays ``(applied, head]`` and cannot miss a change committed
later with a lower number.

Erasure
-------
PostgreSQL does not overwrite a deleted row: it stays in the table's files (and the WAL)
until VACUUM reuses its space, and even then bytes may survive. So the embeddings are not
stored as the cipher gives them: each is encrypted again (AES-256-GCM, the face id as
associated data) under the key of its **bucket** (``BUCKET_FACES`` consecutive face ids);
the bucket keys live in the small ``face_keys`` table. An erasure, in one transaction,
re-encrypts the bucket's other faces under a new key and replaces the key (or drops it when
the bucket is left empty); then :meth:`purge_keys` waits until no open snapshot can still
see the old key row, runs ``VACUUM FULL face_keys`` (a new file; the old one is truncated),
switches to a new WAL segment and runs a CHECKPOINT, which unlinks the segments holding the
old key (the service runs with ``wal_recycle = off`` and no archiving). What remains of the
erased face in ``faces``' files is ciphertext under a key that is gone. The cost is one
bucket's re-encryption (at most ``BUCKET_FACES`` rows) and the rewrite of ``face_keys`` (one
row per bucket), not a rewrite of the faces. ``tests/integration/test_pg_erasure_physical.py``
scans the cluster's files for the old key's bytes. Key rotation re-keys every bucket.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import IntegrityError
from .catalog import Catalog, utc_now
from .pg_db import PgTx, PostgresDB, redact, translated
from .pg_schema import CATALOG_MIGRATIONS

log = logging.getLogger("faceledger.store")

PURGE_META = "face_keys_purge_pending"
PRUNED_META = "vector_log_pruned_to"
#: face ids per bucket key: what an erasure re-encrypts at most
BUCKET_FACES = 256
#: how long an erasure waits for older snapshots to end before it vacuums the keys
HORIZON_WAIT = 30.0
_KEYS = "bucket_keys"  # the transaction's cache of bucket keys (PgTx.cache)


def _aad(face_id: int) -> bytes:
    return b"faceledger-face:" + int(face_id).to_bytes(8, "big", signed=True)


def wrap(key: bytes, face_id: int, blob: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, bytes(blob), _aad(face_id))


def unwrap(key: bytes, face_id: int, stored: bytes) -> bytes:
    stored = bytes(stored)
    try:
        return AESGCM(bytes(key)).decrypt(stored[:12], stored[12:], _aad(face_id))
    except InvalidTag as exc:
        raise IntegrityError(f"the stored template of face {face_id} fails its tag") from exc


def open_postgres_catalog(url: str) -> PgCatalog:
    return PgCatalog(url)


class PgCatalog(Catalog):
    """The catalog in a PostgreSQL database (or one schema of it)."""

    def __init__(self, url: str | PostgresDB) -> None:
        db = url if isinstance(url, PostgresDB) else PostgresDB(url, CATALOG_MIGRATIONS)
        super().__init__(db)
        self.pg: PostgresDB = db
        self.last_purge: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"PgCatalog({self.pg.location!r})"

    @property
    def url(self) -> str:
        return self.pg.url

    # -- templates: each under its bucket's key --------------------------------------------
    @staticmethod
    def insert_face(
        tx: PgTx, photo_id: int, run_id: int, box: list[float],
        landmarks: list[list[float]], score: float, quality: float, pack: str,
        embedding: bytes, now: str | None = None, *, yaw: float | None = None,
        pitch: float | None = None, sharpness: float | None = None,
    ) -> int:
        face_id = int(tx.execute(
            "SELECT nextval(pg_get_serial_sequence('faces', 'id'))").fetchone()[0])
        key = _bucket_key(tx, face_id // BUCKET_FACES)
        tx.execute(
            "INSERT INTO faces (id, photo_id, run_id, box_x, box_y, box_w, box_h, landmarks,"
            " detector_score, quality, pack, embedding, created_at, yaw, pitch, sharpness)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (face_id, photo_id, run_id, *[float(v) for v in box], json.dumps(landmarks),
             float(score), float(quality), pack, wrap(key, face_id, embedding),
             now or utc_now(), *[None if v is None else float(v) for v in (yaw, pitch, sharpness)]),
        )
        return face_id

    def iter_embeddings(
        self, pack: str, after_id: int = 0, batch: int = 10_000
    ) -> Iterator[list[tuple[int, bytes]]]:
        last = after_id
        while True:
            rows = self.query(
                "SELECT f.id, f.embedding, k.key FROM faces f "
                f"JOIN face_keys k ON k.bucket = f.id / {BUCKET_FACES} "
                "WHERE f.pack = ? AND f.id > ? ORDER BY f.id LIMIT ?", (pack, last, batch))
            if not rows:
                return
            yield [(int(r[0]), unwrap(r[2], int(r[0]), r[1])) for r in rows]
            last = int(rows[-1][0])

    def embeddings(self, ids: list[int] | np.ndarray, pack: str) -> list[tuple[int, bytes]]:
        wanted = sorted({int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)})
        if not wanted:
            return []
        rows = self.query(
            "SELECT f.id, f.embedding, k.key FROM faces f "
            f"JOIN face_keys k ON k.bucket = f.id / {BUCKET_FACES} "
            "WHERE f.pack = ? AND f.id = ANY(?) ORDER BY f.id", (pack, wanted))
        return [(int(r[0]), unwrap(r[2], int(r[0]), r[1])) for r in rows]

    # -- the vector log -------------------------------------------------------------------
    def log_head(self) -> int:
        """The highest change number committed: the log's, or the position it was pruned
        to (kept in ``store_meta``), never the sequence's value (see the module docstring)."""
        rows = self.query(
            "SELECT GREATEST((SELECT MAX(seq) FROM vector_log), "
            "(SELECT CAST(value AS BIGINT) FROM store_meta WHERE key = ?))", (PRUNED_META,))
        return int(rows[0][0] or 0)

    def prune_log(self, upto: int) -> int:
        """Forget changes up to ``upto``; the position of the last one forgotten is kept,
        so the head never goes back."""
        with self.write() as tx:
            row = tx.execute("SELECT MAX(seq) FROM vector_log WHERE seq <= ?",
                             (upto,)).fetchone()
            pruned = tx.execute("DELETE FROM vector_log WHERE seq <= ?", (upto,)).rowcount
            if row is not None and row[0] is not None:
                tx.execute(
                    "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO "
                    "UPDATE SET value = GREATEST(CAST(store_meta.value AS BIGINT), "
                    "CAST(excluded.value AS BIGINT))::text", (PRUNED_META, str(int(row[0]))))
            return int(pruned)

    @contextmanager
    def snapshot(self) -> Iterator[PgCatalog]:
        with self.pg.snapshot() as view:
            yield PgCatalog(view)

    # -- erasure ------------------------------------------------------------------------
    def delete_faces_and_photos(self, face_ids: list[int], photo_ids: list[int]) -> None:
        """One transaction: the faces' buckets get new keys (their other faces re-encrypted),
        the rows go (the triggers log each face); then the old keys are purged from the
        files (:meth:`purge_keys`)."""
        fids = sorted({int(i) for i in face_ids})
        pids = sorted({int(i) for i in photo_ids})
        with self.write() as tx:
            if pids:  # their faces go with them (ON DELETE CASCADE): re-key those too
                fids = sorted(set(fids) | {int(r[0]) for r in tx.execute(
                    "SELECT id FROM faces WHERE photo_id = ANY(?)", (pids,)).fetchall()})
            horizon = _rekey(tx, {f // BUCKET_FACES for f in fids}, set(fids))
            if fids:
                tx.execute("DELETE FROM faces WHERE id = ANY(?)", (fids,))
            if pids:
                tx.execute("UPDATE photos SET duplicate_of = NULL WHERE duplicate_of = ANY(?)",
                           (pids,))
                tx.execute("DELETE FROM photos WHERE id = ANY(?)", (pids,))
            if horizon is not None:
                _set_meta(tx, PURGE_META, str(horizon))
        if fids:
            self.purge_keys()

    def purge_keys(self, wait: float | None = None) -> dict[str, Any]:
        """Make replaced bucket keys unreadable from the cluster's files: wait until no
        snapshot older than the re-key is open, ``VACUUM FULL face_keys``, switch the WAL
        segment and CHECKPOINT. Returns what was done (also ``last_purge``); if something
        could not be done (a snapshot held open, no privilege), the purge stays pending and
        the next erasure or :meth:`scrub` retries it."""
        done: dict[str, Any] = {"vacuumed": False, "wal_switched": False,
                                "checkpointed": False, "waited_s": 0.0}
        horizon = self.meta(PURGE_META)
        if horizon is None:
            done["pending"] = False
            self.last_purge = done
            return done
        wait = HORIZON_WAIT if wait is None else wait
        conn = self.pg.connect()
        start = time.monotonic()
        try:
            with translated(self.pg.location):
                while True:
                    older = conn.execute(
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                        "AND backend_xmin IS NOT NULL "
                        "AND age(backend_xmin) >= age(%s::text::xid)", (horizon,)).fetchone()[0]
                    if not older or time.monotonic() - start > wait:
                        break
                    time.sleep(0.1)
                done["waited_s"] = round(time.monotonic() - start, 3)
                if older:
                    log.warning("erasure: %s transaction(s) older than the re-key are still "
                                "open; the old keys will be purged later", older)
                else:
                    conn.execute("SET lock_timeout = '30s'")
                    conn.execute("VACUUM FULL face_keys")
                    done["vacuumed"] = True
                    for what, sql in (("wal_switched", "SELECT pg_switch_wal()"),
                                      ("checkpointed", "CHECKPOINT")):
                        try:
                            conn.execute(sql)
                            done[what] = True
                        except Exception as exc:  # noqa: BLE001 - privilege: reported
                            log.warning("erasure: %s failed: %s", sql, exc)
                    if done["checkpointed"]:
                        conn.execute("DELETE FROM store_meta WHERE key = %s AND value = %s",
                                     (PURGE_META, horizon))
        finally:
            conn.close()
        done["pending"] = not done["checkpointed"]
        self.last_purge = done
        return done

    def scrub(self, vacuum: bool = False) -> tuple[bool, bool]:
        """PostgreSQL's form of leaving no deleted template readable: finish any pending
        key purge (:meth:`purge_keys`); with ``vacuum``, also VACUUM the catalog's tables
        (space back; a plain VACUUM does not overwrite, which the purge does not need).
        With nothing pending it runs a CHECKPOINT. (nothing pending or purged, vacuumed)."""
        done = self.purge_keys()
        if not done["checkpointed"] and not done["pending"]:
            self.pg.scrub()
        vacuumed = False
        if vacuum:
            conn = self.pg.connect()
            try:
                with translated(self.pg.location):
                    for table in ("faces", "photos", "vector_log"):
                        conn.execute(f"VACUUM {table}")
                vacuumed = True
            finally:
                conn.close()
        return not done["pending"], vacuumed

    # -- key rotation -------------------------------------------------------------------
    def rewrite_embeddings(self, rewrite, meta: dict[str, str] | None = None) -> int:
        """Replace each stored blob by ``rewrite(blob)`` where that is not None, in one
        transaction; every bucket gets a new key too (the old ones are purged)."""
        changed = 0

        def counted(blob: bytes) -> bytes | None:
            nonlocal changed
            new = rewrite(blob)
            if new is not None:
                changed += 1
            return new

        with self.write() as tx:
            buckets = {int(r[0]) for r in tx.execute("SELECT bucket FROM face_keys").fetchall()}
            horizon = _rekey(tx, buckets, set(), counted)
            for key, value in (meta or {}).items():
                _set_meta(tx, key, value)
            if horizon is not None:
                _set_meta(tx, PURGE_META, str(horizon))
        self.purge_keys()
        return changed


def _bucket_key(tx: PgTx, bucket: int) -> bytes:
    keys = tx.cache.setdefault(_KEYS, {})
    key = keys.get(bucket)
    if key is None:
        row = tx.execute("SELECT key FROM face_keys WHERE bucket = ?", (bucket,)).fetchone()
        if row is None:
            key = AESGCM.generate_key(bit_length=256)
            tx.execute("INSERT INTO face_keys (bucket, key) VALUES (?, ?)", (bucket, key))
        else:
            key = bytes(row[0])
        keys[bucket] = key
    return key


def _rekey(tx: PgTx, buckets: set[int], leaving: set[int],
           rewrite: Callable[[bytes], bytes | None] | None = None) -> int | None:
    """Give each bucket a new key (inside the caller's transaction): its faces not in
    ``leaving`` are re-encrypted (and passed through ``rewrite``); a bucket left empty loses
    its key. Returns this transaction's id (the purge's horizon), or None."""
    if not buckets:
        return None
    xid = int(tx.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
    tx.cache.pop(_KEYS, None)
    for bucket in sorted(buckets):
        row = tx.execute("SELECT key FROM face_keys WHERE bucket = ? FOR UPDATE",
                         (bucket,)).fetchone()
        if row is None:
            continue
        old = bytes(row[0])
        lo, hi = bucket * BUCKET_FACES, (bucket + 1) * BUCKET_FACES
        rows = tx.execute("SELECT id, embedding FROM faces WHERE id >= ? AND id < ? "
                          "ORDER BY id FOR UPDATE", (lo, hi)).fetchall()
        keep = [(int(r[0]), bytes(r[1])) for r in rows if int(r[0]) not in leaving]
        if not keep:
            tx.execute("DELETE FROM face_keys WHERE bucket = ?", (bucket,))
            continue
        new = AESGCM.generate_key(bit_length=256)
        updates = []
        for face_id, stored in keep:
            blob = unwrap(old, face_id, stored)
            if rewrite is not None:
                blob = rewrite(blob) or blob
            updates.append((wrap(new, face_id, blob), face_id))
        tx.executemany("UPDATE faces SET embedding = ? WHERE id = ?", updates)
        tx.execute("UPDATE face_keys SET key = ? WHERE bucket = ?", (new, bucket))
    return xid & 0xFFFFFFFF


def _set_meta(tx: PgTx, key: str, value: str) -> None:
    tx.execute("INSERT INTO store_meta (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


__all__ = ["BUCKET_FACES", "PgCatalog", "open_postgres_catalog", "redact", "unwrap", "wrap"]
