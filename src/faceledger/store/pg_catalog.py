"""The catalog on PostgreSQL (psycopg 3): the same verbs as the SQLite catalog.

Connections, the write lock (an advisory lock, so writes from many processes on many
machines are ordered as ``BEGIN IMMEDIATE`` orders them in SQLite) and migrations are
:class:`~faceledger.store.pg_db.PgDatabase`'s. The schema is :mod:`.pg_schema`'s.

The vector log
--------------
Triggers number every face added or deleted under the write lock, so sequence numbers
follow commit order. The log's head is the highest number committed (``MAX(seq)``, or the
position it was pruned to, kept in ``store_meta``), never the sequence's current value,
which counts changes not committed yet. Another process's :meth:`IndexFile.sync` replays
``(applied, head]`` and cannot miss a change committed later with a lower number.

Erasure
-------
PostgreSQL does not overwrite a deleted row: it stays in the table's files (and the WAL)
until VACUUM reuses its space, and even then bytes may survive. So the embeddings are not
stored as the cipher gives them: each is encrypted again (AES-256-GCM, the face id as
associated data) under the key of its **bucket** (``BUCKET_FACES`` consecutive face ids),
and the bucket keys live in the small ``face_keys`` table. An erasure, in one transaction,
re-encrypts the bucket's other faces under a new key and replaces the key (or drops it
when the bucket is empty); then it waits until no open snapshot can still see the old key
row, runs ``VACUUM FULL face_keys`` (a new file; the old one is truncated), switches to a
new WAL segment and runs a CHECKPOINT, which unlinks the segments holding the old key
(the service runs with ``wal_recycle = off`` and no archiving). What remains of the erased
face in ``faces``' files is ciphertext under a key that is gone. The cost is one bucket's
re-encryption (at most ``BUCKET_FACES`` rows) and the rewrite of ``face_keys`` (one row per
bucket: ~40,000 rows at ten million faces), not a rewrite of the faces.
``tests/integration/test_pg_erasure_physical.py`` scans the cluster's files for the old
key's bytes. Key rotation gives every bucket a new key the same way.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AlreadyExistsError, IntegrityError, NotFoundError, StoreError
from ..types import Box, SourceInfo
from .pg_schema import CATALOG_MIGRATIONS
from .pg_sql import PostgresDB, Row, qmarks, redact, translated
from .records import FaceRecord, PhotoRecord, RunRecord

log = logging.getLogger("faceledger.store")

AUDIT_ANCHOR_META = "audit_anchor"
PRUNED_META = "vector_log_pruned_to"
PURGE_META = "face_keys_purge_pending"
#: face ids per bucket key: what an erasure re-encrypts at most
BUCKET_FACES = 256
#: how long an erasure waits for older snapshots to end before it vacuums the keys
HORIZON_WAIT = 30.0


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


class PgWriter:
    """The ingest's writes inside one :meth:`PgCatalog.write` transaction."""

    def __init__(self, catalog: PgCatalog, conn: Any) -> None:
        self.catalog = catalog
        self.conn = conn
        self._keys: dict[int, bytes] = {}

    def execute(self, sql: str, params: tuple = ()) -> Any:
        return self.conn.execute(qmarks(sql), params)

    def insert_photo(
        self, source_id: int, run_id: int, uri: str, status: str,
        sha256: str | None = None, size_bytes: int | None = None, width: int | None = None,
        height: int | None = None, error: str | None = None, duplicate_of: int | None = None,
        now: str | None = None,
    ) -> int:
        row = self.conn.execute(
            "INSERT INTO photos (source_id, run_id, uri, sha256, size_bytes, width, height,"
            " status, error, duplicate_of, ingested_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (source_id, run_id, uri, sha256, size_bytes, width, height, status, error,
             duplicate_of, now or utc_now()),
        ).fetchone()
        return int(row[0])

    def insert_face(
        self, photo_id: int, run_id: int, box: list[float] | tuple[float, ...],
        landmarks: list[list[float]], score: float, quality: float, pack: str,
        embedding: bytes, now: str | None = None,
    ) -> int:
        face_id = int(self.conn.execute(
            "SELECT nextval(pg_get_serial_sequence('faces', 'id'))").fetchone()[0])
        key = self.bucket_key(face_id // BUCKET_FACES)
        self.conn.execute(
            "INSERT INTO faces (id, photo_id, run_id, box_x, box_y, box_w, box_h, landmarks,"
            " detector_score, quality, pack, embedding, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (face_id, photo_id, run_id, *[float(v) for v in box], json.dumps(landmarks),
             float(score), float(quality), pack, wrap(key, face_id, embedding),
             now or utc_now()),
        )
        return face_id

    def bucket_key(self, bucket: int) -> bytes:
        key = self._keys.get(bucket)
        if key is None:
            row = self.conn.execute("SELECT key FROM face_keys WHERE bucket = %s",
                                    (bucket,)).fetchone()
            if row is None:
                key = AESGCM.generate_key(bit_length=256)
                self.conn.execute("INSERT INTO face_keys (bucket, key) VALUES (%s, %s)",
                                  (bucket, key))
            else:
                key = bytes(row[0])
            self._keys[bucket] = key
        return key

    def photo_by_sha(self, sha256: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM photos WHERE sha256 = %s AND status = 'ok' ORDER BY id LIMIT 1",
            (sha256,),
        ).fetchone()
        return int(row[0]) if row else None


