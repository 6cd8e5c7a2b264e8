"""Which catalog and which vector store a store uses, recorded beside it, and opening them.

A store's backends are chosen once, at ``faceledger init`` (``--catalog``, ``--vectors``),
and recorded in ``DATA/backends.json`` (mode 0600). The embedded default is SQLite + FAISS
segments in the data dir, with no service to run:

    {"catalog": "sqlite", "vectors": "faiss"}

A cluster store names servers: ``{"catalog": "postgresql://host:5432/db",
"vectors": "milvus://host:19530/collection"}``. Credentials are not recorded: a URL with a
password is refused (give it in the driver's own settings, e.g. ``PGPASSWORD`` or
``~/.pgpass``). A cluster implementation's module is imported only when a store names it,
so the embedded store needs none of its packages.

What the machines of a cluster store share lives in the catalog's PostgreSQL database: the
catalog, the audit log, the privacy state (tombstones, the opt-out list: :func:`privacy_db`)
and the named locks (advisory locks: :func:`open_locks`). The data dir keeps only what is
per machine: ``backends.json`` and, with FAISS vectors, the index segments.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError, StoreError
from .catalog import Catalog
from .files import write_private
from .interfaces import VectorStore
from .locks import FileLocks, Locks
from .sql import Database
from .templates import Cipher

BACKENDS_FILE = "backends.json"
CATALOG_FILE = "catalog.db"
INDEX_DIR = "index"

CATALOG_SCHEMES = ("sqlite", "postgresql")
VECTOR_SCHEMES = ("faiss", "milvus")


@dataclass(frozen=True)
class Backends:
    catalog: str = "sqlite"
    vectors: str = "faiss"

    @property
    def embedded(self) -> bool:
        return self.catalog == "sqlite" and self.vectors == "faiss"


def parse_backends(catalog: str | None = None, vectors: str | None = None) -> Backends:
    """Check the URLs a user gave (``None``: the embedded default)."""
    out = Backends(catalog=(catalog or "sqlite").strip(), vectors=(vectors or "faiss").strip())
    for what, url, schemes in (("catalog", out.catalog, CATALOG_SCHEMES),
                               ("vectors", out.vectors, VECTOR_SCHEMES)):
        scheme = _scheme(url)
        if scheme not in schemes:
            raise ConfigError(f"--{what} {url!r}: use one of {', '.join(schemes)} "
                              f"(a bare name for the embedded one, else a URL)")
        if "://" in url:
            parts = urlsplit(url)
            if parts.password:
                raise ConfigError(f"--{what}: do not put a password in the URL; give it in "
                                  "the driver's own settings (PGPASSWORD, ~/.pgpass, ...)")
            if not parts.hostname:
                raise ConfigError(f"--{what} {url!r}: the URL names no host")
    return out


def _scheme(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else url
    return {"postgres": "postgresql"}.get(scheme, scheme)


def read_backends(data_dir: Path) -> Backends:
    path = Path(data_dir) / BACKENDS_FILE
    if not path.exists():
        return Backends()  # stores made before backends could be chosen are embedded
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return parse_backends(str(raw["catalog"]), str(raw["vectors"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{path} is unreadable: {exc}") from exc


def write_backends(data_dir: Path, backends: Backends) -> None:
    write_private(Path(data_dir) / BACKENDS_FILE,
                  (json.dumps(asdict(backends), indent=2) + "\n").encode())


def open_catalog(data_dir: Path, backends: Backends) -> Catalog:
    if backends.catalog == "sqlite":
        return Catalog(Path(data_dir) / CATALOG_FILE)
    from .pg_sql import open_postgres_catalog  # the cluster extra (psycopg)

    return open_postgres_catalog(backends.catalog)


def open_vectors(
    data_dir: Path, backends: Backends, pack: str, dim: int, kind: str, catalog: Catalog,
    cipher: Cipher,
) -> VectorStore:
    if backends.vectors == "faiss":
        from .files import private_dir
        from .index_file import IndexFile

        private_dir(Path(data_dir) / INDEX_DIR)
        return IndexFile(Path(data_dir) / INDEX_DIR, pack, dim, kind, catalog, cipher)
    from .milvus_vectors import open_milvus_vectors  # the cluster extra (pymilvus)

    return open_milvus_vectors(backends.vectors, pack, dim, kind, catalog, cipher)


def is_server_db(catalog: Catalog) -> bool:
    """True when the catalog is in a server database that many machines share."""
    return getattr(getattr(catalog, "db", None), "dialect", "sqlite") != "sqlite"


def open_locks(data_dir: Path, catalog: Catalog) -> Locks:
    """The store's named locks: files in the data dir (one machine), or advisory locks in
    the catalog's PostgreSQL database (every machine of a cluster store)."""
    if is_server_db(catalog):
        from .pg_locks import PgLocks

        return PgLocks(catalog.db)
    return FileLocks(data_dir)


def privacy_db(data_dir: Path, catalog: Catalog, file_name: str) -> Path | Database:
    """Where the tombstones and the opt-out list are kept: ``file_name`` in the data dir
    beside a SQLite catalog (each opens its own connection to it); the catalog's own
    database for a cluster store (tables made by the catalog's migrations, connections
    shared with the catalog, which closes them)."""
    if is_server_db(catalog):
        return catalog.db
    return Path(data_dir) / file_name
