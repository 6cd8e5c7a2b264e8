"""``faceledger bench ingest``: ingest throughput and search latency on LFW."""

from __future__ import annotations

from pathlib import Path

import click

from faceledger.cli.common import echo_json, handle_errors, json_option, settings_from

from .group import bench


@bench.command("ingest")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path), default=None,
              help="LFW folder (default ../shared/datasets/lfw).")
@click.option("--n", "n", type=int, default=1000, show_default=True, help="Photos to ingest.")
@click.option("--queries", type=int, default=100, show_default=True)
@json_option
@click.pass_context
@handle_errors
def bench_ingest(ctx, lfw_dir, n, queries, as_json) -> None:
    """Photos/s and faces/s with 1 and 2 workers, then search latency at that gallery size.

    Example: faceledger bench ingest --n 1000"""
    from faceledger.config import default_datasets_dir
    from faceledger_bench.ingest_bench import run_ingest_bench

    settings = settings_from(ctx)
    lfw = lfw_dir or default_datasets_dir() / "lfw"
    result = run_ingest_bench(lfw, settings.models_dir, n=n, queries=queries)
    if as_json:
        echo_json(result.as_dict())
        return
    for r in result.runs:
        click.echo(f"ingest, {r.workers} worker(s): {r.photos} photos, {r.faces} faces in "
                   f"{r.seconds:.1f} s = {r.photos_per_second:.1f} photos/s, "
                   f"{r.faces_per_second:.1f} faces/s")
    if len(result.runs) == 2:
        click.echo(f"speed-up {result.runs[0].seconds / result.runs[1].seconds:.2f}x")
    click.echo(f"search over {result.gallery_faces} faces, {result.search_queries} probes: "
               f"p50 {result.search_p50_ms} ms, p99 {result.search_p99_ms} ms end to end "
               f"(vector search alone p50 {result.index_p50_ms} ms)")
