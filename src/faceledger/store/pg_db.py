"""PostgreSQL as a :class:`~faceledger.store.sql.Database`: connections, named migrations,
the write lock, errors translated. The catalog's SQL (``?`` placeholders) runs on it as it
runs on SQLite; the audit log's storage (:mod:`.pg_audit`) uses it too.

* **Connections**: one per thread and per process (a forked child never uses its
  parent's), opened lazily, in autocommit mode for reads, so each read sees the latest
  commits; :meth:`PostgresDB.write` runs one transaction on the calling thread's connection.
* **The write lock**: every write transaction first takes a transaction-level advisory lock
  (``pg_advisory_xact_lock``), so writes from any number of processes on any number of
  machines are ordered, as SQLite's ``BEGIN IMMEDIATE`` orders them on one machine. The
  lock is released at COMMIT or ROLLBACK, after the commit is visible, so the next writer
  sees everything the previous one did; sequence numbers taken under it follow commit order.
* **Namespaces**: a URL may name a schema (``?options=-csearch_path%3Dname``); it is created
  on first use, and advisory lock keys are derived from the schema's name, so stores in
  different schemas of one database do not wait for each other.
* **Migrations**: a list of ``(name, sql)`` recorded in a ``_migrations`` table, each in one
  transaction under an advisory lock (two processes opening a new store never apply one twice).

psycopg's errors never leave this module's callers untranslated: they become
:class:`~faceledger.errors.StoreError` (unique violations :class:`AlreadyExistsError`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import BusyError, ConfigError, StoreError

try:
    from ..errors import ConflictError
except ImportError:  # until the storage seam's errors are merged
    from ..errors import AlreadyExistsError as ConflictError  # type: ignore[assignment]

try:  # the ``cluster`` extra; the embedded store never imports this module
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql as pg_sql
except ImportError:  # pragma: no cover - reported when a cluster store is opened
    psycopg = None  # type: ignore[assignment]
    pg_errors = None  # type: ignore[assignment]
    pg_sql = None  # type: ignore[assignment]

Migration = tuple[str, str]
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def is_pg_url(url: str | None) -> bool:
    return bool(url) and urlsplit(str(url)).scheme in ("postgresql", "postgres")


class Row(tuple):
    """A result row: by position like a tuple, or by column name like ``sqlite3.Row``."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    names = [d.name for d in cursor.description] if cursor.description else []
    index = {n: i for i, n in enumerate(names)}

    def make(values: Sequence[Any]) -> Row:
        return Row(values, index)

    return make


