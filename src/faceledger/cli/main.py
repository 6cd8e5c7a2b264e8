"""The ``faceledger`` command line: a thin layer over the library."""

from __future__ import annotations

import click

from .bench import bench


@click.group()
def main() -> None:
    """faceledger: face search over lawfully held photo collections."""


main.add_command(bench)
