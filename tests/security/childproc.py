"""Run Python code in a child process and measure the child's own peak RSS.

The peak is the child's own high-water mark, ``VmHWM`` in ``/proc/self/status``, read by the
child as its last act. ``ru_maxrss`` (from ``wait4`` on that child, also kept) is not enough
alone: Linux carries the high-water mark of the process image replaced by ``execve`` into
it, so a child forked from a pytest process that already holds models would report the
parent's size. A watchdog kills the child past a hard ceiling or a deadline, so that code
which does blow up (as before the fix) fails the test without taking the shared machine down
with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    peak_rss_mb: float  # VmHWM of the child's own address space
    maxrss_mb: float  # ru_maxrss from wait4 (includes the parent's peak before exec)
    stdout: str
    stderr: str
    killed: str | None  # why the watchdog killed it, if it did


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


_REPORT = """
for _line in open("/proc/self/status").read().splitlines():
    if _line.startswith("VmHWM:"):
        print("\\nVMHWM_KB", _line.split()[1], flush=True)
"""


def run_child(code: str, timeout: float = 120, ceiling_mb: float = 1500,
              env: dict[str, str] | None = None) -> ChildRun:
    code = code + "\n" + _REPORT
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err,
                                env={**os.environ, **(env or {})})
        deadline = time.monotonic() + timeout
        killed = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if killed is None and _rss_mb(proc.pid) > ceiling_mb:
                killed = f"RSS over {ceiling_mb} MB"
                os.kill(proc.pid, signal.SIGKILL)
            elif killed is None and time.monotonic() > deadline:
                killed = f"still running after {timeout} s"
                os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode()
        hwm = [int(line.split()[1]) for line in stdout.splitlines()
               if line.startswith("VMHWM_KB ")]
        peak = hwm[-1] / 1024 if hwm else float("inf")  # no report: it died before the end
        return ChildRun(proc.returncode, peak, usage.ru_maxrss / 1024, stdout,
                        err.read().decode(), killed)
