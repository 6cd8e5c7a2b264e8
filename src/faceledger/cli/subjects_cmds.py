"""``faceledger subjects``, ``recognize``, ``watches`` and ``alerts``: named subjects,
consented watches and their alerts (:mod:`faceledger.subjects`)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from .common import echo_json, far_option, handle_errors, json_option, open_from, purpose_options


def _ctx(actor: str, purpose: str | None, case: str | None):
    from ..types import ActionContext

    return ActionContext(actor, purpose, case)


@click.group()
def subjects() -> None:
    """Named subjects: people enrolled with example photos under a source's lawful basis."""


@subjects.command("enrol")
@click.argument("name")
@click.option("--source", required=True,
              help="The source whose lawful basis the subject is held under (a watchlist, "
              "access control, a newsroom's public figures).")
@click.option("--photo", "photos", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An example photo (repeat, up to 10); only its most prominent face's "
                   "template is kept, encrypted.")
@click.option("--consent", default="",
              help="Reference of the person's recorded consent to be watched (needed for a "
              "watch).")
@purpose_options
@json_option
@click.pass_context
@handle_errors
def subjects_enrol(ctx, name, source, photos, consent, purpose, case, actor, as_json) -> None:
    """Enrol a named person.

    Example: faceledger subjects enrol "Jane Roe" --source staff --photo a.jpg --photo b.jpg
    --consent "form F-12" --case HR-4"""
    with open_from(ctx) as store:
        row = store.enrol_subject(name, source, list(photos), _ctx(actor, purpose, case),
                                  consent=consent)
    if as_json:
        echo_json(asdict(row))
        return
    click.echo(f"subject {row.id}: {row.name} ({row.templates} template(s), source "
               f"{row.source}{', consent ' + row.consent if row.consent else ''})")


@subjects.command("list")
@json_option
@click.pass_context
@handle_errors
def subjects_list(ctx, as_json) -> None:
    """List enrolled subjects.  Example: faceledger subjects list"""
    with open_from(ctx) as store:
        rows = store.subjects()
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    for r in rows:
        click.echo(f"{r.id:>5}  {r.name}  source {r.source}  {r.templates} template(s)  "
                   f"{r.watches} watch(es)  consent: {r.consent or '-'}")


@subjects.command("delete")
@click.argument("subject_id")
@purpose_options
@click.pass_context
@handle_errors
def subjects_delete(ctx, subject_id, purpose, case, actor) -> None:
    """Delete a subject with its templates, watches and alerts.

    Example: faceledger subjects delete 3 --purpose "left the company" --case HR-9"""
    with open_from(ctx) as store:
        done = store.delete_subject(subject_id, _ctx(actor, purpose, case))
    click.echo(f"subject {done['subject_id']} deleted ({done['templates']} template(s), "
               f"{done['watches']} watch(es))")


@click.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@far_option
@purpose_options
@json_option
@click.pass_context
@handle_errors
def recognize(ctx, photo, far, purpose, case, actor, as_json) -> None:
    """Who are the enrolled subjects in a photo? Each face: a subject with a calibrated
    decision, or "unknown". Audited like a search.

    Example: faceledger recognize door.jpg --purpose "access control" --case AC-1"""
    with open_from(ctx) as store:
        result = store.recognize(photo, far=far, context=_ctx(actor, purpose, case))
    if as_json:
        echo_json({**asdict(result), "faces": [
            {**asdict(f), "box": f.box.as_list(), "decision": f.decision.value}
            for f in result.faces]})
        return
    click.echo(f"match >= {result.match_threshold:.3f} (FAR {result.far:g}), possible >= "
               f"{result.possible_threshold:.3f}")
    for i, f in enumerate(result.faces, 1):
        sim = "-" if f.similarity is None else f"{f.similarity:.3f}"
        extra = f" (possible: {f.candidate})" if f.candidate else ""
        click.echo(f"face {i} at {f.box.as_list()}: {f.label}  {f.decision.value}  {sim}{extra}")


@click.group()
def watches() -> None:
    """Consented watches: an alert (webhook) when a later ingest finds the person."""


@watches.command("add")
@click.argument("subject_id")
@click.option("--webhook", required=True,
              help="http(s) URL on a host in FACELEDGER_WEBHOOK_ALLOWED_HOSTS.")
@click.option("--days", default="30", show_default=True, help="How long the watch lasts.")
@purpose_options
@json_option
@click.pass_context
@handle_errors
def watches_add(ctx, subject_id, webhook, days, purpose, case, actor, as_json) -> None:
    """Watch an enrolled subject whose consent is recorded; prints the webhook's signing
    secret once.

    Example: faceledger watches add 3 --webhook https://hooks.example.org/fl --days 30
    --purpose "front desk alerts" --case AC-1"""
    with open_from(ctx) as store:
        new = store.add_watch(subject_id, webhook, days, _ctx(actor, purpose, case))
    if as_json:
        echo_json({"watch": asdict(new.watch), "webhook_secret": new.webhook_secret})
        return
    click.echo(f"watch {new.watch.id} on {new.watch.label} until {new.watch.expires_at}")
    click.echo(f"webhook secret (shown once): {new.webhook_secret}")


@watches.command("list")
@json_option
@click.pass_context
@handle_errors
def watches_list(ctx, as_json) -> None:
    """List watches.  Example: faceledger watches list"""
    with open_from(ctx) as store:
        rows = store.watches()
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    for r in rows:
        click.echo(f"{r.id:>5}  {r.label}  ({r.owner})  until {r.expires_at}  "
                   f"{r.alerts} alert(s)  {r.webhook_url}")


@watches.command("withdraw")
@click.argument("watch_id")
@purpose_options
@click.pass_context
@handle_errors
def watches_withdraw(ctx, watch_id, purpose, case, actor) -> None:
    """End a watch: its template, secret and alerts are deleted.

    Example: faceledger watches withdraw 4 --purpose "consent withdrawn" --case AC-1"""
    with open_from(ctx) as store:
        gone = store.withdraw_watch(watch_id, _ctx(actor, purpose, case))
    click.echo(f"watch {', '.join(map(str, gone))} withdrawn; its template is deleted")


@click.group()
def alerts() -> None:
    """Alerts raised by watches, and their webhook deliveries."""


@alerts.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
@click.pass_context
@handle_errors
def alerts_list(ctx, limit, as_json) -> None:
    """List recent alerts.  Example: faceledger alerts list --limit 20"""
    with open_from(ctx) as store:
        rows = store.alerts(limit)
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    for r in rows:
        click.echo(f"{r.id:>6}  watch {r.watch_id} ({r.label})  face {r.face_id}  "
                   f"{r.similarity:.3f}  {r.source}  {r.created_at}  {r.delivery}"
                   f"{' (' + r.last_error + ')' if r.last_error else ''}")


@alerts.command("deliver")
@click.pass_context
@handle_errors
def alerts_deliver(ctx) -> None:
    """Attempt the webhook deliveries due now (`faceledger serve` does this by itself).

    Example: faceledger alerts deliver"""
    with open_from(ctx) as store:
        counts = store.deliver_alerts()
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()))
