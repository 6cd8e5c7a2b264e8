"""``faceledger bench ingest``: ingest throughput against the model-bound limit and peers."""

from __future__ import annotations

from pathlib import Path

import click

from faceledger.cli.common import echo_json, handle_errors, json_option, settings_from

from .group import bench


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


@bench.command("ingest")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path), default=None,
              help="LFW folder (default ../shared/datasets/lfw).")
@click.option("--n", "n", type=int, default=400, show_default=True,
              help="Photos to ingest, spread over LFW.")
@click.option("--workers", "workers", default="1,2", show_default=True,
              help="Lane counts to run (threads of one process), comma-separated.")
@click.option("--process-workers", "process_workers", default="", show_default=True,
              help="Worker-process counts to run as well (each loads its own models).")
@click.option("--ray-workers", "ray_workers", default="1,2", show_default=True,
              help="Ray actor counts to run on a local Ray instance ('' for none).")
@click.option("--busy", type=int, default=None,
              help="Busy-loop processes for the busy-machine runs (default: cores - 1; 0: none).")
@click.option("--repeat", "repeats", type=int, default=3, show_default=True,
              help="Rounds of the models-alone and lane runs; figures are their medians.")
@click.option("--peers/--no-peers", default=True, show_default=True,
              help="Also time face_recognition on the same photos (the peers extra).")
@click.option("--queries", type=int, default=20, show_default=True,
              help="Search probes afterwards (0: no search timing).")
@json_option
@click.pass_context
@handle_errors
def bench_ingest(ctx, lfw_dir, n, workers, process_workers, ray_workers, busy, repeats,
                 peers, queries, as_json) -> None:
    """Photos/s and faces/s against the models' own limit and face_recognition, one run.

    Example: faceledger bench ingest --n 400 --json"""
    from faceledger.config import default_datasets_dir
    from faceledger_bench.ingest_bench import run_ingest_bench

    settings = settings_from(ctx)
    lfw = lfw_dir or default_datasets_dir() / "lfw"
    result = run_ingest_bench(lfw, settings.models_dir, n=n, workers=_ints(workers),
                              queries=queries, ray_workers=_ints(ray_workers), peers=peers,
                              process_workers=_ints(process_workers), busy=busy,
                              repeats=repeats)
    if as_json:
        echo_json(result.as_dict())
        return
    d = result.as_dict()
    click.echo(f"{result.photos} LFW photos, {result.cores} cores, load average "
               f"{result.load_before} before, {result.load_after} after")
    click.echo(f"machine: {result.cpu or 'CPU unknown'}; OpenVINO infers in "
               f"{result.inference_precision or '(OpenVINO absent)'} by default")
    click.echo(f"{result.repeats} round(s); the limit and the ratios are of the medians over "
               f"them; models alone per round: {result.model_cpu_seconds_each} s CPU")
    for gone in result.discarded_rounds:
        click.echo(f"round {gone['round'] + 1} measured again: the hypervisor took "
                   f"{gone['steal_cores']} cores meanwhile")
    click.echo(f"model-bound limit: models alone {result.model_cpu_seconds:.1f} s CPU "
               f"({d['model_cpu_ms_per_photo']} ms per photo) = "
               f"{d['model_bound_photos_per_second']} photos/s over {result.cores} cores")
    if result.models_all_cores_photos_per_second:
        click.echo(f"models alone on all {result.cores} cores at once: "
                   f"{result.models_all_cores_photos_per_second} photos/s (per round "
                   f"{result.models_all_cores_each}) = {d['models_all_cores_vs_model_bound']:.2f}"
                   f" of the model-bound limit; steal meanwhile "
                   f"{result.models_all_cores_steal_cores} cores")
    for r in result.runs:
        who = "default worker count" if r.mode == "auto" else f"{r.mode} {r.workers} worker(s)"
        if r.busy:
            who += f", {r.busy} core(s) kept busy"
        if r.lanes:
            who += f", {r.lanes} lane(s) at work on average"
        if result.repeats > 1:
            who = f"round {r.repeat + 1}, " + who
        click.echo(f"ingest, {who}: {r.photos} photos, {r.faces} faces"
                   f" in {r.seconds:.1f} s = {r.photos_per_second:.1f} photos/s, "
                   f"{r.faces_per_second:.1f} faces/s; CPU {r.cpu_seconds:.1f} s "
                   f"({r.cpu_ms_per_photo:.1f} ms per photo, {r.cores_used:.2f} cores), others' CPU"
                   f" meanwhile {r.others_cpu_seconds:.1f} s (steal {r.steal_cores:.2f} cores),"
                   f" peak RSS {r.peak_rss_mb} MB")
    if result.repeats > 1:
        kinds = dict.fromkeys((r.mode, r.workers, bool(r.busy)) for r in result.runs)
        medians = []
        for mode, workers, busy in kinds:
            r = result.run(mode, workers, busy)
            if r is None:  # pragma: no cover - every kind has a run
                continue
            name = "default" if mode == "auto" else f"{mode} {workers}"
            medians.append(f"{name}{' busy' if busy else ''} {r.photos_per_second:.1f}")
        click.echo("median photos/s: " + ", ".join(medians))
    click.echo(f"model-bound ratio {d['model_bound_ratio']:.2f} (median round; per round, "
               f"against the models alone just before and after: "
               f"{result.model_bound_ratio_each}); CPU efficiency (models' CPU / ingest CPU) "
               f"{d['cpu_efficiency']:.2f}")
    if d["vs_models_all_cores"]:
        click.echo(f"photos/s {d['photos_per_second']} = {d['vs_models_all_cores']:.2f} of the "
                   "models alone on all cores")
    if d["two_workers_vs_one"]:
        click.echo(f"two workers vs one: {d['two_workers_vs_one']:.2f}x")
    if d["default_vs_two_workers"]:
        click.echo(f"default worker count vs two workers: {d['default_vs_two_workers']:.2f}x")
    if d["busy_default_vs_one"]:
        click.echo(f"busy machine: two workers vs one {d['busy_two_workers_vs_one']:.2f}x, "
                   f"default worker count vs one {d['busy_default_vs_one']:.2f}x")
    if result.face_recognition_photos_per_second:
        click.echo(f"face_recognition: {result.face_recognition_photos_per_second} photos/s "
                   f"({result.face_recognition_cpu_ms_per_photo} ms CPU per photo, "
                   f"{result.face_recognition_faces} faces); faceledger "
                   f"{d['vs_face_recognition']}x")
    if result.search_queries:
        click.echo(f"search over {result.gallery_faces} faces, {result.search_queries} probes: "
                   f"p50 {result.search_p50_ms} ms, p99 {result.search_p99_ms} ms end to end "
                   f"(vector search alone p50 {result.index_p50_ms} ms)")
    for note in result.notes:
        click.echo(f"note: {note}")
