"""Ingest runs started over HTTP: progress kept for polling, failures reported, one run per
source at a time, stop honoured. The ingest itself is a stand-in here (the integration
tests run the real one)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from faceledger.api.metrics import Metrics
from faceledger.api.runs import IngestRuns
from faceledger.errors import AlreadyExistsError, NotFoundError, StoreError


@dataclass
class Progress:
    total: int
    done: int = 0
    faces: int = 0
    errors: int = 0
    duplicates: int = 0
    blocked: int = 0
    elapsed: float = 0.0


@dataclass(frozen=True)
class Report:
    status: str
    photos: int

    def as_dict(self) -> dict:
        return {"status": self.status, "photos": self.photos}


def _wait(runs: IngestRuns, run_id: int) -> dict:
    deadline = time.monotonic() + 10
    while runs.get(run_id).status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return runs.get(run_id).as_dict()


def test_progress_and_report_are_kept():
    gate = threading.Event()

    def ingest(source, progress, stop_event, actor, workers):
        p = Progress(total=4)
        for _ in range(2):
            p.done += 1
            p.faces += 2
            progress(p)
        gate.wait(5)
        p.done = 4
        progress(p)
        return Report("completed", 4)

    runs = IngestRuns(ingest)
    run = runs.start("events", "apikey:1:op")
    deadline = time.monotonic() + 5
    while runs.get(run.id).done < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    mid = runs.get(run.id).as_dict()
    assert (mid["status"], mid["done"], mid["faces"], mid["fraction"]) == ("running", 2, 4, 0.5)
    with pytest.raises(AlreadyExistsError):
        runs.start("events", "apikey:1:op")
    gate.set()
    final = _wait(runs, run.id)
    assert final["status"] == "completed" and final["report"] == {"status": "completed",
                                                                  "photos": 4}


def test_a_failing_run_reports_its_error_code():
    def ingest(source, progress, stop_event, actor, workers):
        raise StoreError("disk full")

    runs = IngestRuns(ingest)
    final = _wait(runs, runs.start("x", "a").id)
    assert final["status"] == "failed"
    assert final["error"] == {"code": "store_error", "message": "disk full"}


def test_stop_sets_the_runs_stop_event():
    def ingest(source, progress, stop_event, actor, workers):
        assert stop_event.wait(5)
        return Report("interrupted", 0)

    runs = IngestRuns(ingest)
    run = runs.start("x", "a")
    runs.stop(run.id)
    assert _wait(runs, run.id)["status"] == "interrupted"
    with pytest.raises(NotFoundError):
        runs.get(999)


def test_metrics_render_counts_and_buckets():
    m = Metrics()
    m.observe("POST", "/api/search", 200, 0.03)
    m.observe("POST", "/api/search", 200, 0.3)
    m.observe("POST", "/api/search", 422, 0.001)
    text = m.render({"store_faces": 10.0})
    counter = 'faceledger_http_requests_total{method="POST",route="/api/search",status="200"}'
    assert f"{counter} 2" in text
    assert 'route="/api/search",le="0.05"} 2' in text  # 0.001 and 0.03
    assert 'route="/api/search",le="+Inf"} 3' in text
    assert "faceledger_store_faces 10.0" in text
