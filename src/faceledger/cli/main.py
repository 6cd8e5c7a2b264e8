"""The ``faceledger`` command line: a thin layer over the library.

Each command builds settings, opens the store, calls one library function and prints
its result; library errors become one line on stderr (see ``common.handle_errors``).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import click

from ..privacy.sources import ART9_CONDITIONS, LAWFUL_BASES, MINORS_POLICIES, parse_retention
from .bench_cmd import bench
from .common import (
    accurate_option,
    echo_json,
    far_option,
    handle_errors,
    json_option,
    open_from,
    purpose_options,
    settings_from,
)


@click.group()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Data directory of the store (default ./data or FACELEDGER_DATA_DIR).")
@click.option("--models-dir", type=click.Path(path_type=Path), default=None,
              help="Where model files are (default ../shared/models when it exists, or "
              "FACELEDGER_MODELS_DIR).")
@click.option("--accept-research-licence", is_flag=True, default=None,
              help="Acknowledge the non-commercial research licence of a research pack.")
@click.pass_context
def main(ctx: click.Context, data_dir, models_dir, accept_research_licence) -> None:
    """faceledger: face search over lawfully held photo collections.

    \b
    Example:
      faceledger init ./data
      faceledger source add events --path /photos/events --controller "Acme Photo Ltd" \\
          --basis consent --art9 explicit-consent --purpose "attendees find their photos" \\
          --retention 365d --minors-policy none-expected
      faceledger ingest events
      faceledger search probe.jpg --purpose "find my photos" --case REQ-1
    """
    os.umask(0o077)  # everything this process writes is its owner's only (stores, copies, keys)
    ctx.obj = {
        "data_dir": data_dir,
        "models_dir": models_dir,
        "accept_research_licence": accept_research_licence,
    }


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path), required=False)
@click.option("--pack", default=None, help="Model pack for this store (default yunet-omz0095).")
@click.option("--catalog", default=None, metavar="URL",
              help="Catalog and audit log: sqlite (default, in DATA_DIR) or postgresql://host/db.")
@click.option("--vectors", default=None, metavar="URL",
              help="Vector index: faiss (default, in DATA_DIR) or milvus://host:port/collection.")
@click.pass_context
@handle_errors
def init(ctx: click.Context, data_dir: Path | None, pack: str | None, catalog: str | None,
         vectors: str | None) -> None:
    """Create a store.  Example: faceledger init ./data"""
    from ..ledger import init_store

    settings = settings_from(ctx, data_dir=data_dir, pack=pack, catalog=catalog,
                             vectors=vectors)
    store = init_store(settings)
    click.echo(f"store ready in {settings.data_dir} (pack {store.pack.name}, id {store.store_id})")
    store.close()


@main.group()
def source() -> None:
    """Register and list sources (each with its lawful basis)."""


@source.command("add")
@click.argument("name")
@click.option(
    "--path",
    "location",
    default=None,
    help="Folder; zip file with --kind archive; file listing photo URIs with --kind urls; "
    "s3://bucket/prefix with --kind s3.",
)
@click.option(
    "--kind", type=click.Choice(["folder", "archive", "urls", "s3"]), default="folder",
    show_default=True,
)
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="With --kind urls: the directory every listed file:// URI is inside.",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="With --kind urls (repeatable): a web host its http(s) URLs are fetched from, "
    "https://host[:port] or http://host:port; nothing else is fetched.",
)
@click.option("--s3", "s3_location", default=None,
              help="Shorthand for --kind s3 --path s3://bucket/prefix.")
@click.option("--endpoint", default=None,
              help="With --kind s3: the S3 endpoint URL (SeaweedFS, MinIO; none for AWS).")
@click.option("--profile", default=None,
              help="With --kind s3: the AWS credentials profile to read with (credentials are "
              "never stored; without it, the AWS_* environment variables are used).")
@click.option("--controller", required=True, help="Who is the controller of these photos.")
@click.option(
    "--basis",
    required=True,
    type=click.Choice(list(LAWFUL_BASES)),
    help="GDPR Art. 6 lawful basis.",
)
@click.option(
    "--art9",
    "art9",
    required=True,
    type=click.Choice(list(ART9_CONDITIONS)),
    help="GDPR Art. 9(2) condition for processing biometric data.",
)
@click.option("--purpose", required=True, help="Purpose of the processing.")
@click.option("--retention", required=True, help="How long photos are kept: 365d, 52w, 12m, 1y.")
@click.option(
    "--minors-policy",
    required=True,
    type=click.Choice(list(MINORS_POLICIES)),
    help="How the controller handles photos of minors.",
)
@click.option(
    "--keep-photos-without-faces",
    is_flag=True,
    help="Keep a photo's record when erasure leaves it without faces.",
)
@click.pass_context
@handle_errors
def source_add(
    ctx,
    name,
    location,
    kind,
    root,
    hosts,
    s3_location,
    endpoint,
    profile,
    controller,
    basis,
    art9,
    purpose,
    retention,
    minors_policy,
    keep_photos_without_faces,
) -> None:
    """Register a source.

    \b
    Example:
      faceledger source add events-2026 --path /photos/events --controller "Acme Photo Ltd" \\
        --basis consent --art9 explicit-consent --purpose "attendees find their own photos" \\
        --retention 365d --minors-policy none-expected
      faceledger source add press --kind urls --path press.txt --root /photos/press ...
      faceledger source add web --kind urls --path web.txt --host https://photos.acme.example ...
      faceledger source add bucket --s3 s3://photos/events --endpoint http://127.0.0.1:8333 ...
    """
    if s3_location:
        if location and location != s3_location:
            raise click.UsageError("give the S3 location once: --s3 or --kind s3 --path")
        kind, location = "s3", s3_location
    if not location:
        raise click.UsageError("give the source's location: --path (or --s3 s3://bucket/prefix)")
    with open_from(ctx) as store:
        info = store.add_source(
            name,
            location=location,
            kind=kind,
            root=root,
            hosts=hosts,
            endpoint=endpoint,
            profile=profile,
            controller=controller,
            lawful_basis=basis,
            special_category_condition=art9,
            purpose=purpose,
            retention_days=parse_retention(retention),
            minors_policy=minors_policy,
            keep_photos_without_faces=keep_photos_without_faces,
        )
    click.echo(
        f"source {info.name} added: {LAWFUL_BASES[info.lawful_basis]}; "
        f"{ART9_CONDITIONS[info.special_category_condition]}; "
        f"retention {info.retention_days} days"
    )


@source.command("list")
@json_option
@click.pass_context
@handle_errors
def source_list(ctx, as_json) -> None:
    """List sources with their lawful basis.  Example: faceledger source list --json"""
    with open_from(ctx) as store:
        sources = store.sources()
    if as_json:
        echo_json([asdict(s) for s in sources])
        return
    for s in sources:
        click.echo(
            f"{s.name}\t{s.kind}\t{s.location}{'  root: ' + s.root if s.root else ''}"
            f"{'  hosts: ' + ' '.join(s.hosts) if s.hosts else ''}"
            f"{'  endpoint: ' + s.endpoint if s.endpoint else ''}"
            f"{'  profile: ' + s.profile if s.profile else ''}"
            f"\n  controller: {s.controller}; basis: "
            f"{s.lawful_basis}; art9: {s.special_category_condition}; purpose: {s.purpose};"
            f" retention: {s.retention_days}d; minors: {s.minors_policy}"
        )


@main.command()
@click.argument("name")
@click.option("--workers", type=int, default=None,
              help="Analysis lanes (default: one per core, at most FACELEDGER_WORKERS): "
              "threads sharing one copy of the models, or with --processes worker "
              "processes (default: the free cores); with --ray, Ray actors (default: one "
              "per CPU of the cluster).")
@click.option("--processes", is_flag=True, default=False,
              help="Run the lanes as worker processes, each with its own models.")
@click.option("--ray", "ray_address", default=None, metavar="auto|ADDRESS",
              help="Analyse on a Ray cluster (pip install 'faceledger[ray]'): auto, or the "
              "cluster's HOST:PORT. Every node must see the source and the models directory.")
@json_option
@click.pass_context
@handle_errors
def ingest(ctx, name, workers, processes, ray_address, as_json) -> None:
    """Ingest a registered source.  Example: faceledger ingest events-2026

    Resumable: photos already ingested are skipped; Ctrl-C keeps what was committed.
    On a Ray cluster: faceledger ingest events-2026 --ray head-node:6379"""
    from tqdm import tqdm

    with open_from(ctx) as store:
        bar = None

        def progress(state) -> None:
            nonlocal bar
            if as_json:
                return
            if bar is None:
                bar = tqdm(total=state.total, unit="photo", dynamic_ncols=True)
            bar.total = state.total  # grows while the listing streams
            bar.n = state.done
            bar.set_postfix(
                faces=state.faces, errors=state.errors, dup=state.duplicates, refresh=False
            )
            bar.refresh()

        report = store.ingest(name, progress=progress, workers=workers, ray=ray_address,
                              processes=processes)
        if bar is not None:
            bar.close()
    if as_json:
        echo_json(report.as_dict())
        return
    rate = report.photos / report.seconds if report.seconds else 0.0
    click.echo(
        f"run {report.run_id} {report.status}: {report.photos} photos read, {report.faces} faces, "
        f"{report.errors} errors, {report.duplicates} duplicates, {report.skipped} already "
        f"ingested, {report.blocked} blocked by opt-out, {report.seconds:.1f} s "
        f"({rate:.1f} photos/s)"
    )
    if report.unsupported:
        kinds = ", ".join(f"{n} {s}" for s, n in report.unsupported_suffixes.items())
        click.echo(f"{report.unsupported} files in the source are in a format that is not "
                   f"decoded and were not read ({kinds})")


@main.command()
@click.argument("probe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-k", "--top", "k", type=int, default=10, show_default=True)
@click.option("--largest", is_flag=True,
              help="Only the probe's most prominent face (size x score x centrality).")
@far_option
@purpose_options
@json_option
@click.pass_context
@handle_errors
def search(ctx, probe, k, largest, far, purpose, case, actor, as_json) -> None:
    """Search the store with a photo.

    Example: faceledger search probe.jpg --purpose "attendee request" --case REQ-17"""
    from ..types import ActionContext

    with open_from(ctx) as store:
        results = store.search(
            probe, k=k, largest_only=largest, far=far, context=ActionContext(actor, purpose, case)
        )
        point = store.operating_point(far, search=True)
        sources = {s.name: s for s in store.sources()}
        gallery = len(store.index_file)
    if as_json:
        echo_json(
            {
                "far": point.far,
                "gallery_faces": gallery,
                "expected_false_matches": point.far * gallery,
                "match_threshold": point.match_threshold,
                "possible_threshold": point.possible_threshold,
                "faces": [
                    {
                        "probe_box": r.probe_face.box.as_list(),
                        "quality": r.quality,
                        "yaw": r.yaw,
                        "pitch": r.pitch,
                        "uncertain": r.uncertain,
                        "warning": r.warning,
                        "matches": [
                            dict(asdict(m), box=m.box.as_list(), decision=m.decision.value)
                            for m in r.matches
                        ],
                    }
                    for r in results
                ],
            }
        )
        return
    for i, r in enumerate(results, 1):
        click.echo(
            f"probe face {i} at {r.probe_face.box.as_list()}: match >= "
            f"{point.match_threshold:.3f} (FAR {point.far:g} per comparison; over "
            f"{gallery} faces about {point.far * gallery:.2g} false matches per probe); "
            f"quality {r.quality}, yaw {r.yaw}, pitch {r.pitch}"
        )
        if r.uncertain:
            click.echo(f"  WARNING: {r.warning}")
        for m in r.matches:
            s = sources.get(m.source)
            basis = f" [{s.lawful_basis}/{s.special_category_condition}]" if s else ""
            click.echo(
                f"  {m.rank:>3}  {m.similarity:6.3f}  {m.decision.value:<9} "
                f"{m.photo_uri}  source={m.source}{basis}  box={m.box.as_list()}  "
                f"quality={m.quality}"
            )


@main.command()
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@far_option
@accurate_option
@purpose_options
@json_option
@click.pass_context
@handle_errors
def verify(ctx, a, b, far, accurate, purpose, case, actor, as_json) -> None:
    """Same person or not.  Example: faceledger verify a.jpg b.jpg --accurate --case C-1"""
    from ..types import ActionContext

    with open_from(ctx) as store:
        v = store.verify(a, b, far=far, context=ActionContext(actor, purpose, case),
                         accurate=accurate)
    if as_json:
        echo_json(
            {
                "similarity": v.similarity,
                "same_person": v.same_person,
                "threshold": v.threshold,
                "far": v.far,
                "scorer": v.scorer,
                "components": v.components,
            }
        )
        return
    verdict = "same person" if v.same_person else "not the same person"
    parts = ", ".join(f"{k} {x:.3f}" for k, x in v.components.items())
    click.echo(
        f"{verdict}: similarity {v.similarity:.3f}, threshold {v.threshold:.3f} "
        f"(false-accept rate {v.far:g}; {v.scorer}{': ' + parts if parts else ''})"
    )


@main.command()
@click.option("--rebuild", is_flag=True, help="Rebuild the index from the catalog first.")
@json_option
@click.pass_context
@handle_errors
def check(ctx, rebuild, as_json) -> None:
    """Do the catalog and the vector index agree?  Example: faceledger check"""
    with open_from(ctx) as store:
        report = store.rebuild_index() if rebuild else store.check()
        intents = [(e.seq, e.action, live) for e, live in store.open_intents()]
        refusal = store.audit.refusal
    interrupted = [f"entry {seq} {action}" for seq, action, live in intents if not live]
    if as_json:
        echo_json({**asdict(report), "interrupted": interrupted, "audit_refusal": refusal})
    else:
        click.echo(report.summary())
        for seq, action, live in intents:
            state = "in progress" if live else "INTERRUPTED (begun, never completed)"
            click.echo(f"audit: entry {seq} {action}: {state}")
        if refusal:
            click.echo(f"audit: the log refuses writes: {refusal}", err=True)
    if not report.ok or interrupted or refusal:
        raise SystemExit(1)


@main.command()
@json_option
@click.pass_context
@handle_errors
def status(ctx, as_json) -> None:
    """Counts of sources, photos, faces and runs.  Example: faceledger status"""
    with open_from(ctx) as store:
        counts = store.counts()
        runs = store.runs(5)
    if as_json:
        echo_json({"counts": counts, "runs": [asdict(r) for r in runs]})
        return
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))
    for r in runs:
        click.echo(
            f"run {r.id} {r.source} {r.status}: {r.photos} photos, {r.faces} faces, "
            f"{r.errors} errors, {r.duplicates} duplicates, "
            f"{r.unsupported} files not decoded, {r.seconds:.1f} s"
        )


from .index_cmd import index  # noqa: E402
from .models_cmd import models  # noqa: E402

main.add_command(bench)
main.add_command(models)
main.add_command(index)

from .serve_cmd import apikeys, serve  # noqa: E402

main.add_command(serve)
main.add_command(apikeys)

from .privacy_cmds import audit, keys, retention, rights  # noqa: E402

main.add_command(audit)
main.add_command(rights)
main.add_command(retention)
main.add_command(keys)

from .requests_cmds import receipt, report, requests  # noqa: E402

main.add_command(requests)
main.add_command(receipt)
main.add_command(report)

from .subjects_cmds import alerts, recognize, subjects, watches  # noqa: E402

main.add_command(subjects)
main.add_command(recognize)
main.add_command(watches)
main.add_command(alerts)

from .people_cmds import people  # noqa: E402

main.add_command(people)
