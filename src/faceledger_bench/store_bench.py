"""The real store at scale: open, memory, disk, search, add, erase, check, retention.

A store of ``n`` faces is built in a throw-away data dir through the same write path as
ingest (catalog rows with encrypted embeddings, one photo per face, the catalog's triggers
logging every face), from synthetic embeddings shaped like real ones
(:mod:`faceledger_bench.synthetic`, with LFW mates enrolled), without running the models.
Each measured phase then runs in a fresh process, so its RSS is that of a store that was
opened, not built:

* ``cold``: the first open, which trains the index and writes its segments;
* ``warm``: a second open (segments read back), the models loaded, then searches
  (recall@10 against exact search over the same gallery), two batches of 1,000 faces
  added (the first batch after the open and a second one, each timed by phase: catalog
  write, log replay into memory, save; ``add_1000_s`` is the second, steady-state batch),
  20 one-face erasures, ``check`` and a retention run.

With ``breakdown`` the warm phase also times an IVF-PQ search step by step (the per-search
log check, coarse quantizer, list scan, re-rank read from the catalog, re-rank decrypt,
re-rank compute) and sweeps the search knobs (lists probed, re-rank shortlist, threads),
each with its recall@10.

A search is timed twice: the vector store alone (``search_p50_ms``), and as
``Store.search`` runs it after the models (``engine_p50_ms``: the vector search, the
catalog rows of the matches, the decisions and the audit record of the search).

With ``catalog``/``vectors`` URLs (``--catalog postgresql://...``, ``--vectors
milvus://...``) the store is a cluster store: a fresh PostgreSQL schema and Milvus
collection for the run, dropped afterwards; ``beside_embedded`` measures the embedded
store on the same gallery first, in the same run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from faceledger.config import Settings
from faceledger.ledger import init_store, open_store
from faceledger.store.catalog import utc_now
from faceledger.types import ActionContext

from .machine import cpu_name
from .synthetic import SyntheticGallery

K = 10
SOURCE = "synthetic"
CTX = ActionContext("bench", "storage benchmark", "BENCH-STORE")


@dataclass(frozen=True)
class StoreBenchReport:
    n: int
    kind: str
    build_s: float
    open_cold_s: float
    open_warm_s: float
    rss_mb: float
    rss_after_search_mb: float
    rss_before_open_mb: float
    ram_bytes_per_face: float
    disk_bytes_per_face: float
    catalog_bytes_per_face: float
    search_p50_ms: float
    search_p99_ms: float
    recall_at_10: float
    mate_at_1: float
    add_1000_s: float
    erase_p50_s: float
    erase_p99_s: float
    check_s: float
    retention_s: float
    queries: int
    cpu: str
    engine_p50_ms: float = float("nan")
    engine_p99_ms: float = float("nan")
    backends: str = "embedded (SQLite + FAISS)"
    #: the first batch of 1,000 after the open (``add_1000_s`` is the second)
    add_1000_first_s: float = float("nan")
    #: seconds per phase of each batch: {"first": {...}, "second": {...}}
    add_phases: dict = field(default_factory=dict)
    #: with ``breakdown``: p50/p99 ms of each step of one search, and the knob sweep
    search_breakdown: dict = field(default_factory=dict)
    search_sweep: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _note(**figures) -> None:
    """A figure as soon as it is measured (stderr), kept if a later step of the phase dies."""
    print("measured: " + ", ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}"
                                   for k, v in figures.items()), file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Where:
    """The backends of the store under test ("" = embedded SQLite and FAISS)."""

    catalog: str = ""
    vectors: str = ""

    @property
    def cluster(self) -> bool:
        return bool(self.catalog or self.vectors)


def _settings(root: Path, models_dir: Path, where: Where = Where()) -> Settings:
    return Settings(data_dir=root / "data", models_dir=models_dir,
                    key_file=root / "keys" / "bench.key", workers=1,
                    catalog=where.catalog, vectors=where.vectors)


def build(root: Path, models_dir: Path, gallery: SyntheticGallery, queries: np.ndarray,
          say=print, where: Where = Where()) -> tuple[np.ndarray, int, float]:
    """Write the gallery into a new store; returns (exact top-k face ids of ``queries``,
    the first face id, seconds)."""
    started = time.perf_counter()
    store = init_store(_settings(root, models_dir, where))
    try:
        store.add_source(SOURCE, location=root, controller="faceledger benchmarks",
                         lawful_basis="legitimate-interests",
                         special_category_condition="archiving-research",
                         purpose="measure the store", retention_days=3650,
                         minors_policy="none-expected")
        source_id = store.catalog.source(SOURCE).id
        run_id = store.catalog.start_run(source_id, store.pack.name)
        truth_s = np.full((queries.shape[0], K), -np.inf, np.float32)
        truth_i = np.full((queries.shape[0], K), -1, np.int64)
        first_id = None
        written = 0
        for batch in gallery.batches():
            ids = _write_faces(store, source_id, run_id, batch.vectors, written)
            first_id = int(ids[0]) if first_id is None else first_id
            sims = queries @ batch.vectors.T
            best = _top_k(sims, K)  # the batch's own top K first: a sort of 2 K, not N
            cs = np.concatenate([truth_s, np.take_along_axis(sims, best, 1)], axis=1)
            ci = np.concatenate([truth_i, ids[best]], axis=1)
            top = np.argsort(-cs, axis=1, kind="stable")[:, :K]
            truth_s = np.take_along_axis(cs, top, 1)
            truth_i = np.take_along_axis(ci, top, 1)
            written += batch.ids.size
            say(f"written {written}/{gallery.n} faces")
        store.catalog.finish_run(run_id, "completed", {"photos": written, "faces": written})
    finally:
        store.close()
    return truth_i, int(first_id or 1), time.perf_counter() - started


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the ``k`` highest scores, best first, ties to the lower
    column (what a stable argsort of the whole row gives, without sorting the row)."""
    if scores.shape[1] <= k:
        return np.argsort(-scores, axis=1, kind="stable")
    part = np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
    top = np.take_along_axis(part, order, 1)
    # a tie with the k-th score outside the k picked: that row is sorted whole
    kth = np.take_along_axis(scores, top[:, -1:], 1)
    for row in np.flatnonzero((scores >= kth).sum(axis=1) > k):
        top[row] = np.argsort(-scores[row], kind="stable")[:k]
    return top


