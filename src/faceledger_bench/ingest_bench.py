"""Ingest throughput and search latency on real LFW photos, in a throw-away store.

The same photos are ingested with one worker and with all workers in the same run, so the
speed-up is a ratio measured on the same machine at the same time.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from faceledger.config import Settings
from faceledger.ledger import init_store
from faceledger.types import ActionContext


@dataclass(frozen=True)
class IngestRun:
    workers: int
    photos: int
    faces: int
    errors: int
    seconds: float

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds else 0.0

    @property
    def faces_per_second(self) -> float:
        return self.faces / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class IngestBenchResult:
    photos: int
    runs: list[IngestRun]
    gallery_faces: int
    search_queries: int
    search_p50_ms: float
    search_p99_ms: float
    index_p50_ms: float  # the vector search alone, without decoding/detecting/embedding the probe

    def as_dict(self) -> dict:
        d = asdict(self)
        d["runs"] = [dict(asdict(r), photos_per_second=round(r.photos_per_second, 2),
                          faces_per_second=round(r.faces_per_second, 2)) for r in self.runs]
        return d


def lfw_photos(lfw_dir: Path, n: int) -> list[Path]:
    return sorted((Path(lfw_dir) / "images").glob("*/*.jpg"))[:n]


def run_ingest_bench(
    lfw_dir: Path, models_dir: Path, n: int = 1000, workers: tuple[int, ...] = (1, 2),
    queries: int = 100,
) -> IngestBenchResult:
    photos = lfw_photos(lfw_dir, n)
    runs = []
    with tempfile.TemporaryDirectory(prefix="faceledger-bench-") as tmp:
        listing = Path(tmp) / "photos.txt"
        listing.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
        store = None
        for w in workers:
            if store is not None:
                store.close()
            store = init_store(Settings(data_dir=Path(tmp) / f"w{w}", models_dir=models_dir))
            store.add_source(
                "lfw-bench",
                location=listing,
                kind="urls",
                root=Path(lfw_dir) / "images",
                controller="benchmark",
                lawful_basis="legitimate-interests",
                special_category_condition="archiving-research",
                purpose="benchmark",
                retention_days=1,
                minors_policy="none-expected",
            )
            report = store.ingest("lfw-bench", workers=w, actor="bench")
            runs.append(IngestRun(w, report.photos, report.faces, report.errors, report.seconds))
        assert store is not None
        probes = _probes(lfw_dir, photos, queries)
        context = ActionContext("bench", "benchmark", "BENCH")
        store.search(probes[0], k=10, context=context)  # load the models before timing
        totals, index_times = [], []
        for probe in probes:
            start = time.perf_counter()
            results = store.search(probe, k=10, largest_only=True, context=context)
            totals.append(time.perf_counter() - start)
            query = np.zeros((1, store.pack.embedding_size), np.float32)
            query[0, 0] = 1.0
            start = time.perf_counter()
            store.index_file.search(query, 10)
            index_times.append(time.perf_counter() - start)
            assert results
        gallery = len(store.index_file)
        store.close()
    return IngestBenchResult(
        photos=len(photos),
        runs=runs,
        gallery_faces=gallery,
        search_queries=len(probes),
        search_p50_ms=round(float(np.percentile(totals, 50)) * 1000, 2),
        search_p99_ms=round(float(np.percentile(totals, 99)) * 1000, 2),
        index_p50_ms=round(float(np.percentile(index_times, 50)) * 1000, 3),
    )


def _probes(lfw_dir: Path, ingested: list[Path], count: int) -> list[Path]:
    """Photos not in the gallery: the ones after the ingested slice."""
    taken = set(ingested)
    rest = [p for p in sorted((Path(lfw_dir) / "images").glob("*/*.jpg")) if p not in taken]
    step = max(1, len(rest) // count)
    return rest[::step][:count]
