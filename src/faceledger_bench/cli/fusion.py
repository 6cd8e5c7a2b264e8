"""``faceledger bench calibrate-fusion`` and ``bench accurate``: the accurate mode's fusion."""

from __future__ import annotations

import json
from pathlib import Path

import click

from faceledger.errors import FaceLedgerError

from .accuracy import _default_lfw, _fail, _load, _models_dir, _pct, _progress, with_common
from .group import bench

_lfw = click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path, file_okay=False),
                    default=_default_lfw, show_default="../shared/datasets/lfw",
                    help="LFW folder (images/ and the pairs files).")


def _fusion_and_analyzers(pack: str, models_dir, accept: bool):
    from faceledger.models.fusion import FUSIONS

    spec = FUSIONS.get(pack)
    if spec is None:
        raise click.UsageError(f"pack {pack} has no fusion declared")
    mdir = _models_dir(models_dir)
    return spec, [_load(spec.primary, mdir, accept), _load(spec.secondary, mdir, accept)], mdir


@bench.command("calibrate-fusion")
@_lfw
@click.option("--pairs", default="pairsDevTrain.txt", show_default=True,
              help="View 1 training pairs: their images give the norms and thresholds, their "
                   "matched pairs choose the weight.")
@with_common
def calibrate_fusion_cmd(lfw_dir, pairs, pack, models_dir, accept_research_licence, cache_dir,
                         as_json, quiet):
    """Weight, score norms and thresholds of the accurate mode's fusion, from LFW View 1
    training data only (never View 2), to put in ``faceledger.models.fusion``.

    Example: faceledger bench calibrate-fusion --lfw ../shared/datasets/lfw --cache-dir /tmp/c
    """
    from faceledger_bench.fusion import calibrate_fusion

    try:
        spec, analyzers, _ = _fusion_and_analyzers(pack, models_dir, accept_research_licence)
        report = calibrate_fusion(spec, analyzers, lfw_dir, pairs, cache_dir,
                                  _progress(not quiet))
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"fusion          {spec.name} on {report.pairs_file}: {report.images} images "
               f"({report.no_face_images} without a face), {report.impostor_pairs} impostor "
               "pairs")
    for w, tars in report.weight_table.items():
        row = ", ".join(f"TAR @ {f} {_pct(t)}" for f, t in tars.items())
        click.echo(f"weight {w:<8g} {row}{'   <- chosen' if w == report.weight else ''}")
    p, s = report.primary_norm, report.secondary_norm
    click.echo(f"norms           primary ScoreNorm({p.mean:.5f}, {p.std:.5f}), "
               f"secondary ScoreNorm({s.mean:.5f}, {s.std:.5f})")
    for far, thr in report.thresholds.items():
        click.echo(f"FAR {far:<8g} threshold {thr:.4f}  TAR {_pct(report.tar_at_thresholds[far])}"
                   f" (on the {report.genuine_pairs_for_weight} matched pairs)")
    click.echo(f"seconds         {report.seconds:.1f}")


@bench.command("accurate")
@_lfw
@click.option("--pairs", default="pairs.txt", show_default=True,
              help="Pairs to score: View 2's pairs.txt (10 folds) is the test.")
@click.option("--time-pairs", type=int, default=100, show_default=True,
              help="Pairs timed end to end (decode, detect, embed, score); 0: none.")
@with_common
def accurate_cmd(lfw_dir, pairs, time_pairs, pack, models_dir, accept_research_licence,
                 cache_dir, as_json, quiet):
    """The default pack, its second pack and the accurate mode's fused scorer on one pairs
    file, in one run: 10-fold accuracy, TAR at FAR, ROC AUC, the calibrated thresholds'
    measured TAR / FAR, and milliseconds per pair of each verifier.

    Example: faceledger bench accurate --lfw ../shared/datasets/lfw --cache-dir /tmp/c
    """
    from faceledger.models.fusion import FusedEmbedder, fusion_for
    from faceledger_bench.fusion import evaluate_fusion
    from faceledger_bench.fusion import time_pairs as timed

    try:
        _, analyzers, mdir = _fusion_and_analyzers(pack, models_dir, accept_research_licence)
        spec = fusion_for(pack)
        report, pair_list, _ = evaluate_fusion(spec, analyzers, lfw_dir, pairs, cache_dir,
                                               _progress(not quiet))
        if time_pairs:
            embedder = FusedEmbedder(spec, analyzers[0], mdir)
            report.timing.update(timed(embedder, lfw_dir, pair_list, time_pairs))
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"pairs           {report.pairs_file}: {report.pairs} pairs, {report.images} "
               f"images ({report.no_face_images} without a face)")
    for s in report.scorers:
        tars = ", ".join(f"TAR @ {f} {_pct(t)}" for f, t in s.tar.items())
        click.echo(f"{s.scorer:<26} accuracy {_pct(s.accuracy_mean)} +- {_pct(s.accuracy_std)}"
                   f"; {tars}; AUC {s.roc_auc:.5f}")
        for far, point in s.at_calibrated.items():
            click.echo(f"{'':<26} calibrated FAR {far} -> {point['threshold']:.4f}: TAR "
                       f"{_pct(point['tar'])}, FAR {_pct(point['far'])}")
    for key, value in report.timing.items():
        click.echo(f"{key:<26} {value:.1f}")


@bench.command("rights-accurate")
@_lfw
@click.option("--step", type=int, default=4, show_default=True,
              help="Every STEP-th of the 158 LFW people with >= 10 photos.")
@click.option("--per-person", type=int, default=20, show_default=True,
              help="Gallery photos per person at most (after the selfie).")
@click.option("--work", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the gallery copy and the store (default: a temporary one).")
@click.option("--models-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Model files (default: ../shared/models or FACELEDGER_MODELS_DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def rights_accurate_cmd(lfw_dir, step, per_person, work, models_dir, as_json):
    """Access by selfie with and without accurate mode on a real store of LFW photos: own
    photos found, others' faces included (all, and at "match"), seconds per request.

    Example: faceledger bench rights-accurate --lfw ../shared/datasets/lfw --step 4
    """
    import tempfile

    from faceledger_bench.rights_accurate import run_rights_accurate

    try:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            report = run_rights_accurate(lfw_dir, _models_dir(models_dir), Path(tmp), step,
                                         per_person, say=lambda m: click.echo(m, err=True))
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"people {report['people']}, gallery {report['gallery_photos']} photos "
               f"({report['gallery_faces']} faces)")
    for m in report["modes"]:
        click.echo(f"{m['mode']:<9} own photos found {_pct(m['own_found_share'])} "
                   f"(at match {_pct(m['own_found_share_match'])}); others' faces included "
                   f"{m['others_included']} (at match {m['others_included_match']}, in "
                   f"{m['requests_with_others']} requests); "
                   f"{m['seconds_per_request']:.2f} s per request")
