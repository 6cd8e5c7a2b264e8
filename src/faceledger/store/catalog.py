"""The SQLite catalog: sources, ingest runs, photos and faces.

One writer connection per store, WAL journal, ``BEGIN IMMEDIATE`` for every write so writes
are ordered. ``secure_delete`` is on, so deleted rows are overwritten with zeros in place.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..errors import AlreadyExistsError, NotFoundError, StoreError
from ..types import Box, SourceInfo
from .migrations import apply_migrations
from .records import FaceRecord, PhotoRecord, RunRecord


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open catalog {self.path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA secure_delete=ON",
        ):
            self.conn.execute(pragma)
        apply_migrations(self.conn)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), serialised across threads."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    # -- meta ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM store_meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO store_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- sources ------------------------------------------------------------------------
    def add_source(self, info: SourceInfo, keep_photos_without_faces: bool = False) -> None:
        try:
            with self.write() as conn:
                conn.execute(
                    "INSERT INTO sources (name, kind, location, controller, lawful_basis, "
                    "special_category_condition, purpose, retention_days, minors_policy, "
                    "keep_photos_without_faces, created_at, root) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        info.name, info.kind, info.location, info.controller, info.lawful_basis,
                        info.special_category_condition, info.purpose, info.retention_days,
                        info.minors_policy, int(keep_photos_without_faces), utc_now(),
                        info.root,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExistsError(f"a source named {info.name!r} exists already") from exc

    def source_row(self, name: str) -> sqlite3.Row:
        rows = self.query("SELECT * FROM sources WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no source named {name!r}")
        return rows[0]

    def source_rows(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM sources ORDER BY name")

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, source_id: int, pack: str) -> int:
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO ingest_runs (source_id, pack, status, started_at) "
                "VALUES (?, ?, 'running', ?)",
                (source_id, pack, utc_now()),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, counts: dict[str, float]) -> None:
        cols = ("photos", "faces", "errors", "duplicates", "skipped", "blocked", "seconds")
        with self.write() as conn:
            conn.execute(
                f"UPDATE ingest_runs SET status = ?, finished_at = ?, "
                f"{', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                (status, utc_now(), *(counts.get(c, 0) for c in cols), run_id),
            )

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
                "p.uri AS photo_uri, s.name AS source FROM faces f "
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


def _photo(r: sqlite3.Row) -> PhotoRecord:
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


def _run(r: sqlite3.Row) -> RunRecord:
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
        seconds=float(r["seconds"]),
    )
