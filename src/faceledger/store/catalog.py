"""The catalog: sources, ingest runs, photos, faces and the vector change log.

Every query on these tables is a method here. The SQL is portable (``?`` placeholders,
``ON CONFLICT``); the database under it is a :class:`~faceledger.store.sql.Database`, SQLite
by default (WAL, ``BEGIN IMMEDIATE`` per write, ``secure_delete`` so deleted rows are
overwritten in place) or a server database for a cluster store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from ..errors import AlreadyExistsError, ConflictError, NotFoundError
from ..types import Box, SourceInfo
from .migrations import MIGRATIONS
from .records import FaceRecord, PhotoRecord, RunRecord, SourceRecord
from .sql import Database, Row, SQLiteDB, Tx

AUDIT_ANCHOR_META = "audit_anchor"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Catalog:
    """The catalog over a :class:`~faceledger.store.sql.Database`: SQLite by default (a path),
    or any database that implements the protocol (PostgreSQL for a cluster store)."""

    def __init__(self, db: Path | str | Database) -> None:
        if isinstance(db, (str, Path)):
            db = SQLiteDB(Path(db), migrations=MIGRATIONS)
        self.db: Database = db
        self.path: Path | None = getattr(db, "path", None)  # None for a server database

    def close(self) -> None:
        self.db.close()

    def write(self) -> AbstractContextManager[Tx]:
        """One write transaction, ordered with every other writer of the catalog."""
        return self.db.write()

    def query(self, sql: str, params: tuple = ()) -> list[Row]:
        return self.db.query(sql, params)

    def scrub(self, vacuum: bool = False) -> tuple[bool, bool]:
        """Leave no deleted row readable in the database's files: (journal emptied,
        vacuumed). See the database implementation for what it covers."""
        return self.db.scrub(vacuum)

    # -- meta ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM store_meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as tx:
            tx.execute(
                "INSERT INTO store_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- the audit log's anchor (see faceledger.privacy.audit_anchor) --------------------
    def audit_anchor(self) -> str | None:
        return self.meta(AUDIT_ANCHOR_META)

    def set_audit_anchor(self, record: str, seq: int) -> None:
        """Store the anchor record unless one with a higher seq is there (two processes
        may finish their appends in either order)."""
        with self.write() as tx:
            row = tx.execute(
                "SELECT value FROM store_meta WHERE key = ?", (AUDIT_ANCHOR_META,)
            ).fetchone()
            if row is not None:
                try:
                    if int(json.loads(row[0])["seq"]) > seq:
                        return
                except (ValueError, KeyError, TypeError):
                    pass  # unreadable: replace it (the audit log reports the tampering)
            tx.execute(
                "INSERT INTO store_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (AUDIT_ANCHOR_META, record),
            )

    def holds_records(self) -> bool:
        """Anything an audit log would have recorded: a source, a run, a photo, a key."""
        row = self.query(
            "SELECT EXISTS (SELECT 1 FROM sources) OR EXISTS (SELECT 1 FROM ingest_runs) "
            "OR EXISTS (SELECT 1 FROM photos) OR EXISTS (SELECT 1 FROM store_meta "
            "WHERE key = 'template_key_id')"
        )
        return bool(row[0][0])

    # -- sources ------------------------------------------------------------------------
    def add_source(self, info: SourceInfo, keep_photos_without_faces: bool = False) -> None:
        try:
            with self.write() as tx:
                tx.execute(
                    "INSERT INTO sources (name, kind, location, controller, lawful_basis, "
                    "special_category_condition, purpose, retention_days, minors_policy, "
                    "keep_photos_without_faces, created_at, root, hosts, endpoint, profile) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        info.name, info.kind, info.location, info.controller, info.lawful_basis,
                        info.special_category_condition, info.purpose, info.retention_days,
                        info.minors_policy, int(keep_photos_without_faces), utc_now(),
                        info.root, " ".join(info.hosts), info.endpoint, info.profile,
                    ),
                )
        except ConflictError as exc:
            raise AlreadyExistsError(f"a source named {info.name!r} exists already") from exc

    def source(self, name: str) -> SourceRecord:
        rows = self.query("SELECT * FROM sources WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no source named {name!r}")
        return _source(rows[0])

    def sources(self) -> list[SourceRecord]:
        return [_source(r) for r in self.query("SELECT * FROM sources ORDER BY name")]

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, source_id: int, pack: str) -> int:
        with self.write() as tx:
            return tx.insert(
                "INSERT INTO ingest_runs (source_id, pack, status, started_at) "
                "VALUES (?, ?, 'running', ?)",
                (source_id, pack, utc_now()),
            )

    def finish_run(self, run_id: int, status: str, counts: dict[str, float]) -> None:
        cols = ("photos", "faces", "errors", "duplicates", "skipped", "blocked", "unsupported",
                "seconds")
        with self.write() as tx:
            tx.execute(
                f"UPDATE ingest_runs SET status = ?, finished_at = ?, "
                f"{', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                (status, utc_now(), *(counts.get(c, 0) for c in cols), run_id),
            )

    def running_runs(self) -> list[tuple[int, int]]:
        """(run id, source id) of every run still marked running."""
        rows = self.query("SELECT id, source_id FROM ingest_runs WHERE status = 'running'")
        return [(int(r[0]), int(r[1])) for r in rows]

    def mark_run_crashed(self, run_id: int) -> dict[str, int] | None:
        """Mark a run that is still "running" as crashed, with what it committed; None if
        it is not running (any more)."""
        with self.write() as tx:
            row = tx.execute(
                "SELECT status FROM ingest_runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None or row[0] != "running":
                return None
            counts = {
                "photos": tx.execute(
                    "SELECT COUNT(*) FROM photos WHERE run_id = ?", (run_id,)).fetchone()[0],
                "faces": tx.execute(
                    "SELECT COUNT(*) FROM faces WHERE run_id = ?", (run_id,)).fetchone()[0],
                "errors": tx.execute(
                    "SELECT COUNT(*) FROM photos WHERE run_id = ? AND status = 'error'",
                    (run_id,)).fetchone()[0],
                "duplicates": tx.execute(
                    "SELECT COUNT(*) FROM photos WHERE run_id = ? AND status = 'duplicate'",
                    (run_id,)).fetchone()[0],
            }
            tx.execute(
                "UPDATE ingest_runs SET status = 'crashed', finished_at = ?, photos = ?, "
                "faces = ?, errors = ?, duplicates = ? WHERE id = ?",
                (utc_now(), counts["photos"], counts["faces"], counts["errors"],
                 counts["duplicates"], run_id),
            )
        return {k: int(v) for k, v in counts.items()}

    def run(self, run_id: int) -> RunRecord:
        rows = self.query(
            "SELECT r.*, s.name AS source FROM ingest_runs r JOIN sources s ON s.id = r.source_id "
            "WHERE r.id = ?",
            (run_id,),
        )
        if not rows:
            raise NotFoundError(f"no ingest run {run_id}")
        return _run(rows[0])

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self.query(
            "SELECT r.*, s.name AS source FROM ingest_runs r JOIN sources s ON s.id = r.source_id "
            "ORDER BY r.id DESC LIMIT ?",
            (limit,),
        )
        return [_run(r) for r in rows]

    # -- photos and faces ---------------------------------------------------------------
    def known_uris(self, source_id: int) -> set[str]:
        rows = self.query("SELECT uri FROM photos WHERE source_id = ?", (source_id,))
        return {r[0] for r in rows}

    def known_among(self, source_id: int, uris: list[str]) -> set[str]:
        """The subset of ``uris`` this source already has photos for (ingest checks its
        listing a block at a time with this, instead of holding every URI ingested)."""
        found: set[str] = set()
        for start in range(0, len(uris), 500):
            part = uris[start : start + 500]
            marks = ", ".join("?" * len(part))
            rows = self.query(
                f"SELECT uri FROM photos WHERE source_id = ? AND uri IN ({marks})",
                (source_id, *part),
            )
            found.update(r[0] for r in rows)
        return found

    def photo(self, photo_id: int) -> PhotoRecord:
        rows = self.query(
            "SELECT p.*, s.name AS source FROM photos p JOIN sources s ON s.id = p.source_id "
            "WHERE p.id = ?",
            (photo_id,),
        )
        if not rows:
            raise NotFoundError(f"no photo {photo_id}")
        return _photo(rows[0])

    def face(self, face_id: int) -> FaceRecord:
        found = self.faces([face_id])
        if face_id not in found:
            raise NotFoundError(f"no face {face_id}")
        return found[face_id]

    def faces(self, face_ids: list[int]) -> dict[int, FaceRecord]:
        out: dict[int, FaceRecord] = {}
        ids = [int(i) for i in face_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.query(
                "SELECT f.id, f.photo_id, f.run_id, f.box_x, f.box_y, f.box_w, f.box_h, "
                "f.landmarks, f.detector_score, f.quality, f.pack, f.created_at, "
                "f.yaw, f.pitch, f.sharpness, p.uri AS photo_uri, s.name AS source FROM faces f "
                "JOIN photos p ON p.id = f.photo_id JOIN sources s ON s.id = p.source_id "
                f"WHERE f.id IN ({marks})",
                tuple(chunk),
            )
            for r in rows:
                out[int(r["id"])] = FaceRecord(
                    id=int(r["id"]),
                    photo_id=int(r["photo_id"]),
                    photo_uri=r["photo_uri"],
                    source=r["source"],
                    box=Box(r["box_x"], r["box_y"], r["box_w"], r["box_h"]),
                    landmarks=json.loads(r["landmarks"]),
                    detector_score=float(r["detector_score"]),
                    quality=float(r["quality"]),
                    pack=r["pack"],
                    created_at=r["created_at"],
                    run_id=r["run_id"],
                    yaw=_opt(r["yaw"]),
                    pitch=_opt(r["pitch"]),
                    sharpness=_opt(r["sharpness"]),
                )
        return out

    def face_ids(self, pack: str) -> list[int]:
        rows = self.query("SELECT id FROM faces WHERE pack = ? ORDER BY id", (pack,))
        return [int(r[0]) for r in rows]

    def max_face_id(self, pack: str) -> int:
        return int(
            self.query("SELECT COALESCE(MAX(id), 0) FROM faces WHERE pack = ?", (pack,))[0][0]
        )

    def count_faces(self, pack: str) -> int:
        return int(self.query("SELECT COUNT(*) FROM faces WHERE pack = ?", (pack,))[0][0])

    def iter_embeddings(
        self, pack: str, after_id: int = 0, batch: int = 10_000
    ) -> Iterator[list[tuple[int, bytes]]]:
        """Stream (face id, stored embedding blob) in id order, ``batch`` rows at a time."""
        last = after_id
        while True:
            rows = self.query(
                "SELECT id, embedding FROM faces WHERE pack = ? AND id > ? ORDER BY id LIMIT ?",
                (pack, last, batch),
            )
            if not rows:
                return
            yield [(int(r[0]), bytes(r[1])) for r in rows]
            last = int(rows[-1][0])

    def embeddings(self, ids: list[int] | np.ndarray, pack: str) -> list[tuple[int, bytes]]:
        """(face id, stored embedding blob) of those ``ids`` that exist, in id order."""
        wanted = sorted({int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)})
        out: list[tuple[int, bytes]] = []
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self.query(
                f"SELECT id, embedding FROM faces WHERE pack = ? AND id IN ({marks}) "
                "ORDER BY id",
                (pack, *chunk),
            )
            out += [(int(r[0]), bytes(r[1])) for r in rows]
        return out

    # -- the vector log: every face added or deleted, in commit order --------------------
    def log_head(self) -> int:
        """The sequence number of the last change committed (0 for none)."""
        return self.db.sequence_head("vector_log")

    def log_state(self) -> tuple[int, str | None]:
        """(log head, index generation): what a process checks before each search."""
        generation = self.meta("index_generation")  # first: a rebuild after it is seen next
        return self.log_head(), generation

    def log_floor(self) -> int:
        """The oldest change still in the log (head + 1 when the log is empty)."""
        rows = self.query("SELECT MIN(seq) FROM vector_log")
        return int(rows[0][0]) if rows[0][0] is not None else self.log_head() + 1

    def log_changes(self, after: int, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """The net change between two log positions: (ids added and still held at ``upto``,
        ids deleted). Face ids are never reused, so an id is added once and deleted once
        at most."""
        rows = self.query(
            "SELECT face_id, op FROM vector_log WHERE seq > ? AND seq <= ? ORDER BY seq",
            (after, upto),
        )
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        arr = np.asarray([(r[0], r[1]) for r in rows], dtype=np.int64)
        dels = np.unique(arr[arr[:, 1] < 0, 0])
        adds = np.unique(arr[arr[:, 1] > 0, 0])
        return np.setdiff1d(adds, dels, assume_unique=True), dels

    def log_net(self, after: int) -> int:
        """Faces added minus faces deleted since log position ``after``."""
        return int(self.query("SELECT COALESCE(SUM(op), 0) FROM vector_log WHERE seq > ?",
                              (after,))[0][0])

    def prune_log(self, upto: int) -> int:
        """Forget changes up to ``upto`` (every index file already reflects them)."""
        with self.write() as tx:
            return tx.execute("DELETE FROM vector_log WHERE seq <= ?", (upto,)).rowcount

    @contextmanager
    def snapshot(self) -> Iterator[Catalog]:
        """A read-only view of one moment of the catalog on a connection of its own, so a
        long scan (an index build) sees one consistent state while writers go on."""
        with self.db.snapshot() as view:
            yield Catalog(view)

    # -- ingest writes (inside one ``write()`` transaction) ------------------------------
    @staticmethod
    def insert_photo(
        tx: Tx, source_id: int, run_id: int, uri: str, status: str,
        sha256: str | None = None, size_bytes: int | None = None, width: int | None = None,
        height: int | None = None, error: str | None = None, duplicate_of: int | None = None,
        now: str | None = None,
    ) -> int:
        return tx.insert(
            "INSERT INTO photos (source_id, run_id, uri, sha256, size_bytes, width, height,"
            " status, error, duplicate_of, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (source_id, run_id, uri, sha256, size_bytes, width, height, status, error,
             duplicate_of, now or utc_now()),
        )

    @staticmethod
    def insert_face(
        tx: Tx, photo_id: int, run_id: int, box: list[float],
        landmarks: list[list[float]], score: float, quality: float, pack: str,
        embedding: bytes, now: str | None = None, *, yaw: float | None = None,
        pitch: float | None = None, sharpness: float | None = None,
    ) -> int:
        return tx.insert(
            "INSERT INTO faces (photo_id, run_id, box_x, box_y, box_w, box_h, landmarks,"
            " detector_score, quality, pack, embedding, created_at, yaw, pitch, sharpness)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (photo_id, run_id, *box, json.dumps(landmarks), score, quality, pack, embedding,
             now or utc_now(), _opt(yaw), _opt(pitch), _opt(sharpness)),
        )

    @staticmethod
    def photo_by_sha(tx: Tx, sha256: str) -> int | None:
        """The first photo held with status ok and these bytes (for duplicates)."""
        row = tx.execute(
            "SELECT id FROM photos WHERE sha256 = ? AND status = 'ok' ORDER BY id LIMIT 1",
            (sha256,),
        ).fetchone()
        return int(row[0]) if row else None

    # -- erasure: what a set of ids reaches, and the delete ------------------------------
    def _ids_in(self, sql: str, ids: list[int]) -> list[Row]:
        rows: list[Row] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows += self.query(sql.format(",".join("?" * len(chunk))), tuple(chunk))
        return rows

    def existing_face_ids(self, ids: list[int]) -> set[int]:
        return {int(r[0]) for r in self._ids_in("SELECT id FROM faces WHERE id IN ({})", ids)}

    def existing_photo_ids(self, ids: list[int]) -> set[int]:
        return {int(r[0]) for r in self._ids_in("SELECT id FROM photos WHERE id IN ({})", ids)}

    def face_ids_of_photos(self, photo_ids: list[int]) -> set[int]:
        return {int(r[0]) for r in self._ids_in(
            "SELECT id FROM faces WHERE photo_id IN ({})", photo_ids)}

    def photo_ids_of_faces(self, face_ids: list[int]) -> set[int]:
        return {int(r[0]) for r in self._ids_in(
            "SELECT DISTINCT photo_id FROM faces WHERE id IN ({})", face_ids)}

    def keeps_photo_without_faces(self, photo_id: int) -> bool:
        """Does the photo's source keep photos in which no face is held?"""
        rows = self.query(
            "SELECT s.keep_photos_without_faces FROM photos p JOIN sources s ON s.id = p.source_id"
            " WHERE p.id = ?", (photo_id,))
        return bool(rows and int(rows[0][0]))

    def duplicates_of(self, photo_ids: list[int]) -> set[int]:
        """Photos recorded as the same bytes as one of these (at another URI)."""
        return {int(r[0]) for r in self._ids_in(
            "SELECT id FROM photos WHERE duplicate_of IN ({})", photo_ids)}

    def sources_of_faces(self, face_ids: list[int]) -> list[tuple[str, int]]:
        """(source name, how many of these faces it holds)."""
        return [(str(r[0]), int(r[1])) for r in self._ids_in(
            "SELECT s.name, COUNT(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
            "JOIN sources s ON s.id = p.source_id WHERE f.id IN ({}) GROUP BY s.name", face_ids)]

    def sources_of_photos(self, photo_ids: list[int]) -> list[tuple[str, int]]:
        """(source name, how many of these photos it holds)."""
        return [(str(r[0]), int(r[1])) for r in self._ids_in(
            "SELECT s.name, COUNT(*) FROM photos p JOIN sources s ON s.id = p.source_id "
            "WHERE p.id IN ({}) GROUP BY s.name", photo_ids)]

    def photo_sources_and_uris(self, photo_ids: list[int]) -> list[tuple[int, str]]:
        return [(int(r[0]), str(r[1])) for r in self._ids_in(
            "SELECT source_id, uri FROM photos WHERE id IN ({})", photo_ids)]

    def delete_faces_and_photos(self, face_ids: list[int], photo_ids: list[int]) -> None:
        """One transaction; the triggers log each face deleted for the vector index."""
        with self.write() as tx:
            for start in range(0, len(face_ids), 500):
                chunk = tuple(face_ids[start:start + 500])
                tx.execute(f"DELETE FROM faces WHERE id IN ({','.join('?' * len(chunk))})",
                             chunk)
            for start in range(0, len(photo_ids), 500):
                chunk = tuple(photo_ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                # duplicates point at their original; clear the links before deleting
                tx.execute(
                    f"UPDATE photos SET duplicate_of = NULL WHERE duplicate_of IN ({marks})", chunk)
                tx.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

    # -- key rotation -----------------------------------------------------------------------
    def rewrite_embeddings(self, rewrite, meta: dict[str, str] | None = None) -> int:
        """In one transaction, replace each stored embedding blob by ``rewrite(blob)`` where
        that is not None (and set ``meta``); returns how many changed."""
        changed = 0
        with self.write() as tx:
            rows = tx.execute("SELECT id, embedding FROM faces").fetchall()
            for face_id, blob in rows:
                new = rewrite(bytes(blob))
                if new is not None:
                    tx.execute("UPDATE faces SET embedding = ? WHERE id = ?",
                                 (new, int(face_id)))
                    changed += 1
            for key, value in (meta or {}).items():
                tx.execute(
                    "INSERT INTO store_meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
        return changed

    def has_source(self, name: str) -> bool:
        return bool(self.query("SELECT 1 FROM sources WHERE name = ?", (name,)))

    def run_source_id(self, run_id: int) -> int:
        rows = self.query("SELECT source_id FROM ingest_runs WHERE id = ?", (run_id,))
        return int(rows[0][0]) if rows else 0

    def expired_photo_ids(self, now: datetime) -> dict[str, list[int]]:
        """Per source, the photos held longer than its retention period at ``now``.

        Times are stored as ISO 8601 in UTC with one format, so the cut-off is a string
        comparison the database does on its own (no row leaves it unless it expired)."""
        out: dict[str, list[int]] = {}
        for source in self.sources():
            cutoff = (now - timedelta(days=source.info.retention_days)).astimezone(UTC)
            rows = self.query(
                "SELECT id FROM photos WHERE source_id = ? AND ingested_at <= ? ORDER BY id",
                (source.id, cutoff.isoformat(timespec="seconds")),
            )
            if rows:
                out[source.info.name] = [int(r[0]) for r in rows]
        return out

    def counts(self) -> dict[str, int]:
        q = {
            "sources": "SELECT COUNT(*) FROM sources",
            "photos": "SELECT COUNT(*) FROM photos WHERE status = 'ok'",
            "photo_errors": "SELECT COUNT(*) FROM photos WHERE status = 'error'",
            "duplicates": "SELECT COUNT(*) FROM photos WHERE status = 'duplicate'",
            "faces": "SELECT COUNT(*) FROM faces",
            "runs": "SELECT COUNT(*) FROM ingest_runs",
        }
        return {k: int(self.query(sql)[0][0]) for k, sql in q.items()}


def _opt(value) -> float | None:
    return None if value is None else float(value)


def _photo(r: Row) -> PhotoRecord:
    return PhotoRecord(
        id=int(r["id"]),
        source=r["source"],
        uri=r["uri"],
        sha256=r["sha256"],
        size_bytes=r["size_bytes"],
        width=r["width"],
        height=r["height"],
        status=r["status"],
        error=r["error"],
        ingested_at=r["ingested_at"],
        run_id=r["run_id"],
    )


def _source(r: Row) -> SourceRecord:
    return SourceRecord(
        id=int(r["id"]),
        info=SourceInfo(
            name=r["name"], kind=r["kind"], location=r["location"],
            controller=r["controller"], lawful_basis=r["lawful_basis"], purpose=r["purpose"],
            retention_days=int(r["retention_days"]),
            special_category_condition=r["special_category_condition"] or "",
            minors_policy=r["minors_policy"] or "", root=r["root"] or "",
            hosts=tuple((r["hosts"] or "").split()), endpoint=r["endpoint"] or "",
            profile=r["profile"] or "",
        ),
        keep_photos_without_faces=bool(int(r["keep_photos_without_faces"])),
        created_at=r["created_at"],
    )


def _run(r: Row) -> RunRecord:
    return RunRecord(
        id=int(r["id"]),
        source=r["source"],
        pack=r["pack"],
        status=r["status"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        photos=int(r["photos"]),
        faces=int(r["faces"]),
        errors=int(r["errors"]),
        duplicates=int(r["duplicates"]),
        skipped=int(r["skipped"]),
        blocked=int(r["blocked"]),
        unsupported=int(r["unsupported"]),
        seconds=float(r["seconds"]),
    )