def _write_faces(store, source_id: int, run_id: int, vectors: np.ndarray, offset: int,
                 chunk: int = 20_000) -> np.ndarray:
    """Catalog rows for these vectors, one synthetic photo each, as ingest writes them."""
    catalog, cipher, pack = store.catalog, store.cipher, store.pack.name
    out = []
    now = utc_now()
    for s in range(0, vectors.shape[0], chunk):
        with catalog.write() as conn:
            for j, vec in enumerate(vectors[s:s + chunk]):
                i = offset + s + j
                photo = catalog.insert_photo(
                    conn, source_id, run_id, f"file:///synthetic/{i:09d}.jpg", "ok",
                    sha256=f"{i:064x}", size_bytes=50_000, width=640, height=480, now=now)
                out.append(catalog.insert_face(
                    conn, photo, run_id, [100.0, 100.0, 120.0, 150.0],
                    [[0.0, 0.0]] * 5, 0.9, 0.8, pack, cipher.encrypt_vector(vec), now))
    return np.asarray(out, np.int64)


def _built(root: Path, models_dir: Path, gallery: SyntheticGallery, queries: np.ndarray,
           say, keep: Path | None) -> tuple[np.ndarray, int, float]:
    import shutil

    stamp = f"{gallery.n}-{gallery.seed}-{queries.shape[0]}"
    if keep is not None and (keep / "bench.json").exists():
        meta = json.loads((keep / "bench.json").read_text())
        if meta["stamp"] == stamp:
            say(f"reusing the catalog kept in {keep}")
            (root / "data").mkdir(parents=True)
            for name in ("catalog.db", "audit.db", "privacy.db"):
                if (keep / name).exists():
                    shutil.copy2(keep / name, root / "data" / name)
            shutil.copytree(keep / "keys", root / "keys")
            return np.asarray(meta["truth"], np.int64), int(meta["first_id"]), meta["build_s"]
    truth, first_id, build_s = build(root, models_dir, gallery, queries, say)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for name in ("catalog.db", "audit.db", "privacy.db"):
            if (root / "data" / name).exists():
                shutil.copy2(root / "data" / name, keep / name)
        shutil.copytree(root / "keys", keep / "keys", dirs_exist_ok=True)
        (keep / "bench.json").write_text(json.dumps({
            "stamp": stamp, "truth": truth.tolist(), "first_id": first_id,
            "build_s": build_s}))
    return truth, first_id, build_s


