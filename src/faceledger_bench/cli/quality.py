"""``bench poor-probe``: false matches of degraded probes, without and with the poor-probe
rule."""

from __future__ import annotations

import json
from pathlib import Path

import click

from faceledger.errors import FaceLedgerError

from .accuracy import _default_lfw, _fail, _load, _models_dir, _pct, _progress, with_common
from .group import bench


@bench.command("poor-probe")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path, file_okay=False),
              default=_default_lfw, show_default="../shared/datasets/lfw", help="LFW folder.")
@click.option("--pairs", default="pairs.txt", show_default=True, help="Pairs file.")
@click.option("--degrade", "kinds", default="none,face24,face24-up,blur3", show_default=True,
              help="Probe degradations, comma-separated: none, faceN, faceN-up, blurS.")
@click.option("--far", type=float, default=1e-3, show_default=True,
              help="The pack's calibrated false-accept rate whose threshold decides a match.")
@with_common
def poor_probe_cmd(lfw_dir, pairs, kinds, far, pack, models_dir, accept_research_licence,
                   cache_dir, as_json, quiet):
    """LFW pairs with a degraded probe (small, enlarged or blurred face): false-match and
    true-match rates at the pack's thresholds, without and with the poor-probe rule.

    Example: faceledger bench poor-probe --pairs pairsDevTrain.txt --degrade none,face24
    """
    from faceledger.search.decisions import operating_point
    from faceledger_bench.poor_probe import run_poor_probe

    try:
        analyzer = _load(pack, _models_dir(models_dir), accept_research_licence)
        point = operating_point(analyzer.spec, far)
        reports, seconds = run_poor_probe(
            analyzer, lfw_dir, point, tuple(k.strip() for k in kinds.split(",") if k.strip()),
            pairs, cache_dir, _progress(not quiet))
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps({"pack": pack, "pairs": pairs, "far": point.far,
                               "match_threshold": point.match_threshold,
                               "possible_threshold": point.possible_threshold,
                               "seconds": seconds,
                               "degradations": [r.as_dict() for r in reports]}, indent=2))
        return
    click.echo(f"pack {pack}, {pairs}; match >= {point.match_threshold:.3f} (FAR {point.far:g}), "
               f"possible >= {point.possible_threshold:.3f}")
    for r in reports:
        click.echo(f"{r.kind}: {r.probes} probes, {r.no_face} without a face, {r.flagged} "
                   f"flagged poor")
        for label, rates in (("without rule", r.without_rule), ("with rule", r.with_rule)):
            click.echo(f"  {label:<13} false match {_pct(rates.false_match)}  false possible "
                       f"{_pct(rates.false_possible)}  true match {_pct(rates.true_match)} "
                       f"({rates.impostors} impostor / {rates.genuines} genuine comparisons)")
        bins = ", ".join(f"[{lo:.2f},{hi:.2f}) {n}: {_pct(rate)}"
                         for lo, hi, n, rate in r.by_quality if n)
        click.echo(f"  false match by probe quality (probes: rate): {bins}")
        if r.flagged_impostor_threshold is not None:
            click.echo(f"  flagged probes' impostors reach FAR {point.far:g} at similarity "
                       f"{r.flagged_impostor_threshold:.3f}")
    click.echo(f"seconds {seconds:.1f}")
