"""Retention: erase what is older than its source allows, through the erasure path.

A photo's age counts from when it was ingested (``photos.ingested_at``); its source's
``retention_days`` says how long it may be kept. :func:`run_retention` erases every photo
past that, with its faces, vectors and tombstone, exactly as an erasure request would. It
is idempotent: a second run finds nothing left to erase (tombstones keep a re-ingest of the
same folder from restarting the clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .erasure import ErasureParts, ErasureReport, erase

if TYPE_CHECKING:
    from ..types import ActionContext


@runtime_checkable
class RetentionParts(ErasureParts, Protocol):
    """A retention run: the erasure's parts (the catalog finds what expired; the audit log
    records the run), and the root's verb that deletes expired watches
    (:mod:`faceledger.subjects.watches`)."""

    def purge_expired_watches(self, now: datetime | None = None,
                              context: ActionContext | None = None) -> list[int]: ...


@dataclass(frozen=True)
class RetentionReport:
    now: str
    expired_photos: dict[str, int] = field(default_factory=dict)  # per source
    erasure: ErasureReport | None = None
    expired_watches: list[int] = field(default_factory=list)  # deleted, templates too

    @property
    def photos(self) -> int:
        return len(self.erasure.photos) if self.erasure else 0

    @property
    def faces(self) -> int:
        return len(self.erasure.faces) if self.erasure else 0


def expired_photos(store: RetentionParts, now: datetime | None = None) -> dict[str, list[int]]:
    """Per source name, the ids of photos past the source's retention period."""
    return store.catalog.expired_photo_ids(now or datetime.now(UTC))


def run_retention(
    store: RetentionParts,
    now: datetime | None = None,
    context: ActionContext | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    from ..types import ActionContext

    now = now or datetime.now(UTC)
    context = context or ActionContext(actor="retention", purpose="retention period expired")
    # watches past their expiry go, with their templates (faceledger.subjects.watches)
    watches = [] if dry_run else store.purge_expired_watches(now, context)
    expired = expired_photos(store, now)
    counts = {k: len(v) for k, v in expired.items()}
    ids = [pid for v in expired.values() for pid in v]
    stamp = now.isoformat(timespec="seconds")
    if dry_run or not ids:
        store.audit.append(
            "retention_run", context.actor, context.purpose, context.case,
            inputs={"now": stamp, "dry_run": dry_run}, outputs={"expired_photos": counts},
        )
        return RetentionReport(stamp, counts, None, watches)
    report = erase(
        store, photo_ids=ids, context=context, reason="retention-expired",
        inputs={"now": stamp, "expired_photos": counts},
    )
    return RetentionReport(stamp, counts, report, watches)
