"""Commands for accountability and data-subject rights: ``audit``, ``rights``, ``retention``,
``keys``. Each one opens the store, calls ``faceledger.privacy`` and prints the outcome."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from ..errors import LawfulBasisError
from .common import (
    accurate_option,
    echo_json,
    handle_errors,
    json_option,
    open_from,
    purpose_options,
)

SELFIE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _context(store, actor: str, purpose: str | None, case: str | None, default_purpose: str):
    from ..types import ActionContext

    if store.settings.require_purpose and not case:
        raise LawfulBasisError(
            "a rights request needs a case reference (--case), recorded in the audit log"
        )
    return ActionContext(actor, purpose or default_purpose, case)


# -- audit -------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """Verify and export the hash-chained audit log."""


@audit.command("verify")
@click.option("--anchor", help="SEQ:HASH noted earlier (from a previous verify); the log must "
              "still contain that entry with that hash.")
@click.option("--file", "export_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify an exported JSON-lines copy instead of the store's log (its signed "
              "trailer is checked with the store's key when the store can be opened).")
@json_option
@click.pass_context
@handle_errors
def audit_verify(ctx, anchor, export_file, as_json) -> None:
    """Check that no entry was edited, deleted or reordered, and that the log was not
    wiped, truncated or rolled back; exit status 1 if it was.

    \b
    Examples:
      faceledger audit verify --anchor 1200:3f5a...
      faceledger audit verify --file audit.jsonl --anchor 1200:3f5a...
    """
    pin = _parse_anchor(anchor) if anchor else None
    interrupted: list[str] = []
    running: list[str] = []
    if export_file is not None:
        result = _verify_export(ctx, export_file, pin)
    else:
        with open_from(ctx) as store:
            result = store.audit.verify(anchor=pin)
            for entry, live in store.open_intents():
                what = f"entry {entry.seq} {entry.action} by {entry.actor} at {entry.at}"
                (running if live else interrupted).append(what)
    if as_json:
        echo_json({**asdict(result), "interrupted": interrupted, "running": running})
    elif result.ok:
        sealed = " (head sealed with the store key)" if result.head_sealed else ""
        click.echo(f"audit log intact: {result.entries} entries; head {result.head_seq}:"
                   f"{result.head_hash}{sealed}")
        if export_file is not None and not result.trailer_authenticated:
            click.echo("note: the export's trailer was NOT authenticated (no store key to "
                       "check it with); a copy cut and re-signed would pass", err=True)
        for what in running:
            click.echo(f"in progress: {what}")
    else:
        where = f" at entry {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        click.echo(f"AUDIT LOG BROKEN{where}: {result.reason}", err=True)
    for what in interrupted:
        click.echo(f"INTERRUPTED (begun, never completed): {what}", err=True)
    if not result.ok or interrupted:
        sys.exit(1)


def _parse_anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    digest = digest.strip().lower()
    if not seq.strip().isdigit() or len(digest) != 64 or any(
        c not in "0123456789abcdef" for c in digest
    ):
        raise click.BadParameter("give SEQ:HASH as printed by `audit verify`",
                                 param_hint="--anchor")
    return int(seq), digest


def _verify_export(ctx, export_file: Path, pin):
    """With the store's key when the store opens, else the trailer is only checked for
    consistency (the result says so)."""
    from ..errors import ConfigError, NotFoundError
    from ..privacy.audit import verify_jsonl

    with open(export_file, encoding="utf-8") as fh:
        try:
            store = open_from(ctx)
        except (NotFoundError, ConfigError):
            return verify_jsonl(fh, anchor=pin)
        with store:
            return store.audit.verify_export(fh, anchor=pin)


@audit.command("export")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")
@click.option("--since", type=int, default=0, show_default=True, help="Only entries after SEQ.")
@click.pass_context
@handle_errors
def audit_export(ctx, out, since) -> None:
    """Write the log as JSON lines, hashes included, and a last line (the trailer) with the
    count, the last hash and an HMAC under the store key (verify a copy with --file).

    Example: faceledger audit export --out audit.jsonl
    """
    with open_from(ctx) as store:
        if out is None:
            store.audit.export_jsonl(sys.stdout, since_seq=since)
            return
        with open(out, "w", encoding="utf-8") as fh:
            count = store.audit.export_jsonl(fh, since_seq=since)
    click.echo(f"{count} entries written to {out}", err=True)


# -- rights ------------------------------------------------------------------------------


@click.group()
def rights() -> None:
    """Data-subject rights: access, erasure and opt-out (GDPR Articles 15, 17, 21)."""


@rights.command("access")
@click.argument("selfies", nargs=-1, required=True, type=SELFIE)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the person's copy (index.html, access.json, crops/).")
@click.option("--far", type=float, default=None,
              help="High-recall operating point (default 1e-3 per comparison).")
@accurate_option
@purpose_options
@json_option
@click.pass_context
@handle_errors
def rights_access(ctx, selfies, out_dir, far, accurate, purpose, case, actor, as_json) -> None:
    """Write a person's copy of every face of theirs the store holds.

    Example: faceledger rights access selfie1.jpg selfie2.jpg --out ./req-42 --case REQ-42
    """
    from ..privacy.access import export_access

    with open_from(ctx) as store:
        context = _context(store, actor, purpose, case, "data-subject access request")
        report = export_access(store, list(selfies), out_dir, context=context, far=far,
                               accurate=accurate)
    if as_json:
        echo_json(asdict(report))
        return
    click.echo(f"{report.faces} face(s) found; copy written to {report.html_path} and "
               f"{report.json_path} (audit entry {report.audit_seq}). Review any 'possible' "
               "faces before handing it over.")


@rights.command("erase")
@click.argument("selfies", nargs=-1, type=SELFIE)
@click.option("--face", "face_ids", multiple=True, type=int, help="Face id to erase (repeat).")
@click.option("--photo", "photo_ids", multiple=True, type=int, help="Photo id to erase (repeat).")
@click.option("--exclude", multiple=True, type=int,
              help="With selfies: a listed face id that is not the person (repeat).")
@click.option("--include-possible", is_flag=True,
              help="With selfies: also erase faces listed as 'possible' (review them first).")
@click.option("--include-cluster", is_flag=True,
              help="With selfies: also erase the faces reached only through the person's "
              "cluster (listed as 'cluster'; review them first, or confirm some with --face).")
@click.option("--person", "person_ids", multiple=True, type=int,
              help="Erase every face of this person (repeat); review its page first.")
@click.option("--far", type=float, default=None,
              help="With selfies: operating point for finding the faces (default 1e-3).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--vacuum", is_flag=True, help="Also VACUUM the catalog (slow on big stores).")
@accurate_option
@purpose_options
@json_option
@click.pass_context
@handle_errors
def rights_erase(ctx, selfies, face_ids, photo_ids, exclude, include_possible, include_cluster,
                 person_ids, far, yes, vacuum, accurate, purpose, case, actor,
                 as_json) -> None:
    """Erase a person's faces: found with selfies (listed for review first), by person, or
    by id. With selfies, the faces matched directly are erased as decided ('match'; 'possible'
    with --include-possible); the faces reached only through the person's cluster are listed
    apart and erased only with --include-cluster, or one by one with --face.

    \b
    Examples:
      faceledger rights erase selfie.jpg --case REQ-43            # list, confirm, erase
      faceledger rights erase selfie.jpg --face 17 --case REQ-43  # and cluster face 17
      faceledger rights erase selfie.jpg --include-cluster --case REQ-43
      faceledger rights erase --person 12 --case REQ-43
      faceledger rights erase --face 17 --face 18 --case REQ-43 --yes
      faceledger rights erase --photo 5 --case REQ-44 --yes
    """
    from ..privacy.erasure import erase, plan_erasure
    from ..privacy.rights import chosen_faces, find_for_erasure
    from ..store.persons import Persons

    if not (selfies or face_ids or photo_ids or person_ids):
        raise click.UsageError("give selfies, --person ids, --face ids or --photo ids")
    with open_from(ctx) as store:
        context = _context(store, actor, purpose, case, "data-subject erasure request")
        faces = set(face_ids)
        extra: dict = {}
        table = Persons(store.catalog)
        for pid in person_ids:
            table.require(pid)
            faces |= set(table.members(pid))
        if person_ids:
            extra["persons"] = sorted(set(person_ids))
        if selfies:
            from ..privacy.access import selfie_embeddings
            from ..privacy.accurate import fused_selfies

            vectors, hashes = selfie_embeddings(store, list(selfies))
            fused = (fused_selfies(store, list(selfies), vectors)
                     if store.use_accurate(accurate) else None)
            person = find_for_erasure(store, vectors, hashes, far, fused=fused)
            chosen = set(chosen_faces(person, None, include_possible, include_cluster))
            chosen -= set(exclude)
            records = store.catalog.faces(person.face_ids + person.cluster_face_ids)
            if not as_json:
                click.echo(f"{len(person.matches)} face(s) found at similarity >= "
                           f"{person.threshold:.3f}:")
                for m in person.matches:
                    rec = records[m.face_id]
                    mark = "" if m.face_id in chosen else "  (kept: excluded or 'possible')"
                    click.echo(f"  face {m.face_id:>7}  {m.similarity:6.3f}  {m.decision:<8} "
                               f"{rec.photo_uri}  source={rec.source}{mark}")
                if person.cluster:
                    click.echo(f"{len(person.cluster)} face(s) reached only through the "
                               f"person's cluster (review: erased only with "
                               f"--include-cluster or --face ID):")
                for m in person.cluster:
                    rec = records[m.face_id]
                    mark = "" if m.face_id in chosen | faces else "  (kept: not confirmed)"
                    click.echo(f"  face {m.face_id:>7}  {m.similarity:6.3f}  cluster  "
                               f"person {m.person_id}  {rec.photo_uri}  source={rec.source}"
                               f"{mark}")
            faces |= chosen
            extra.update(selfies_sha256=person.selfies_sha256, found=len(person.matches),
                         reached_through_persons=len(person.cluster),
                         cluster_faces_erased=len(set(person.cluster_face_ids) & faces))
        plan, missing = plan_erasure(store, faces, photo_ids)
        if missing:
            click.echo(f"not found (already erased?): {', '.join(map(str, missing))}", err=True)
        if plan.empty:
            click.echo("nothing to erase")
            return
        if not yes and not click.confirm(
            f"Erase {len(plan.face_ids)} face(s) and {len(plan.photo_ids)} photo record(s)?"
        ):
            click.echo("nothing erased")
            return
        report = erase(store, face_ids=faces, photo_ids=photo_ids, context=context,
                       inputs=extra, vacuum=vacuum)
        kept = sorted(set(person.cluster_face_ids) - faces) if selfies else []
    if as_json:
        echo_json({**asdict(report), "cluster_faces_kept_for_review": kept})
        return
    if kept:
        click.echo(f"{len(kept)} face(s) reached only through the cluster were kept (not "
                   "confirmed)")
    click.echo(f"erased {len(report.faces)} face(s), {len(report.photos)} photo record(s), "
               f"{report.index_vectors} index vector(s); WAL "
               f"{'truncated' if report.checkpointed else 'NOT truncated (a reader is open)'}"
               f"{', catalog vacuumed' if report.vacuumed else ''} (audit entry "
               f"{report.audit_seq})")


@rights.group("optout")
def optout() -> None:
    """The opt-out list: people whose faces every later ingest drops."""


@optout.command("add")
@click.argument("selfies", nargs=-1, type=SELFIE)
@click.option("--person", "person_id", type=int, default=None,
              help="Instead of selfies: opt this whole person out (the mean of its faces is "
              "the template; every face of it is erased). Review its page first.")
@click.option("--reference", help="The request this answers (default: the case reference).")
@click.option("--keep-existing", is_flag=True,
              help="Do not erase the faces held now (by default they are erased at the "
              "strict operating point).")
@accurate_option
@purpose_options
@json_option
@click.pass_context
@handle_errors
def optout_add(ctx, selfies, person_id, reference, keep_existing, accurate, purpose, case,
               actor, as_json) -> None:
    """Put a person on the opt-out list (one template, kept encrypted, used only to block).

    \b
    Examples:
      faceledger rights optout add selfie.jpg --case REQ-45
      faceledger rights optout add --person 12 --case REQ-45
    """
    from ..privacy.rights import opt_out_person, opt_out_person_id

    if bool(selfies) == (person_id is not None):
        raise click.UsageError("give selfies or --person, not both")
    if person_id is not None and keep_existing:
        raise click.UsageError("--person erases the person's faces; --keep-existing does not "
                               "apply")
    with open_from(ctx) as store:
        context = _context(store, actor, purpose, case, "data-subject opt-out request")
        if person_id is not None:
            result = opt_out_person_id(store, person_id, context=context, reference=reference)
        else:
            result = opt_out_person(store, list(selfies), context=context,
                                    reference=reference, erase_existing=not keep_existing,
                                    accurate=accurate)
    if as_json:
        echo_json(asdict(result))
        return
    erased = f"; {len(result.erased.faces)} face(s) held now erased" if result.erased else ""
    click.echo(f"opt-out entry {result.entry.id} (template from {result.entry.selfies} selfie(s), "
               f"reference {result.entry.reference}){erased}")


@optout.command("list")
@json_option
@click.pass_context
@handle_errors
def optout_list(ctx, as_json) -> None:
    """List opt-out entries (never their templates).  Example: faceledger rights optout list"""
    with open_from(ctx) as store:
        entries = store.optout.entries()
        threshold = store.optout.threshold
    if as_json:
        echo_json({"threshold": threshold, "entries": [asdict(e) for e in entries]})
        return
    click.echo(f"{len(entries)} entries (blocking at similarity >= {threshold:.3f})")
    for e in entries:
        click.echo(f"  {e.id:>5}  {e.reference}  {e.selfies} selfie(s)  {e.created_at}  "
                   f"by {e.created_by}")


@optout.command("remove")
@click.argument("entry_id", type=int)
@purpose_options
@click.pass_context
@handle_errors
def optout_remove(ctx, entry_id, purpose, case, actor) -> None:
    """Remove an entry (the person withdrew it).  Example: faceledger rights optout remove 3"""
    from ..privacy.rights import remove_opt_out

    with open_from(ctx) as store:
        context = _context(store, actor, purpose, case, "opt-out withdrawn")
        entry = remove_opt_out(store, entry_id, context=context)
    click.echo(f"opt-out entry {entry.id} ({entry.reference}) removed")


# -- retention ---------------------------------------------------------------------------


@click.group()
def retention() -> None:
    """Erase what is past its source's retention period."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what is expired.")
