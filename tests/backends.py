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


def catalog_factories() -> dict[str, CatalogFactory]:
    return {"sqlite": sqlite_catalog}
