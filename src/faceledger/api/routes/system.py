"""Health, metrics and "who am I"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from ..deps import ctx_of, principal_of

router = APIRouter(tags=["system"])


@router.get("/api/health")
def health(request: Request) -> dict:
    """Liveness and a few counts; public, holds no personal data."""
    ctx = ctx_of(request)
    return {"status": "ok", "ingest_runs_running": ctx.runs.running()}


@router.get("/api/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: requests by route and status, latency histograms, gallery size."""
    ctx = ctx_of(request)
    gauges: dict[str, float] = {"ingest_runs_running": float(ctx.runs.running())}
    for name, value in ctx.store.counts().items():
        gauges[f"store_{name}"] = float(value)
    return PlainTextResponse(ctx.metrics.render(gauges), media_type="text/plain; version=0.0.4")


@router.get("/api/whoami")
def whoami(request: Request) -> dict:
    """The role and name behind the presented key."""
    p = principal_of(request)
    return {"role": p.role.value, "name": p.name, "key_id": p.key_id}
