"""The key store's SQLite file (``DATA/keys.db``): one connection, its pragmas, and its own
named migrations, recorded in ``_migrations`` and applied one transaction each.

The file holds API keys, one-time subject tokens (with their encrypted reference
templates) and the web UI's sessions, every secret only as a SHA-256. ``secure_delete``
is on and a delete that removes a reference template is followed by a WAL checkpoint,
so a spent token's template leaves no bytes behind. The file is created mode 0600.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError
from ..store.migrations import apply_migrations as run_migrations

KEYS_LOCK = "apikeys"  # held (``store/locks``) around each audited change of keys or tokens

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


class KeysDB:
    """One autocommit connection shared by the server's threads under a lock; multi-statement
    changes go through :meth:`transaction` (``BEGIN IMMEDIATE``), which also orders them
    against other processes (the CLI issuing a token while the server runs)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        _create_private(self.path)
        try:
            self.conn = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=30
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA secure_delete=ON")
            self.conn.execute("PRAGMA foreign_keys=ON")
            apply_migrations(self.conn)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open key store ({exc})") from exc

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self.lock:
            try:
                return self.conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def checkpoint(self) -> None:
        """Fold the WAL into the file and truncate it: deleted rows' old page images go."""
        with self.lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _create_private(path: Path) -> None:
    """Create the file 0600 if it does not exist yet (SQLite would use the umask)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot create key store ({exc.strerror})") from exc
    os.close(fd)


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """keys.db's migrations, through the store's one migration runner."""
    return run_migrations(conn, MIGRATIONS)
