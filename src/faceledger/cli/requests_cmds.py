"""``faceledger requests``, ``faceledger receipt`` and ``faceledger report``: the register of
rights requests, erasure receipts and the regulator's report (issue 15)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from .common import echo_json, handle_errors, json_option, open_from


@click.group()
def requests() -> None:
    """The register of rights requests (access, erasure, opt-out, objection), with their
    Art. 12(3) deadlines.

    \b
    Example:
      faceledger requests open --kind erasure --subject "Jane Roe" --channel email
      faceledger requests list --overdue
    """


def _register(store):
    from ..privacy.requests import RightsRequests

    return RightsRequests.of(store)


def _line(v) -> str:
    r = v.request
    flag = "  OVERDUE" if v.overdue else ("  (late)" if v.late else "")
    ext = f" (extended: {r.extension_reason})" if r.extended_due_at else ""
    return (f"{r.id}\t{r.kind:<9}\t{r.state:<17}\treceived {r.received_at[:10]}\t"
            f"due {v.due.date()}{ext}\t{r.subject}{flag}")


@requests.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only requests not closed yet.")
@click.option("--overdue", is_flag=True, help="Only open requests past their due date.")
@json_option
@click.pass_context
@handle_errors
def requests_list(ctx, open_only: bool, overdue: bool, as_json: bool) -> None:
    """List requests, overdue ones flagged.  Example: faceledger requests list --open"""
    with open_from(ctx) as store:
        reg = _register(store)
        views = reg.overdue() if overdue else reg.list(open_only=open_only)
    if as_json:
        echo_json([v.as_dict() for v in views])
        return
    for v in views:
        click.echo(_line(v))
    if not views:
        click.echo("no requests", err=True)


@requests.command("show")
@click.argument("request_id")
@json_option
@click.pass_context
@handle_errors
def requests_show(ctx, request_id: str, as_json: bool) -> None:
    """One request in full.  Example: faceledger requests show RR-20260115-3fa29c1b"""
    with open_from(ctx) as store:
        v = _register(store).view(request_id)
    data = v.as_dict()
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if value not in (None, ""):
            click.echo(f"{key}: {value}")


@requests.command("open")
@click.option("--kind", required=True,
              type=click.Choice(["access", "erasure", "opt_out", "objection"]))
@click.option("--subject", required=True, help="The person's name or your reference.")
@click.option("--channel", required=True, help="How it came: email, letter, web form ...")
@click.option("--received", default=None,
              help="When it was received (ISO date or time, UTC); default now. The month "
              "runs from receipt.")
@click.option("--checked-by", default=None, help="Who checked the person's identity.")
@click.option("--method", default=None, help="How the identity was checked.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The photo the identity was checked against (only its "
              "SHA-256 is recorded).")
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def requests_open(ctx, kind, subject, channel, received, checked_by, method, reference,
                  actor) -> None:
    """Record a request as received.

    Example: faceledger requests open --kind access --subject "Jane Roe" --channel email"""
    from ..errors import InvalidRequestError
    from ..privacy.requests import IdentityRecord

    identity = None
    if checked_by or method or reference:
        if not (checked_by and method):
            raise InvalidRequestError("an identity check needs --checked-by and --method")
        sha = hashlib.sha256(reference.read_bytes()).hexdigest() if reference else None
        identity = IdentityRecord(checked_by, method, sha)
    with open_from(ctx) as store:
        row = _register(store).open(kind, subject, channel, actor, received, identity)
    click.echo(row.id)
    click.echo(f"({row.kind} request received {row.received_at}, due {row.due_at}; "
               f"state {row.state})", err=True)


@requests.command("close")
@click.argument("request_id")
@click.option("--done", "outcome", flag_value="done", help="The request was carried out.")
@click.option("--refuse", "outcome", flag_value="refuse", help="The request is refused.")
@click.option("--reason", default="", help="What was done, or why it is refused (required "
              "with --refuse).")
@click.option("--erase-entry", type=int, default=None,
              help="Erasure and opt-out: the seq of the audit log's erase entry that carried "
              "it out (printed by `rights erase`).")
@click.option("--receipt-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the signed erasure receipt to this file.")
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def requests_close(ctx, request_id, outcome, reason, erase_entry, receipt_out, actor) -> None:
    """Close a request, done or refused.

    Example: faceledger requests close RR-20260115-3fa29c1b --done --erase-entry 42
    --receipt-out receipt.json"""
    from ..errors import InvalidRequestError

    if outcome is None:
        raise InvalidRequestError("say --done or --refuse")
    with open_from(ctx) as store:
        row = _register(store).close(request_id, actor, done=outcome == "done", reason=reason,
                                     erase_seq=erase_entry)
    click.echo(f"{row.id} {row.state}: {row.outcome}")
    if row.receipt and receipt_out:
        receipt_out.write_text(row.receipt + "\n")
        click.echo(f"receipt written to {receipt_out}", err=True)


@requests.command("extend")
@click.argument("request_id")
@click.option("--reason", required=True, help="Why more time is needed (told to the person).")
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def requests_extend(ctx, request_id, reason, actor) -> None:
    """Extend the deadline once by 2 months (Art. 12(3)), within the first month.

    Example: faceledger requests extend RR-20260115-3fa29c1b --reason "4 sources to search"
    """
    with open_from(ctx) as store:
        row = _register(store).extend(request_id, reason, actor)
    click.echo(f"{row.id} now due {row.extended_due_at}")


@click.group()
def receipt() -> None:
    """Erasure receipts.  Example: faceledger receipt verify receipt.json"""


@receipt.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@click.pass_context
@handle_errors
def receipt_verify(ctx, file: Path, as_json: bool) -> None:
    """Check a receipt's signature and that the store's audit chain still holds the erasure
    (and nothing erased came back).  Exit 1 if it does not.

    Example: faceledger receipt verify receipt.json"""
    from dataclasses import asdict

    from ..errors import ReceiptError
    from ..privacy.receipts import MAX_RECEIPT_BYTES, Receipt, verify_receipt

    if file.stat().st_size > MAX_RECEIPT_BYTES:
        raise ReceiptError(f"{file} is larger than any receipt ({MAX_RECEIPT_BYTES} bytes)")
    doc = Receipt.from_json(file.read_bytes())
    with open_from(ctx) as store:
        result = verify_receipt(store, doc)
    if as_json:
        echo_json(asdict(result))
    else:
        for line in result.checks:
            click.echo(f"ok: {line}")
        if result.ok:
            click.echo(f"receipt for {result.request_id} verifies")
        else:
            click.echo(f"receipt does NOT verify: {result.reason}", err=True)
    if not result.ok:
        raise SystemExit(1)


@click.group()
def report() -> None:
    """Reports for accountability.  Example: faceledger report regulator --out ./dpo"""


@report.command("regulator")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the report into (created 0700).")
@click.option("--from", "start", default=None, help="Start of the period (ISO date, UTC).")
@click.option("--to", "end", default=None, help="End of the period, exclusive (ISO date).")
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
@handle_errors
def report_regulator(ctx, out: Path, start, end, actor) -> None:
    """Write the folder a DPO hands to a regulator: records of processing (JSON, HTML), a
    DPIA filled from the store's facts, statistics, the audit verification, the signed audit
    export for the period and an index.html with charts.

    Example: faceledger report regulator --out ./dpo --from 2026-01-01 --to 2026-07-01"""
    from ..api.keys import KeyStore
    from ..privacy.report import KeyFact, write_regulator_report
    from ..privacy.requests import parse_time
    from .common import settings_from

    settings = settings_from(ctx)
    with KeyStore.for_data_dir(settings.data_dir) as ks:
        keys = [KeyFact(k.id, k.name, k.role.value, k.revoked_at is not None)
                for k in ks.list(include_revoked=True)]
    with open_from(ctx) as store:
        stats = write_regulator_report(store, out, keys, parse_time(start) if start else None,
                                       parse_time(end) if end else None, actor=actor)
    s, r = stats["searches"], stats["requests"]
    click.echo(f"report written to {out}: {s['total']} searches "
               f"({len(s['undeclared_purpose'])} with an undeclared purpose), {r['total']} "
               f"requests ({len(r['overdue'])} overdue), {stats['erasures']['count']} erasures")
