"""The free cores are read from /proc/stat less this process's own CPU, and the lane gate
lets in as many lanes as they allow: fewer when other jobs take the cores, more when they
leave, never none."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from faceledger.pipeline.free_cores import FreeCores, busy_seconds
from faceledger.pipeline.lane_gate import FIRST_MARGIN, LaneGate, lanes_for
from faceledger.pipeline.lane_pool import LanePool

STAT = """cpu  900 0 300 5000 10 0 0 0 0 0
cpu0 400 0 100 2500 5 0 0 0 0 0
cpu1 500 0 200 2500 5 0 0 100 0 0
intr 12345
ctxt 678
"""


def test_busy_seconds_reads_only_the_cpus_asked_for(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    tick = 100  # SC_CLK_TCK on Linux
    assert busy_seconds({0}, stat) == pytest.approx(500 / tick)
    assert busy_seconds({1}, stat) == pytest.approx(800 / tick)  # steal counts as taken
    assert busy_seconds({0, 1}, stat) == pytest.approx(1300 / tick)
    assert busy_seconds({7}, stat) is None  # none of ours listed
    assert busy_seconds({0}, tmp_path / "missing") is None
    stat.write_text("cpu0 1 2 x\n")
    assert busy_seconds({0}, stat) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_free_cores_are_the_cores_less_what_others_used():
    clock, busy, own = Clock(), [0.0], [0.0]
    free = FreeCores({0, 1}, read_busy=lambda: busy[0], read_own=lambda: own[0], clock=clock)
    clock.now, busy[0], own[0] = 1.0, 1.8, 1.7  # the machine busy 1.8 s, 1.7 s of it ours
    assert free.sample() == pytest.approx(1.9)
    clock.now, busy[0], own[0] = 2.0, 3.6, 2.5  # others took a whole core
    assert free.sample() == pytest.approx(1.0)
    clock.now, busy[0], own[0] = 3.0, 6.0, 2.5  # a third core's worth of others: none free
    assert free.sample() == 0.0
    assert free.sample() is None  # no time has passed
    unknown = FreeCores({0}, read_busy=lambda: None, clock=clock)
    clock.now = 4.0
    assert unknown.sample() is None


def test_lanes_follow_the_free_cores_with_a_margin():
    assert lanes_for(2.0, 2) == 2
    assert lanes_for(1.3, 2) == 2  # a third of a core more: worth a second lane
    assert lanes_for(1.2, 2) == 1  # a fifth: the lanes would mostly take turns
    assert lanes_for(1.0, 2) == 1
    assert lanes_for(0.0, 2) == 1  # never none
    assert lanes_for(7.9, 4) == 4
    assert lanes_for(3.1, 8) == 3


class FakeFree:
    def __init__(self, value: float | None) -> None:
        self.value = value

    def sample(self) -> float | None:
        return self.value

    def age(self) -> float:
        return 0.0  # made just now


def test_the_gate_closes_on_a_busy_machine_and_opens_when_it_frees():
    clock, free = Clock(), FakeFree(2.0)
    gate = LaneGate(2, free, every=1.0, clock=clock, first=0.0)  # type: ignore[arg-type]
    assert gate.allowed == 2  # a reading due at once is taken before any lane asks
    clock.now = 1.0
    free.value = 0.0  # others took both cores: smoothed, (2.0 + 0.0) / 2 = 1.0 free
    assert gate.wait_turn(0)
    assert gate.allowed == 1
    clock.now = 1.5  # no sample due yet
    free.value = 2.0
    assert gate.wait_turn(0)
    assert gate.allowed == 1
    clock.now = 2.0
    free.value = None  # an unreadable sample changes nothing
    assert gate.wait_turn(0)
    assert gate.allowed == 1
    clock.now = 3.0
    free.value = 1.5  # smoothed: (1.0 + 1.5) / 2 = 1.25 free, not enough for two
    assert gate.wait_turn(0)
    assert gate.allowed == 1
    clock.now = 4.0
    free.value = 2.0  # (1.25 + 2.0) / 2 = 1.63
    assert gate.wait_turn(0)
    assert gate.allowed == 2
    clock.now = 5.0
    assert gate.mean_allowed() == pytest.approx((2 * 1 + 1 * 3 + 2 * 1) / 5)


def test_only_lane_0_works_until_the_first_reading_a_tenth_of_a_second_in():
    clock, free = Clock(), FakeFree(2.0)
    gate = LaneGate(2, free, clock=clock)  # type: ignore[arg-type]
    assert gate.allowed == 1  # no reading yet: a second lane could only contend
    clock.now = 0.08
    assert gate.wait_turn(0) and gate.allowed == 1  # not yet
    clock.now = 0.1
    assert gate.wait_turn(0) and gate.allowed == 2  # two cores free
    clock.now = 0.9
    free.value = 0.0
    assert gate.wait_turn(0) and gate.allowed == 2  # then once a second
    clock.now = 1.1
    assert gate.wait_turn(0) and gate.allowed == 1  # (2.0 + 0.0) / 2 = 1.0
    clock.now = 1.25
    assert gate.mean_allowed() == pytest.approx((1 * 0.1 + 2 * 1.0 + 1 * 0.15) / 1.25)


class Readings:
    """A FreeCores stand-in that gives ``values`` in turn and records when it was read."""

    def __init__(self, clock: Clock, *values: float) -> None:
        self.clock, self.values, self.read_at = clock, list(values), []

    def sample(self) -> float:
        self.read_at.append(self.clock.now)
        return self.values.pop(0)

    def age(self) -> float:
        return 0.0


def test_lanes_for_takes_a_margin():
    assert lanes_for(1.45, 2, FIRST_MARGIN) == 1  # the busy machine's highest start reading
    assert lanes_for(1.91, 2, FIRST_MARGIN) == 2  # the idle machine's lowest
    assert lanes_for(1.45, 2) == 2


def test_a_start_up_reading_that_only_the_small_margin_allows_is_read_again():
    """A busy machine read as 1.45 free cores while this process starts (its own threads
    took part of the other job's core) keeps one lane; the reading 0.2 s later decides."""
    clock = Clock()
    busy = Readings(clock, 1.45, 1.02, 1.0)
    gate = LaneGate(2, busy, clock=clock)  # type: ignore[arg-type]
    clock.now = 0.1
    assert gate.wait_turn(0) and gate.allowed == 1  # set aside, not acted on
    clock.now = 0.29
    assert gate.wait_turn(0) and gate.allowed == 1 and busy.read_at == [0.1]
    clock.now = 0.31
    assert gate.wait_turn(0) and gate.allowed == 1 and busy.read_at == [0.1, 0.31]
    clock.now = 1.0
    assert gate.wait_turn(0) and busy.read_at == [0.1, 0.31]  # then once a second
    clock.now = 1.31
    assert gate.wait_turn(0) and gate.allowed == 1 and busy.read_at == [0.1, 0.31, 1.31]
    # 1.02 is the first reading used: smoothed with the next, (1.02 + 1.0) / 2
    assert gate.mean_allowed() == pytest.approx(1.0)


def test_a_start_up_reading_in_between_confirmed_lets_the_lane_in():
    clock = Clock()
    gate = LaneGate(2, Readings(clock, 1.45, 1.5), clock=clock)  # type: ignore[arg-type]
    clock.now = 0.1
    assert gate.wait_turn(0) and gate.allowed == 1
    clock.now = 0.31
    assert gate.wait_turn(0) and gate.allowed == 2  # half a core to spare, after the start
    assert gate.wait_turn(1)


def test_a_clear_start_up_reading_acts_at_once():
    clock = Clock()
    idle = Readings(clock, 1.91)
    gate = LaneGate(2, idle, clock=clock)  # type: ignore[arg-type]
    clock.now = 0.1
    assert gate.wait_turn(0) and gate.allowed == 2 and idle.read_at == [0.1]
    assert gate.wait_turn(1)
    clock = Clock()
    busy = Readings(clock, 1.1)
    gate = LaneGate(2, busy, clock=clock)  # type: ignore[arg-type]
    clock.now = 0.1
    assert gate.wait_turn(0) and gate.allowed == 1
    clock.now = 0.31
    assert gate.wait_turn(0) and busy.read_at == [0.1]  # the next reading a second on


def test_a_machine_whose_cpu_time_cannot_be_read_gets_every_lane():
    clock, free = Clock(), FakeFree(None)
    gate = LaneGate(2, free, clock=clock)  # type: ignore[arg-type]
    assert gate.allowed == 1
    clock.now = 0.1
    assert gate.wait_turn(1) and gate.allowed == 2  # as with no gate
    free.value = 1.0
    clock.now = 1.25
    assert gate.wait_turn(0) and gate.allowed == 1  # a reading, once there is one


def test_a_machine_watched_long_enough_is_read_when_the_gate_is_made():
    clock = Clock()
    idle = FreeCores({0, 1}, read_busy=lambda: 0.0, read_own=lambda: 0.0, clock=clock)
    clock.now = 0.04
    early = LaneGate(2, idle, clock=clock)  # watched 0.04 s: the reading is 0.06 s away
    clock.now = 0.08
    assert early.wait_turn(0) and early.allowed == 1  # not yet
    clock.now = 0.1
    assert early.wait_turn(0) and early.allowed == 2  # a tenth of a second watched
    busy = FreeCores({0, 1}, read_busy=lambda: 1.0 + clock.now, read_own=lambda: 0.0,
                     clock=clock)  # others keep one core busy
    clock.now = 0.8  # the models took this long to load
    assert LaneGate(2, idle, clock=clock).allowed == 2  # read at once
    assert LaneGate(2, busy, clock=clock).allowed == 1  # one core free: lane 1 never starts
    fresh = FreeCores({0, 1}, read_busy=lambda: 0.0, read_own=lambda: 0.0, clock=clock)
    assert LaneGate(2, fresh, clock=clock).allowed == 1  # made just now: no reading yet


def _waiting(gate: LaneGate, lane: int):
    """Lane ``lane`` asking for its turn in a thread: (thread, result list, close flag)."""
    closed = threading.Event()
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(gate.wait_turn(lane, closed.is_set)))
    thread.start()
    return thread, got, closed


