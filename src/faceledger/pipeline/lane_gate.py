"""How many of a run's lanes analyse at once: as many as the machine has free cores for.

An ingest with the default worker count starts one lane per core, as threads sharing one
copy of the models. On an idle machine they all run. On a busy one a lane that has no core
of its own only adds work: two lanes on the one core that other jobs leave cost about 4 %
more CPU per photo than one lane there (cache misses, thread switches; docs/benchmarks.md),
so two would be slower than one. The gate lets lane number *k* take its next chunk of photos
only while *k* < ``allowed``, and ``allowed`` follows the free cores
(:class:`~.free_cores.FreeCores`, first read once they have been watched for a tenth of a
second, then about once a second, smoothed), so the count goes down when other jobs take
the cores and back up when they leave. A tenth of a second is enough to tell: 30 readings
over 0.1 s each on the 2-core test machine, while this process kept one core busy, gave
1.91-2.00 free cores on the idle machine and 0.88-1.11 with a busy loop in another session
(the same as over 0.25 s), each time the right lane count.

Until that first reading only lane 0 works: a lane let in before the machine is known to
have a core for it builds its copy of the detector, compiles the networks it is the second
to need at once and takes a chunk of photos, and on a busy machine all of that is paid on
the one core the others leave (measured: 0.4 s of CPU, 3 % of a 500-photo run). The ingest
starts watching the machine before lane 0 starts, and lane 0 detects while the recognizer
loads, so a second lane waits about a tenth of a second of the run.

That first reading comes while this process starts: its lane, readers and the recognizer's
loading thread run at once, and the kernel gives them part of the other jobs' time. With a
busy loop in another session, the first tenth of a second of a default ingest read 1.02-1.45
free cores (22 runs on the 2-core test machine; 1.0 over a whole second), and a reading
above 1.25 let a second lane onto the busy core until the next reading, a second later (6 of
58 busy runs, 2026-12-07). So the first reading lets a further lane in at once only past
:data:`FIRST_MARGIN` of a core (the idle machine read 1.91-2.00); one that only
:data:`MARGIN` would let in is not used, and the reading :data:`CONFIRM_SECONDS` later,
after the start, decides instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from .free_cores import FreeCores

SAMPLE_SECONDS = 1.0
FIRST_SAMPLE_SECONDS = 0.1  # the first reading comes sooner: a busy machine is seen at once
# a further lane is let in once the free cores exceed the lanes at work by this much: below
# it, the extra lane would mostly take turns with the others on the same cores
MARGIN = 0.25
# the same for the first reading, which this process's start-up inflates (module docstring)
FIRST_MARGIN = 0.6
CONFIRM_SECONDS = 0.2  # after a first reading that only MARGIN would act on, the next one


def lanes_for(free: float, lanes: int, margin: float = MARGIN) -> int:
    """Lanes to let work with ``free`` cores free for them: at least one, at most ``lanes``,
    and one more than the whole cores only past ``margin`` of a core."""
    return max(1, min(lanes, math.ceil(free - margin)))


class LaneGate:
    """Lanes 0 to :attr:`allowed` - 1 may take work (see the module docstring). ``free``:
    None for a fixed gate that lets every lane in; otherwise only lane 0 until the first
    reading, once ``free`` has watched the machine for ``first`` seconds (at once if it
    already has), and every lane if the machine's CPU time cannot be read."""

    def __init__(self, lanes: int, free: FreeCores | None,
                 every: float = SAMPLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 first: float = FIRST_SAMPLE_SECONDS) -> None:
        self.lanes = max(1, lanes)
        self.allowed = self.lanes if free is None else 1  # the rest once a reading allows
        self.every = every
        self._free = free
        self._clock = clock
        self._cond = threading.Condition()
        self._smoothed: float | None = None
        self._confirming = False  # the first reading was set aside (see the module docstring)
        start = clock()
        watched = free.age() if free is not None else 0.0
        self._next = start + max(0.0, min(first, every) - watched)
        self._since = start
        self._allowed_seconds = 0.0  # the integral of `allowed` over time, for mean_allowed
        self._start = start
        with self._cond:
            self._update()  # a reading already due (``first`` 0) counts from the start

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
                if self._free is None:  # fixed: only fix() or wake() changes anything
                    self._cond.wait()
                else:  # until the next reading is due
                    self._cond.wait(timeout=max(self._next - self._clock(), 0.01))

    def wake(self) -> None:
        """Let waiting lanes look at ``closed()`` again."""
        with self._cond:
            self._cond.notify_all()

    def _update(self) -> None:
        """Re-read the free cores if a sample is due (under the condition's lock)."""
        now = self._clock()
        if self._free is None or now < self._next:
            return
        free = self._free.sample()
        if (self._smoothed is None and free is not None and not self._confirming
                and lanes_for(free, self.lanes, FIRST_MARGIN) < lanes_for(free, self.lanes)):
            self._confirming = True  # a start-up reading in between: read again soon
            self._next = now + CONFIRM_SECONDS
            return
        self._next = now + self.every
        if free is None:  # unknown: the cores this process may use, as with no gate
            allowed = self.lanes if self._smoothed is None else self.allowed
        else:
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
