"""The services of the cluster backend, for tests: where their settings are, a fresh
PostgreSQL schema per test.

``scripts/services.sh up DIR`` writes one ``NAME.env`` per service into DIR (for
PostgreSQL ``postgres.env`` with ``FACELEDGER_PG_URL``). Tests find DIR in
``FACELEDGER_SERVICES_DIR`` (CI sets it; ``scripts/test.sh`` brings the services up).
``FACELEDGER_PG_URL`` in the environment itself wins. Cluster tests are skipped only when
no such setting exists.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SERVICES_DIR_ENV = "FACELEDGER_SERVICES_DIR"
PG_URL_ENV = "FACELEDGER_PG_URL"


def read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip("'\"")
    return out


def service_settings() -> dict[str, str]:
    """Every service's settings (the env files, then the environment over them)."""
    found: dict[str, str] = {}
    root = os.environ.get(SERVICES_DIR_ENV)
    if root and Path(root).is_dir():
        for env_file in sorted(Path(root).glob("*.env")):
            found.update(read_env_file(env_file))
    found.update({k: v for k, v in os.environ.items()
                  if k.startswith("FACELEDGER_") and k.endswith("_URL") and v})
    return found


def pg_base_url() -> str | None:
    return service_settings().get(PG_URL_ENV)


def with_schema(url: str, schema: str) -> str:
    """``url`` with its search_path set to ``schema`` (made by the catalog on first use)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def new_schema_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def drop_schema(base_url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
