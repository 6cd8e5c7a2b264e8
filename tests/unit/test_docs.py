"""Every command the CLI offers is shown in the README, and every command has an example."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from faceledger.cli.main import main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def commands(group: click.Group, prefix: str = "faceledger"):
    # list_commands/get_command, not .commands: ``bench`` loads its commands on demand
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            yield from commands(cmd, path)
        else:
            yield path, cmd


TOP_LEVEL = sorted(main.commands)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_every_top_level_command_is_in_the_readme(name):
    assert f"faceledger {name}" in README, f"'faceledger {name}' is not documented in README.md"


@pytest.mark.parametrize(
    "path,cmd", list(commands(main)), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_command_has_help_with_an_example(path, cmd):
    text = cmd.help or ""
    assert text.strip(), f"{path} has no help"
    assert "Example" in text or "example" in text, f"{path}'s help gives no example"
