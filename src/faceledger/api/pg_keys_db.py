"""keys.db's tables in a cluster store's PostgreSQL database (see :mod:`.keys_db`)."""

from __future__ import annotations

import logging
import threading

from ..errors import StoreError
from ..store.pg_db import PostgresDB
from ..store.pg_schema import KEYS_MIGRATIONS

log = logging.getLogger("faceledger.api")


class PgKeysDB(PostgresDB):
    """The same calls as :class:`~faceledger.api.keys_db.KeysDB` (``execute``,
    ``transaction``, ``lock``, ``checkpoint``) on the catalog's PostgreSQL database."""

    def __init__(self, url: str) -> None:
        super().__init__(url, KEYS_MIGRATIONS)
        self.lock = threading.RLock()  # callers' read-then-write, as on SQLite

    def transaction(self):
        """One transaction under the key store's own advisory lock: ordered with every
        other machine's, as ``BEGIN IMMEDIATE`` orders them on one."""
        return self.write(lock="keys")

    def checkpoint(self) -> None:
        """After a reference template is deleted or re-encrypted: rewrite its table and
        retire the WAL that carried it (the service settings this relies on are the
        catalog's erasure's: docs/privacy.md, "Erasure on PostgreSQL")."""
        try:
            self.execute("SET lock_timeout = '30s'")
            for sql in ("VACUUM FULL subject_token_references", "SELECT pg_switch_wal()",
                        "CHECKPOINT"):
                self.execute(sql)
        except StoreError as exc:
            log.warning("key store: %s (deleted reference templates stay in the database's "
                        "files until the next VACUUM)", exc.message)
        finally:
            try:
                self.execute("SET lock_timeout = 0")
            except StoreError:
                pass
