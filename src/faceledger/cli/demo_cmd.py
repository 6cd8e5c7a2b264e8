"""``faceledger demo``: build the demo store and show a search on it."""

from __future__ import annotations

from pathlib import Path

import click

from .common import handle_errors, settings_from


@click.command()
@click.option("--datasets", type=click.Path(path_type=Path), default=None,
              help="The shared datasets folder (default ../shared/datasets).")
@click.option("--people", type=int, default=300, show_default=True,
              help="How many LFW people go into the demo sample.")
@click.pass_context
@handle_errors
def demo(ctx, datasets, people) -> None:
    """Build a demo store from an LFW sample and search it.  Example: faceledger demo"""
    from ..config import default_datasets_dir
    from ..demo import prepare_demo
    from ..store.store import ActionContext

    settings = settings_from(ctx)
    d = prepare_demo(settings, datasets or default_datasets_dir(), people)
    r = d.report
    click.echo(f"demo store in {settings.data_dir}: source {r.source}, run {r.run_id} {r.status}: "
               f"{r.photos} photos read, {r.faces} faces, {r.skipped} already there, "
               f"{r.seconds:.1f} s")
    context = ActionContext("demo", "demonstrate faceledger", "DEMO-1")
    results = d.store.search(d.probe, k=5, largest_only=True, context=context)
    click.echo(f"search with {d.probe} (not in the store):")
    for m in results[0].matches:
        click.echo(f"  {m.rank}  {m.similarity:6.3f}  {m.decision.value:<9} {m.photo_uri}  "
                   f"source={m.source}")
    d.store.close()
