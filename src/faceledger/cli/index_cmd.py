"""``faceledger index ...``: inspect and retrain a vector index file.

The catalog is the source of truth; these commands work on the index file the store keeps
(or any index file) and leave swapping a retrained index in to the store."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import FaceLedgerError


@click.group("index")
def index() -> None:
    """Inspect and retrain the vector index."""


@index.command("info")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def info(path: Path) -> None:
    """Print an index file's kind, size and memory per face.

    Example: faceledger index info data/index/faces.index
    """
    from ..store.vector_index import load_index

    try:
        idx = load_index(path)
    except FaceLedgerError as exc:
        raise click.ClickException(exc.message) from exc
    n = len(idx)
    click.echo(f"kind: {idx.kind}")
    click.echo(f"dimension: {idx.dim}")
    click.echo(f"faces: {n}")
    click.echo(f"trained: {idx.is_trained}")
    click.echo(f"file bytes: {path.stat().st_size}")
    if n:
        click.echo(f"RAM bytes per face: {idx.memory_bytes() / n:.1f}")
    for attr in ("nlist", "nprobe", "rerank", "m", "bits", "ef_search"):
        if hasattr(idx, attr):
            value = getattr(idx, attr)
            if attr == "nprobe" and value is None and getattr(idx, "nlist", None):
                from ..store.ivf_index import default_nprobe

                value = f"{default_nprobe(idx.nlist)} (default)"
            click.echo(f"{attr}: {value}")


@index.command("retrain")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", default="auto", show_default=True,
              help="flat, hnsw, ivfpq, or auto (chosen by the number of faces).")
@click.option("--batch", type=int, default=65536, show_default=True,
              help="Faces per streamed batch (bounds memory).")
@click.option("--sample", "sample_size", type=int, default=262_144, show_default=True,
              help="Training sample size (reservoir sample of the stream).")
def retrain_cmd(source: Path, dest: Path, kind: str, batch: int, sample_size: int) -> None:
    """Rebuild an index from the vectors of SOURCE into DEST, training afresh.

    SOURCE must keep full vectors (flat, hnsw, or ivfpq with float16 copies); an index of
    lossy codes only is rebuilt from the catalog instead (the store's rebuild_index).

    Example: faceledger index retrain data/index/faces.index /tmp/faces-new.index --kind ivfpq
    """
    from ..store.vector_index import load_index, retrain

    try:
        old = load_index(source)
        new = retrain(lambda: old.iter_vectors(batch), old.dim, kind=kind, n=len(old),
                      sample_size=sample_size,
                      progress=lambda k: click.echo(f"added {k}/{len(old)}", err=True))
        new.save(dest)
    except FaceLedgerError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{dest}: {new.kind}, {len(new)} faces")
