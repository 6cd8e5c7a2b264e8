"""What the regulator report takes from the store (see :mod:`faceledger.parts`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ...parts import HasModels, HasSources
from ..requests import RequestParts


@runtime_checkable
class ReportParts(RequestParts, HasModels, HasSources, Protocol):
    """The rights register's parts, plus the sources (records of processing) and the model
    pack (the safeguards section names it)."""