class PgCatalog:
    """The catalog in a PostgreSQL database (or one schema of it)."""

    backend = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = PostgresDB(url)
        self.path = None  # no file: erasure scrubs through :meth:`scrub`
        self._query: Callable[[str, tuple], list[Row]] = self._raw_query
        self.db.apply_migrations(CATALOG_MIGRATIONS)
        self.last_purge: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"PgCatalog({redact(self.url)!r})"

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[PgWriter]:
        """One write transaction under the catalog's advisory write lock."""
        with self._raw_write() as conn:
            yield PgWriter(self, conn)

    def _raw_query(self, sql: str, params: tuple) -> list[Row]:
        with translated(self.db.location):
            return self.db.conn.execute(sql, params or None).fetchall()

    @contextmanager
    def _raw_write(self) -> Iterator[Any]:
        with self.db.write() as tx:
            yield tx.conn

    def query(self, sql: str, params: tuple = ()) -> list[Row]:
        """Run read SQL written for SQLite (``?`` placeholders) or PostgreSQL (``%s``)."""
        return self._query(qmarks(sql) if "?" in sql else sql, tuple(params))

    def _q(self, sql: str, params: tuple = ()) -> list[Row]:
        return self._query(sql, tuple(params))

    # -- meta ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM store_meta WHERE key = %s", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._raw_write() as conn:
            _set_meta(conn, key, value)

    def audit_anchor(self) -> str | None:
        return self.meta(AUDIT_ANCHOR_META)

    def set_audit_anchor(self, record: str, seq: int) -> None:
        with self._raw_write() as conn:
            row = conn.execute("SELECT value FROM store_meta WHERE key = %s FOR UPDATE",
                               (AUDIT_ANCHOR_META,)).fetchone()
            if row is not None:
                try:
                    if int(json.loads(row[0])["seq"]) > seq:
                        return
                except (ValueError, KeyError, TypeError):
                    pass
            _set_meta(conn, AUDIT_ANCHOR_META, record)

    def holds_records(self) -> bool:
        row = self._q(
            "SELECT EXISTS (SELECT 1 FROM sources) OR EXISTS (SELECT 1 FROM ingest_runs) "
            "OR EXISTS (SELECT 1 FROM photos) OR EXISTS (SELECT 1 FROM store_meta "
            "WHERE key = 'template_key_id')"
        )
        return bool(row[0][0])

    # -- sources ------------------------------------------------------------------------
    def add_source(self, info: SourceInfo, keep_photos_without_faces: bool = False) -> None:
        try:
            with self._raw_write() as conn:
                conn.execute(
                    "INSERT INTO sources (name, kind, location, controller, lawful_basis, "
                    "special_category_condition, purpose, retention_days, minors_policy, "
                    "keep_photos_without_faces, created_at, root) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (info.name, info.kind, info.location, info.controller, info.lawful_basis,
                     info.special_category_condition, info.purpose, info.retention_days,
                     info.minors_policy, int(keep_photos_without_faces), utc_now(),
                     info.root),
                )
        except AlreadyExistsError as exc:
            raise AlreadyExistsError(f"a source named {info.name!r} exists already") from exc

    def source_row(self, name: str) -> Row:
        rows = self._q("SELECT * FROM sources WHERE name = %s", (name,))
        if not rows:
            raise NotFoundError(f"no source named {name!r}")
        return rows[0]

    def source_rows(self) -> list[Row]:
        return self._q("SELECT * FROM sources ORDER BY name")

    def has_source(self, name: str) -> bool:
        return bool(self._q("SELECT 1 FROM sources WHERE name = %s", (name,)))

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, source_id: int, pack: str) -> int:
        with self._raw_write() as conn:
            row = conn.execute(
                "INSERT INTO ingest_runs (source_id, pack, status, started_at) "
                "VALUES (%s, %s, 'running', %s) RETURNING id", (source_id, pack, utc_now()),
            ).fetchone()
            return int(row[0])

    def finish_run(self, run_id: int, status: str, counts: dict[str, float]) -> None:
        cols = ("photos", "faces", "errors", "duplicates", "skipped", "blocked", "seconds")
        with self._raw_write() as conn:
            conn.execute(
                f"UPDATE ingest_runs SET status = %s, finished_at = %s, "
                f"{', '.join(c + ' = %s' for c in cols)} WHERE id = %s",
                (status, utc_now(), *(counts.get(c, 0) for c in cols), run_id),
            )

    def running_runs(self) -> list[tuple[int, int]]:
        rows = self._q("SELECT id, source_id FROM ingest_runs WHERE status = 'running' "
                       "ORDER BY id")
        return [(int(r[0]), int(r[1])) for r in rows]

    def mark_run_crashed(self, run_id: int) -> dict[str, int] | None:
        with self._raw_write() as conn:
            row = conn.execute("SELECT status FROM ingest_runs WHERE id = %s FOR UPDATE",
                               (run_id,)).fetchone()
            if row is None or row[0] != "running":
                return None
            counts = conn.execute(
                "SELECT (SELECT COUNT(*) FROM photos WHERE run_id = %s), "
                "(SELECT COUNT(*) FROM faces WHERE run_id = %s), "
                "(SELECT COUNT(*) FROM photos WHERE run_id = %s AND status = 'error'), "
                "(SELECT COUNT(*) FROM photos WHERE run_id = %s AND status = 'duplicate')",
                (run_id,) * 4,
            ).fetchone()
            out = dict(zip(("photos", "faces", "errors", "duplicates"),
                           (int(v) for v in counts)))
            conn.execute(
                "UPDATE ingest_runs SET status = 'crashed', finished_at = %s, photos = %s, "
                "faces = %s, errors = %s, duplicates = %s WHERE id = %s",
                (utc_now(), out["photos"], out["faces"], out["errors"], out["duplicates"],
                 run_id),
            )
        return out

    def run(self, run_id: int) -> RunRecord:
        rows = self._q(
            "SELECT r.*, s.name AS source FROM ingest_runs r JOIN sources s ON s.id = r.source_id "
            "WHERE r.id = %s", (run_id,))
        if not rows:
            raise NotFoundError(f"no ingest run {run_id}")
        return _run(rows[0])

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._q(
            "SELECT r.*, s.name AS source FROM ingest_runs r JOIN sources s ON s.id = r.source_id "
            "ORDER BY r.id DESC LIMIT %s", (limit,))
        return [_run(r) for r in rows]

    def run_source_id(self, run_id: int) -> int:
        rows = self._q("SELECT source_id FROM ingest_runs WHERE id = %s", (run_id,))
        return int(rows[0][0]) if rows else 0

    # -- photos and faces ---------------------------------------------------------------
    def known_uris(self, source_id: int) -> set[str]:
        return {r[0] for r in self._q("SELECT uri FROM photos WHERE source_id = %s",
                                      (source_id,))}

    def photo(self, photo_id: int) -> PhotoRecord:
        rows = self._q(
            "SELECT p.*, s.name AS source FROM photos p JOIN sources s ON s.id = p.source_id "
            "WHERE p.id = %s", (photo_id,))
        if not rows:
            raise NotFoundError(f"no photo {photo_id}")
        return _photo(rows[0])

    def face(self, face_id: int) -> FaceRecord:
        found = self.faces([face_id])
        if face_id not in found:
            raise NotFoundError(f"no face {face_id}")
        return found[face_id]

    def faces(self, face_ids: list[int]) -> dict[int, FaceRecord]:
        ids = [int(i) for i in face_ids]
        if not ids:
            return {}
        rows = self._q(
            "SELECT f.id, f.photo_id, f.run_id, f.box_x, f.box_y, f.box_w, f.box_h, "
            "f.landmarks, f.detector_score, f.quality, f.pack, f.created_at, "
            "p.uri AS photo_uri, s.name AS source FROM faces f "
            "JOIN photos p ON p.id = f.photo_id JOIN sources s ON s.id = p.source_id "
            "WHERE f.id = ANY(%s)", (ids,))
        return {int(r["id"]): FaceRecord(
            id=int(r["id"]), photo_id=int(r["photo_id"]), photo_uri=r["photo_uri"],
            source=r["source"], box=Box(r["box_x"], r["box_y"], r["box_w"], r["box_h"]),
            landmarks=json.loads(r["landmarks"]), detector_score=float(r["detector_score"]),
            quality=float(r["quality"]), pack=r["pack"], created_at=r["created_at"],
            run_id=r["run_id"]) for r in rows}

    def face_ids(self, pack: str) -> list[int]:
        return [int(r[0]) for r in self._q("SELECT id FROM faces WHERE pack = %s ORDER BY id",
                                           (pack,))]

    def max_face_id(self, pack: str) -> int:
        return int(self._q("SELECT COALESCE(MAX(id), 0) FROM faces WHERE pack = %s",
                           (pack,))[0][0])

    def count_faces(self, pack: str) -> int:
        return int(self._q("SELECT COUNT(*) FROM faces WHERE pack = %s", (pack,))[0][0])

    def iter_embeddings(
        self, pack: str, after_id: int = 0, batch: int = 10_000
    ) -> Iterator[list[tuple[int, bytes]]]:
        last = after_id
        while True:
            rows = self._q(
                "SELECT f.id, f.embedding, k.key FROM faces f "
                f"JOIN face_keys k ON k.bucket = f.id / {BUCKET_FACES} "
                "WHERE f.pack = %s AND f.id > %s ORDER BY f.id LIMIT %s", (pack, last, batch))
            if not rows:
                return
            yield [(int(r[0]), unwrap(r[2], int(r[0]), r[1])) for r in rows]
            last = int(rows[-1][0])

    def embeddings(self, ids: list[int] | np.ndarray, pack: str) -> list[tuple[int, bytes]]:
        wanted = sorted({int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)})
        if not wanted:
            return []
        rows = self._q(
            "SELECT f.id, f.embedding, k.key FROM faces f "
            f"JOIN face_keys k ON k.bucket = f.id / {BUCKET_FACES} "
            "WHERE f.pack = %s AND f.id = ANY(%s) ORDER BY f.id", (pack, wanted))
        return [(int(r[0]), unwrap(r[2], int(r[0]), r[1])) for r in rows]

    # -- the vector log -------------------------------------------------------------------
    def log_head(self) -> int:
        return self.log_state()[0]

    def log_state(self) -> tuple[int, str | None]:
        rows = self._q(
            "SELECT GREATEST((SELECT MAX(seq) FROM vector_log), "
            "(SELECT value::bigint FROM store_meta WHERE key = %s)), "
            "(SELECT value FROM store_meta WHERE key = 'index_generation')", (PRUNED_META,))
        return int(rows[0][0] or 0), rows[0][1]

    def log_floor(self) -> int:
        rows = self._q("SELECT MIN(seq) FROM vector_log")
        return int(rows[0][0]) if rows[0][0] is not None else self.log_head() + 1

    def log_changes(self, after: int, upto: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._q("SELECT face_id, op FROM vector_log WHERE seq > %s AND seq <= %s "
                       "ORDER BY seq", (after, upto))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        arr = np.asarray([(r[0], r[1]) for r in rows], dtype=np.int64)
        dels = np.unique(arr[arr[:, 1] < 0, 0])
        adds = np.unique(arr[arr[:, 1] > 0, 0])
        return np.setdiff1d(adds, dels, assume_unique=True), dels

    def log_net(self, after: int) -> int:
        return int(self._q("SELECT COALESCE(SUM(op), 0) FROM vector_log WHERE seq > %s",
                           (after,))[0][0])

    def prune_log(self, upto: int) -> int:
        with self._raw_write() as conn:
            head = conn.execute("SELECT MAX(seq) FROM vector_log").fetchone()[0]
            pruned = conn.execute("DELETE FROM vector_log WHERE seq <= %s", (upto,)).rowcount
            if head is not None and int(head) <= upto:  # keep the head's position
                _set_meta(conn, PRUNED_META, str(int(head)))
            return int(pruned)

    @contextmanager
    def snapshot(self) -> Iterator[PgCatalog]:
        """A read-only view of one moment, on a connection of its own."""
        conn = self.db.connect()
        view = PgCatalog.__new__(PgCatalog)
        view.__dict__.update(self.__dict__)
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute("SELECT 1 FROM store_meta LIMIT 1").fetchall()  # pins the snapshot

            def run(sql: str, params: tuple) -> list[Row]:
                try:
                    return conn.execute(sql, params).fetchall()
                except Exception as exc:  # noqa: BLE001 - translated
                    raise StoreError(f"cannot read the catalog snapshot: {exc}") from exc

            view._query = run
            yield view
        finally:
            try:
                conn.execute("ROLLBACK")
            finally:
                conn.close()

    # -- ingest writes (through the writer of ``write()``) -------------------------------
    @staticmethod
    def insert_photo(writer: PgWriter, *args: Any, **kwargs: Any) -> int:
        return writer.insert_photo(*args, **kwargs)

    @staticmethod
    def insert_face(writer: PgWriter, *args: Any, **kwargs: Any) -> int:
        return writer.insert_face(*args, **kwargs)

    @staticmethod
    def photo_by_sha(writer: PgWriter, sha256: str) -> int | None:
        return writer.photo_by_sha(sha256)

    # -- erasure ------------------------------------------------------------------------
    def existing_face_ids(self, ids: list[int]) -> set[int]:
        return self._id_set("SELECT id FROM faces WHERE id = ANY(%s)", ids)

    def existing_photo_ids(self, ids: list[int]) -> set[int]:
        return self._id_set("SELECT id FROM photos WHERE id = ANY(%s)", ids)

    def face_ids_of_photos(self, photo_ids: list[int]) -> set[int]:
        return self._id_set("SELECT id FROM faces WHERE photo_id = ANY(%s)", photo_ids)

    def photo_ids_of_faces(self, face_ids: list[int]) -> set[int]:
        return self._id_set("SELECT DISTINCT photo_id FROM faces WHERE id = ANY(%s)", face_ids)

    def duplicates_of(self, photo_ids: list[int]) -> set[int]:
        return self._id_set("SELECT id FROM photos WHERE duplicate_of = ANY(%s)", photo_ids)

    def _id_set(self, sql: str, ids: list[int]) -> set[int]:
        ids = [int(i) for i in ids]
        return {int(r[0]) for r in self._q(sql, (ids,))} if ids else set()

    def keeps_photo_without_faces(self, photo_id: int) -> bool:
        rows = self._q(
            "SELECT s.keep_photos_without_faces FROM photos p JOIN sources s ON s.id = p.source_id"
            " WHERE p.id = %s", (photo_id,))
        return bool(rows and int(rows[0][0]))

    def sources_of_faces(self, face_ids: list[int]) -> list[tuple[str, int]]:
        ids = [int(i) for i in face_ids]
        return [(str(r[0]), int(r[1])) for r in self._q(
            "SELECT s.name, COUNT(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
            "JOIN sources s ON s.id = p.source_id WHERE f.id = ANY(%s) GROUP BY s.name "
            "ORDER BY s.name", (ids,))] if ids else []

    def sources_of_photos(self, photo_ids: list[int]) -> list[tuple[str, int]]:
        ids = [int(i) for i in photo_ids]
        return [(str(r[0]), int(r[1])) for r in self._q(
            "SELECT s.name, COUNT(*) FROM photos p JOIN sources s ON s.id = p.source_id "
            "WHERE p.id = ANY(%s) GROUP BY s.name ORDER BY s.name", (ids,))] if ids else []

    def photo_sources_and_uris(self, photo_ids: list[int]) -> list[tuple[int, str]]:
        ids = [int(i) for i in photo_ids]
        return [(int(r[0]), str(r[1])) for r in self._q(
            "SELECT source_id, uri FROM photos WHERE id = ANY(%s) ORDER BY id",
            (ids,))] if ids else []

    def delete_faces_and_photos(self, face_ids: list[int], photo_ids: list[int]) -> None:
        """One transaction: the faces' buckets get new keys (their other faces re-encrypted),
        the rows go (the triggers log each face); then the old keys are purged from the
        files (:meth:`purge_keys`)."""
        fids = sorted({int(i) for i in face_ids})
        pids = sorted({int(i) for i in photo_ids})
        with self._raw_write() as conn:
            if pids:  # their faces go with them (ON DELETE CASCADE): re-key those too
                fids = sorted(set(fids) | {int(r[0]) for r in conn.execute(
                    "SELECT id FROM faces WHERE photo_id = ANY(%s)", (pids,)).fetchall()})
            horizon = self._rekey(conn, {f // BUCKET_FACES for f in fids}, set(fids))
            if fids:
                conn.execute("DELETE FROM faces WHERE id = ANY(%s)", (fids,))
            if pids:
                conn.execute("UPDATE photos SET duplicate_of = NULL WHERE duplicate_of = ANY(%s)",
                             (pids,))
                conn.execute("DELETE FROM photos WHERE id = ANY(%s)", (pids,))
            if horizon is not None:
                _set_meta(conn, PURGE_META, str(horizon))
        if fids:
            self.purge_keys()

    def _rekey(self, conn: Any, buckets: set[int], leaving: set[int],
               rewrite: Callable[[bytes], bytes | None] | None = None) -> int | None:
        """Give each bucket a new key (inside the caller's transaction): its faces not in
        ``leaving`` are re-encrypted (and passed through ``rewrite``); a bucket left empty
        loses its key. Returns this transaction's id (the purge's horizon), or None."""
        if not buckets:
            return None
        xid = int(conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
        for bucket in sorted(buckets):
            row = conn.execute("SELECT key FROM face_keys WHERE bucket = %s FOR UPDATE",
                               (bucket,)).fetchone()
            if row is None:
                continue
            old = bytes(row[0])
            lo, hi = bucket * BUCKET_FACES, (bucket + 1) * BUCKET_FACES
            rows = conn.execute(
                "SELECT id, embedding FROM faces WHERE id >= %s AND id < %s ORDER BY id "
                "FOR UPDATE", (lo, hi)).fetchall()
            keep = [(int(r[0]), bytes(r[1])) for r in rows if int(r[0]) not in leaving]
            if not keep:
                conn.execute("DELETE FROM face_keys WHERE bucket = %s", (bucket,))
                continue
            new = AESGCM.generate_key(bit_length=256)
            for face_id, stored in keep:
                blob = unwrap(old, face_id, stored)
                if rewrite is not None:
                    blob = rewrite(blob) or blob
                conn.execute("UPDATE faces SET embedding = %s WHERE id = %s",
                             (wrap(new, face_id, blob), face_id))
            conn.execute("UPDATE face_keys SET key = %s WHERE bucket = %s", (new, bucket))
        return xid & 0xFFFFFFFF

    def purge_keys(self, wait: float | None = None) -> dict[str, Any]:
        """Make replaced bucket keys unreadable from the cluster's files: wait until no
        snapshot older than the re-key is open, ``VACUUM FULL face_keys``, switch the WAL
        segment and CHECKPOINT. Returns what was done (``last_purge``); if something could
        not be done (a snapshot held open, no privilege), the purge stays pending and the
        next erasure or :meth:`scrub` retries it."""
        done: dict[str, Any] = {"vacuumed": False, "wal_switched": False,
                                "checkpointed": False, "waited_s": 0.0}
        horizon = self.meta(PURGE_META)
        if horizon is None:
            done["pending"] = False
            self.last_purge = done
            return done
        wait = HORIZON_WAIT if wait is None else wait
        conn = self.db.connect()
        start = time.monotonic()
        try:
            while True:
                older = conn.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND backend_xmin IS NOT NULL AND age(backend_xmin) >= age(%s::text::xid)",
                    (horizon,)).fetchone()[0]
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
                    except Exception as exc:  # noqa: BLE001 - privilege: reported, retried
                        log.warning("erasure: %s failed: %s", sql, exc)
                if done["checkpointed"]:
                    with conn.transaction():
                        conn.execute("DELETE FROM store_meta WHERE key = %s AND value = %s",
                                     (PURGE_META, horizon))
        except Exception as exc:  # noqa: BLE001 - translated
            raise StoreError(f"cannot purge the erased faces' keys: {exc}") from exc
        finally:
            conn.close()
        done["pending"] = not done["checkpointed"]
        self.last_purge = done
        return done

    def scrub(self, vacuum: bool = False) -> tuple[bool, bool]:
        """The PostgreSQL form of scrubbing after an erasure: (purged, vacuumed)."""
        done = self.purge_keys()
        return (not done.get("pending", False), bool(done["vacuumed"]))

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

        with self._raw_write() as conn:
            buckets = {int(r[0]) for r in conn.execute("SELECT bucket FROM face_keys")}
            horizon = self._rekey(conn, buckets, set(), counted)
            for key, value in (meta or {}).items():
                _set_meta(conn, key, value)
            if horizon is not None:
                _set_meta(conn, PURGE_META, str(horizon))
        self.purge_keys()
        return changed

    # -- retention and counts -------------------------------------------------------------
    def expired_photo_ids(self, now: datetime) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for source in self.source_rows():
            cutoff = (now - timedelta(days=int(source["retention_days"]))).astimezone(UTC)
            rows = self._q(
                "SELECT id FROM photos WHERE source_id = %s AND ingested_at <= %s ORDER BY id",
                (int(source["id"]), cutoff.isoformat(timespec="seconds")))
            if rows:
                out[source["name"]] = [int(r[0]) for r in rows]
        return out

    def counts(self) -> dict[str, int]:
        r = self._q(
            "SELECT (SELECT COUNT(*) FROM sources), "
            "(SELECT COUNT(*) FROM photos WHERE status = 'ok'), "
            "(SELECT COUNT(*) FROM photos WHERE status = 'error'), "
            "(SELECT COUNT(*) FROM photos WHERE status = 'duplicate'), "
            "(SELECT COUNT(*) FROM faces), (SELECT COUNT(*) FROM ingest_runs)")[0]
        names = ("sources", "photos", "photo_errors", "duplicates", "faces", "runs")
        return {k: int(v) for k, v in zip(names, r)}


def _set_meta(conn: Any, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


def _photo(r: Row) -> PhotoRecord:
    return PhotoRecord(
        id=int(r["id"]), source=r["source"], uri=r["uri"], sha256=r["sha256"],
        size_bytes=r["size_bytes"], width=r["width"], height=r["height"], status=r["status"],
        error=r["error"], ingested_at=r["ingested_at"], run_id=r["run_id"])


def _run(r: Row) -> RunRecord:
    return RunRecord(
        id=int(r["id"]), source=r["source"], pack=r["pack"], status=r["status"],
        started_at=r["started_at"], finished_at=r["finished_at"], photos=int(r["photos"]),
        faces=int(r["faces"]), errors=int(r["errors"]), duplicates=int(r["duplicates"]),
        skipped=int(r["skipped"]), blocked=int(r["blocked"]), seconds=float(r["seconds"]))


