"""PostgreSQL for a cluster store: what :mod:`faceledger.store.backends` opens.

The database itself (:class:`~faceledger.store.pg_db.PostgresDB`, the storage seam's
``Database`` on psycopg 3) is in :mod:`.pg_db`; the catalog on it in :mod:`.pg_catalog`.
"""

from __future__ import annotations

from .pg_catalog import PgCatalog
from .pg_db import PostgresDB, redact

__all__ = ["PgCatalog", "PostgresDB", "open_postgres_catalog", "redact"]


def open_postgres_catalog(url: str) -> PgCatalog:
    """The catalog of a cluster store (its migrations applied)."""
    return PgCatalog(url)