def qmarks(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (the catalog's SQL has no literal
    question marks outside placeholders)."""
    return sql.replace("%", "%%").replace("?", "%s")


def prepared(sql: str, params: Sequence[Any]) -> tuple[str, tuple | None]:
    """(SQL, params) for psycopg: without parameters the text goes as it is (so a script of
    several statements runs, and ``%`` is literal)."""
    if not params:
        return sql, None
    return qmarks(sql), tuple(params)


class PgTx:
    """One write transaction (the Database protocol's ``Tx``), SQL with ``?`` placeholders."""

    def __init__(self, db: PostgresDB, conn: Any) -> None:
        self.db = db
        self.conn = conn
        self.cache: dict[Any, Any] = {}  # per-transaction state of callers (bucket keys)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(*prepared(sql, params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cur = self.conn.cursor()
        cur.executemany(qmarks(sql), [tuple(r) for r in rows])
        return cur

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """An INSERT into a table with an ``id`` key; the new id (``RETURNING id``)."""
        text, args = prepared(sql + " RETURNING id", params)
        return int(self.conn.execute(text, args).fetchone()[0])


class PostgresDB:
    """A PostgreSQL database (or one schema of it, named by the URL's search_path)."""

    dialect = "postgresql"

    def __init__(self, url: str, migrations: Sequence[Migration] = ()) -> None:
        if psycopg is None:
            raise ConfigError(
                "a PostgreSQL store needs psycopg: pip install 'faceledger[cluster]'"
            )
        self.url = url
        self.location = redact(url)
        self.path = None  # no file
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._fixed: Any = None  # a snapshot view's one connection
        self.schema = self._prepare_schema()
        if migrations:
            self.apply_migrations(migrations)

    # -- connections ----------------------------------------------------------------------
    def connect(self) -> Any:
        """A new connection of its own (autocommit), for the caller to close."""
        try:
            return psycopg.connect(self.url, autocommit=True, row_factory=_row_factory,
                                   connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.location}: "
                             f"{_first_line(exc)}") from exc

    def _prepare_schema(self) -> str:
        conn = self.connect()
        try:
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            if schema is None:  # the URL's search_path names a schema not made yet
                wanted = conn.execute("SHOW search_path").fetchone()[0].split(",")[0].strip()
                wanted = wanted.strip('"')
                if not wanted or wanted.startswith("$"):
                    raise StoreError(f"{self.location}: the search_path names no usable schema")
                conn.execute(pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    pg_sql.Identifier(wanted)))
                schema = wanted
        except psycopg.Error as exc:
            raise StoreError(f"{self.location}: cannot prepare the schema: "
                             f"{_first_line(exc)}") from exc
        finally:
            conn.close()
        return str(schema)

    @property
    def conn(self) -> Any:
        """This thread's connection (a new one after a fork or if it broke)."""
        if self._fixed is not None:
            return self._fixed
        if self._closed:
            raise StoreError(f"{self.location}: the database is closed")
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or getattr(local, "pid", None) != os.getpid() or conn.closed:
            conn = self.connect()
            local.conn, local.pid = conn, os.getpid()
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    # -- locks ------------------------------------------------------------------------------
    def lock_key(self, name: str) -> int:
        """A 64-bit advisory lock key for ``name`` in this schema (pg_schema has its SQL
        form for the triggers)."""
        digest = hashlib.sha256(f"faceledger:{self.schema}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    # -- statements ------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with translated(self.location):
            return self.conn.execute(*prepared(sql, params)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """One statement in a transaction of its own (autocommit)."""
        with translated(self.location):
            return self.conn.execute(*prepared(sql, params))

    @contextmanager
    def write(self, lock: str = "write") -> Iterator[PgTx]:
        """One transaction under the advisory lock ``lock`` (the catalog's write lock by
        default), ordered with every other writer of this schema on any machine."""
        if self._fixed is not None:
            raise StoreError(f"{self.location}: a snapshot is read-only")
        conn = self.conn
        with translated(self.location):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key(lock),))
                yield PgTx(self, conn)

    @contextmanager
    def read(self) -> Iterator[Any]:
        """One REPEATABLE READ, read-only transaction: several reads see one moment."""
        conn = self.conn
        with translated(self.location):
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn

    @contextmanager
    def snapshot(self) -> Iterator[PostgresDB]:
        """A read-only view of one moment on a connection of its own."""
        conn = self.connect()
        view = PostgresDB.__new__(PostgresDB)
        view.__dict__.update(self.__dict__)
        view._fixed = conn
        try:
            with translated(self.location):
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                conn.execute("SELECT 1").fetchall()  # takes the snapshot now
            yield view
        finally:
            try:
                conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the connection broke: closing it is enough
                pass
            conn.close()

    def sequence_head(self, table: str) -> int:
        """The highest id *committed* in ``table`` (``seq`` for the vector log). Not the
        sequence's own value, which counts ids handed to transactions still running: a
        reader that took that for the head could skip a change committed after it looked.
        Writers number rows under the write lock, so ids follow commit order; the catalog
        keeps the newest log row when it prunes, so the head never goes back."""
        if not _NAME.match(table):
            raise StoreError(f"bad table name {table!r}")
        column = "seq" if table == "vector_log" else "id"
        return int(self.query(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")[0][0])

    def scrub(self, vacuum: bool = False) -> tuple[bool, bool]:
        """PostgreSQL keeps deleted rows in its files until VACUUM: the catalog purges what
        matters (:meth:`PgCatalog.scrub`); the database alone can only checkpoint."""
        with translated(self.location):
            self.conn.execute("CHECKPOINT")
        return True, False

    # -- migrations --------------------------------------------------------------------------
    def apply_migrations(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply pending migrations in order, one transaction each; returns those applied."""
        conn = self.conn
        applied: list[str] = []
        key = self.lock_key("migrate")
        with translated(self.location):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                conn.execute("CREATE TABLE IF NOT EXISTS _migrations "
                             "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            for name, sql in migrations:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                    if conn.execute("SELECT 1 FROM _migrations WHERE name = %s",
                                    (name,)).fetchone():
                        continue
                    conn.execute(sql)
                    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (%s, %s)",
                                 (name, datetime.now(UTC).isoformat(timespec="seconds")))
                applied.append(name)
        return applied

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM _migrations ORDER BY name")]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextmanager
def translated(location: str) -> Iterator[None]:
    """psycopg errors as the store's: a constraint is a conflict, a lock not granted in
    time is busy, anything else names the database."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if psycopg is None or not isinstance(exc, psycopg.Error):
            raise
        text = _first_line(exc)
        if isinstance(exc, pg_errors.IntegrityError):
            raise ConflictError(f"{location}: {text}") from exc
        if isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected)):
            raise BusyError(f"{location} is locked by another writer: {text}") from exc
        raise StoreError(f"{location}: {text}") from exc

