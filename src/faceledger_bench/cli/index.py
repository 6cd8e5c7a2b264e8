"""``faceledger bench index``: approximate vector indexes against exact search."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from faceledger.config import default_datasets_dir, default_models_dir
from faceledger.errors import FaceLedgerError

from .group import bench


@bench.command("index")
@click.option("--n", "n", type=int, default=100_000, show_default=True,
              help="Faces in the gallery (real LFW faces + synthetic ones shaped like them).")
@click.option("--kinds", default="flat,hnsw,ivfpq", show_default=True,
              help="Comma-separated index kinds to measure side by side.")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path), default=None,
              help="LFW folder (default: <shared datasets>/lfw); used only when the "
                   "embedding cache is absent.")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="LFW embedding cache (default ~/.cache/faceledger/lfw-embeddings.npz).")
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=None,
              help="Model files folder (default: the shared models folder).")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--nlist", type=int, default=None, help="IVF lists (default ~4 sqrt(n)).")
@click.option("--nprobe", "nprobes", default="",
              help="Comma-separated IVF nprobe values to sweep (default nlist/16,/8,/4,/2).")
@click.option("--rerank", type=int, default=1024, show_default=True,
              help="IVF shortlist re-ranked exactly from float16 vectors.")
@click.option("--ef-search", "ef_searches", default="64,128,256", show_default=True,
              help="Comma-separated HNSW efSearch values to sweep.")
@click.option("--hnsw-m", type=int, default=16, show_default=True, help="HNSW links per node.")
@click.option("--ef-construction", type=int, default=40, show_default=True,
              help="HNSW efConstruction (graph quality against build time).")
@click.option("--max-flat", type=int, default=2_000_000, show_default=True,
              help="Skip the exact flat index above this many faces (1 KiB per face).")
@click.option("--max-hnsw", type=int, default=2_000_000, show_default=True)
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Where index files and the float16 vector file go (a temporary folder "
                   "inside it, removed afterwards). Needs ~600 bytes per face.")
@click.option("--backend", type=click.Choice(["faiss", "milvus"]), default="faiss",
              show_default=True,
              help="milvus: also build Milvus indexes on the same gallery in the same run "
                   "(server from scripts/services.sh).")
@click.option("--milvus-url", envvar="FACELEDGER_MILVUS_URL", default=None,
              help="milvus://host:port/collection (default $FACELEDGER_MILVUS_URL).")
@click.option("--milvus-kinds", default="hnsw,ivfflat,ivfsq8", show_default=True,
              help="Comma-separated Milvus index kinds (hnsw, ivfflat, ivfsq8, ivfpq, flat); "
                   "IVF nlist is 4 sqrt(rows per sealed segment).")
@click.option("--milvus-pid", type=int, default=None,
              help="The Milvus server's PID, for its RSS (default: the one services.sh "
                   "recorded).")
@click.option("--latency-queries", type=int, default=1000, show_default=True,
              help="Single queries timed per setting (Milvus: at most 500, strong 100).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_index(
    n: int,
    kinds: str,
    lfw_dir: Path | None,
    cache: Path | None,
    models_dir: Path | None,
    threads: int,
    nlist: int | None,
    nprobes: str,
    rerank: int,
    ef_searches: str,
    hnsw_m: int,
    ef_construction: int,
    max_flat: int,
    max_hnsw: int,
    workdir: Path | None,
    backend: str,
    milvus_url: str | None,
    milvus_kinds: str,
    milvus_pid: int | None,
    latency_queries: int,
    seed: int,
    as_json: bool,
) -> None:
    """Build a gallery of N embeddings and compare index kinds with exact search.

    Reports recall@1 and recall@10 against exact search, whether real LFW probes still
    find their enrolled mate, p50/p99 single-query latency, queries/s, build time, and
    bytes per face in RAM and on disk.

    Example: faceledger bench index --n 100000 --json

    Example: faceledger bench index --n 100000 --backend milvus
    """
    from faceledger_bench.index_bench import BenchOptions, run_index_bench
    from faceledger_bench.synthetic import SyntheticGallery, fit_gallery_model, load_or_compute_lfw

    def say(msg: str) -> None:
        click.echo(msg, err=True)

    try:
        emb = load_or_compute_lfw(
            lfw_dir or default_datasets_dir() / "lfw",
            models_dir or default_models_dir(),
            cache=cache,
            progress=lambda i, total: say(f"embedding LFW {i}/{total}") if i % 1000 == 0 else None,
        )
        gallery = SyntheticGallery(fit_gallery_model(emb), emb, n, seed=seed)
        options = BenchOptions(
            kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
            threads=threads,
            ivf_nlist=nlist,
            ivf_nprobes=tuple(int(p) for p in nprobes.split(",") if p.strip()),
            ivf_rerank=rerank,
            hnsw_m=hnsw_m,
            hnsw_ef_construction=ef_construction,
            hnsw_ef_searches=tuple(int(e) for e in ef_searches.split(",") if e.strip()),
            max_flat=max_flat,
            max_hnsw=max_hnsw,
            backend=backend,
            milvus_url=milvus_url,
            milvus_kinds=tuple(k.strip() for k in milvus_kinds.split(",") if k.strip()),
            milvus_pid=milvus_pid,
            latency_queries=latency_queries,
        )
        report = run_index_bench(gallery, options, workdir=workdir, progress=say)
    except FaceLedgerError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        json.dump(report.as_dict(), sys.stdout, indent=2)
        click.echo()
        return
    click.echo(
        f"gallery {report.n} faces, {report.queries} queries "
        f"({report.real_probes} real LFW probes), {report.threads} thread(s); "
        f"exact finds the real mate at rank 1 for {report.exact_mate_at_1:.3f}"
    )
    head = (
        f"{'kind':13} {'params':45} {'R@1':>6} {'R@10':>6} {'mate@1':>6} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'q/s':>7} {'build s':>8} {'RAM B/f':>8} {'disk B/f':>8}"
    )
    click.echo(head)
    for r in report.results:
        click.echo(
            f"{r.kind:13} {r.params:45} {r.recall_at_1:6.3f} {r.recall_at_10:6.3f} "
            f"{r.mate_at_1:6.3f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} "
            f"{r.queries_per_second:7.0f} {r.build_seconds:8.1f} "
            f"{r.ram_bytes_per_face:8.0f} {r.disk_bytes_per_face:8.0f}"
        )
    if report.milvus:
        m = report.milvus
        click.echo(f"milvus: insert {m['insert_rows_per_second']:.0f} rows/s "
                   f"({m['insert_seconds']:.1f}s with flush); server RSS "
                   f"{m['server_rss_mb_after_insert']:.0f} MB after insert; loaded: "
                   + ", ".join(f"{kk}: {v:.0f} MB"
                               for kk, v in m["server_rss_mb_loaded"].items()))
    for kind, why in report.skipped.items():
        click.echo(f"{kind}: skipped, {why}")
