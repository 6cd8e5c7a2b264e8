"""Accuracy benchmarks: verify, identify, detect, calibrate (issue: accuracy).

Each command parses its options, calls :mod:`faceledger_bench`, and prints text or JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from faceledger.config import DEFAULT_PACK, default_datasets_dir, default_models_dir
from faceledger.errors import FaceLedgerError

from .group import bench


def _default_lfw() -> Path:
    return default_datasets_dir() / "lfw"


def _load(name: str, models_dir: Path, accept: bool):
    from faceledger.models import load_pack

    return load_pack(name, models_dir, accept_research_licence=accept, threads=1)


def _progress(enabled: bool):
    if not enabled:
        return None
    state = {"last": -1}

    def report(done: int, total: int) -> None:
        pct = done * 100 // max(total, 1)
        if pct != state["last"] and (pct % 10 == 0 or done == total):
            state["last"] = pct
            click.echo(f"  {done}/{total} images", err=True)

    return report


def _fail(exc: FaceLedgerError):
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(2)


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f} %"


common_pack = [
    click.option("--pack", default=DEFAULT_PACK, show_default=True, help="Model pack."),
    click.option(
        "--models-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
        help="Model files (default: ../shared/models or FACELEDGER_MODELS_DIR).",
    ),
    click.option("--accept-research-licence", is_flag=True,
                 help="Allow a non-commercial research pack."),
    click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Keep embeddings here to rerun faster (outside the repository)."),
    click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
    click.option("--quiet", is_flag=True, help="No progress on stderr."),
]


def with_common(func):
    for option in reversed(common_pack):
        func = option(func)
    return func


def _models_dir(value: Path | None) -> Path:
    import os

    if value:
        return value
    env = os.environ.get("FACELEDGER_MODELS_DIR")
    return Path(env) if env else default_models_dir()


@bench.command("verify")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path, file_okay=False),
              default=_default_lfw, show_default="../shared/datasets/lfw",
              help="LFW folder (images/ and the pairs files).")
@click.option("--pairs", default="pairs.txt", show_default=True,
              help="Pairs file: pairs.txt (View 2, 10 folds) or pairsDevTest.txt (View 1).")
@click.option("--no-flip", is_flag=True, help="Do not average with the mirrored face.")
@click.option("--align", type=click.Choice(["pack", "arcface", "box", "stretch"]),
              default="pack", show_default=True,
              help="Alignment: the pack's template, ArcFace's, a box crop, or OMZ's 96x112 "
                   "template resized to the square input.")
@click.option("--scales", default="", help="Detector scales, e.g. '1,2' (default: one pass).")
@click.option("--min-quality", type=float, default=0.0,
              help="Quality gate: a pair with a face below it is never accepted.")
@click.option("--fuse", "fuse_pack", default=None,
              help="Second pack whose cohort-normalised score is averaged with the first.")
@click.option("--fuse-weight", type=float, default=0.5, show_default=True,
              help="Weight of --pack in the fused score.")
@with_common
def verify_cmd(lfw_dir, pairs, no_flip, align, scales, min_quality, fuse_pack, fuse_weight,
               pack, models_dir, accept_research_licence, cache_dir, as_json, quiet):
    """LFW verification, official 10-fold protocol: accuracy mean and std, TAR at FAR
    1e-2/1e-3/1e-4, ROC AUC, images without a face (counted as errors) and seconds.

    Example: faceledger bench verify --lfw ../shared/datasets/lfw --pairs pairsDevTest.txt
    """
    from faceledger_bench.embed import EmbedOptions
    from faceledger_bench.verify import VerifyConfig, run_verify

    try:
        mdir = _models_dir(models_dir)
        analyzers = [_load(pack, mdir, accept_research_licence)]
        if fuse_pack:
            analyzers.append(_load(fuse_pack, mdir, accept_research_licence))
        config = VerifyConfig(
            pairs=pairs,
            flip=not no_flip,
            options=EmbedOptions(align=align, detector_scales=_scales(scales)),
            min_quality=min_quality,
            fuse_weight=fuse_weight,
        )
        report = run_verify(analyzers, lfw_dir, config, cache_dir, _progress(not quiet))
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    acc = report.accuracy
    click.echo(f"pack            {report.pack}")
    click.echo(f"pairs           {report.pairs_file}: {report.pairs} pairs, {report.images} images")
    click.echo(f"settings        {report.settings}")
    click.echo(f"accuracy        {_pct(acc.mean)} +- {_pct(acc.std)} (10-fold)")
    for p in report.operating_points:
        note = "" if p.resolvable else "  (below 1/impostors: no impostor accepted)"
        click.echo(f"TAR @ FAR {p.far:g}  {_pct(p.tar)}  threshold {p.threshold:.4f}{note}")
    click.echo(f"ROC AUC         {report.roc_auc:.5f}")
    for p in report.at_pack_thresholds:
        click.echo(f"pack threshold  FAR {p.far:g} -> {p.threshold:.3f}: measured TAR "
                   f"{_pct(p.tar)}, FAR {100.0 * p.achieved_far:.3f} %")
    click.echo(f"no face found   {len(report.no_face_images)} images (pairs counted as errors)")
    for img in report.no_face_images[:20]:
        click.echo(f"                {img}")
    if report.gated_pairs:
        click.echo(f"quality gate    {report.gated_pairs} pairs closed")
    click.echo(f"seconds         {report.seconds:.1f}")


def _scales(text: str) -> tuple[float, ...]:
    if not text.strip():
        return ()
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"scales must be numbers separated by commas: {text!r}"
        ) from None


@bench.command("identify")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path, file_okay=False),
              default=_default_lfw, show_default="../shared/datasets/lfw", help="LFW folder.")
@click.option("--people", "people_file", default="lfw-names.txt", show_default=True,
              help="Identity list with image counts.")
@click.option("--no-flip", is_flag=True, help="Do not average with the mirrored face.")
@with_common
def identify_cmd(lfw_dir, people_file, no_flip, pack, models_dir, accept_research_licence,
                 cache_dir, as_json, quiet):
    """Open-set 1:N search on LFW: gallery size, rank-1 / rank-5 hit rates, FNIR at FPIR
    1e-1 and 1e-2.

    Example: faceledger bench identify --lfw ../shared/datasets/lfw --json
    """
    from faceledger_bench.identify import run_identify

    try:
        analyzer = _load(pack, _models_dir(models_dir), accept_research_licence)
        report = run_identify(analyzer, lfw_dir, people_file, flip=not no_flip,
                              cache_dir=cache_dir, progress=_progress(not quiet))
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"pack            {report.pack}")
    click.echo(f"gallery         {report.gallery_size} ({report.enrolled_with_probes} enrolled "
               f"with probes + {report.distractors} distractors)")
    click.echo(f"probes          {report.mated_probes} mated, {report.nonmated_probes} non-mated")
    click.echo(f"rank-1          {_pct(report.rank1)}")
    click.echo(f"rank-5          {_pct(report.rank5)}")
    for p in report.operating_points:
        click.echo(f"FNIR @ FPIR {p.far:g}  {_pct(1.0 - p.tar)}  threshold {p.threshold:.4f}")
    click.echo(f"no face found   {report.no_face_images} images")
    click.echo(f"seconds         {report.seconds:.1f}")


@bench.command("detect")
@click.option("--wider", "wider_images", type=click.Path(path_type=Path, file_okay=False),
              default=lambda: default_datasets_dir() / "wider-dev" / "images",
              show_default="../shared/datasets/wider-dev/images",
              help="WIDER FACE images folder (event/file.jpg); only images present are scored.")
@click.option("--gt", "gt_dir", type=click.Path(path_type=Path, file_okay=False),
              default=lambda: default_datasets_dir() / "wider-dev" / "ground_truth",
              show_default="../shared/datasets/wider-dev/ground_truth",
              help="Folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat.")
@click.option("--score-threshold", type=float, default=None,
              help="Lowest detector score kept (default: the pack's own, as ingest runs it).")
@click.option("--scales", default="", help="Whole-image passes instead, e.g. '0.5,1,2'.")
@click.option("--passes", type=click.Choice(["auto", "single"]), default=None,
              help="YuNet passes: auto (the default: reference + coarse + fine tiles) or "
                   "single (the reference pass alone).")
@click.option("--max-side", type=int, default=None,
              help="Downscale images whose long side exceeds this for the reference pass.")
@click.option("--baseline", is_flag=True,
              help="Also run the single pass at score 0.6 (ingest's detector before issue 13), "
                   "interleaved image by image, and print the cost ratio.")
@click.option("--limit", type=int, default=None, help="Score only the first N images.")
@click.option("--keep-implausible", is_flag=True,
              help="Keep detections whose landmarks cannot be a face's (the analyzer refuses "
                   "them: ears, hair).")
@with_common
def detect_cmd(wider_images, gt_dir, score_threshold, scales, passes, max_side, baseline, limit,
               keep_implausible, pack, models_dir, accept_research_licence, cache_dir, as_json,
               quiet):
    """WIDER FACE detection AP (easy / medium / hard, official protocol) and detection CPU
    time, with the pack's detector as ingest runs it (the landmark check included) unless
    options change it.

    Example: faceledger bench detect --wider ../shared/datasets/wider-dev/images
    --gt ../shared/datasets/wider-dev/ground_truth --baseline
    """
    from faceledger_bench.detect import configure_detector, run_detect_many

    try:
        mdir = _models_dir(models_dir)
        analyzer = _load(pack, mdir, accept_research_licence)
        detector = configure_detector(analyzer.detector, score_threshold, _scales(scales),
                                      passes)
        if max_side is not None:
            detector.max_side = max_side
        detectors = {pack: detector}
        if baseline:
            base = configure_detector(_load(pack, mdir, accept_research_licence).detector, 0.6,
                                      (), "single")
            detectors["single pass, score 0.6 (before issue 13)"] = base
        reports = run_detect_many(detectors, wider_images, gt_dir, limit=limit,
                                  progress=_progress(not quiet), plausible=not keep_implausible)
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
        return
    first = reports[0]
    for report in reports:
        click.echo(f"detector        {report.detector} {report.settings}")
        click.echo(f"images          {report.images} ({report.faces_detected} detections, "
                   f"{report.refused_implausible} refused as implausible)")
        for subset, ap in report.ap.items():
            click.echo(f"AP {subset:<12} {100.0 * ap:.1f}")
        click.echo(f"CPU s           {report.seconds:.1f} ({report.images_per_second:.2f} "
                   f"images/s, detection only, 1 thread)")
    if len(reports) > 1:
        click.echo(f"cost            {first.seconds / max(reports[1].seconds, 1e-9):.2f}x the "
                   f"baseline's detection CPU time")


@bench.command("calibrate")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path, file_okay=False),
              default=_default_lfw, show_default="../shared/datasets/lfw", help="LFW folder.")
@click.option("--people", "people_file", default="peopleDevTrain.txt", show_default=True,
              help="Development identities: all pairs among all their images are compared.")
@with_common
def calibrate_cmd(lfw_dir, people_file, pack, models_dir, accept_research_licence, cache_dir,
                  as_json, quiet):
    """Thresholds for FAR 1e-2 ... 1e-5 from all image pairs of development identities
    (LFW peopleDevTrain.txt: ~45 million impostor pairs), to put in the pack's thresholds.

    Example: faceledger bench calibrate --lfw ../shared/datasets/lfw --pack yunet-omz0095
    """
    from faceledger_bench.calibrate import run_calibrate

    try:
        analyzer = _load(pack, _models_dir(models_dir), accept_research_licence)
        report = run_calibrate(analyzer, lfw_dir, people_file, cache_dir=cache_dir,
                               progress=_progress(not quiet))
    except FaceLedgerError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"pack            {report.pack}")
    click.echo(f"data            {report.people_file}: {report.identities} identities, "
               f"{report.images} images ({report.no_face_images} without a face)")
    click.echo(f"pairs           {report.genuine_pairs} genuine, {report.impostor_pairs} impostor")
    for p in report.points:
        note = "" if p.resolvable else "  (not resolvable)"
        click.echo(f"FAR {p.far:<8g} threshold {p.threshold:.4f}  TAR {_pct(p.tar)}{note}")
    click.echo(f"thresholds=     {report.thresholds()}")
    click.echo(f"seconds         {report.seconds:.1f}")
