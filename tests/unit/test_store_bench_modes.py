"""The store benchmark's timing modes on a small real store (nothing here is timed against
a goal): adding by phase, a search step by step, and the knob sweep."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.ledger import init_store
from faceledger_bench.store_bench import (
    SOURCE,
    Clock,
    _write_faces,
    add_batch,
    search_steps,
    search_sweep,
)


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path):
    s = init_store(Settings(data_dir=tmp_path / "data", key_file=tmp_path / "k.key",
                            index_kind="ivfpq", models_dir=tmp_path / "models"))
    s.add_source(SOURCE, location=tmp_path, controller="c", lawful_basis="legitimate-interests",
                 special_category_condition="archiving-research", purpose="p",
                 retention_days=30, minors_policy="none-expected")
    source_id = s.catalog.source(SOURCE).id
    run_id = s.catalog.start_run(source_id, s.pack.name)
    dim = s.index_file.dim
    _write_faces(s, source_id, run_id, unit(3000, dim, 0), 0)
    s.index_file.rebuild("ivfpq")
    yield s
    s.close()


def test_clock_times_the_watched_method_and_puts_it_back():
    class Thing:
        def work(self, x):
            return x + 1

    thing, clock = Thing(), Clock()
    clock.watch(thing, "work", "w")
    assert thing.work(1) == 2 and thing.work(2) == 3
    assert clock.spent["w"] > 0 and "work" in vars(thing)
    clock.close()
    assert "work" not in vars(thing) and thing.work(3) == 4


def test_add_batch_adds_and_names_its_phases(store):
    source_id = store.catalog.source(SOURCE).id
    before = len(store.index_file)
    new = unit(50, store.index_file.dim, 9)
    phases = add_batch(store, source_id, new, 10**6)
    assert len(store.index_file) == before + 50 and store.index_file.check().ok
    parts = phases["catalog_write_s"] + phases["replay_s"] + phases["save_s"]
    assert phases["total_s"] == pytest.approx(parts)
    assert phases["replay_vector_add_s"] > 0 and phases["replay_log_read_s"] > 0
    assert phases["save_segment_write_s"] > 0 and phases["save_vectors_read_s"] > 0
    assert "add" not in vars(store.index_file.index)  # the instrumentation is gone
    _, got = store.index_file.search(new[:1], 1)
    assert got[0, 0] > 0 and store.catalog.embeddings(got[0], store.pack.name)


def test_search_steps_follow_the_store_search(store):
    queries = unit(20, store.index_file.dim, 5)
    steps = search_steps(store.index_file, queries)
    assert steps["differ"] == 0
    assert steps["shortlist"] == store.index_file.index.rerank
    for name in ("log_check", "coarse", "list_scan", "rerank_read", "rerank_decrypt",
                 "rerank_compute", "total"):
        assert steps[f"{name}_p99_ms"] >= steps[f"{name}_p50_ms"] >= 0
    assert steps["total_p50_ms"] >= steps["list_scan_p50_ms"]


def test_search_sweep_measures_recall_and_restores_the_knobs(store):
    ivf = store.index_file.index
    queries = unit(20, store.index_file.dim, 6)
    _, exact = store.index_file.search(queries, 10)  # nprobe = all lists: exact here
    ivf.nprobe = ivf._index.nlist
    _, truth = store.index_file.search(queries, 10)
    ivf.nprobe = None
    grid = ((1.0, 1024, 1, 0), (1 / 64, 16, 1, 0))
    rows = search_sweep(store.index_file, queries, truth, np.zeros(0, np.int64), grid)
    assert rows[0]["recall_at_10"] == 1.0
    assert rows[1]["recall_at_10"] < 1.0 and rows[1]["rerank"] == 16
    assert ivf.nprobe is None and ivf.rerank == 1024
