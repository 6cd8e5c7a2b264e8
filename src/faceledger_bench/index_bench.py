"""Vector index benchmark: approximate indexes against exact search, on one machine.

The gallery is synthetic but shaped by real LFW embeddings (see :mod:`.synthetic`), with
real LFW faces enrolled and their other photos as probes. Everything is streamed in
batches: exact ground truth is a running top-k over the batches, so it needs no second
copy of the gallery and works at 10 M faces.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from faceledger.errors import ConfigError
from faceledger.store.hnsw_index import HNSWIndex
from faceledger.store.ivf_index import IVFPQIndex, default_nlist
from faceledger.store.vector_index import FlatIndex, VectorIndex

from .synthetic import SyntheticGallery, similarity_profile, synth_faces
from .vector_file import Float16VectorFile

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IndexFigures:
    kind: str
    params: str
    n: int
    build_seconds: float
    recall_at_1: float  # top-1 id equals the exact top-1 id
    recall_at_10: float  # share of the exact top-10 found in the top-10
    mate_at_1: float  # real LFW probes: the enrolled photo of the same person ranks first
    mate_at_10: float
    p50_ms: float
    p99_ms: float
    queries_per_second: float  # single queries one after another, ``threads`` threads
    ram_bytes_per_face: float
    disk_bytes_per_face: float


@dataclass(frozen=True)
class IndexBenchReport:
    n: int
    dim: int
    queries: int
    real_probes: int
    threads: int
    ground_truth_seconds: float
    exact_mate_at_1: float
    exact_mate_at_10: float
    real_profile: dict[str, float]
    synthetic_profile: dict[str, float]
    results: list[IndexFigures] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    #: --backend milvus: insert rate, server RSS after each kind was loaded, the server
    milvus: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BenchOptions:
    kinds: tuple[str, ...] = ("flat", "hnsw", "ivfpq")
    k: int = 10
    threads: int = 1
    max_flat: int = 2_000_000  # float32 copies: 1 KiB per face
    max_hnsw: int = 2_000_000
    hnsw_m: int = 16
    hnsw_ef_construction: int = 40
    hnsw_ef_search: int = 64
    hnsw_ef_searches: tuple[int, ...] = ()  # () = just hnsw_ef_search
    ivf_nlist: int | None = None
    ivf_nprobe: int | None = None
    ivf_nprobes: tuple[int, ...] = ()  # () = nlist/16, /8, /4, /2
    ivf_m: int = 64
    ivf_bits: int = 4
    ivf_rerank: int = 1024
    ivf_vectors_on_disk: bool = True
    latency_queries: int = 1000
    backend: str = "faiss"  # "milvus": the FAISS kinds and Milvus's, same gallery, same run
    milvus_url: str | None = None
    milvus_kinds: tuple[str, ...] = ("hnsw", "ivfflat", "ivfsq8")
    milvus_pid: int | None = None


class _TopK:
    """Running exact top-k of queries over a streamed gallery."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.q = queries
        self.k = k
        self.sims = np.full((queries.shape[0], k), -np.inf, np.float32)
        self.ids = np.full((queries.shape[0], k), -1, np.int64)

    def update(self, ids: np.ndarray, vectors: np.ndarray, chunk: int = 20000) -> None:
        for s in range(0, ids.size, chunk):
            sims = self.q @ vectors[s:s + chunk].T
            cid = ids[s:s + chunk]
            kk = min(self.k, sims.shape[1])
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            cs = np.concatenate([self.sims, np.take_along_axis(sims, part, 1)], axis=1)
            ci = np.concatenate([self.ids, cid[part]], axis=1)
            order = np.argsort(-cs, axis=1, kind="stable")[:, : self.k]
            self.sims = np.take_along_axis(cs, order, 1)
            self.ids = np.take_along_axis(ci, order, 1)


