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


def export_milvus_credentials(found: dict[str, str]) -> None:
    """The Milvus server's user and password into the environment, where the store's client
    reads them (they are never in a URL or a store's configuration)."""
    for key in ("FACELEDGER_MILVUS_USER", "FACELEDGER_MILVUS_PASSWORD"):
        if found.get(key):
            os.environ[key] = found[key]


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


def without_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password): a store records no credentials, the
    driver reads the password from PGPASSWORD."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    netloc = parts.netloc.replace(f":{parts.password}@", "@")
    return urlunsplit(parts._replace(netloc=netloc)), parts.password


def milvus_base_url() -> str | None:
    """The Milvus service's URL, when it is up and this checkout has the Milvus store."""
    found = service_settings()
    url = found.get("FACELEDGER_MILVUS_URL")
    if not url:
        return None
    export_milvus_credentials(found)
    try:
        import faceledger.store.milvus_vectors  # noqa: F401
    except ImportError:
        return None
    return url


def with_collection(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


class ClusterBackend:
    """Fresh backends for each store a test makes: a new PostgreSQL schema (and a new
    Milvus collection when that service is up); the schemas are dropped at the end."""

    def __init__(self, pg_base: str) -> None:
        self.pg_base = pg_base  # with the password, to drop schemas
        self.pg_url, password = without_password(pg_base)
        if password is not None:
            os.environ["PGPASSWORD"] = password
        self.milvus = milvus_base_url()
        self.schemas: list[str] = []

    def settings_kw(self) -> dict[str, str]:
        schema = new_schema_name("s")
        self.schemas.append(schema)
        kw = {"catalog": with_schema(self.pg_url, schema)}
        if self.milvus:
            kw["vectors"] = with_collection(self.milvus, schema)
        return kw

    def cleanup(self) -> None:
        for schema in self.schemas:
            try:
                drop_schema(self.pg_base, schema)
            except Exception:  # noqa: BLE001 - the server may be gone at the end
                pass
