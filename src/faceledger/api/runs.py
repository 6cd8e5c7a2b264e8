"""Ingest runs started over HTTP: each in its own thread, with progress kept for polling.

The run itself is the library's ``store.ingest``; this module only keeps the latest
progress of each run so the API and the web page can show it, and a stop event per run.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AlreadyExistsError, NotFoundError


@dataclass
class RunState:
    id: int
    source: str
    actor: str
    started_at: float
    status: str = "running"  # running | completed | interrupted | failed
    total: int = 0
    done: int = 0
    faces: int = 0
    errors: int = 0
    duplicates: int = 0
    blocked: int = 0
    unsupported: int = 0  # files the source holds in a format that is not decoded
    elapsed: float = 0.0
    report: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def fraction(self) -> float:
        if self.total:
            return self.done / self.total
        return 0.0 if self.status == "running" else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "actor": self.actor,
            "started_at": self.started_at,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "faces": self.faces,
            "errors": self.errors,
            "duplicates": self.duplicates,
            "blocked": self.blocked,
            "unsupported": self.unsupported,
            "elapsed": round(self.elapsed, 3),
            "fraction": self.fraction,
            "report": self.report,
            "error": self.error,
        }


IngestFn = Callable[[str, Callable[[Any], None], threading.Event, str, "int | None"], Any]


class IngestRuns:
    """Start, follow and stop ingest runs. One run per source at a time."""

    def __init__(self, ingest: IngestFn) -> None:
        self._ingest = ingest
        self._lock = threading.Lock()
        self._runs: dict[int, RunState] = {}
        self._ids = itertools.count(1)

    def start(self, source: str, actor: str, workers: int | None = None) -> RunState:
        with self._lock:
            for run in self._runs.values():
                if run.source == source and run.status == "running":
                    raise AlreadyExistsError(
                        f"source {source!r} is already being ingested (run {run.id})"
                    )
            run = RunState(id=next(self._ids), source=source, actor=actor,
                           started_at=time.time())
            self._runs[run.id] = run
        run.thread = threading.Thread(target=self._run, args=(run, workers),
                                      name=f"ingest-{run.id}",
                                      daemon=True)
        run.thread.start()
        return run

    def _run(self, run: RunState, workers: int | None) -> None:
        def progress(p: Any) -> None:
            run.total, run.done, run.faces = p.total, p.done, p.faces
            run.errors, run.duplicates = p.errors, p.duplicates
            run.blocked, run.elapsed = getattr(p, "blocked", 0), p.elapsed
            run.unsupported = getattr(p, "unsupported", 0)

        try:
            report = self._ingest(run.source, progress, run.stop_event, run.actor, workers)
            run.report = report.as_dict() if hasattr(report, "as_dict") else dict(vars(report))
            run.status = str(run.report.get("status", "completed"))
        except Exception as exc:  # reported to the poller, never lost in a thread
            run.status = "failed"
            run.error = {"code": getattr(exc, "code", "internal_error"), "message": str(exc)}

    def get(self, run_id: int) -> RunState:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFoundError(f"no ingest run {run_id} in this server's lifetime")
        return run

    def list(self) -> list[RunState]:
        return sorted(self._runs.values(), key=lambda r: r.id, reverse=True)

    def running(self) -> int:
        return sum(1 for r in self._runs.values() if r.status == "running")

    def stop(self, run_id: int) -> RunState:
        run = self.get(run_id)
        run.stop_event.set()
        return run

    def shutdown(self, timeout: float = 30.0) -> None:
        for run in list(self._runs.values()):
            run.stop_event.set()
        for run in list(self._runs.values()):
            if run.thread is not None:
                run.thread.join(timeout)
