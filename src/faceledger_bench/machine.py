"""What machine a benchmark ran on, for its report: the CPU, and the precision OpenVINO's
CPU plugin infers in there by default.

The same benchmark gives figures several times apart on the machines these benchmarks run
on: OpenVINO runs the default pack's FP16 networks in bf16 on a CPU with AMX or AVX-512
BF16 and in f32 on one with only AVX2, and 0095 costs 2.5-3 times as much in f32
(docs/benchmarks.md). A figure is read with the machine that produced it.
"""

from __future__ import annotations

import os


def cpu_name() -> str:
    """The CPU's model name and core count ("AMD EPYC x 2"), or the core count alone."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


def openvino_precision() -> str | None:
    """The precision OpenVINO's CPU plugin infers in unless told otherwise ("f32", "bf16",
    ...), or None without OpenVINO."""
    try:
        import openvino as ov

        hint = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
        return hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    except Exception:  # not installed, or no CPU plugin: nothing to report
        return None
