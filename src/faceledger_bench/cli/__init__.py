"""``faceledger bench ...``: the benchmark commands. The group lives in :mod:`.group`; each
family of commands lives in its own module and attaches itself to it. Importing this package
attaches them all; the library's CLI imports it only when ``faceledger bench`` is used."""

from __future__ import annotations

from . import accuracy, cluster, fusion, index, ingest, optout, realworld, store  # noqa: F401  (attach)
from .group import bench

__all__ = ["bench"]