def _recall(approx: np.ndarray, exact: np.ndarray, k: int) -> tuple[float, float]:
    r1 = float(np.mean(approx[:, 0] == exact[:, 0]))
    hits = [np.intersect1d(a[:k], e[:k]).size for a, e in zip(approx, exact)]
    return r1, float(np.mean(hits) / k)


def _mate(ids: np.ndarray, mate: np.ndarray) -> tuple[float, float]:
    if not mate.size:
        return float("nan"), float("nan")
    return (float(np.mean(ids[:, 0] == mate)),
            float(np.mean((ids[:, :10] == mate[:, None]).any(axis=1))))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_index_bench(gallery: SyntheticGallery, options: BenchOptions = BenchOptions(),
                    workdir: Path | None = None,
                    progress: Progress | None = None) -> IndexBenchReport:
    say = progress or (lambda _msg: None)
    faiss.omp_set_num_threads(options.threads)
    with tempfile.TemporaryDirectory(prefix="faceledger-bench-", dir=workdir) as tmp:
        return _run(gallery, options, Path(tmp), say)


def _run(gallery: SyntheticGallery, opt: BenchOptions, tmp: Path, say: Progress
         ) -> IndexBenchReport:
    n, dim, k = gallery.n, gallery.model.dim, opt.k
    probes = gallery.probes()
    q = probes.vectors
    say(f"{q.shape[0]} queries ({int(probes.real.sum())} real LFW probes)")

    # similarity profiles: real LFW vs synthetic, so a reader can judge the synthesis
    rng = np.random.default_rng(12345)
    real_profile = similarity_profile(gallery.emb.vectors, gallery.emb.person, rng)
    sv, sid, _ = synth_faces(gallery.model, np.random.default_rng(54321), 5000)
    synthetic_profile = similarity_profile(sv, sid, rng)

    indexes: dict[str, VectorIndex] = {}
    files: dict[str, Float16VectorFile] = {}
    skipped: dict[str, str] = {}
    build: dict[str, float] = {}
    for kind in opt.kinds:
        if kind == "flat" and n > opt.max_flat:
            skipped[kind] = f"n > max_flat={opt.max_flat} (1 KiB per face in RAM)"
        elif kind == "hnsw" and n > opt.max_hnsw:
            skipped[kind] = f"n > max_hnsw={opt.max_hnsw} (~1.2 KiB per face in RAM)"
        elif kind == "flat":
            indexes[kind] = FlatIndex(dim)
        elif kind == "hnsw":
            indexes[kind] = HNSWIndex(dim, m=opt.hnsw_m, ef_construction=opt.hnsw_ef_construction,
                                      ef_search=opt.hnsw_ef_search)
        elif kind == "ivfpq":
            idx = IVFPQIndex(dim, m=opt.ivf_m, bits=opt.ivf_bits,
                             nlist=opt.ivf_nlist or default_nlist(n),
                             rerank=opt.ivf_rerank, expected_n=n)
            t0 = time.perf_counter()
            train_n = int(min(max(64 * idx.nlist, 20000), 300_000))
            sample, _, _ = synth_faces(gallery.model, np.random.default_rng([gallery.seed, 7]),
                                       train_n // 2)
            idx.train(sample[:train_n])
            if opt.ivf_vectors_on_disk:  # codes-only RAM: re-rank from a float16 file
                files[kind] = Float16VectorFile(tmp / "ivfpq-vectors.npy", dim, capacity=n)
                idx.keep_vectors = False
                idx.reranker = files[kind].reranker
            build[kind] = time.perf_counter() - t0
            say(f"ivfpq trained: nlist={idx.nlist} on {train_n} in {build[kind]:.1f}s")
            indexes[kind] = idx
        build.setdefault(kind, 0.0)

    milvus = None
    if opt.backend == "milvus":
        from .milvus_bench import MilvusGallery

        if not opt.milvus_url:
            raise ConfigError("--backend milvus needs --milvus-url (or FACELEDGER_MILVUS_URL)")
        milvus = MilvusGallery(opt.milvus_url, dim, opt.milvus_pid)
    try:
        return _run_all(gallery, opt, tmp, say, n, dim, k, probes, q, real_profile,
                        synthetic_profile, indexes, files, skipped, build, milvus)
    finally:
        if milvus is not None:
            milvus.drop()


def _run_all(gallery, opt, tmp, say, n, dim, k, probes, q, real_profile, synthetic_profile,
             indexes, files, skipped, build, milvus) -> IndexBenchReport:
    truth = _TopK(q, k)
    t_truth = 0.0
    added = 0
    for batch in gallery.batches():
        t0 = time.perf_counter()
        truth.update(batch.ids, batch.vectors)
        t_truth += time.perf_counter() - t0
        if milvus is not None:
            milvus.insert(batch.ids, np.ascontiguousarray(batch.vectors, np.float32))
            build["milvus-insert"] = milvus.insert_seconds
        for kind, idx in indexes.items():
            t0 = time.perf_counter()
            idx.add(batch.ids, batch.vectors)
            if kind in files:
                files[kind].put(batch.ids, batch.vectors)
            build[kind] += time.perf_counter() - t0
        added += batch.ids.size
        say(f"added {added}/{n} " + " ".join(f"{kk}={v:.0f}s" for kk, v in build.items()))

    exact_m1, exact_m10 = _mate(truth.ids[probes.real], probes.mate[probes.real])
    results = []
    for kind, idx in indexes.items():
        path = tmp / f"{kind}.index"
        idx.save(path)
        disk = path.stat().st_size
        if kind in files:
            files[kind].flush()
            disk += files[kind].path.stat().st_size
        ram = idx.memory_bytes()
        settings: list[int | None] = [None]
        if isinstance(idx, HNSWIndex) and opt.hnsw_ef_searches:
            settings = list(opt.hnsw_ef_searches)
        if isinstance(idx, IVFPQIndex):
            nlist = int(idx.nlist or 1)
            settings = list(opt.ivf_nprobes) or sorted(
                {max(1, nlist // d) for d in (16, 8, 4, 2)})
        for nprobe in settings:
            if nprobe is not None and isinstance(idx, IVFPQIndex):
                idx.nprobe = nprobe
            if nprobe is not None and isinstance(idx, HNSWIndex):
                idx.ef_search = nprobe
            fig = _measure(idx, kind, q, probes, truth, k, opt, n, build[kind], ram, disk)
            say(f"{kind}: {fig}")
            results.append(fig)
    milvus_facts: dict = {}
    if milvus is not None:
        results += _measure_milvus(milvus, q, probes, truth, k, opt, n, dim, milvus_facts, say)
    return IndexBenchReport(n, dim, int(q.shape[0]), int(probes.real.sum()), opt.threads,
                            round(t_truth, 2), round(exact_m1, 4), round(exact_m10, 4),
                            real_profile, synthetic_profile, results, skipped,
                            round(_peak_rss_mb(), 1), milvus_facts)


def _measure_milvus(milvus, q, probes, truth: _TopK, k: int, opt: BenchOptions, n: int,
                    dim: int, facts: dict, say: Progress) -> list[IndexFigures]:
    from .milvus_bench import default_settings

    milvus.flush()
    facts["insert_seconds"] = round(milvus.insert_seconds, 2)
    facts["insert_rows_per_second"] = round(milvus.rows / max(milvus.insert_seconds, 1e-9), 1)
    facts["server_pid"] = milvus.pid
    facts["server_rss_mb_after_insert"] = round(milvus.rss_mb(), 1)
    facts["server_rss_mb_loaded"] = {}
    say(f"milvus: {milvus.rows} rows inserted and flushed in {milvus.insert_seconds:.1f}s")
    out = []
    seen_types: set[str] = set()
    fake = 10**15  # ids deleted to time the first search after an erasure: not in the gallery
    for setting, build_s in milvus.settings_runs(default_settings(opt.milvus_kinds, n, dim)):
        ids = milvus.search(q, k, setting)
        r1, r10 = _recall(ids, truth.ids, k)
        m1, m10 = _mate(ids[probes.real], probes.mate[probes.real])
        key = f"{setting.kind} {setting.label}"
        nq = min(opt.latency_queries, q.shape[0], 500)
        lats = {}
        # the store's read (guarantee timestamp) for every setting; strong (each waits for
        # the server's next time tick) and bounded once per index type, fewer queries
        modes = ["guarantee"] if setting.index_type in seen_types else [
            "guarantee", "Bounded", "Strong"]
        for consistency in modes:
            lat = []
            for i in range(nq if consistency != "Strong" else min(nq, 100)):  # 200 ms each
                t0 = time.perf_counter()
                milvus.search_one(q[i:i + 1], k, setting, consistency)
                lat.append(time.perf_counter() - t0)
            lats[consistency] = np.array(lat) * 1000
        if setting.index_type not in seen_types:
            after = []
            for i in range(30):
                fake += 1
                after.append(milvus.search_after_erasure(q[i:i + 1], k, setting, fake))
            lats["after-erasure"] = np.array(after) * 1000
        seen_types.add(setting.index_type)
        for mode, lat_m in lats.items():
            if mode != "guarantee":
                facts.setdefault(f"{mode.lower()}_p50_p99_ms", {})[key] = [
                    round(float(np.percentile(lat_m, 50)), 3),
                    round(float(np.percentile(lat_m, 99)), 3)]
        lat_a = lats["guarantee"]
        rss = milvus.rss_mb()
        facts["server_rss_mb_loaded"][key] = round(rss, 1)
        fig = IndexFigures(
            f"milvus-{setting.kind}", setting.label, n, round(build_s, 2), round(r1, 4),
            round(r10, 4), round(m1, 4), round(m10, 4),
            round(float(np.percentile(lat_a, 50)), 3), round(float(np.percentile(lat_a, 99)), 3),
            round(float(lat_a.size / (lat_a.sum() / 1000)), 1), round(rss * 1048576 / n, 1),
            float("nan"))
        say(f"milvus: {fig} " + " ".join(
            f"{m}={np.percentile(v, 50):.1f}/{np.percentile(v, 99):.1f}ms"
            for m, v in lats.items()))
        out.append(fig)
    return out


def _measure(idx: VectorIndex, kind: str, q: np.ndarray, probes, truth: _TopK, k: int,
             opt: BenchOptions, n: int, build_s: float, ram: int, disk: int) -> IndexFigures:
    _, ids = idx.search(q, k)  # one batch, for recall
    r1, r10 = _recall(ids, truth.ids, k)
    m1, m10 = _mate(ids[probes.real], probes.mate[probes.real])
    lat = []
    nq = min(opt.latency_queries, q.shape[0])
    for i in range(nq):  # single queries, one after another
        t0 = time.perf_counter()
        idx.search(q[i:i + 1], k)
        lat.append(time.perf_counter() - t0)
    lat_a = np.array(lat) * 1000
    return IndexFigures(kind, _describe(idx), n, round(build_s, 2), round(r1, 4), round(r10, 4),
                        round(m1, 4), round(m10, 4), round(float(np.percentile(lat_a, 50)), 3),
                        round(float(np.percentile(lat_a, 99)), 3),
                        round(float(nq / (lat_a.sum() / 1000)), 1), round(ram / n, 1),
                        round(disk / n, 1))


def _describe(idx: VectorIndex) -> str:
    if isinstance(idx, IVFPQIndex):
        where = ("disk" if idx.reranker is not None
                 else ("ram" if idx.keep_vectors else "none"))
        nprobe = idx.nprobe or (idx._index.nprobe if idx._index is not None else None)
        return (f"nlist={idx.nlist} nprobe={nprobe} pq={idx.m}x{idx.bits} rerank={idx.rerank} "
                f"fp16-from-{where}")
    if isinstance(idx, HNSWIndex):
        return f"M={idx.m} efC={idx.ef_construction} efS={idx.ef_search}"
    return "exact"