@click.option("--now", "now", default=None,
              help="Pretend it is this UTC time (ISO 8601), e.g. to preview next month.")
@json_option
@click.pass_context
@handle_errors
def retention_run(ctx, dry_run, now, as_json) -> None:
    """Erase every photo older than its source allows (idempotent).

    Example: faceledger retention run      (e.g. daily from cron)
    """
    from ..privacy.retention import run_retention

    when = None
    if now:
        when = datetime.fromisoformat(now)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    with open_from(ctx) as store:
        report = run_retention(store, now=when, dry_run=dry_run)
    if as_json:
        echo_json({"now": report.now, "expired_photos": report.expired_photos,
                   "photos_erased": report.photos, "faces_erased": report.faces,
                   "watches_expired": report.expired_watches})
        return
    per = ", ".join(f"{k}: {v}" for k, v in report.expired_photos.items()) or "none"
    if dry_run:
        click.echo(f"expired photos per source: {per}; would erase "
                   f"{sum(report.expired_photos.values())} photo(s) and their faces")
        return
    click.echo(f"expired photos per source: {per}; erased {report.photos} photo(s), "
               f"{report.faces} face(s); {len(report.expired_watches)} expired watch(es) "
               "deleted")


# -- keys --------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """The template key (embeddings and the index are encrypted with it)."""


@keys.command("rotate")
@click.option("--new-key-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Only when the key comes from FACELEDGER_KEY: where to write the new key.")
@json_option
@click.pass_context
@handle_errors
def keys_rotate(ctx, new_key_out, as_json) -> None:
    """Re-encrypt every template and the index with a new key; retire the old one.

    Example: faceledger keys rotate
    """
    from contextlib import ExitStack

    from ..api.keys import KeyStore
    from ..privacy.keys import rotate_keys

    with open_from(ctx) as store, ExitStack() as stack:
        also = []
        if KeyStore.exists_for(store.data_dir):  # open subject tokens' reference templates
            also.append(stack.enter_context(KeyStore.for_data_dir(store.data_dir)).tokens)
        report = rotate_keys(store, new_key_out=new_key_out, also=also)
    if as_json:
        echo_json(asdict(report))
        return
    others = "".join(f", {n} {name.replace('_', ' ')}" for name, n in report.others.items())
    click.echo(f"key {report.old_key_id} -> {report.new_key_id}: {report.faces} template(s), "
               f"{report.optout_templates} opt-out template(s){others} re-encrypted; key file "
               f"{report.key_file}")