def _wait_for_index(store) -> None:
    """A Milvus collection serves searches before its index is built (brute force on the
    sealed segments): wait for the build, so searches are timed on the index."""
    vectors = store.index_file
    if not hasattr(vectors, "using"):
        return
    from pymilvus import utility

    utility.wait_for_index_building_complete(vectors.physical, using=vectors.using,
                                             timeout=3600)


def _phase_cold(root: str, models_dir: str, where: Where, out) -> None:
    before = _rss_mb()
    t = time.perf_counter()
    store = open_store(_settings(Path(root), Path(models_dir), where))
    _wait_for_index(store)
    seconds = time.perf_counter() - t
    _note(open_cold_s=seconds, cold_rss_mb=_rss_mb())
    out.put({"open_cold_s": seconds, "kind": store.index_file.kind,
             "cold_rss_mb": _rss_mb(), "cold_before_mb": before})
    store.close()


def _phase_warm(root: str, models_dir: str, where: Where, queries: np.ndarray,
                truth: np.ndarray, mates: np.ndarray, new_vectors: np.ndarray,
                breakdown: bool, out) -> None:
    import faiss

    faiss.omp_set_num_threads(1)
    root_p = Path(root)
    before = _rss_mb()
    t = time.perf_counter()
    store = open_store(_settings(root_p, Path(models_dir), where))
    open_s = time.perf_counter() - t
    _wait_for_index(store)
    after_open = _rss_mb()
    n = store.catalog.count_faces(store.pack.name)
    _note(open_warm_s=open_s, rss_after_open_mb=after_open, rss_before_open_mb=before, n=n)
    store.analyzer  # noqa: B018  (the models count in the RSS, as in a server)
    lat, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = store.index_file.search(q[None, :], K)
        lat.append(time.perf_counter() - t)
        found.append(np.pad(ids[0], (0, K - ids.shape[1]), constant_values=-1))
    found_a = np.stack(found)
    recall = _recall(found_a, truth)
    mate1 = float(np.mean(found_a[: mates.size, 0] == mates)) if mates.size else float("nan")
    after_search = _rss_mb()
    _note(search_p50_ms=statistics.median(lat) * 1000,
          search_p99_ms=float(np.percentile(lat, 99)) * 1000, recall_at_10=recall,
          mate_at_1=mate1, rss_after_search_mb=after_search)
    engine_lat = _engine_latencies(store, queries)
    rss = _rss_mb()
    steps, sweep = {}, []
    if breakdown and _is_reranked_ivf(store.index_file):
        steps = search_steps(store.index_file, queries)
        _note(**{f"step_{k}": v for k, v in steps.items()})
        sweep = search_sweep(store.index_file, queries, truth, mates)

    # two batches of 1,000 faces through the ingest write path, each followed by what
    # ingest does: the index brought up to date in memory, then saved
    source_id = store.catalog.source(SOURCE).id
    half = new_vectors.shape[0] // 2
    phases = {}
    for name, offset, batch in (("first", 10**9, new_vectors[:half]),
                                ("second", 10**9 + half, new_vectors[half:])):
        phases[name] = add_batch(store, source_id, batch, offset)
        _note(**{f"add_{name}_{k}": v for k, v in phases[name].items()})
    add_s = phases["second"]["total_s"]

    rng = np.random.default_rng(7)
    erase_ids = rng.choice(np.asarray(store.catalog.face_ids(store.pack.name)), 20, replace=False)
    erase_lat = []
    for fid in erase_ids:
        t = time.perf_counter()
        store.erase_faces([int(fid)], context=CTX)
        erase_lat.append(time.perf_counter() - t)

    _note(erase_p50_s=statistics.median(erase_lat),
          erase_p99_s=float(np.percentile(erase_lat, 99)))
    t = time.perf_counter()
    report = store.check()
    check_s = time.perf_counter() - t
    _note(check_s=check_s, check_ok=report.ok, rss_mb=_rss_mb())
    from faceledger.privacy.retention import run_retention

    t = time.perf_counter()
    run_retention(store)
    retention_s = time.perf_counter() - t
    rss = max(rss, _rss_mb())
    disk = store.index_file.disk_bytes()
    catalog_bytes = sum(p.stat().st_size for p in (root_p / "data").glob("catalog.db*"))
    if where.cluster and hasattr(store.index_file, "drop"):
        store.index_file.drop()  # the run's collection
    store.close()
    out.put({
        "open_warm_s": open_s, "rss_mb": rss, "rss_after_search_mb": after_search,
        "rss_before_open_mb": before,
        "ram_bytes_per_face": (after_open - before) * 1024 * 1024 / max(n, 1),
        "disk_bytes_per_face": disk / max(n, 1),
        "catalog_bytes_per_face": catalog_bytes / max(n, 1),
        "search_p50_ms": statistics.median(lat) * 1000,
        "search_p99_ms": float(np.percentile(lat, 99)) * 1000,
        "engine_p50_ms": statistics.median(engine_lat) * 1000,
        "engine_p99_ms": float(np.percentile(engine_lat, 99)) * 1000,
        "recall_at_10": recall, "mate_at_1": mate1, "add_1000_s": add_s,
        "add_1000_first_s": phases["first"]["total_s"], "add_phases": phases,
        "search_breakdown": steps, "search_sweep": sweep,
        "erase_p50_s": statistics.median(erase_lat),
        "erase_p99_s": float(np.percentile(erase_lat, 99)),
        "check_s": check_s, "check_ok": report.ok, "retention_s": retention_s,
    })


