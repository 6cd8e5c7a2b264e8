"""The catalog's schema as named SQLite migrations (applied by :func:`store.sql.apply_migrations`,
recorded in a table, one transaction each)."""

from __future__ import annotations

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
        # head pose and the aligned crop's sharpness factor per face (issue 13); NULL for
        # faces stored before (their quality is the older score x size)
        "0006_face_pose_quality",
        """
        ALTER TABLE faces ADD COLUMN yaw REAL;
        ALTER TABLE faces ADD COLUMN pitch REAL;
        ALTER TABLE faces ADD COLUMN sharpness REAL;
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
    (
        # named subjects, consented watches and their alerts (issue 14, req. 5 and 6):
        # templates and webhook secrets are the store cipher's blobs; an alert dies with
        # its face (erasure, retention) and its watch (withdrawal, expiry), its webhook
        # delivery with its alert. See faceledger.store.subjects and faceledger.subjects.
        "0008_subjects_watches",
        """
        CREATE TABLE subjects (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            source_id INTEGER NOT NULL REFERENCES sources(id),
            consent TEXT NOT NULL DEFAULT '',
            pack TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (source_id, name)
        );
        CREATE TABLE subject_templates (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
            photo_sha256 TEXT NOT NULL,
            template BLOB NOT NULL
        );
        CREATE INDEX subject_templates_subject ON subject_templates(subject_id);
        CREATE TABLE watches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            subject_id INTEGER REFERENCES subjects(id) ON DELETE CASCADE,
            owner TEXT NOT NULL CHECK (owner IN ('operator', 'subject')),
            label TEXT NOT NULL,
            pack TEXT NOT NULL,
            template BLOB NOT NULL,
            far REAL NOT NULL,
            webhook_url TEXT NOT NULL,
            webhook_secret BLOB NOT NULL,
            withdraw_sha256 TEXT,
            purpose TEXT NOT NULL,
            case_ref TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX watches_expiry ON watches(expires_at);
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            photo_id INTEGER NOT NULL,
            similarity REAL NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (watch_id, face_id)
        );
        CREATE INDEX alerts_face ON alerts(face_id);
        CREATE TABLE webhook_outbox (
            alert_id INTEGER PRIMARY KEY REFERENCES alerts(id) ON DELETE CASCADE,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            delivered_at TEXT
        );
        CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_attempt_at);
        """,
    ),
    (
        # issue 12 (URL lists over HTTP(S), phone formats) and issue 11 (S3 sources): the
        # web hosts a URL list declares, an S3 source's endpoint and credentials profile name
        # (never the credentials), and each run's count of files it held but did not decode
        "0010_remote_sources",
        """
        ALTER TABLE sources ADD COLUMN hosts TEXT NOT NULL DEFAULT '';
        ALTER TABLE sources ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
        ALTER TABLE sources ADD COLUMN profile TEXT NOT NULL DEFAULT '';
        ALTER TABLE ingest_runs ADD COLUMN unsupported INTEGER NOT NULL DEFAULT 0;
        """,
    ),
]

