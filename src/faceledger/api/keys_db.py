"""The key store's SQLite file (``DATA/keys.db``): one connection, its pragmas, and its own
named migrations, recorded in ``_migrations`` and applied one transaction each.

The file holds API keys, one-time subject tokens (with their encrypted reference
templates) and the web UI's sessions, every secret only as a SHA-256. ``secure_delete``
is on and a delete that removes a reference template is followed by a WAL checkpoint,
so a spent token's template leaves no bytes behind. The file is created mode 0600.

A cluster store (a PostgreSQL catalog, shared by many machines) keeps the same tables in
its catalog's database instead (:mod:`faceledger.api.pg_keys_db`, migration
``pg_0012_keys`` in :mod:`faceledger.store.pg_schema`), so that a key created, a key
revoked, a token spent or a session signed out on one machine is so on every machine's
server. Its ``checkpoint`` rewrites the reference templates' table (``VACUUM FULL``) and
retires the WAL: PostgreSQL's way of leaving no deleted template behind.
:func:`open_keys_db` picks one from the store's ``backends.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..store.sql import SQLiteDB

KEYS_LOCK = "apikeys"  # held (``store/locks``) around each audited change of keys or tokens

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA secure_delete=ON", "PRAGMA foreign_keys=ON")

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_keys_and_tokens",
        """
        CREATE TABLE IF NOT EXISTS api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            secret_sha256 TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked_at REAL,
            last_used_at REAL
        );
        CREATE TABLE IF NOT EXISTS subject_tokens (
            id TEXT PRIMARY KEY,
            subject TEXT NOT NULL,
            kind TEXT NOT NULL,
            issued_by TEXT NOT NULL,
            secret_sha256 TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            used_at REAL
        );
        """,
    ),
    (
        # a token is bound to the person: the reference photo's template (encrypted, in its
        # own table so that spending the token deletes it), a bounded number of attempts,
        # and room for the rights-request register to link a token to its request
        "0002_subject_token_binding",
        """
        ALTER TABLE subject_tokens ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE subject_tokens ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 3;
        ALTER TABLE subject_tokens ADD COLUMN reference_sha256 TEXT;
        ALTER TABLE subject_tokens ADD COLUMN request_id TEXT;
        ALTER TABLE subject_tokens ADD COLUMN outcome TEXT;
        CREATE INDEX subject_tokens_request ON subject_tokens(request_id);
        CREATE TABLE subject_token_references (
            token_id TEXT PRIMARY KEY REFERENCES subject_tokens(id),
            pack TEXT NOT NULL,
            template BLOB NOT NULL
        );
        """,
    ),
    (
        "0003_web_sessions",
        """
        CREATE TABLE web_sessions (
            id_sha256 TEXT PRIMARY KEY,
            key_id TEXT NOT NULL REFERENCES api_keys(id),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            last_seen_at REAL NOT NULL,
            revoked_at REAL
        );
        CREATE INDEX web_sessions_key ON web_sessions(key_id);
        """,
    ),
]


class KeysDB(SQLiteDB):
    """keys.db as one of the store's SQLite files: one connection shared by the server's
    threads under :attr:`lock`; single statements through :meth:`execute`, multi-statement
    changes through :meth:`transaction` (``BEGIN IMMEDIATE``), which also orders them
    against other processes (the CLI issuing a token while the server runs)."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create key store ({exc.strerror})") from exc
        super().__init__(path, migrations=MIGRATIONS, pragmas=PRAGMAS)

    def transaction(self):
        return self.write()



def open_keys_db(data_dir: Path) -> Any:
    """The key store's database for the store in ``data_dir``: ``keys.db`` there, or, for
    a store whose catalog is PostgreSQL, that database (every machine's server shares it)."""
    from ..store.backends import read_backends

    catalog = read_backends(Path(data_dir)).catalog
    if catalog == "sqlite":
        return KeysDB(Path(data_dir) / "keys.db")
    from .pg_keys_db import PgKeysDB  # the cluster extra (psycopg)

    return PgKeysDB(catalog)

