"""Where the audit log's rows are kept: an interface and its SQLite form (``audit.db``).

The hash chain, the anchors and every rule of the log live in
:mod:`faceledger.privacy.audit`; this is only storage: four tables (``entries``, the
one-row ``head``, the one-row ``catalog_anchor`` copy, ``pending`` intents) read and
written inside transactions. :meth:`AuditStorage.write` gives an exclusive transaction,
so appends by any number of writers are ordered (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL, :mod:`faceledger.store.pg_audit`: an advisory lock and the head row locked);
:meth:`AuditStorage.read` gives one consistent moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from ..errors import StoreError
from .sql import SQLiteDB

#: (seq, body JSON, prev_hash, hash)
EntryRow = tuple[int, str, str, str]
#: (seq, hash, mac)
HeadRow = tuple[int, str, "str | None"]


class AuditTx(Protocol):
    """The audit tables inside one transaction."""

    def head(self) -> tuple[int, str, str | None] | None: ...
    def last(self) -> tuple[int, str] | None:
        """(seq, hash) of the entry with the highest seq, if any."""
    def insert_entry(self, seq: int, body: str, prev_hash: str, digest: str) -> None: ...
    def set_head(self, seq: int, digest: str, mac: str | None) -> None: ...
    def set_head_mac(self, mac: str | None) -> None: ...
    def copy(self) -> tuple[int, str, str | None] | None: ...
    def set_copy(self, seq: int, digest: str, mac: str | None) -> None: ...
    def hash_of(self, seq: int) -> str | None: ...
    def add_pending(self, seq: int, action: str, lock: str | None) -> None: ...
    def drop_pending(self, seq: int) -> None: ...
    def rows(self) -> list[EntryRow]:
        """Every entry in seq order."""


class AuditStorage(Protocol):
    #: where the log is, for messages (a path, or a redacted URL)
    where: str

    def write(self) -> AbstractContextManager[AuditTx]: ...
    def read(self) -> AbstractContextManager[AuditTx]: ...
    def count(self) -> int: ...
    def entry(self, seq: int) -> tuple[str, str] | None:
        """(body, hash) of one entry."""
    def page(self, after: int, limit: int) -> list[tuple[int, str, str]]:
        """(seq, body, hash) of up to ``limit`` entries after ``after``."""
    def pending(self) -> list[tuple[int, str, str | None]]:
        """(seq, action, lock) of intents not completed, in seq order."""
    def close(self) -> None: ...


#: ``synchronous=FULL``: an appended entry survives a power cut once its write returns
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA secure_delete=ON")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT
);
CREATE TABLE IF NOT EXISTS catalog_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT
);
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    lock TEXT
);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
#: every statement is IF NOT EXISTS, so a log written before migrations were named takes it
MIGRATIONS = (("0001_audit_tables", _SCHEMA),)


class SqlTx:
    """:class:`AuditTx` over a DB-API connection; ``mark`` is its placeholder."""

    def __init__(self, conn, mark: str = "?", prefix: str = "") -> None:
        self.conn = conn
        self._m = mark
        self._t = prefix  # table name prefix ("audit_" on PostgreSQL)

    def _sql(self, sql: str) -> str:
        for table in ("entries", "head", "catalog_anchor", "pending"):
            sql = sql.replace(f"{{{table}}}", self._t + table)
        return sql.replace("?", self._m)

    def _one(self, sql: str, params: tuple = ()):
        return self.conn.execute(self._sql(sql), params).fetchone()

    def head(self) -> tuple[int, str, str | None] | None:
        row = self._one("SELECT seq, hash, mac FROM {head} WHERE id = 1" + self._lock_head())
        return (int(row[0]), str(row[1]), row[2]) if row else None

    def _lock_head(self) -> str:
        return ""

    def last(self) -> tuple[int, str] | None:
        row = self._one("SELECT seq, hash FROM {entries} ORDER BY seq DESC LIMIT 1")
        return (int(row[0]), str(row[1])) if row else None

    def insert_entry(self, seq: int, body: str, prev_hash: str, digest: str) -> None:
        self.conn.execute(self._sql(
            "INSERT INTO {entries} (seq, body, prev_hash, hash) VALUES (?, ?, ?, ?)"),
            (seq, body, prev_hash, digest))

    def set_head(self, seq: int, digest: str, mac: str | None) -> None:
        self.conn.execute(self._sql(
            "INSERT INTO {head} (id, seq, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (id) "
            "DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac"),
            (seq, digest, mac))

    def set_head_mac(self, mac: str | None) -> None:
        self.conn.execute(self._sql("UPDATE {head} SET mac = ? WHERE id = 1"), (mac,))

    def copy(self) -> tuple[int, str, str | None] | None:
        row = self._one("SELECT seq, hash, mac FROM {catalog_anchor} WHERE id = 1")
        return (int(row[0]), str(row[1]), row[2]) if row else None

    def set_copy(self, seq: int, digest: str, mac: str | None) -> None:
        self.conn.execute(self._sql(
            "INSERT INTO {catalog_anchor} (id, seq, hash, mac) VALUES (1, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
            "mac = excluded.mac"), (seq, digest, mac))

    def hash_of(self, seq: int) -> str | None:
        row = self._one("SELECT hash FROM {entries} WHERE seq = ?", (seq,))
        return str(row[0]) if row else None

    def add_pending(self, seq: int, action: str, lock: str | None) -> None:
        self.conn.execute(self._sql("INSERT INTO {pending} (seq, action, lock) VALUES (?, ?, ?)"),
                          (seq, action, lock))

    def drop_pending(self, seq: int) -> None:
        self.conn.execute(self._sql("DELETE FROM {pending} WHERE seq = ?"), (seq,))

    def rows(self) -> list[EntryRow]:
        return [(int(r[0]), r[1], r[2], r[3]) for r in self.conn.execute(self._sql(
            "SELECT seq, body, prev_hash, hash FROM {entries} ORDER BY seq")).fetchall()]


class SqliteAuditStorage:
    """``audit.db`` on the store's one SQLite helper (:class:`~faceledger.store.sql.SQLiteDB`):
    ``BEGIN IMMEDIATE`` per write, WAL, ``synchronous=FULL``, its schema as a named migration.

    Thread-safe within a process (the helper serialises its connection); across processes
    SQLite's write lock orders appends."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open the audit log {self.path}: {exc}") from exc
        self._db = SQLiteDB(self.path, migrations=MIGRATIONS, pragmas=PRAGMAS)

    @contextmanager
    def write(self) -> Iterator[AuditTx]:
        with self._db.write() as tx:
            yield SqlTx(tx)

    @contextmanager
    def read(self) -> Iterator[AuditTx]:
        with self._db.read() as tx:
            yield SqlTx(tx)

    def count(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM entries")[0][0])

    def entry(self, seq: int) -> tuple[str, str] | None:
        rows = self._db.query("SELECT body, hash FROM entries WHERE seq = ?", (int(seq),))
        return (rows[0][0], rows[0][1]) if rows else None

    def page(self, after: int, limit: int) -> list[tuple[int, str, str]]:
        return [(int(s), b, h) for s, b, h in self._db.query(
            "SELECT seq, body, hash FROM entries WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit))]

    def pending(self) -> list[tuple[int, str, str | None]]:
        return [(int(s), str(a), lk) for s, a, lk in self._db.query(
            "SELECT seq, action, lock FROM pending ORDER BY seq")]

    def close(self) -> None:
        self._db.close()