class Clock:
    """Seconds spent in chosen methods of live objects while attached (bench-only
    instrumentation: the methods are wrapped on the instances, the code is not changed)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._wrapped: list[tuple[object, str]] = []

    def watch(self, obj: object, method: str, name: str) -> None:
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - t

        setattr(obj, method, timed)  # an instance attribute: shadows the class's method
        self._wrapped.append((obj, method))

    def close(self) -> None:
        for obj, method in reversed(self._wrapped):
            delattr(obj, method)
        self._wrapped.clear()


def add_batch(store, source_id: int, vectors: np.ndarray, offset: int) -> dict[str, float]:
    """Add ``vectors`` as ingest does (catalog rows, the index's log replay with the vectors
    at hand, a save, compacting when due); seconds in total and per phase."""
    index_file = store.index_file
    run_id = store.catalog.start_run(source_id, store.pack.name)
    clock = Clock()
    clock.watch(index_file.catalog, "log_changes", "log_read")
    clock.watch(index_file.catalog, "embeddings", "vectors_read")
    clock.watch(index_file.catalog, "prune_log", "log_prune")
    clock.watch(index_file.index, "add", "vector_add")
    clock.watch(index_file.files, "write_segment", "segment_write")
    clock.watch(index_file.files, "write_manifest", "manifest_write")
    try:
        t0 = time.perf_counter()
        ids = _write_faces(store, source_id, run_id, vectors, offset)
        t1 = time.perf_counter()
        index_file.sync(dict(zip(ids.tolist(), vectors)))
        t2 = time.perf_counter()
        in_sync = dict(clock.spent)
        index_file.save(compact=index_file.compaction_due())
        t3 = time.perf_counter()
    finally:
        clock.close()
    store.catalog.finish_run(run_id, "completed", {"photos": len(ids), "faces": len(ids)})
    out = {"total_s": t3 - t0, "catalog_write_s": t1 - t0, "replay_s": t2 - t1,
           "save_s": t3 - t2}
    for name, seconds in in_sync.items():
        out[f"replay_{name}_s"] = seconds
    for name, seconds in clock.spent.items():
        if seconds - in_sync.get(name, 0.0) > 0:
            out[f"save_{name}_s"] = seconds - in_sync.get(name, 0.0)
    return out


def _is_reranked_ivf(index_file) -> bool:
    index = getattr(index_file, "index", None)
    return getattr(index, "kind", "") == "ivfpq" and getattr(index, "reranker", None) is not None


def search_steps(index_file, queries: np.ndarray) -> dict[str, float]:
    """One IVF-PQ search at a time, step by step as ``IVFPQIndex._search`` runs them (the
    store's log check, coarse quantizer, list scan, re-rank read, decrypt, compute); p50
    and p99 ms of each step and of their sum, and how many queries gave other ids than
    the store's own search (0 unless the steps drifted from the code)."""
    from faceledger.store.ivf_index import default_nprobe

    ivf = index_file.index
    fa = ivf._index
    nprobe = int(min(ivf.nprobe or default_nprobe(fa.nlist), fa.nlist))
    shortlist = max(K, ivf.rerank)
    names = ("log_check", "coarse", "list_scan", "rerank_read", "rerank_decrypt",
             "rerank_compute")
    spent: dict[str, list[float]] = {n: [] for n in names}
    differ = 0
    for q in queries:
        q1 = np.ascontiguousarray(q[None, :], np.float32)
        t0 = time.perf_counter()
        index_file.sync()
        t1 = time.perf_counter()
        with index_file._lock:
            dq, iq = fa.quantizer.search(q1, nprobe)
            t2 = time.perf_counter()
            fa.nprobe = nprobe
            _, ids = fa.search_preassigned(q1, shortlist, iq, dq)
            t3 = time.perf_counter()
        cand = ids[0][ids[0] >= 0]
        rows = index_file.catalog.embeddings(cand, index_file.pack)
        t4 = time.perf_counter()
        got, vecs = index_file._decode(rows)
        t5 = time.perf_counter()
        exact = vecs @ q1[0]
        top = got[np.argsort(-exact, kind="stable")[:K]]
        t6 = time.perf_counter()
        for name, a, b in zip(names, (t0, t1, t2, t3, t4, t5), (t1, t2, t3, t4, t5, t6)):
            spent[name].append(b - a)
        _, ref = index_file.search(q1, K)
        differ += int(not np.array_equal(ref[0][: top.size], top))
    total = np.sum([spent[n] for n in names], axis=0)
    out: dict[str, float] = {"nprobe": float(nprobe), "nlist": float(fa.nlist),
                             "shortlist": float(shortlist), "differ": float(differ)}
    for name, values in (*spent.items(), ("total", total)):
        out[f"{name}_p50_ms"] = float(np.percentile(values, 50)) * 1000
        out[f"{name}_p99_ms"] = float(np.percentile(values, 99)) * 1000
    return out


#: (fraction of the lists probed, re-rank shortlist, OpenMP threads, FAISS parallel_mode)
SWEEP = (
    (1 / 2, 1024, 1, 0), (3 / 8, 1024, 1, 0), (1 / 4, 1024, 1, 0),
    (1 / 2, 768, 1, 0), (3 / 8, 768, 1, 0),
    (1 / 2, 512, 1, 0), (3 / 8, 512, 1, 0), (1 / 4, 512, 1, 0),
    (1 / 2, 256, 1, 0),
    (1 / 2, 1024, 2, 0), (1 / 2, 1024, 2, 1),
)


def search_sweep(index_file, queries: np.ndarray, truth: np.ndarray, mates: np.ndarray,
                 grid=SWEEP) -> list[dict]:
    """Search p50/p99, recall@10 and the real mate at rank 1 for each knob setting, each
    search as ``IndexFile.search`` runs it (log check, then the index) but on the
    threads the setting names; the index's own settings are put back afterwards."""
    import faiss

    ivf = index_file.index
    fa = ivf._index
    saved = (ivf.nprobe, ivf.rerank, faiss.omp_get_max_threads(), fa.parallel_mode)
    out = []
    try:
        for fraction, rerank, threads, mode in grid:
            ivf.nprobe = max(1, int(round(fa.nlist * fraction)))
            ivf.rerank = rerank
            faiss.omp_set_num_threads(threads)
            fa.parallel_mode = mode
            lat, found = [], []
            for q in queries:
                t = time.perf_counter()
                index_file.sync()
                with index_file._lock:
                    _, ids = ivf.search(q[None, :], K)
                lat.append(time.perf_counter() - t)
                found.append(np.pad(ids[0], (0, K - ids.shape[1]), constant_values=-1))
            found_a = np.stack(found)
            row = {"nprobe": ivf.nprobe, "lists_fraction": fraction, "rerank": rerank,
                   "threads": threads, "parallel_mode": mode,
                   "p50_ms": statistics.median(lat) * 1000,
                   "p99_ms": float(np.percentile(lat, 99)) * 1000,
                   "recall_at_10": _recall(found_a, truth),
                   "mate_at_1": float(np.mean(found_a[: mates.size, 0] == mates))
                   if mates.size else float("nan")}
            _note(**{f"sweep_{k}": v for k, v in row.items()})
            out.append(row)
    finally:
        ivf.nprobe, ivf.rerank = saved[0], saved[1]
        faiss.omp_set_num_threads(saved[2])
        fa.parallel_mode = saved[3]
    return out


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([np.intersect1d(a[a >= 0], e).size / K
                          for a, e in zip(found, truth)]))


