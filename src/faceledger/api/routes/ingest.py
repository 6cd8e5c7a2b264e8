"""Ingest runs: start one for a source, follow its progress, read its report, stop it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ..deps import ctx_of, db_id, principal_of

router = APIRouter(tags=["ingest"])


class RunIn(BaseModel):
    source: str
    workers: int | None = Field(
        None, ge=1, le=64,
        description="analysis worker processes (default: the server's setting); 1 leaves "
        "the other cores to searches",
    )


@router.post("/api/ingest/runs", status_code=202)
async def start_run(request: Request, body: RunIn) -> dict:
    """Start ingesting a source in the background; poll ``GET /api/ingest/runs/{id}``."""
    ctx, principal = ctx_of(request), principal_of(request)
    await run_in_threadpool(ctx.store.source, body.source)  # 404 now rather than in the thread
    run = ctx.runs.start(body.source, principal.actor, body.workers)
    return run.as_dict()


@router.get("/api/ingest/runs")
def list_runs(request: Request) -> dict:
    """Runs started by this server (live progress) and the catalog's run history."""
    ctx = ctx_of(request)
    history = [
        {k: getattr(r, k) for k in ("id", "source", "status", "started_at", "finished_at",
                                    "photos", "faces", "errors", "duplicates", "skipped",
                                    "blocked", "unsupported", "seconds")}
        for r in ctx.store.runs(50)
    ]
    return {"live": [r.as_dict() for r in ctx.runs.list()], "history": history}


@router.get("/api/ingest/runs/{run_id}")
def get_run(request: Request, run_id: int) -> dict:
    """Progress (``done``/``total``, faces, errors) and, once finished, the report."""
    return ctx_of(request).runs.get(db_id(run_id, "ingest run")).as_dict()


@router.post("/api/ingest/runs/{run_id}/stop", status_code=202)
def stop_run(request: Request, run_id: int) -> dict:
    """Ask a run to stop; what it has written so far is kept."""
    return ctx_of(request).runs.stop(db_id(run_id, "ingest run")).as_dict()
