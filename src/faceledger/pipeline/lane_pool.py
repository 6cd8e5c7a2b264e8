"""Lanes in threads of this process, taking chunks of photos from one queue as the lane
gate lets them (:mod:`.lane_gate`).

A thread pool will not do: its threads take a task as soon as they are idle, so a lane told
to wait would wait holding a chunk that the results, kept in order, then wait for. Here a
lane asks the gate first and takes a chunk only when its turn comes, so with one lane
allowed, lane 0 takes every chunk and the others hold none.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable
from typing import Any

from .lane_gate import LaneGate

_STOP = object()


class LanePool:
    """``gate.lanes`` threads; :meth:`submit` queues a chunk and returns its future. Each
    thread builds its lane with ``make_lane`` when it takes its first chunk (a lane that
    is never let in costs nothing), and ``run(lane, chunk)`` gives the chunk's result."""

    def __init__(self, gate: LaneGate, make_lane: Callable[[], Any],
                 run: Callable[[Any, Any], Any], name: str = "lane") -> None:
        self.gate = gate
        self._make_lane = make_lane
        self._run = run
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = threading.Event()
        self.lanes: list[Any] = []  # built so far, for close()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(k,), name=f"{name}-{k}", daemon=True)
            for k in range(gate.lanes)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, chunk: Any) -> cf.Future:
        if self._closed.is_set():
            raise RuntimeError("the lane pool is closed")
        future: cf.Future = cf.Future()
        self._queue.put((future, chunk))
        return future

    def _loop(self, k: int) -> None:
        lane = None
        while self.gate.wait_turn(k, self._closed.is_set):
            item = self._queue.get()
            if item is _STOP:
                return
            future, chunk = item
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                if lane is None:
                    lane = self._make_lane()
                    with self._lock:
                        self.lanes.append(lane)
                future.set_result(self._run(lane, chunk))
            except BaseException as exc:  # the chunk's caller gets it from the future
                future.set_exception(exc)

    def close(self) -> None:
        """Cancel what is still queued and stop the threads, after the chunks being
        analysed now."""
        self._closed.set()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                item[0].cancel()
        for _ in self._threads:
            self._queue.put(_STOP)
        self.gate.wake()
        for thread in self._threads:
            thread.join()
