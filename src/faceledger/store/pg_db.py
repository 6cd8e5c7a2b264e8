"""One helper for every PostgreSQL use of the store: connections, named migrations, the
write lock, errors translated.

* **Connections**: one per thread and per process (a forked child never uses its
  parent's), opened lazily, in autocommit mode for reads, so each read sees the latest
  commits; :meth:`PgDatabase.write` runs one transaction on the calling thread's connection.
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
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import AlreadyExistsError, ConfigError, StoreError

try:  # the ``cluster`` extra; the embedded store never imports this module
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql as pg_sql
except ImportError:  # pragma: no cover - reported when a cluster store is opened
    psycopg = None  # type: ignore[assignment]
    pg_errors = None  # type: ignore[assignment]
    pg_sql = None  # type: ignore[assignment]

Migration = tuple[str, str]


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
    question marks or percent signs outside placeholders)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgDatabase:
    def __init__(self, url: str) -> None:
        if psycopg is None:
            raise ConfigError(
                "a PostgreSQL store needs psycopg: pip install 'faceledger[cluster]'"
            )
        self.url = url
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self.schema = self._prepare_schema()

    # -- connections ----------------------------------------------------------------------
    def _connect(self) -> Any:
        try:
            conn = psycopg.connect(self.url, autocommit=True, row_factory=_row_factory,
                                   connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {redact(self.url)}: "
                             f"{_first_line(exc)}") from exc
        return conn

    def _prepare_schema(self) -> str:
        conn = self._connect()
        try:
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            if schema is None:  # the URL's search_path names a schema not made yet
                wanted = conn.execute("SHOW search_path").fetchone()[0].split(",")[0].strip()
                wanted = wanted.strip('"')
                if not wanted or wanted.startswith("$"):
                    raise StoreError("the URL's search_path names no usable schema")
                conn.execute(pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    pg_sql.Identifier(wanted)))
                schema = wanted
        except psycopg.Error as exc:
            raise StoreError(f"cannot prepare PostgreSQL schema: {_first_line(exc)}") from exc
        finally:
            conn.close()
        return str(schema)

    @property
    def conn(self) -> Any:
        """This thread's connection (a new one after a fork or if it broke)."""
        if self._closed:
            raise StoreError("the PostgreSQL catalog is closed")
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or getattr(local, "pid", None) != os.getpid() or conn.closed:
            conn = self._connect()
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
        """A 64-bit advisory lock key for ``name`` in this schema."""
        digest = hashlib.sha256(f"faceledger:{self.schema}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    # -- statements ------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with translated("query the catalog"):
            return self.conn.execute(sql, tuple(params)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with translated("write to the catalog"):
            return self.conn.execute(sql, tuple(params))

    @contextmanager
    def write(self, lock: str = "write") -> Iterator[Any]:
        """One transaction under the advisory lock ``lock``; yields the connection."""
        conn = self.conn
        with translated("write to the catalog"):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key(lock),))
                yield conn

    @contextmanager
    def read(self) -> Iterator[Any]:
        """One REPEATABLE READ, read-only transaction: several reads see one moment."""
        conn = self.conn
        with translated("read the catalog"):
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn

    # -- migrations --------------------------------------------------------------------------
    def apply_migrations(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply pending migrations in order, one transaction each; returns those applied."""
        conn = self.conn
        applied: list[str] = []
        with translated("migrate the catalog"):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key("migrate"),))
                conn.execute("CREATE TABLE IF NOT EXISTS _migrations "
                             "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            for name, sql in migrations:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key("migrate"),))
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
def translated(doing: str) -> Iterator[None]:
    """psycopg errors as the store's errors."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if psycopg is None or not isinstance(exc, psycopg.Error):
            raise
        if isinstance(exc, pg_errors.UniqueViolation):
            raise AlreadyExistsError(f"cannot {doing}: {_first_line(exc)}") from exc
        raise StoreError(f"cannot {doing}: {_first_line(exc)}") from exc
