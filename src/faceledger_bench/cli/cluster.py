"""``faceledger bench cluster``: persons against the truth on all of LFW, beside DBSCAN and
HDBSCAN, and the time to cluster and to add faces at 1 M synthetic faces."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from faceledger.config import default_datasets_dir, default_models_dir
from faceledger.errors import FaceLedgerError

from .group import bench


@bench.command("cluster")
@click.option("--lfw", "lfw_dir", type=click.Path(path_type=Path), default=None,
              help="LFW folder (default: <shared datasets>/lfw).")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="All-LFW embedding cache (default ~/.cache/faceledger/lfw-embeddings-all.npz).")
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=None)
@click.option("--n", "n", type=int, default=1_000_000, show_default=True,
              help="Synthetic faces to cluster (0: skip).")
@click.option("--add", type=int, default=1000, show_default=True,
              help="Faces then added one at a time.")
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--synthetic-only", is_flag=True,
              help="Skip the LFW comparison: only the N synthetic faces, at the pack's "
              "clustering threshold (people.service.THRESHOLDS).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_cluster(lfw_dir: Path | None, cache: Path | None, models_dir: Path | None, n: int,
                  add: int, threads: int, synthetic_only: bool, as_json: bool) -> None:
    """BCubed precision/recall/F of faceledger's persons on all LFW (13,233 photos), with
    scikit-learn's DBSCAN and HDBSCAN on the same embeddings; every parameter chosen on
    peopleDevTrain only. Then N synthetic faces: time to cluster, and to add 1,000.

    Example: faceledger bench cluster --json
    """
    import faiss

    from faceledger_bench.cluster_bench import default_subset, load_all_lfw, run_lfw, run_synthetic

    def say(msg: str) -> None:
        click.echo(msg, err=True)

    faiss.omp_set_num_threads(threads)
    lfw_dir = lfw_dir or default_datasets_dir() / "lfw"
    try:
        emb = load_all_lfw(lfw_dir, models_dir or default_models_dir(), cache,
                           progress=lambda i, t: say(f"embedding LFW {i}/{t}")
                           if i % 1000 == 0 else None)
        if synthetic_only:
            from faceledger.people.service import THRESHOLDS

            report: dict = {}
            threshold = THRESHOLDS[emb.pack]
        else:
            report = run_lfw(emb, lfw_dir, say)
            threshold = float(report["faceledger"]["parameter"].split("=")[1].split(",")[0])
        if n > 0:
            faiss.omp_set_num_threads(threads)
            report["synthetic"] = run_synthetic(default_subset(emb), n, add, threshold, say)
    except FaceLedgerError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for key in ("faceledger", "faceledger_incremental", "dbscan", "hdbscan"):
            if key not in report:
                continue
            r = report[key]
            click.echo(f"{key:24} P {r['bcubed_precision']:.4f}  R {r['bcubed_recall']:.4f}  "
                       f"F {r['bcubed_f']:.4f}  {r['seconds']:.1f} s  ({r['parameter']})")
        rb = report.get("rights_by_person")
        from faceledger.people.service import RIGHTS_THRESHOLDS

        if rb:
            click.echo(f"rights by person ({rb['people']} people, one selfie each): "
                       f"threshold "
                       f"{rb['rights_threshold']} chosen on peopleDevTrain (the product uses "
                       f"{RIGHTS_THRESHOLDS.get(emb.pack)}); found "
                       f"{rb['person']['found_share']:.2%}, wrongly included "
                       f"{rb['person']['wrongly_included_share']:.2%}; held out "
                       f"{rb['person_held_out']['found_share']:.2%} / "
                       f"{rb['person_held_out']['wrongly_included_share']:.2%}")
        if "synthetic" in report:
            s = report["synthetic"]
            click.echo(f"synthetic {s['faces']} ({s['index_kind']} k-NN graph): clustered in "
                       f"{s['seconds_to_cluster']} s (index {s['seconds_index']} s, graph "
                       f"{s['seconds_knn']} s, linkage {s['seconds_linkage']} s; F "
                       f"{s['bcubed_f']}); +{s['added']} faces in {s['seconds_to_add']} s")
