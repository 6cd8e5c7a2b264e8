"""The store's parts as roles: what a module below the composition root may ask for.

:class:`faceledger.ledger.Store` opens every part (catalog, vector index, audit log, keys,
privacy lists, models) and offers the verbs. The modules under it (pipeline, search,
privacy, subjects, people) must not reach through it for whatever they like: each declares,
as a :class:`typing.Protocol` built from these roles, exactly the parts it uses, and takes
that. A ``Store`` satisfies every such protocol structurally; a test may pass a small object
with only those parts. ``tests/unit/test_import_layers.py`` checks that no module below the
root names ``ledger`` at all, and that ``Store`` satisfies every protocol declared.

These are types only: nothing here runs at import time beyond defining them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .config import Settings
    from .images import ImageLimits
    from .models.analyzer import FaceAnalyzer
    from .models.registry import PackSpec
    from .privacy.audit import AuditLog
    from .search.decisions import OperatingPoint
    from .store.catalog import Catalog
    from .store.interfaces import VectorStore
    from .store.locks import Locks
    from .store.templates import Cipher
    from .types import SourceInfo


@runtime_checkable
class HasSettings(Protocol):
    """The store's settings and its data directory."""

    settings: Settings
    data_dir: Path


@runtime_checkable
class HasLocks(Protocol):
    """The store's named locks (:class:`~faceledger.store.locks.Locks`): files in the data
    dir, or the advisory locks every machine of a cluster store shares."""

    locks: Locks


@runtime_checkable
class HasCatalog(Protocol):
    catalog: Catalog


@runtime_checkable
class HasAudit(Protocol):
    """The audit log, and the one-entry shorthand the verbs use."""

    audit: AuditLog

    def record(self, action: str, actor: str = "cli", purpose: str | None = None,
               case: str | None = None, inputs: dict | None = None,
               outputs: dict | None = None) -> None: ...


@runtime_checkable
class HasKeys(Protocol):
    """The template cipher (keys derived from the store key) and the store's id."""

    cipher: Cipher
    store_id: str


@runtime_checkable
class HasModels(Protocol):
    """The model pack, its analyzer (loaded on first use), the image limits and the
    calibrated thresholds."""

    pack: PackSpec

    @property
    def analyzer(self) -> FaceAnalyzer: ...

    def built_analyzer(self) -> FaceAnalyzer: ...

    @property
    def limits(self) -> ImageLimits: ...

    @property
    def analyzer_injected(self) -> bool:
        """True when the analyzer was handed to the store (not built from its pack): only
        this process has it, so no worker process or Ray actor may stand in for it."""
        ...

    def operating_point(self, far: float | None = None,
                        search: bool = False) -> OperatingPoint: ...


@runtime_checkable
class HasSources(Protocol):
    def source(self, name: str) -> SourceInfo: ...

    def sources(self) -> list[SourceInfo]: ...


@runtime_checkable
class HasVectors(Protocol):
    index_file: VectorStore


@runtime_checkable
class HasPrivacyLists(Protocol):
    """The opt-out list and the erased photos' tombstones."""

    optout: Any
    tombstones: Any
