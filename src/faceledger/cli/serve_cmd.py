"""``faceledger serve``, ``faceledger demo`` and ``faceledger apikeys``: the HTTP server and
the API keys that open it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .common import echo_json, handle_errors, json_option, settings_from

DEMO_SOURCE = "lfw-demo"
DEMO_PHOTOS = 300


def _host_port(func):
    func = click.option("--port", type=int, default=8000, show_default=True)(func)
    func = click.option("--host", default="127.0.0.1", show_default=True,
                        help="Interface to listen on (loopback by default).")(func)
    return func


def _run_server(settings, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    from ..api import create_app

    app = create_app(settings)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    click.echo(f"faceledger is serving {settings.data_dir} at http://{shown}:{port}/ "
               f"(API docs at http://{shown}:{port}/docs); Ctrl-C stops it")
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1)


@click.command()
@_host_port
@click.option("--demo", "demo_mode", is_flag=True, help="Same as 'faceledger demo'.")
@click.option("--log-level", default="info", show_default=True)
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, demo_mode: bool, log_level: str) -> None:
    """Start the HTTP API and web UI over the store.

    \b
    Example:
      faceledger --data ./data serve --port 8000
      faceledger apikeys create --role investigator --name alice   # a key to sign in with
    """
    if demo_mode:
        ctx.invoke(demo, host=host, port=port, photos=DEMO_PHOTOS, new_key=False,
                   no_serve=False, log_level=log_level)
        return
    from ..store.store import open_store

    settings = settings_from(ctx)
    open_store(settings).close()  # a clear error now if there is no store
    _run_server(settings, host, port, log_level)


def demo_sample(lfw_images: Path, photos: int) -> list[Path]:
    """A deterministic sample: people with two or more photos, all but their last photo (kept
    out so it can be used as a probe), at most four each, in name order."""
    chosen: list[Path] = []
    for person in sorted(p for p in lfw_images.iterdir() if p.is_dir()):
        files = sorted(person.glob("*.jpg"))
        if len(files) < 2:
            continue
        chosen.extend(files[:-1][:4])
        if len(chosen) >= photos:
            break
    return chosen[:photos]


def prepare_demo(settings, photos: int = DEMO_PHOTOS, echo=click.echo) -> object:
    """Create the store if absent, add the demo source and ingest it. Returns the open store."""
    from ..config import default_datasets_dir
    from ..errors import ConfigError, NotFoundError
    from ..store.store import init_store

    store = init_store(settings)
    try:
        try:
            store.source(DEMO_SOURCE)
        except NotFoundError:
            lfw = default_datasets_dir() / "lfw" / "images"
            if not lfw.is_dir():
                raise ConfigError(
                    f"the demo needs LFW photos in {lfw} (../shared/datasets/lfw/images)"
                )
            sample = demo_sample(lfw, photos)
            listing = Path(settings.data_dir) / "demo" / f"{DEMO_SOURCE}.txt"
            listing.parent.mkdir(parents=True, exist_ok=True)
            listing.write_text(
                "# faceledger demo: a sample of Labeled Faces in the Wild (research use)\n"
                + "".join(p.resolve().as_uri() + "\n" for p in sample)
            )
            store.add_source(
                DEMO_SOURCE, location=str(listing), kind="urls",
                controller="faceledger demo (the person running it)",
                lawful_basis="legitimate-interests",
                special_category_condition="archiving-research",
                purpose="demonstrate face search on a public research dataset (LFW)",
                retention_days=30, minors_policy="none-expected", actor="demo",
            )
            echo(f"added source {DEMO_SOURCE}: {len(sample)} LFW photos, legitimate interests "
                 "(Art. 6(1)(f)) with the Art. 9(2)(j) research condition, kept 30 days")
        report = store.ingest(DEMO_SOURCE, actor="demo")
        echo(f"ingested {DEMO_SOURCE}: {report.photos} new photos, {report.faces} faces, "
             f"{report.skipped} already held, {report.seconds:.1f} s")
    except BaseException:
        store.close()
        raise
    return store


@click.command()
@_host_port
@click.option("--photos", type=int, default=DEMO_PHOTOS, show_default=True,
              help="How many LFW photos the demo source holds.")
@click.option("--new-key", is_flag=True, help="Print a new admin key even if one exists.")
@click.option("--no-serve", is_flag=True, help="Prepare the store and key, then exit.")
@click.option("--log-level", default="warning", show_default=True)
@click.pass_context
@handle_errors
def demo(ctx: click.Context, host: str, port: int, photos: int, new_key: bool, no_serve: bool,
         log_level: str) -> None:
    """Start the server on a ready demo store: create the store in the data dir if absent,
    add a source over a sample of LFW with its lawful basis, ingest it, print a first admin
    key and the URL, then serve.

    \b
    Example:
      faceledger demo                 # store in ./data, http://localhost:8000/
      faceledger --data /tmp/fl demo --port 8080
    """
    from ..api.keys import KeyStore, Role

    settings = settings_from(ctx)
    store = prepare_demo(settings, photos)
    store.close()
    with KeyStore.for_data_dir(settings.data_dir) as keys:
        if new_key or keys.count_active(Role.ADMIN) == 0:
            issued = keys.create("demo-admin", Role.ADMIN)
            click.echo(f"admin API key (shown once, keep it): {issued.secret}")
        else:
            click.echo("an admin key exists already (use --new-key for another, or "
                       "'faceledger apikeys create --role admin --name NAME')")
    click.echo("sign in as admin, create an investigator key on the Admin page, sign in with "
               "it and search with any LFW photo")
    if no_serve:
        return
    _run_server(settings, host, port, log_level)


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
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@apikeys.command("create")
@click.option("--role", required=True,
              type=click.Choice(["admin", "operator", "investigator", "auditor"]))
@click.option("--name", required=True, help="Who holds the key.")
@json_option
@click.pass_context
@handle_errors
def apikeys_create(ctx, role: str, name: str, as_json: bool) -> None:
    """Create a key and print it once.  Example: faceledger apikeys create --role auditor --name bob"""
    from ..store.store import open_store

    with _keys(ctx) as keys:
        issued = keys.create(name, role)
    with open_store(settings_from(ctx)) as store:
        store.record("api_key_create", "cli", inputs={"name": name, "role": role},
                     outputs={"key_id": issued.key.id})
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
    from ..store.store import open_store

    with _keys(ctx) as keys:
        key = keys.revoke(key_id)
    with open_store(settings_from(ctx)) as store:
        store.record("api_key_revoke", "cli", inputs={"key_id": key_id})
    click.echo(f"revoked {key.id} ({key.name}, {key.role.value})")


@apikeys.command("subject-token")
@click.option("--subject", required=True, help="The person's name or request reference.")
@click.option("--kind", type=click.Choice(["access", "erasure", "opt_out"]), default="access",
              show_default=True)
@click.option("--ttl-hours", type=float, default=168.0, show_default=True)
@click.pass_context
@handle_errors
def apikeys_subject_token(ctx, subject: str, kind: str, ttl_hours: float) -> None:
    """Issue a one-time token for a data-subject request (used on /rights).

    Example: faceledger apikeys subject-token --subject REQ-77 --kind access"""
    from ..store.store import open_store

    with _keys(ctx) as keys:
        issued = keys.issue_token(subject, kind, "cli", ttl_hours * 3600)
    with open_store(settings_from(ctx)) as store:
        store.record("subject_token_issue", "cli", inputs={"subject": subject, "kind": kind},
                     outputs={"token_id": issued.token.id})
    click.echo(issued.secret)
    click.echo(f"(one-time {kind} token for {subject}, valid {ttl_hours:g} h)", err=True)
