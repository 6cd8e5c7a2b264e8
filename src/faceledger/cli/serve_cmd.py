"""``faceledger serve`` (``serve --demo``) and ``faceledger apikeys``: the HTTP server and
the API keys that open it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .common import echo_json, handle_errors, json_option, settings_from


def _host_port(func):
    func = click.option("--port", type=int, default=8000, show_default=True)(func)
    func = click.option("--host", default="127.0.0.1", show_default=True,
                        help="Interface to listen on (loopback by default).")(func)
    return func


def _run_server(settings, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    from ..api import create_app
    from ..api.slow_clients import guarded_protocol

    app = create_app(settings)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    click.echo(f"faceledger is serving {settings.data_dir} at http://{shown}:{port}/ "
               f"(API docs at http://{shown}:{port}/docs); Ctrl-C stops it")
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1,
                http=guarded_protocol())


@click.command()
@_host_port
@click.option("--demo", "demo_mode", is_flag=True,
              help="First build the demo store (an LFW sample under a recorded lawful basis, "
              "created and ingested if absent) and print a first admin key.")
@click.option("--people", type=int, default=300, show_default=True,
              help="With --demo: how many LFW people go into the demo sample.")
@click.option("--new-key", is_flag=True,
              help="With --demo: print a new admin key even if one exists.")
@click.option("--no-serve", is_flag=True, help="Prepare (store, demo, key), then exit.")
@click.option("--log-level", default="warning", show_default=True)
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, demo_mode: bool, people: int,
          new_key: bool, no_serve: bool, log_level: str) -> None:
    """Start the HTTP API and web UI over the store.

    \b
    Example:
      faceledger serve --demo                     # demo store in ./data, http://localhost:8000/
      faceledger --data ./data serve --port 8000  # an existing store
      faceledger apikeys create --role investigator --name alice   # a key to sign in with
    """
    settings = settings_from(ctx)
    if demo_mode:
        _prepare_demo(settings, people, new_key)
    else:
        from ..ledger import open_store

        open_store(settings).close()  # a clear error now if there is no store
    if no_serve:
        return
    _run_server(settings, host, port, log_level)


def _prepare_demo(settings, people: int, new_key: bool) -> None:
    """The library's demo store (``faceledger.demo``), then a first admin key."""
    from ..api.key_admin import create_key
    from ..api.keys import KeyStore, Role
    from ..config import default_datasets_dir
    from ..demo import prepare_demo

    d = prepare_demo(settings, default_datasets_dir(), people)
    r = d.report
    click.echo(f"demo store in {settings.data_dir}: source {r.source}, {r.photos} photos read, "
               f"{r.faces} faces, {r.skipped} already there, {r.seconds:.1f} s")
    with d.store, KeyStore.for_data_dir(settings.data_dir) as keys:
        if new_key or keys.count_active(Role.ADMIN) == 0:
            issued = create_key(d.store, keys, "demo-admin", Role.ADMIN, "cli")
            click.echo(f"admin API key (shown once, keep it): {issued.secret}")
        else:
            click.echo("an admin key exists already (--new-key prints another)")
    click.echo("sign in as admin, create an investigator key on the Admin page, sign in with it "
               f"and search with {d.probe} (another photo of someone in the sample)")


@click.group()
def apikeys() -> None:
    """API keys for the HTTP server (stored hashed in DATA/keys.db).

    \b
    Example:
      faceledger apikeys create --role investigator --name alice
      faceledger apikeys list
      faceledger apikeys revoke 3f2a9c1b0d4e
    """


def _keys(ctx: click.Context):
    from ..api.keys import KeyStore

    settings = settings_from(ctx)
    return KeyStore.for_data_dir(settings.data_dir)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@apikeys.command("create")
@click.option("--role", required=True,
              type=click.Choice(["admin", "operator", "investigator", "auditor"]))
@click.option("--name", required=True, help="Who holds the key.")
@json_option
@click.pass_context
@handle_errors
def apikeys_create(ctx, role: str, name: str, as_json: bool) -> None:
    """Create a key and print it once.

    Example: faceledger apikeys create --role auditor --name bob"""
    from ..api.key_admin import create_key
    from ..ledger import open_store

    with open_store(settings_from(ctx)) as store, _keys(ctx) as keys:
        issued = create_key(store, keys, name, role, "cli")
    if as_json:
        echo_json({"key": issued.secret, "id": issued.key.id, "name": name, "role": role})
        return
    click.echo(issued.secret)
    click.echo(f"(key {issued.key.id} for {name}, role {role}; shown once, only its hash is kept)",
               err=True)


@apikeys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@json_option
@click.pass_context
@handle_errors
def apikeys_list(ctx, include_revoked: bool, as_json: bool) -> None:
    """List keys (never their secrets).  Example: faceledger apikeys list --all"""
    with _keys(ctx) as keys:
        rows = keys.list(include_revoked=include_revoked)
    if as_json:
        echo_json([{"id": k.id, "name": k.name, "role": k.role.value, "created_at": k.created_at,
                    "revoked_at": k.revoked_at, "last_used_at": k.last_used_at} for k in rows])
        return
    for k in rows:
        state = "revoked " + _when(k.revoked_at) if k.revoked_at else "active"
        click.echo(f"{k.id}\t{k.role.value:<12}\t{k.name}\tcreated {_when(k.created_at)}\t"
                   f"last used {_when(k.last_used_at)}\t{state}")


@apikeys.command("revoke")
@click.argument("key_id")
@click.pass_context
@handle_errors
def apikeys_revoke(ctx, key_id: str) -> None:
    """Revoke a key by its id.  Example: faceledger apikeys revoke 3f2a9c1b0d4e"""
    from ..api.key_admin import revoke_key
    from ..ledger import open_store

    with open_store(settings_from(ctx)) as store, _keys(ctx) as keys:
        key = revoke_key(store, keys, key_id, "cli")
    click.echo(f"revoked {key.id} ({key.name}, {key.role.value})")


@apikeys.command("subject-token")
@click.option("--subject", required=True, help="The person's name or request reference.")
@click.option("--kind", type=click.Choice(["access", "erasure", "opt_out", "watch"]),
              default="access",
              show_default=True)
@click.option("--reference", "reference", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The photo you checked the person's identity against (an identity "
              "document, a photo they brought). Their selfie must match it 1:1 at the "
              "verification threshold; only its template is kept, encrypted, until the token "
              "is used.")
@click.option("--ttl-hours", type=float, default=168.0, show_default=True)
@click.option("--request", "request_id", default=None,
              help="The register's request this token is for (`faceledger requests open`): "
              "the identity check is recorded on it, and it closes when the token is spent.")
@click.pass_context
@handle_errors
def apikeys_subject_token(ctx, subject: str, kind: str, reference: Path,
                          ttl_hours: float, request_id: str | None) -> None:
    """Issue a one-time token for a data-subject request (used on /rights), bound to the
    person by a reference photo. The token allows 3 attempts at the identity check; the
    one that passes spends it.

    Example: faceledger apikeys subject-token --subject REQ-77 --kind access --reference id.jpg"""
    from ..api.subject_tokens import issue_subject_token
    from ..ledger import open_store

    with open_store(settings_from(ctx)) as store, _keys(ctx) as keys:
        issued = issue_subject_token(store, keys.tokens, subject, kind, reference, "cli",
                                     ttl_hours * 3600, request_id=request_id)
    click.echo(issued.secret)
    click.echo(f"(one-time {kind} token for {subject}, valid {ttl_hours:g} h, bound to the "
               f"reference photo {issued.token.reference_sha256[:16]}...)", err=True)