def test_with_one_lane_allowed_only_lane_0_goes():
    gate = LaneGate(2, FakeFree(0.5), every=0.0)  # type: ignore[arg-type]
    assert gate.wait_turn(0) and gate.allowed == 1
    thread, got, closed = _waiting(gate, 1)
    thread.join(timeout=0.3)
    assert thread.is_alive() and not got  # lane 1 holds no work while the machine is busy
    closed.set()
    gate.wake()
    thread.join(timeout=10)
    assert got == [False]


def test_a_waiting_lane_looks_again_when_the_first_reading_is_due():
    gate = LaneGate(2, FakeFree(2.0), every=30.0, first=0.1)  # type: ignore[arg-type]
    assert gate.allowed == 1
    started = time.monotonic()
    thread, got, closed = _waiting(gate, 1)
    thread.join(timeout=10)
    assert got == [True]  # let in by the reading a tenth of a second in...
    assert time.monotonic() - started < 5  # ...not at the next one, half a minute later
    closed.set()


def test_a_fixed_gate_lets_every_lane_in_until_fixed_lower():
    gate = LaneGate(2, None)
    assert gate.wait_turn(1)
    gate.fix(1)
    assert (gate.lanes, gate.allowed) == (1, 1)
    thread, got, closed = _waiting(gate, 1)
    thread.join(timeout=0.3)
    assert thread.is_alive()
    closed.set()
    gate.wake()
    thread.join(timeout=10)
    assert got == [False]


