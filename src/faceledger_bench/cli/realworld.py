"""``faceledger bench realworld``: photos made like a real collection's from ../shared
(issue 13, requirement 4); the sets are built in memory, never stored."""

from __future__ import annotations

import json
from pathlib import Path

import click

from faceledger.config import default_datasets_dir
from faceledger.errors import FaceLedgerError

from .accuracy import _fail, _load, _models_dir, with_common
from .group import bench

DEFAULT_SETS = "lfw,lfw-phone,lfw-pasted,lfw-40px,dlib-phone,wider-dev"


@bench.command("realworld")
@click.option("--datasets", type=click.Path(path_type=Path, file_okay=False),
              default=default_datasets_dir, show_default="../shared/datasets",
              help="Folder holding lfw/, dlib-examples/ and wider-dev/.")
@click.option("--sets", default=DEFAULT_SETS, show_default=True,
              help="Comma-separated: lfw, lfw-phone, lfw-upscaled, lfw-pasted, lfw-40px, "
                   "dlib-phone, wider-dev.")
@click.option("--pairs-per-fold", type=int, default=30, show_default=True,
              help="Matched (and as many mismatched) View 2 pairs per fold; 300 = all "
                   "6,000 pairs and 7,701 photos.")
@click.option("--wider-limit", type=int, default=None, help="Only the first N WIDER images.")
@click.option("--passes", type=click.Choice(["auto", "single"]), default=None,
              help="Override the pack's YuNet passes (default: as ingest runs them).")
@click.option("--seed", type=int, default=0, show_default=True)
@with_common
def realworld_cmd(datasets, sets, pairs_per_fold, wider_limit, passes, seed, pack, models_dir,
                  accept_research_licence, cache_dir, as_json, quiet):
    """Detection rate and verification accuracy on real-world-like sets: LFW upscaled to
    phone size (JPEG, EXIF rotation), pasted small into large frames, shrunk to 40 px faces;
    dlib's examples at phone size; the WIDER FACE dev subset.

    Example: faceledger bench realworld --sets lfw-phone,lfw-pasted --pairs-per-fold 30
    """
    from faceledger_bench.realworld import run_realworld

    def progress(name: str, done: int, total: int) -> None:
        if not quiet and (done % 500 == 0 or done == total):
            click.echo(f"  {name}: {done}/{total} photos", err=True)

    try:
        mdir = _models_dir(models_dir)
        analyzer = _load(pack, mdir, accept_research_licence)
        if passes is not None:
            analyzer.detector.passes = passes
        # the face each LFW source photo is about: the single pass, as before issue 13
        reference = _load(pack, mdir, accept_research_licence).detector
        reference.passes = "single"
        names = tuple(s.strip() for s in sets.split(",") if s.strip())
        reports = run_realworld(analyzer, reference, names, datasets,
                                pairs_per_fold=pairs_per_fold or None,
                                wider_limit=wider_limit, seed=seed, progress=progress)
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
        return
    click.echo(f"pack {pack}, detector {analyzer.detector.passes} passes, score >= "
               f"{analyzer.detector.score_threshold}")
    click.echo(f"{'set':<14} {'photos':>6} {'faces found':>15} {'rate':>8} {'pairs':>6} "
               f"{'accuracy':>16} {'detect CPU s':>12}  notes")
    for r in reports:
        acc = (f"{100 * r.accuracy:.2f} +- {100 * r.accuracy_std:.2f}"
               if r.accuracy is not None else "-")
        notes = ", ".join(f"{k} {v}" for k, v in r.extra.items())
        click.echo(f"{r.name:<14} {r.photos:>6} {r.faces_found:>7}/{r.faces_expected:<7} "
                   f"{100 * r.detection_rate:>7.2f}% {r.pairs:>6} {acc:>16} "
                   f"{r.detect_seconds:>12.1f}  {notes}")
        for miss in r.no_face_photos[:10]:
            click.echo(f"{'':<14} missed {miss}")
