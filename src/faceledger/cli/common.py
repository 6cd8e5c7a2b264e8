"""What every command shares: settings from options and environment, opening the store,
turning library errors into one clean line on stderr."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..config import Settings
from ..errors import FaceLedgerError


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    obj = ctx.find_root().obj or {}
    base = dict(obj)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.from_env(**base)


def open_from(ctx: click.Context):
    from ..ledger import open_store

    return open_store(settings_from(ctx))


def handle_errors(func: Callable) -> Callable:
    """Library errors become ``error: <message>`` and exit status 2; Ctrl-C exits 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FaceLedgerError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(2)

    return wrapper


def purpose_options(func: Callable) -> Callable:
    """--purpose, --case and --actor: recorded in the audit log with every search."""
    func = click.option("--actor", default="cli", show_default=True, help="Who is asking.")(func)
    func = click.option("--case", "case", help="Case or request reference (required by default).")(
        func
    )
    func = click.option("--purpose", help="Why this search is made (required by default).")(func)
    return func


def far_option(func: Callable) -> Callable:
    return click.option(
        "--far",
        type=float,
        default=None,
        help="Operating point: the false-accept rate whose calibrated threshold decides "
        "'match': one of the pack's calibrated rates, 1e-2, 1e-3, 1e-4 or 1e-5 (any other "
        "value is refused). Default: FACELEDGER_SEARCH_FAR (1e-5) for search, "
        "FACELEDGER_OPERATING_FAR (1e-4) for verify.",
    )(func)


def accurate_option(func: Callable) -> Callable:
    return click.option(
        "--accurate/--no-accurate",
        default=None,
        help="Compare with the pack fused with a second recognizer (slower, fewer errors at "
        "strict rates), decided at the fusion's own calibrated thresholds. Default: "
        "FACELEDGER_ACCURATE (off).",
    )(func)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value)}")
