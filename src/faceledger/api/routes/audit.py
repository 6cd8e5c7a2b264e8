"""Audit: read the hash-chained log and verify it (auditors only)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from ..deps import MAX_DB_ID, ctx_of

router = APIRouter(tags=["audit"])


@router.get("/api/audit")
async def read_audit(
    request: Request,
    since_seq: int = Query(0, ge=0, le=MAX_DB_ID,
                          description="entries after this sequence number"),
    limit: int = Query(100, ge=1, le=1000),
    newest_first: bool = Query(False),
) -> dict:
    """Entries in order with their hashes; page with ``since_seq``."""
    audit = ctx_of(request).store.audit

    def read() -> dict:
        head_seq, head_hash = audit.head()
        start = since_seq
        if newest_first and since_seq == 0:
            start = max(0, head_seq - limit)
        entries = [asdict(e) for e in audit.entries(start, limit)]
        if newest_first:
            entries.reverse()
        return {"head_seq": head_seq, "head_hash": head_hash, "entries": entries}

    return await run_in_threadpool(read)


@router.get("/api/audit/verify")
async def verify_audit(request: Request) -> dict:
    """Walk the whole chain; ``ok`` false names the first bad entry and why."""
    audit = ctx_of(request).store.audit
    return asdict(await run_in_threadpool(audit.verify))
