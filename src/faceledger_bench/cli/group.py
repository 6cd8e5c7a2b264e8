"""The ``faceledger bench`` click group that the command modules attach to."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Measure accuracy and speed on public data sets."""
