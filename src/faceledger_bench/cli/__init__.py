"""``faceledger bench ...``: the benchmark commands. The group lives in :mod:`.group`; each
family of commands lives in its own module and attaches itself to it. Importing this package
attaches them all; the library's CLI imports it only when ``faceledger bench`` is used."""

from __future__ import annotations

from . import (  # noqa: F401  (attach their commands)
    accuracy,
    cluster,
    fusion,
    index,
    ingest,
    optout,
    quality,
    realworld,
    store,
)
from .group import bench

__all__ = ["bench"]