def _engine_latencies(store, queries: np.ndarray) -> list[float]:
    """Seconds per search as ``Store.search`` runs it once the probe's face is embedded:
    the vector search, the matches' catalog rows and decisions, the search's audit record."""
    import hashlib

    from faceledger.images.decode import DecodedImage
    from faceledger.search.engine import search_index
    from faceledger.types import DetectedFace, FaceEmbedding

    point = store.operating_point(search=True)
    face = DetectedFace((10.0, 10.0, 100.0, 120.0), ((0.0, 0.0),) * 5, 0.9)
    rgb = np.zeros((1, 1, 3), np.uint8)
    out = []
    for q in queries:
        probe = DecodedImage(rgb, hashlib.sha256(q.tobytes()).hexdigest(), 1, "png")
        t = time.perf_counter()
        results = search_index(store, [FaceEmbedding(face, q, 0.9)], K, point)
        store._record_search(CTX, probe, point, K, results)
        out.append(time.perf_counter() - t)
    return out


def _in_child(target, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    while True:  # a child that dies (a native abort) must not leave the parent waiting
        try:
            result = out.get(timeout=5)
            break
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"benchmark phase {target.__name__} died with exit code "
                                   f"{proc.exitcode}") from None
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"benchmark phase {target.__name__} exited with {proc.exitcode}")
    return result


