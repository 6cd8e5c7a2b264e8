"""``faceledger index ...``: the store's vector index: what it is, and retraining it.

The catalog is the source of truth: ``retrain`` builds a fresh index from the catalog's
faces (training on a uniform sample of them, adding them in streamed batches) and replaces
the old index file; ``faceledger check`` then says whether the two agree."""

from __future__ import annotations

import click

from .common import echo_json, handle_errors, json_option, open_from


@click.group("index")
def index() -> None:
    """The vector index: inspect it, retrain it (e.g. after the data drifted).

    \b
    Example:
      faceledger index info
      faceledger index retrain --kind ivfpq
    """


def _describe(store) -> dict:
    f = store.index_file
    idx = f.index
    n = len(f)
    row = {
        "kind": f.kind, "requested_kind": f.requested_kind, "faces": n,
        "dimension": idx.dim, "trained": idx.is_trained,
        "directory": str(f.directory), "disk_bytes": f.disk_bytes(),
        "ram_bytes_per_face": round(idx.memory_bytes() / n, 1) if n else None,
    }
    for attr in ("nlist", "nprobe", "rerank", "ef_search"):
        if hasattr(idx, attr):
            row[attr] = getattr(idx, attr)
    return row


@index.command("info")
@json_option
@click.pass_context
@handle_errors
def info(ctx, as_json) -> None:
    """The store's index: kind, faces, bytes per face.  Example: faceledger index info"""
    with open_from(ctx) as store:
        row = _describe(store)
    if as_json:
        echo_json(row)
        return
    for key, value in row.items():
        click.echo(f"{key}: {value}")


@index.command("retrain")
@click.option("--kind", default=None,
              help="flat, ivfpq, hnsw or auto (by gallery size); the store keeps it. "
              "Default: the store's current kind.")
@click.pass_context
@handle_errors
def retrain_cmd(ctx, kind) -> None:
    """Rebuild the index from the catalog, training afresh; switches kind with --kind.

    A new store starts with FACELEDGER_INDEX_KIND (default auto: exact below 100,000 faces,
    IVF-PQ above, re-chosen whenever the store opens).

    Example: faceledger index retrain --kind ivfpq"""
    with open_from(ctx) as store:
        report = store.rebuild_index(kind)
        row = _describe(store)
    click.echo(f"{row['kind']} index with {row['faces']} faces; {report.summary()}")
