"""``faceledger models``: the packs, their licences, and whether their files check out."""

from __future__ import annotations

import click

from .common import echo_json, handle_errors, json_option, settings_from


@click.group()
def models() -> None:
    """Model packs: list them, fetch their files."""


@models.command("list")
@json_option
@click.pass_context
@handle_errors
def models_list(ctx, as_json) -> None:
    """Packs available, licence, checksums ok or not.  Example: faceledger models list"""
    from ..models.registry import available_packs, pack_file_reports

    settings = settings_from(ctx)
    rows = []
    for spec in available_packs():
        files = pack_file_reports(spec, settings.models_dir)
        missing = spec.missing_modules()
        ready = all(f.status == "ok" for f in files) and not missing
        rows.append({
            "name": spec.name, "description": spec.description, "licence": spec.licence,
            "research_only": spec.research, "embedding_size": spec.embedding_size,
            "thresholds": {f"{k:g}": v for k, v in sorted(spec.thresholds.items())},
            "ready": ready, "default": spec.name == settings.pack,
            "missing_python_packages": missing,
            "files": [vars(f) for f in files],
        })
    if as_json:
        echo_json({"models_dir": str(settings.models_dir), "packs": rows})
        return
    click.echo(f"models dir: {settings.models_dir}")
    for row in rows:
        flag = " (default)" if row["default"] else ""
        gate = (
            "  [research licence: needs --accept-research-licence]" if row["research_only"] else ""
        )
        click.echo(
            f"{row['name']}{flag}: {'ready' if row['ready'] else 'NOT READY'}{gate}\n"
            f"  {row['description']}\n  licence: {row['licence']}"
        )
        for m in row["missing_python_packages"]:
            click.echo(f"    missing Python package {m}")
        for f in row["files"]:
            click.echo(f"    {f['status']:<16} {f['path']}  sha256 {f['sha256'][:12]}...")


@models.command("fetch")
@click.option("--pack", default=None, help="Pack whose files to fetch (default: the default pack).")
@click.option(
    "--mirror",
    default=None,
    help="Directory or URL prefix holding the same relative paths (e.g. ../shared/models).",
)
@click.pass_context
@handle_errors
def models_fetch(ctx, pack, mirror) -> None:
    """Download a pack's files from their official home or a mirror, checking sha256.

    Example:
      faceledger --models-dir ~/.cache/faceledger/models models fetch --mirror ../shared/models
    """
    from ..models.files import fetch_file
    from ..models.registry import get_pack

    settings = settings_from(ctx)
    spec = get_pack(pack or settings.pack)
    for f in spec.files.values():
        path = fetch_file(settings.models_dir, f, mirror)
        click.echo(f"ok  {path}")
