"""A cluster store's named locks: PostgreSQL session advisory locks.

The machines of a cluster store share one PostgreSQL database, not a file system, so the
file locks of the embedded store (:class:`~faceledger.store.locks.FileLock`) would let two
machines erase, ingest one source or rotate the key at once, and would let one machine's
store open take another's live action for a dead one. :class:`PgLock` gives the same
interface on ``pg_advisory_lock``:

* each lock held has a **connection of its own**, opened by :meth:`PgLock.acquire` and
  closed by :meth:`PgLock.release`; a session advisory lock belongs to that session, so two
  lock objects exclude each other whether they are in one process or on two machines;
* a holder that dies, however it dies, loses its connection, and PostgreSQL drops the
  session's locks with it (TCP keepalives find a machine that vanished), so, as with
  ``flock``, a lock that can be taken means nobody is doing that action;
* the wait is ``lock_timeout`` on ``pg_advisory_lock`` (no polling);
  ``timeout=0`` is ``pg_try_advisory_lock``;
* the key is :meth:`PostgresDB.lock_key` of ``"lock:<name>"``: stores in different schemas
  do not wait for each other, and no name meets the write lock (``"write"``);
* the connection's ``application_name`` says who holds it (``faceledger pid N on HOST``),
  which :meth:`PgLock.holder` reads back from ``pg_stat_activity`` for the busy message.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from ..errors import StoreError
from .locks import Lock, check_name
from .pg_db import PostgresDB, psycopg, translated

#: seconds: how soon PostgreSQL notices a holder's machine is gone (idle + count x interval)
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
             "keepalives_count": 3}


class PgLocks:
    """The locks of a store whose catalog is this PostgreSQL database (or schema)."""

    def __init__(self, db: PostgresDB) -> None:
        self.db = db

    def lock(self, name: str) -> PgLock:
        return PgLock(self.db, name)

    def __repr__(self) -> str:
        return f"PgLocks({self.db.location!r})"


class PgLock(Lock):
    """An exclusive advisory lock on the store's database until :meth:`release`."""

    def __init__(self, db: PostgresDB, name: str) -> None:
        self.name = check_name(name)
        self.db = db
        self.key = db.lock_key(f"lock:{name}")
        self._conn: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def _connect(self, note_pid: bool) -> Any:
        who = f"faceledger pid {os.getpid()} on {socket.gethostname()}"[:63]
        try:
            return psycopg.connect(
                self.db.url, autocommit=True, connect_timeout=10, **KEEPALIVE,
                application_name=who if note_pid else "faceledger lock probe")
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.db.location} for the "
                             f"lock {self.name}: {str(exc).strip().splitlines()[0]}") from exc

    def acquire(self, timeout: float | None = 0.0, *, note_pid: bool = True) -> bool:
        """Take the lock; wait up to ``timeout`` seconds (``None``: forever). False if it
        is still held by someone else after that."""
        if self._conn is not None:
            raise StoreError(f"lock {self.name} is already held by this object")
        conn = self._connect(note_pid)
        try:
            got = self._take(conn, timeout)
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _take(self, conn: Any, timeout: float | None) -> bool:
        from psycopg import errors as pg_errors

        with translated(self.db.location):
            if timeout is not None and timeout <= 0:
                return bool(conn.execute("SELECT pg_try_advisory_lock(%s)",
                                         (self.key,)).fetchone()[0])
            ms = 0 if timeout is None else max(1, int(timeout * 1000))
            conn.execute(f"SET lock_timeout = {ms}")  # 0: wait forever
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
            except pg_errors.LockNotAvailable:
                return False
            conn.execute("SET lock_timeout = 0")
            return True

    def holder(self) -> str | None:
        """The ``application_name`` of the session holding the lock (pid and host)."""
        key = self.key & 0xFFFFFFFFFFFFFFFF  # pg_locks shows a bigint key as two oids
        try:
            conn = self._connect(False)
        except StoreError:
            return None
        try:
            rows = conn.execute(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = "
                "current_database()) AND l.classid::bigint = %s AND l.objid::bigint = %s",
                (key >> 32, key & 0xFFFFFFFF)).fetchall()
        except psycopg.Error:
            return None
        finally:
            conn.close()
        return str(rows[0][0]).removeprefix("faceledger ") if rows and rows[0][0] else None

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except psycopg.Error:
            pass  # the connection broke: the server dropped the lock with it
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"PgLock({self.name!r}, held={self.held})"
