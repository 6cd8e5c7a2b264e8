"""``faceledger people``: persons (faces grouped into people) and their corrections."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from .common import handle_errors, open_from


@click.group()
def people() -> None:
    """Faces grouped into persons: list, show, merge, split, rename, hide, re-cluster."""


def _emit(data: object, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@people.command("list")
@click.option("--hidden", is_flag=True, help="Include hidden persons.")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def list_cmd(ctx: click.Context, hidden: bool, limit: int, as_json: bool) -> None:
    """Persons, largest first. Example: faceledger people list --json"""
    with open_from(ctx) as store:
        rows = store.persons(include_hidden=hidden, limit=limit)
    data = [asdict(r) for r in rows]
    _emit(data, as_json, "\n".join(
        f"{r.id:>6}  {r.faces:>5} faces  {r.photos:>5} photos  {r.name or '-'}"
        f"{'  (hidden)' if r.hidden else ''}  {', '.join(r.sources)}" for r in rows))


@people.command("show")
@click.argument("person_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, person_id: int, as_json: bool) -> None:
    """A person's faces and photos. Example: faceledger people show 12"""
    with open_from(ctx) as store:
        row, faces = store.person(person_id)
    data = {**asdict(row), "face_list": [
        {"face_id": f.id, "photo_id": f.photo_id, "photo_uri": f.photo_uri, "source": f.source}
        for f in faces]}
    _emit(data, as_json, f"person {row.id} {row.name or ''}: {row.faces} faces\n" + "\n".join(
        f"  face {f.id}  photo {f.photo_id}  {f.source}  {f.photo_uri}" for f in faces))


@people.command("merge")
@click.argument("person_ids", type=int, nargs=-1, required=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def merge_cmd(ctx: click.Context, person_ids: tuple[int, ...], actor: str) -> None:
    """Merge persons into the first one. Example: faceledger people merge 3 7 9"""
    with open_from(ctx) as store:
        target = store.merge_persons(list(person_ids), actor=actor)
    click.echo(f"merged into person {target}")


@people.command("split")
@click.argument("face_ids", type=int, nargs=-1, required=True)
@click.option("--name", default=None, help="A name for the new person.")
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def split_cmd(ctx: click.Context, face_ids: tuple[int, ...], name: str | None,
              actor: str) -> None:
    """Move these faces to a new person. Example: faceledger people split 101 102"""
    with open_from(ctx) as store:
        new = store.split_person(list(face_ids), name=name, actor=actor)
    click.echo(f"new person {new}")


@people.command("not-this")
@click.argument("person_id", type=int)
@click.argument("face_id", type=int)
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def reject_cmd(ctx: click.Context, person_id: int, face_id: int, actor: str) -> None:
    """This face is not this person. Example: faceledger people not-this 12 345"""
    with open_from(ctx) as store:
        new = store.not_this_person(face_id, person_id, actor=actor)
    click.echo(f"face {face_id} moved to person {new}; it will not rejoin person {person_id}")


@people.command("rename")
@click.argument("person_id", type=int)
@click.argument("name")
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def rename_cmd(ctx: click.Context, person_id: int, name: str, actor: str) -> None:
    """Name a person ("" clears it). Example: faceledger people rename 12 "Jane Roe\""""
    with open_from(ctx) as store:
        store.rename_person(person_id, name, actor=actor)
    click.echo(f"person {person_id} renamed")


@people.command("hide")
@click.argument("person_id", type=int)
@click.option("--show", "unhide", is_flag=True, help="Show a hidden person again.")
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def hide_cmd(ctx: click.Context, person_id: int, unhide: bool, actor: str) -> None:
    """Hide a person from the People list. Example: faceledger people hide 12"""
    with open_from(ctx) as store:
        store.hide_person(person_id, not unhide, actor=actor)
    click.echo(f"person {person_id} {'shown' if unhide else 'hidden'}")


@people.command("recluster")
@click.option("--json", "as_json", is_flag=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def recluster_cmd(ctx: click.Context, as_json: bool, actor: str) -> None:
    """Cluster every face again, keeping every correction. Example: faceledger people recluster"""
    with open_from(ctx) as store:
        result = store.recluster(actor=actor)
    _emit(result, as_json, f"{result['faces']} faces in {result['persons']} persons")
