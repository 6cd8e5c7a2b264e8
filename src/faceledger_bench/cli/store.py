"""``faceledger bench store``: the real store (catalog, segments, audit) at N faces."""

from __future__ import annotations

from pathlib import Path

import click

from faceledger.config import default_datasets_dir, default_models_dir
from faceledger.errors import FaceLedgerError

from .group import bench


@bench.command("store")
@click.option("--n", "n", type=int, default=100_000, show_default=True,
              help="Faces in the store (real LFW faces + synthetic ones shaped like them).")
@click.option("--queries", type=int, default=500, show_default=True,
              help="Searches timed (half real LFW mated probes, half synthetic).")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path), default=None,
              help="LFW folder (default: <shared datasets>/lfw); used only when the "
                   "embedding cache is absent.")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="LFW embedding cache (default ~/.cache/faceledger/lfw-embeddings.npz).")
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=None,
              help="Model files folder (default: the shared models folder).")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Where the throw-away store goes (~1.3 KB per face).")
@click.option("--keep", type=click.Path(path_type=Path), default=None,
              help="Keep the built catalog here and reuse it in a later run with the same "
                   "--n (the index is always built afresh): for the 10 M run.")
@click.option("--catalog", default=None,
              help="A cluster store's catalog: postgresql://user[:password]@host:port/db "
                   "(the run gets a schema of its own, dropped afterwards; a password moves "
                   "to PGPASSWORD). Default: embedded SQLite.")
@click.option("--vectors", default=None,
              help="A cluster store's vectors: milvus://host:port (a collection of the "
                   "run's own, dropped afterwards). Default: embedded FAISS.")
@click.option("--beside-embedded", is_flag=True,
              help="With --catalog/--vectors: measure the embedded store on the same gallery "
                   "first, in the same run, and print both with their ratios.")
@click.option("--breakdown", is_flag=True,
              help="Also time an IVF-PQ search step by step (log check, coarse quantizer, "
                   "list scan, re-rank read, decrypt, compute) and sweep the search knobs "
                   "(lists probed, re-rank shortlist, threads) with recall@10 for each.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_store(n: int, queries: int, lfw_dir: Path | None, cache: Path | None,
                models_dir: Path | None, workdir: Path | None, keep: Path | None,
                catalog: str | None, vectors: str | None, beside_embedded: bool,
                breakdown: bool, seed: int, as_json: bool) -> None:
    """Build a store of N faces through the ingest write path and measure it.

    Cold and warm open, RSS (models loaded), RAM and disk bytes per face, search p50/p99
    and recall@10 against exact search, adding 1,000 faces, one-face erasure p50/p99 over
    20 erasures, check, and a retention run; each phase in a fresh process.

    Example: faceledger bench store --n 1000000 --json

    Example: faceledger bench store --n 10000000 --queries 300 --breakdown --json

    Example: faceledger bench store --n 100000 --catalog "$FACELEDGER_PG_URL"
    --vectors "$FACELEDGER_MILVUS_URL" --beside-embedded --json
    """
    import json

    from faceledger_bench.store_bench import (
        Where,
        cluster_where,
        report_json,
        run_store_bench,
    )
    from faceledger_bench.synthetic import SyntheticGallery, fit_gallery_model, load_or_compute_lfw

    def say(msg: str) -> None:
        click.echo(msg, err=True)

    models = models_dir or default_models_dir()
    try:
        emb = load_or_compute_lfw(lfw_dir or default_datasets_dir() / "lfw", models, cache=cache)
        gallery = SyntheticGallery(fit_gallery_model(emb), emb, n, seed=seed)
        if not (catalog or vectors):
            report = run_store_bench(gallery, models, queries, workdir=workdir, say=say,
                                     keep=keep, breakdown=breakdown)
        else:
            where, cleanup = cluster_where(catalog, vectors)
            reports = {}
            if beside_embedded:
                say("the embedded store first")
                reports["embedded"] = run_store_bench(gallery, models, queries,
                                                      workdir=workdir, say=say, where=Where())
            try:
                say(f"the cluster store ({where.catalog or 'sqlite'} + "
                    f"{where.vectors or 'faiss'})")
                reports["cluster"] = run_store_bench(gallery, models, queries,
                                                     workdir=workdir, say=say, where=where)
            finally:
                cleanup()
    except FaceLedgerError as exc:
        raise click.ClickException(exc.message) from exc
    if not (catalog or vectors):
        if as_json:
            click.echo(report_json(report))
            return
        for key, value in report.as_dict().items():
            click.echo(f"{key}: {round(value, 4) if isinstance(value, float) else value}")
        return
    out = {name: json.loads(report_json(r)) for name, r in reports.items()}
    if "embedded" in out:
        e, c = out["embedded"], out["cluster"]
        out["cluster_over_embedded"] = {
            key: round(c[key] / e[key], 2) for key in (
                "search_p50_ms", "search_p99_ms", "engine_p50_ms", "engine_p99_ms",
                "open_cold_s", "open_warm_s", "add_1000_s", "erase_p50_s", "check_s",
                "build_s") if isinstance(e.get(key), (int, float)) and e[key]}
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for name, values in out.items():
        click.echo(f"[{name}]")
        for key, value in values.items():
            click.echo(f"  {key}: {value}")