def _pool_run(free: float, chunks: int = 12):
    gate = LaneGate(2, FakeFree(free), every=0.0)  # type: ignore[arg-type]
    built: list[str] = []

    def make_lane() -> str:
        built.append(threading.current_thread().name)
        return threading.current_thread().name

    def run(lane: str, chunk: int) -> tuple[str, int]:
        time.sleep(0.02)
        if chunk == 5:
            raise ValueError("chunk 5 is bad")
        return lane, chunk * 10

    pool = LanePool(gate, make_lane, run)
    try:
        futures = [pool.submit(k) for k in range(chunks)]
        results = []
        for k, future in enumerate(futures):
            if k == 5:
                with pytest.raises(ValueError, match="chunk 5"):
                    future.result(timeout=30)
            else:
                results.append(future.result(timeout=30))
    finally:
        pool.close()
    return built, results


def test_the_lane_pool_keeps_one_lane_on_a_busy_machine():
    built, results = _pool_run(free=1.0)
    assert [value for _, value in results] == [k * 10 for k in range(12) if k != 5]
    assert built == ["lane-0"]  # lane 1 never took a chunk, so never built its lane
    assert {lane for lane, _ in results} == {"lane-0"}


def test_the_lane_pool_uses_both_lanes_on_an_idle_machine():
    built, results = _pool_run(free=2.0)
    assert sorted(built) == ["lane-0", "lane-1"]
    assert {lane for lane, _ in results} == {"lane-0", "lane-1"}


def test_closing_the_lane_pool_cancels_what_is_queued():
    gate = LaneGate(1, None)
    started, release = threading.Event(), threading.Event()

    def run(lane, chunk):
        started.set()
        release.wait(10)
        return chunk

    pool = LanePool(gate, lambda: None, run)
    first = pool.submit(1)
    queued = [pool.submit(k) for k in range(2, 6)]
    assert started.wait(10)
    closer = threading.Thread(target=pool.close)
    closer.start()
    time.sleep(0.1)
    release.set()
    closer.join(timeout=10)
    assert not closer.is_alive()
    assert first.result(timeout=1) == 1  # the chunk at work finishes
    assert all(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(9)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_free_cores_see_another_process_take_a_core():
    """The real reading: a busy loop in another process leaves at most the other cores."""
    free = FreeCores()
    cores = len(free.cpus)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # the interpreter started
        free.sample()
        time.sleep(1.5)
        seen = free.sample()
    finally:
        hog.kill()
        hog.wait()
    assert seen is not None
    assert seen <= cores - 0.5
