"""Read-only counts the regulator's report needs from the catalog (names and numbers only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import Catalog


def per_source_counts(catalog: Catalog) -> dict[str, dict[str, int]]:
    """Per source name: photos held (ok), photos in error, faces held."""
    out: dict[str, dict[str, int]] = {}
    for r in catalog.query(
        "SELECT s.name, "
        "(SELECT COUNT(*) FROM photos p WHERE p.source_id = s.id AND p.status = 'ok'), "
        "(SELECT COUNT(*) FROM photos p WHERE p.source_id = s.id AND p.status = 'error'), "
        "(SELECT COUNT(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
        " WHERE p.source_id = s.id) FROM sources s ORDER BY s.name"
    ):
        out[str(r[0])] = {"photos": int(r[1]), "photo_errors": int(r[2]), "faces": int(r[3])}
    return out
