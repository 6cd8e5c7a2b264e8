"""``faceledger bench optout``: how well the opt-out list blocks, on LFW, through ingest."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

import click

from faceledger.cli.common import echo_json, handle_errors, json_option, settings_from

from .group import bench


@bench.command("optout")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path), default=None,
              help="LFW folder (default ../shared/datasets/lfw).")
@click.option("--people-file", default="people.txt", show_default=True,
              help="LFW identity list to draw from (alphabetical order).")
@click.option("--people", type=int, default=100, show_default=True,
              help="People (with >= 10 photos) who opt out.")
@click.option("--enrol", type=int, default=3, show_default=True, help="Selfies per request.")
@click.option("--max-same", type=int, default=20, show_default=True,
              help="Later photos per person that are ingested.")
@click.option("--others", type=int, default=2000, show_default=True,
              help="Photos of people not on the list (one each).")
@click.option("--workers", type=int, default=1, show_default=True)
@json_option
@click.pass_context
@handle_errors
def bench_optout(ctx, lfw_dir, people_file, people, enrol, max_same, others, workers,
                 as_json) -> None:
    """Share of opted-out people's later photos blocked, and of other people's wrongly blocked.

    Builds a throw-away store (and key) in a temporary folder.

    Example: faceledger bench optout --people 100 --others 2000"""
    from faceledger.config import default_datasets_dir
    from faceledger.ledger import init_store
    from faceledger_bench.optout_bench import lfw_optout_split, measure_optout

    settings = settings_from(ctx)
    lfw = lfw_dir or default_datasets_dir() / "lfw"
    split = lfw_optout_split(lfw, people_file, people, enrol, max_same, others)
    with tempfile.TemporaryDirectory(prefix="faceledger-optout-") as tmp:
        root = Path(tmp)
        st = init_store(settings.with_(data_dir=root / "data", key_file=root / "keys" / "k.key"))
        try:
            m = measure_optout(st, split, root / "photos", workers=workers)
        finally:
            st.close()
    if as_json:
        echo_json(asdict(m) | {"same_rate": m.same_rate, "other_rate": m.other_rate})
        return
    click.echo(
        f"{m.people} people opted out with {m.templates} templates (threshold {m.threshold}):\n"
        f"  same person blocked: {m.same_blocked}/{m.same_photos} photos = {m.same_rate:.2%}\n"
        f"  others wrongly blocked: {m.other_blocked}/{m.other_photos} = {m.other_rate:.2%}\n"
        f"  no central face: {m.no_central_face}; ingest blocked {m.ingest_blocked_faces} faces "
        f"(predicted {m.predicted_blocked_faces}), stored {m.ingest_stored_faces}\n"
        f"  missed: {', '.join(m.missed) or 'none'}\n"
        f"  wrongly blocked: {', '.join(m.wrongly_blocked) or 'none'}"
    )
    click.echo("  threshold  same blocked  others blocked   (same pass, other thresholds)")
    for t, same, other in m.curve:
        click.echo(f"  {t:9.2f}  {same:12.2%}  {other:14.2%}")
