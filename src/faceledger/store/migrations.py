"""Schema migrations, recorded in a table, one transaction each."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE store_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            location TEXT NOT NULL,
            controller TEXT NOT NULL,
            lawful_basis TEXT NOT NULL,
            special_category_condition TEXT NOT NULL DEFAULT '',
            purpose TEXT NOT NULL,
            retention_days INTEGER NOT NULL,
            minors_policy TEXT NOT NULL DEFAULT '',
            keep_photos_without_faces INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE TABLE ingest_runs (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id),
            pack TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            photos INTEGER NOT NULL DEFAULT 0,
            faces INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            blocked INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id),
            run_id INTEGER REFERENCES ingest_runs(id),
            uri TEXT NOT NULL,
            sha256 TEXT,
            size_bytes INTEGER,
            width INTEGER,
            height INTEGER,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'duplicate')),
            error TEXT,
            duplicate_of INTEGER,
            ingested_at TEXT NOT NULL,
            UNIQUE (source_id, uri)
        );
        CREATE INDEX photos_sha256 ON photos(sha256);
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            run_id INTEGER REFERENCES ingest_runs(id),
            box_x REAL NOT NULL,
            box_y REAL NOT NULL,
            box_w REAL NOT NULL,
            box_h REAL NOT NULL,
            landmarks TEXT NOT NULL,
            detector_score REAL NOT NULL,
            quality REAL NOT NULL,
            pack TEXT NOT NULL,
            embedding BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX faces_photo ON faces(photo_id);
        """,
    ),
    (
        # Every face added or deleted, by any process and any code path (ingest, erasure,
        # retention, a hand-written DELETE): the triggers write it here in the same
        # transaction. Each process's vector index replays this log, so an erasure made
        # anywhere is honoured everywhere, and the index files are written from it, never
        # from a process's memory.
        "0002_vector_log",
        """
        CREATE TABLE vector_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            face_id INTEGER NOT NULL,
            op INTEGER NOT NULL CHECK (op IN (1, -1))
        );
        CREATE TRIGGER faces_log_insert AFTER INSERT ON faces
        BEGIN INSERT INTO vector_log (face_id, op) VALUES (NEW.id, 1); END;
        CREATE TRIGGER faces_log_delete AFTER DELETE ON faces
        BEGIN INSERT INTO vector_log (face_id, op) VALUES (OLD.id, -1); END;
        """,
    ),
    (
        # an erasure follows duplicates to their original (and clears the links), and the
        # index counts and lists a pack's faces: without these, each of them read every row
        # (at a million faces, gigabytes of pages)
        "0003_indexes_for_scale",
        """
        CREATE INDEX photos_duplicate_of ON photos(duplicate_of) WHERE duplicate_of IS NOT NULL;
        CREATE INDEX faces_pack_id ON faces(pack, id);
        """,
    ),
    (
        # a URL list's declared root: every photo it names must be inside it (issue 9)
        "0004_source_root",
        "ALTER TABLE sources ADD COLUMN root TEXT NOT NULL DEFAULT ''",
    ),
    (
        # the rights-request register (issue 15): every access, erasure, opt-out and
        # objection request, its identity check, state and Art. 12(3) deadline; each change
        # is audited by faceledger.privacy.requests
        "0005_rights_requests",
        """
        CREATE TABLE rights_requests (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('access', 'erasure', 'opt_out', 'objection')),
            subject TEXT NOT NULL,
            channel TEXT NOT NULL,
            received_at TEXT NOT NULL,
            due_at TEXT NOT NULL,
            extended_due_at TEXT,
            extension_reason TEXT,
            state TEXT NOT NULL
                CHECK (state IN ('received', 'identity_verified', 'done', 'refused')),
            identity_checked_by TEXT,
            identity_method TEXT,
            reference_sha256 TEXT,
            identity_checked_at TEXT,
            token_id TEXT,
            completed_at TEXT,
            outcome TEXT,
            erase_seq INTEGER,
            receipt TEXT,
            opened_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX rights_requests_open ON rights_requests(state, due_at);
        CREATE INDEX rights_requests_received ON rights_requests(received_at);
        """,
    ),
    (
        # persons (issue 14): faces grouped into people. No centroid or cover crop is
        # stored (scores are computed from the faces' encrypted templates when needed),
        # so erasing a face leaves nothing derived from it: its assignment and rejections
        # go with the face row (ON DELETE CASCADE) and a person left without faces goes too
        "0007_persons",
        """
        CREATE TABLE persons (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT,
            hidden INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE face_person (
            face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            locked INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX face_person_person ON face_person(person_id);
        CREATE TABLE person_rejects (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            PRIMARY KEY (face_id, person_id)
        );
        CREATE TRIGGER face_person_gone AFTER DELETE ON face_person
        BEGIN DELETE FROM persons WHERE id = OLD.person_id AND NOT EXISTS
            (SELECT 1 FROM face_person WHERE person_id = OLD.person_id); END;
        CREATE TRIGGER face_person_moved AFTER UPDATE OF person_id ON face_person
        BEGIN DELETE FROM persons WHERE id = OLD.person_id AND NOT EXISTS
            (SELECT 1 FROM face_person WHERE person_id = OLD.person_id); END;
        """,
    ),
]


def apply_migrations(
    conn: sqlite3.Connection, migrations: list[tuple[str, str]] | None = None
) -> list[str]:
    """Apply pending migrations in order, one transaction each (the catalog's by default;
    any SQLite file of the store may pass its own list); returns the names applied now.

    Whether a migration is pending is read inside its own write transaction, so two
    processes opening one file at once never apply a migration twice."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied = []
    for name, sql in MIGRATIONS if migrations is None else migrations:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements; a trigger's body (BEGIN ... END) stays whole."""
    out: list[str] = []
    pending = ""
    for part in sql.split(";"):
        pending = f"{pending};{part}" if pending else part
        if sqlite3.complete_statement(pending + ";"):
            if pending.strip():
                out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out
