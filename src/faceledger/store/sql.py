"""One helper for every SQL database the store keeps: connection, pragmas, named migrations,
``write()`` transactions, and driver errors translated into :class:`StoreError`.

The catalog, the audit log, the privacy file (tombstones and the opt-out list) and the API's
keys file are each a :class:`Database`. SQLite is the embedded implementation here; a
server database (PostgreSQL, see ``pg_sql``) implements the same protocol, so the SQL that
the catalog writes runs on either. SQL is written with ``?`` placeholders; an implementation
whose driver wants another style translates it.

    db = SQLiteDB(path, migrations=CATALOG_MIGRATIONS)
    rows = db.query("SELECT id, name FROM sources WHERE name = ?", (name,))
    with db.write() as tx:                       # BEGIN IMMEDIATE ... COMMIT
        new_id = tx.insert("INSERT INTO sources (name) VALUES (?)", (name,))
        tx.execute("UPDATE ...", (...,))
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ..errors import BusyError, ConflictError, StoreError
from .files import private_file

Migration = tuple[str, str]  # (name, SQL script)

DEFAULT_PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA secure_delete=ON",  # deleted rows are overwritten with zeros in place
)


class Row(Protocol):
    """A result row: by position (``r[0]``) and by column name (``r["id"]``)."""

    def __getitem__(self, key: int | str) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...


class Tx(Protocol):
    """One write transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT into a table with an integer ``id`` key; the new row's id."""
        ...


class Database(Protocol):
    """What the store asks of a SQL database."""

    dialect: str  # "sqlite" | "postgresql"
    location: str  # a path or a URL without its password, for messages

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def write(self) -> Any:  # a context manager yielding a Tx
        ...

    def snapshot(self) -> Any:
        """A context manager yielding a read-only Database that sees one moment."""
        ...

    def sequence_head(self, table: str) -> int:
        """The last value handed out by ``table``'s id sequence (0 if none), which does not
        go back when rows are deleted."""
        ...

    def scrub(self, vacuum: bool = False) -> tuple[bool, bool]:
        """Leave no deleted row readable in the database's files (journal, free pages):
        (journal emptied, vacuumed)."""
        ...

    def close(self) -> None: ...


def translate(exc: BaseException, location: str) -> StoreError:
    """A driver error as the store's own: a constraint is a conflict, a lock held too long
    is busy, anything else names the file."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"{location}: {text}")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return BusyError(f"{location} is locked by another writer: {text}")
    return StoreError(f"{location}: {text}")


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(sql, tuple(params)).lastrowid)


class SQLiteDB:
    """A SQLite file: one connection per process, serialised across threads, ``BEGIN
    IMMEDIATE`` for every write so that writers of several processes are ordered."""

    dialect = "sqlite"

    def __init__(
        self,
        path: Path | str,
        migrations: Sequence[Migration] = (),
        pragmas: Sequence[str] = DEFAULT_PRAGMAS,
        timeout: float = 30.0,
        private: bool = True,
        _connect: bool = True,
    ) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._lock = self.lock = threading.RLock()  # held by callers that read-then-write
        self._pragmas = tuple(pragmas)
        self._timeout = timeout
        if not _connect:
            return
        try:
            if private:
                private_file(self.path)  # 0600 before SQLite creates it (-wal/-shm follow)
            self.conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=timeout
            )
            self.conn.row_factory = sqlite3.Row
            for pragma in self._pragmas:
                self.conn.execute(pragma)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        if migrations:
            apply_migrations(self, migrations)

    # -- reads ----------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self.conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc, self.location) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement in a transaction of its own (autocommit)."""
        with self._lock:
            try:
                return self.conn.execute(sql, tuple(params))
            except sqlite3.Error as exc:
                raise translate(exc, self.location) from exc

    def sequence_head(self, table: str) -> int:
        rows = self.query("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        return int(rows[0][0]) if rows else 0

    # -- writes ---------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[_SQLiteTx]:
        """One write transaction, serialised across the threads of this process and,
        through SQLite's lock, across processes. A driver error rolls back and is raised
        as a StoreError; any other exception rolls back and passes through."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate(exc, self.location) from exc
            try:
                yield _SQLiteTx(self.conn)
            except sqlite3.Error as exc:
                self._rollback()
                raise translate(exc, self.location) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise translate(exc, self.location) from exc

    @contextmanager
    def read(self) -> Iterator[_SQLiteTx]:
        """One read transaction on this connection (``BEGIN`` ... ``COMMIT``): the reads in
        it see one moment. Cheaper than :meth:`snapshot` for a few short reads."""
        with self._lock:
            try:
                self.conn.execute("BEGIN")
                try:
                    yield _SQLiteTx(self.conn)
                finally:
                    self._rollback()
            except sqlite3.Error as exc:
                raise translate(exc, self.location) from exc

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction left to roll back (SQLite ended it itself)

    def checkpoint(self) -> None:
        """Fold the WAL into the file and truncate it: deleted rows' old page images go."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def scrub(self, vacuum: bool = False) -> tuple[bool, bool]:
        """Checkpoint the WAL into the database and truncate it (and VACUUM if asked), from a
        short-lived connection of its own. ``secure_delete`` has zeroed deleted rows in the
        pages; the WAL may still hold old copies of them until it is truncated."""
        try:
            conn = sqlite3.connect(str(self.path), timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise translate(exc, self.location) from exc
        try:
            conn.execute("PRAGMA secure_delete=ON")
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            done = False
            if vacuum:
                conn.execute("VACUUM")
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                done = True
            return busy == 0, done
        except sqlite3.Error as exc:
            raise StoreError(f"could not scrub {self.path}: {exc}") from exc
        finally:
            conn.close()

    # -- a consistent view for long scans -------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[SQLiteDB]:
        """A read-only view of one moment on a connection of its own, so a long scan (an
        index build) sees one consistent state while writers go on."""
        view = SQLiteDB(self.path, pragmas=(), timeout=self._timeout, _connect=False)
        try:
            view.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30,
                                        check_same_thread=False)
            view.conn.row_factory = sqlite3.Row
            view.conn.execute("BEGIN")
            view.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # pins it
        except sqlite3.Error as exc:
            raise translate(exc, self.location) from exc
        try:
            yield view
        finally:
            view._rollback()
            view.conn.close()

    def close(self) -> None:
        with self._lock:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass


# -- named migrations -----------------------------------------------------------------------
def apply_migrations(db: Any, migrations: Sequence[Migration]) -> list[str]:
    """Apply pending migrations in order, one transaction each; returns the names applied.

    Whether a migration is pending is read inside its own write transaction, so two
    processes opening one database at once never apply a migration twice."""
    with db.write() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS _migrations "
                   "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = []
    for name, script in migrations:
        with db.write() as tx:
            if tx.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue
            for statement in split_statements(script, db.dialect):
                tx.execute(statement)
            tx.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                       (name, datetime.now(UTC).isoformat(timespec="seconds")))
        applied.append(name)
    return applied


def split_statements(script: str, dialect: str = "sqlite") -> list[str]:
    """Split a migration into statements; a trigger's body (BEGIN ... END) stays whole in
    SQLite. Other dialects mark breaks with a line holding only ``--;``."""
    if dialect != "sqlite":
        return [s.strip() for s in script.split("\n--;\n") if s.strip()]
    out: list[str] = []
    pending = ""
    for part in script.split(";"):
        pending = f"{pending};{part}" if pending else part
        if sqlite3.complete_statement(pending + ";"):
            if pending.strip():
                out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out
