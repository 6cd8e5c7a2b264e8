"""``faceledger bench ...``: benchmark commands. Each family of commands lives in its own
module and attaches itself to this group."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Measure accuracy and speed on public data sets."""


from . import bench_accuracy, bench_index, bench_ingest, bench_optout  # noqa: E402,F401  (attach their commands)
