"""The PostgreSQL schema follows the SQLite one: the same migrations by name, in order, the
same tables and columns (read from the SQL, so no server is needed)."""

from __future__ import annotations

import re
import sqlite3

from faceledger.store.migrations import MIGRATIONS
from faceledger.store.pg_schema import (
    CATALOG_MIGRATIONS,
    KEYS_MIGRATIONS,
    PRIVACY_TABLES,
    SHARED_NAMES,
)


def test_the_shared_migrations_have_the_sqlite_names_in_order():
    sqlite_names = [name for name, _ in MIGRATIONS]
    pg_names = [name for name, _ in CATALOG_MIGRATIONS]
    assert tuple(sqlite_names) == SHARED_NAMES, "a new SQLite migration needs its PG form"
    assert pg_names[: len(SHARED_NAMES)] == list(SHARED_NAMES)
    assert all(n.startswith("pg_") for n in pg_names[len(SHARED_NAMES):])


def _sqlite_columns() -> dict[str, set[str]]:
    conn = sqlite3.connect(":memory:")
    for _, sql in MIGRATIONS:
        conn.executescript(sql)
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}


def _pg_columns(migrations=CATALOG_MIGRATIONS) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    text = "\n".join(sql for _, sql in migrations)
    for table, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\s*\);", text, re.S):
        out[table] = {line.split()[0] for line in body.strip().splitlines()
                      if line.strip() and not line.strip().startswith(("UNIQUE", "CHECK"))
                      and line.split()[0].islower()}
    for table, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", text):
        out[table].add(column)
    return out


def test_every_sqlite_table_and_column_exists_on_postgresql():
    sqlite_cols, pg_cols = _sqlite_columns(), _pg_columns()
    for table, columns in sqlite_cols.items():
        assert table in pg_cols, table
        assert columns == pg_cols[table], (table, columns ^ pg_cols[table])
    assert set(pg_cols) - set(sqlite_cols) == {"face_keys", *PRIVACY_TABLES}


def test_the_privacy_tables_are_privacy_dbs(tmp_path):
    """A cluster store keeps privacy.db's tables in its catalog: the same columns as the
    file the embedded store's tombstones and opt-out list make (read from a real one)."""
    from faceledger.privacy.erasure import Tombstones
    from faceledger.privacy.optout import OptOutList

    path = tmp_path / "privacy.db"
    Tombstones(path).close()
    OptOutList(path, None, 0.5, 4).close()
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name <> '_migrations'")}
    assert tables == set(PRIVACY_TABLES)
    pg_cols = _pg_columns()
    for table in tables:
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        assert columns == pg_cols[table], (table, columns ^ pg_cols[table])


def test_the_key_tables_are_keys_dbs(tmp_path):
    """A cluster store keeps keys.db's tables (API keys, subject tokens, web sessions) in
    its catalog's database: the same tables and columns as a real keys.db."""
    from faceledger.api.keys_db import KeysDB

    KeysDB(tmp_path / "keys.db").close()
    conn = sqlite3.connect(tmp_path / "keys.db")
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name <> '_migrations'")}
    pg_cols = _pg_columns(KEYS_MIGRATIONS)
    assert tables == set(pg_cols)
    for table in tables:
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        assert columns == pg_cols[table], (table, columns ^ pg_cols[table])
    assert all(name.startswith("pg_") for name, _ in KEYS_MIGRATIONS)
