"""What the people modules take from the store (see :mod:`faceledger.parts`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..parts import HasCatalog, HasKeys, HasModels, HasVectors


@runtime_checkable
class PeopleParts(HasCatalog, HasVectors, HasKeys, HasModels, Protocol):
    """Persons: the catalog (the persons tables, the faces' templates), the vector index
    (neighbouring faces), the cipher (templates are decrypted to compare them) and the
    model pack (its thresholds)."""
