"""The machine a benchmark reports: the CPU's name, or its core count when the name cannot
be read."""

from __future__ import annotations

import builtins
import os

from faceledger_bench import machine


def test_the_cpu_is_named_with_its_core_count():
    name = machine.cpu_name()
    assert name.endswith(f" x {os.cpu_count()}") or name == f"{os.cpu_count()} cores"


def test_without_proc_cpuinfo_only_the_core_count(monkeypatch):
    real_open = builtins.open

    def refuse(path, *args, **kwargs):
        if str(path) == "/proc/cpuinfo":
            raise PermissionError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refuse)
    assert machine.cpu_name() == f"{os.cpu_count()} cores"
