"""``faceledger bench``: a group whose commands live in the separate ``faceledger_bench``
package, imported only when a bench command is listed or run, so that the library never
imports the benchmarks."""

from __future__ import annotations

import importlib

import click

BENCH_GROUP = "faceledger_bench.cli:bench"


class LazyGroup(click.Group):
    """A click group standing in for ``target`` ("module:attribute", a click group), which is
    imported on first use; its own help is shown in ``faceledger --help`` without importing."""

    def __init__(self, *args, target: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._target_name = target
        self._group: click.Group | None = None

    def _target(self) -> click.Group:
        if self._group is None:
            module_name, _, attr = self._target_name.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise click.ClickException(
                    f"the benchmark commands need the {module_name} package, installed with "
                    f"faceledger from the same repository ({exc})"
                ) from exc
            self._group = getattr(module, attr)
        return self._group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._target().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._target().get_command(ctx, cmd_name)


bench = LazyGroup(
    "bench", target=BENCH_GROUP, help="Measure accuracy and speed on public data sets."
)
