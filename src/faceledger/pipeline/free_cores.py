"""How many cores the rest of the machine leaves this process, measured while it runs.

The load average is no good for choosing an ingest's lanes: it lags by a minute, counts this
process's own lanes (a run that follows another sees the first one's load), and counts a
waiting thread as load whether or not it would get a core. What a lane can use is what the
other processes do not: the busy time of the CPUs this process may run on (``/proc/stat``:
user, nice, system, irq, softirq, and steal, the time the hypervisor gave to other guests),
minus this process's own CPU time, over the last interval.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PROC_STAT = Path("/proc/stat")


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def busy_seconds(cpus: set[int], stat: Path = PROC_STAT) -> float | None:
    """Busy CPU seconds so far of ``cpus``, from ``/proc/stat``; None where it cannot be
    read (not Linux) or names none of them (a container that shows the host's CPUs under
    other numbers)."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy, seen = 0, 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        try:
            # user nice system idle iowait irq softirq steal (guest time is inside user)
            user, nice, system, _idle, _iowait, irq, softirq, steal = (
                int(v) for v in rest.split()[:8])
        except ValueError:
            return None
        busy += user + nice + system + irq + softirq + steal
        seen += 1
    return busy / tick if seen else None


class FreeCores:
    """``sample()``: the cores the other processes left free since the previous sample."""

    def __init__(
        self,
        cpus: set[int] | None = None,
        read_busy: Callable[[], float | None] | None = None,
        read_own: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cpus = cpus if cpus is not None else allowed_cpus()
        self._read_busy = read_busy or (lambda: busy_seconds(self.cpus))
        self._read_own = read_own
        self._clock = clock
        self._last = self._reading()

    def _reading(self) -> tuple[float, float | None, float]:
        return self._clock(), self._read_busy(), self._read_own()

    def age(self) -> float:
        """Seconds since the last reading (or since this was made): how long the next
        sample will have watched the machine."""
        return self._clock() - self._last[0]

    def sample(self) -> float | None:
        """Free cores over the interval since the last call (or since this was made), from
        0 to the CPUs this process may use; None if the machine's CPU time is unknown or
        no time has passed."""
        then, now = self._last, self._reading()
        self._last = now
        wall = now[0] - then[0]
        if then[1] is None or now[1] is None or wall <= 0:
            return None
        others = max(0.0, (now[1] - then[1]) - (now[2] - then[2])) / wall
        return max(0.0, min(float(len(self.cpus)), len(self.cpus) - others))
