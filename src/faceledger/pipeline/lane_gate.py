"""How many of a run's lanes analyse at once: as many as the machine has free cores for.

An ingest with the default worker count starts one lane per core, as threads sharing one
copy of the models. On an idle machine they all run. On a busy one a lane that has no core
of its own only adds work: two lanes on the one core that other jobs leave cost about 4 %
more CPU per photo than one lane there (cache misses, thread switches; docs/benchmarks.md),
so two would be slower than one. The gate lets lane number *k* take its next chunk of photos
only while *k* < ``allowed``, and ``allowed`` follows the free cores
(:class:`~.free_cores.FreeCores`, read a quarter of a second into the run, then about once a
second, smoothed), so the count
goes down when other jobs take the cores and back up when they leave.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from .free_cores import FreeCores

SAMPLE_SECONDS = 1.0
FIRST_SAMPLE_SECONDS = 0.25  # the first reading comes sooner: a busy machine is seen at once
# a further lane is let in once the free cores exceed the lanes at work by this much: below
# it, the extra lane would mostly take turns with the others on the same cores
MARGIN = 0.25


def lanes_for(free: float, lanes: int) -> int:
    """Lanes to let work with ``free`` cores free for them: at least one, at most ``lanes``,
    and one more than the whole cores only past :data:`MARGIN` of a core."""
    return max(1, min(lanes, math.ceil(free - MARGIN)))


class LaneGate:
    """Lanes 0 to :attr:`allowed` - 1 may take work (see the module docstring). ``free``:
    None for a fixed gate that lets every lane in."""

    def __init__(self, lanes: int, free: FreeCores | None,
                 every: float = SAMPLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 first: float = FIRST_SAMPLE_SECONDS) -> None:
        self.lanes = max(1, lanes)
        self.allowed = self.lanes  # all of them, until a sample says otherwise
        self.every = every
        self._free = free
        self._clock = clock
        self._cond = threading.Condition()
        self._smoothed: float | None = None
        start = clock()
        self._next = start + min(first, every)
        self._since = start
        self._allowed_seconds = 0.0  # the integral of `allowed` over time, for mean_allowed
        self._start = start

    def fix(self, lanes: int) -> None:
        """From now on, exactly ``lanes`` lanes, whatever the free cores (a run that turned
        out to need one lane, or lanes in processes of their own)."""
        with self._cond:
            self._account(self._clock())
            self.lanes = self.allowed = max(1, lanes)
            self._free = None
            self._cond.notify_all()

    def wait_turn(self, lane: int, closed: Callable[[], bool] = lambda: False) -> bool:
        """Block until lane number ``lane`` (0, 1, ...) may take its next chunk, that is
        until ``lane < allowed``; False if ``closed()`` turned true first. Lane 0 may always
        go, so with one lane allowed the same lane does all the work (its caches and its
        compiled networks stay warm) and the others wait without taking photos."""
        with self._cond:
            while True:
                if closed():
                    return False
                self._update()
                if lane < self.allowed:
                    return True
                fixed = self._free is None
                self._cond.wait(timeout=None if fixed else max(self.every, 0.01))

    def wake(self) -> None:
        """Let waiting lanes look at ``closed()`` again."""
        with self._cond:
            self._cond.notify_all()

    def _update(self) -> None:
        """Re-read the free cores if a sample is due (under the condition's lock)."""
        now = self._clock()
        if self._free is None or now < self._next:
            return
        self._next = now + self.every
        free = self._free.sample()
        if free is None:
            return
        self._smoothed = free if self._smoothed is None else (self._smoothed + free) / 2
        allowed = lanes_for(self._smoothed, self.lanes)
        if allowed != self.allowed:
            self._account(now)
            self.allowed = allowed
            self._cond.notify_all()

    def _account(self, now: float) -> None:
        self._allowed_seconds += self.allowed * (now - self._since)
        self._since = now

    def mean_allowed(self) -> float:
        """The lanes let work at once, averaged over the gate's life so far."""
        with self._cond:
            now = self._clock()
            total = self._allowed_seconds + self.allowed * (now - self._since)
            return total / (now - self._start) if now > self._start else float(self.allowed)