def run_store_bench(gallery: SyntheticGallery, models_dir: Path, queries_n: int = 500,
                    workdir: Path | None = None, say=print, keep: Path | None = None,
                    where: Where = Where(), breakdown: bool = False) -> StoreBenchReport:
    """With ``keep``, the built catalog is kept in that folder and a later run with the same
    folder starts from a copy of it (the index files are always built afresh; embedded
    stores only)."""
    probes = gallery.probes()
    take = min(queries_n, probes.vectors.shape[0])
    real = int(min(probes.real.sum(), take // 2))
    pick = np.r_[np.arange(real), np.flatnonzero(~probes.real)[: take - real]].astype(int)
    queries = np.ascontiguousarray(probes.vectors[pick], np.float32)
    with tempfile.TemporaryDirectory(prefix="faceledger-store-bench-", dir=workdir) as tmp:
        root = Path(tmp)
        if where.cluster:
            truth, first_id, build_s = build(root, models_dir, gallery, queries, say, where)
        else:
            truth, first_id, build_s = _built(root, models_dir, gallery, queries, say, keep)
        mates = probes.mate[pick[:real]] + first_id  # gallery index -> face id
        say(f"built {gallery.n} faces in {build_s:.0f} s; cold open (builds the index)")
        cold = _in_child(_phase_cold, str(root), str(models_dir), where)
        say(f"cold open {cold['open_cold_s']:.1f} s ({cold['kind']}); warm phase")
        rng = np.random.default_rng(99)
        new = rng.normal(size=(2000, queries.shape[1])).astype(np.float32)
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        warm = _in_child(_phase_warm, str(root), str(models_dir), where, queries, truth,
                         mates, new, breakdown)
    if not warm.pop("check_ok"):
        raise RuntimeError("check found the catalog and the index disagreeing")
    return StoreBenchReport(n=gallery.n, kind=cold["kind"], build_s=build_s,
                            open_cold_s=cold["open_cold_s"], queries=int(take),
                            cpu=cpu_name(), backends=_describe(where), **warm)


def _describe(where: Where) -> str:
    if not where.cluster:
        return "embedded (SQLite + FAISS)"
    from urllib.parse import urlsplit

    parts = [urlsplit(u)._replace(query="").geturl() for u in (where.catalog, where.vectors)]
    return "cluster (" + " + ".join(p for p in parts if p) + ")"


def cluster_where(catalog: str | None, vectors: str | None) -> tuple[Where, Callable[[], None]]:
    """The run's own PostgreSQL schema and Milvus collection under the given servers, and
    a function that drops the schema afterwards. A password in the PostgreSQL URL moves to
    ``PGPASSWORD`` (a store records no credentials); the spawned phases inherit it."""
    import uuid
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    run = "bench_" + uuid.uuid4().hex[:10]
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    pg = ""
    if catalog:
        parts = urlsplit(catalog)
        base = catalog
        if parts.password is not None:
            os.environ["PGPASSWORD"] = parts.password
            parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", "@"))
            base = urlunsplit(parts)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
        pg = urlunsplit(parts._replace(query=urlencode(
            query + [("options", f"-csearch_path={run}")])))

        def cleanup() -> None:
            import psycopg
            from psycopg import sql

            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(run)))
    milvus = ""
    if vectors:
        parts = urlsplit(vectors)
        milvus = urlunsplit(parts._replace(path="/" + run))
    return Where(pg, milvus), cleanup


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def report_json(report: StoreBenchReport) -> str:
    return json.dumps(_rounded(report.as_dict()), indent=2)
