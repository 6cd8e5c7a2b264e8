"""The audit log's storage on PostgreSQL (tables ``audit_*``, migrations in :mod:`.pg_schema`).

Many writers on many machines append to one chain. Each append's transaction first takes
an advisory lock (``pg_advisory_xact_lock``, the key derived from the schema) and then
reads the head row ``FOR UPDATE``; only then does it number its entry ``head + 1``. So
appends are serialised in the database itself, whichever process or machine makes them,
and each one reads the head its predecessor committed (READ COMMITTED: every statement
after the lock sees every commit before it). The lock is released at COMMIT.
``tests/integration/test_pg_audit_concurrent.py`` appends from several processes at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from .audit_tables import AuditTx, SqlTx
from .pg_db import PostgresDB, redact
from .pg_schema import AUDIT_MIGRATIONS

APPEND_LOCK = "audit-append"


class _PgTx(SqlTx):
    def _lock_head(self) -> str:
        return " FOR UPDATE" if self.for_update else ""

    for_update = False


class PgAuditStorage:
    def __init__(self, url: str, db: PostgresDB | None = None) -> None:
        self.db = db or PostgresDB(url)
        self._own_db = db is None
        self.where = redact(url)
        self.db.apply_migrations(AUDIT_MIGRATIONS)

    @contextmanager
    def _write(self) -> Iterator[AuditTx]:
        with self.db.write(APPEND_LOCK) as db_tx:
            tx = _PgTx(db_tx.conn, "%s", "audit_")
            tx.for_update = True
            yield tx

    def write(self) -> AbstractContextManager[AuditTx]:
        return self._write()

    @contextmanager
    def _read(self) -> Iterator[AuditTx]:
        with self.db.read() as conn:
            yield _PgTx(conn, "%s", "audit_")

    def read(self) -> AbstractContextManager[AuditTx]:
        return self._read()

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM audit_entries")[0][0])

    def entry(self, seq: int) -> tuple[str, str] | None:
        rows = self.db.query("SELECT body, hash FROM audit_entries WHERE seq = ?", (int(seq),))
        return (rows[0][0], rows[0][1]) if rows else None

    def page(self, after: int, limit: int) -> list[tuple[int, str, str]]:
        return [(int(r[0]), r[1], r[2]) for r in self.db.query(
            "SELECT seq, body, hash FROM audit_entries WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit))]

    def pending(self) -> list[tuple[int, str, str | None]]:
        return [(int(r[0]), str(r[1]), r[2]) for r in self.db.query(
            "SELECT seq, action, lock FROM audit_pending ORDER BY seq")]

    def close(self) -> None:
        if self._own_db:
            self.db.close()
