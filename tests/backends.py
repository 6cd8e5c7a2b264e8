"""The catalog implementations every contract test runs against.

``sqlite`` always; a server database when its service is up (``scripts/services.sh up``
writes the connection settings that the cluster helper reads). Each factory takes a
pytest ``tmp_path`` and returns a fresh, empty :class:`~faceledger.store.catalog.Catalog`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faceledger.store.catalog import Catalog

CatalogFactory = Callable[[Path], Catalog]


def sqlite_catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.db")


def postgresql_catalog(tmp_path: Path) -> Catalog:
    """A catalog in a new schema of the PostgreSQL service (dropped when it closes)."""
    from faceledger.store.pg_catalog import PgCatalog
    from tests.cluster_support import drop_schema, new_schema_name, pg_base_url, with_schema

    base = pg_base_url()
    assert base
    schema = new_schema_name("c")
    catalog = PgCatalog(with_schema(base, schema))
    close = catalog.close

    def close_and_drop() -> None:
        close()
        drop_schema(base, schema)

    catalog.close = close_and_drop  # type: ignore[method-assign]
    return catalog


def catalog_factories() -> dict[str, CatalogFactory]:
    """``sqlite`` always; ``postgresql`` when the service's settings are there."""
    from tests.cluster_support import pg_base_url

    found: dict[str, CatalogFactory] = {"sqlite": sqlite_catalog}
    if pg_base_url():
        found["postgresql"] = postgresql_catalog
    return found
