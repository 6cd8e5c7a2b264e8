"""The analysis of an ingest run on a Ray cluster (``faceledger ingest SOURCE --ray ADDRESS``).

Each actor holds one copy of the pack's models (an :class:`~.worker.AnalysisLane` on one
CPU) and is fed batches of photo *references*: it reads each photo itself, through the same
reader and the same checks as a local ingest, so every node must see the source and the
models directory at the same paths (a shared filesystem, or the same machine). The
coordinator (the ingesting process) hands out batches, receives the results and writes them
to the catalog through the run's writer: the catalog, the index, the audit log, the lock and
the opt-out check stay where they are, on the coordinator.

Exactly once per photo: a batch is written when its first result arrives and never again.
When an actor dies (its node killed, its process crashed) the batches it held are handed to
the other actors; a replacement actor is asked for and joins when the cluster can place it.
A batch whose actor died ``MAX_TRIES`` times is recorded as an error for each of its photos
(a photo that crashes every analyser must not stop the run). Resumable as any ingest: photos
already in the catalog are not handed out again. Ctrl-C or the stop event ends the run with
everything received so far written; the actors are killed and the driver disconnects.

Ray is an optional extra: ``pip install 'faceledger[ray]'``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError, ModelError
from ..images import ImageLimits
from ..parts import HasModels, HasSettings
from .reader import PhotoRef
from .worker import PhotoResult

BATCH = 16  # photos per batch handed to an actor
IN_FLIGHT = 2  # batches queued per actor, so that it never waits for the coordinator
MAX_TRIES = 3  # actor deaths a batch may see before its photos are recorded as errors
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 300.0  # seconds to wait for the first actor to load its models


class RayLane:
    """A Ray actor's state: one lane with its own models, built when the actor starts."""

    def __init__(self, pack: str, models_dir: str, accept_research: bool,
                 limits: ImageLimits, compiled_cache: str = "auto") -> None:
        from .worker import load_lane

        # the cache setting, not a path: "auto" is resolved on the node the actor runs on
        self._lane = load_lane(pack, models_dir, accept_research, limits, compiled_cache)

    def ready(self) -> str:
        import socket

        return f"{socket.gethostname()}:{os.getpid()}"

    def analyze(self, refs: list[PhotoRef]) -> list[PhotoResult]:
        return self._lane.analyze(refs)


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "ingest on Ray needs the ray package: pip install 'faceledger[ray]'"
        ) from exc
    return ray


def connect(ray: Any, address: str) -> bool:
    """Connect this process to a cluster as its driver; True when this call did so (and
    the caller must disconnect). ``"auto"``: the cluster this machine belongs to (the
    ``RAY_ADDRESS`` environment variable, or one started here with ``ray start``), or, if
    there is none, a Ray instance started on this machine for this run only."""
    if ray.is_initialized():
        return False
    common = dict(namespace="faceledger", log_to_driver=False, configure_logging=False)
    env = {k: os.environ[k] for k in ("PYTHONPATH",) if os.environ.get(k)}
    if env:  # actors import faceledger from where this process does (a source checkout)
        common["runtime_env"] = {"env_vars": env}
    if address == "auto":
        try:
            ray.init(address="auto", **common)
        except ConnectionError:  # a Ray of our own, on loopback only
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False,
                     object_store_memory=256 * 1024 * 1024, _node_ip_address=LOOPBACK,
                     **common)
        return True
    if not address or any(c.isspace() for c in address):
        raise ConfigError(f"--ray {address!r}: give auto or a cluster address (HOST:PORT)")
    if address.split(":")[0] in (LOOPBACK, "localhost"):
        common["_node_ip_address"] = LOOPBACK  # a cluster on this machine's loopback
    try:
        ray.init(address=address, **common)
    except ConnectionError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
    return True


@dataclass
class _Batch:
    id: int
    refs: list[PhotoRef]
    tries: int = 0


@dataclass
class _Actor:
    handle: Any
    ready: bool = False
    busy: int = 0


@runtime_checkable
class RayParts(HasSettings, HasModels, Protocol):
    """What the Ray actors are built from: the pack's name, the settings (models dir,
    licence) and the image limits."""


def analyse_on_ray(store: RayParts, todo: Iterable[PhotoRef], address: str,
                   stop_event: threading.Event | None, workers: int | None = None,
                   batch: int = BATCH) -> Iterator[PhotoResult]:
    """Results of every photo of ``todo`` (in the order batches finish), analysed on Ray
    actors: ``workers`` of them (default: one per CPU of the cluster). ``todo`` is read
    only as actors have room for more batches (a listing streams)."""
    ray = import_ray()
    owned = connect(ray, address)
    run = _RayRun(ray, store, workers, stop_event)
    refs = iter(todo)
    batches = (_Batch(i, part) for i, part in
               enumerate(iter(lambda: list(itertools.islice(refs, batch)), [])))
    try:
        yield from run.results(batches)
    finally:
        run.stop()
        if owned:
            ray.shutdown()


class _RayRun:
    def __init__(self, ray: Any, store: RayParts, workers: int | None,
                 stop_event: threading.Event | None) -> None:
        self.ray = ray
        self.stop_event = stop_event
        self.cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(RayLane)
        self.args = (store.pack.name, str(store.settings.models_dir),
                     store.settings.accept_research_licence, store.limits,
                     store.settings.compiled_cache)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.wanted = max(1, workers or cpus)
        self.actors: dict[Any, _Actor] = {}  # by the object ref of its ready() call
        self.pending: dict[Any, tuple[_Actor, _Batch]] = {}
        self.failures: list[str] = []
        for _ in range(self.wanted):
            self._add_actor()

    def _add_actor(self) -> None:
        handle = self.cls.remote(*self.args)
        self.actors[handle.ready.remote()] = _Actor(handle)

    def results(self, batches: Iterator[_Batch]) -> Iterator[PhotoResult]:
        queue: deque[_Batch] = deque()  # batches to hand out again (their actor died) first
        done: set[int] = set()  # ids of the batches written (one int per batch of the run)
        started = time.monotonic()
        fresh: _Batch | None = next(batches, None)
        while queue or self.pending or fresh is not None:
            if self.stop_event is not None and self.stop_event.is_set():
                return
            fresh = self._hand_out(queue, fresh, batches)
            waiting = list(self.pending) + [r for r, a in self.actors.items() if not a.ready]
            if not waiting:
                raise ModelError("every Ray worker of this ingest died: "
                                 + "; ".join(self.failures[-3:]))
            ready, _ = self.ray.wait(waiting, num_returns=1, timeout=1.0)
            if not ready and not any(a.ready for a in self.actors.values()):
                if time.monotonic() - started > READY_TIMEOUT:
                    raise ModelError(f"no Ray worker started in {READY_TIMEOUT:.0f} s")
            for ref in ready:
                if ref in self.actors:
                    self._actor_started(ref)
                    continue
                actor, item = self.pending.pop(ref)
                actor.busy -= 1
                try:
                    results = self.ray.get(ref)
                except self.ray.exceptions.RayActorError as exc:
                    self._actor_died(actor, exc)
                    item.tries += 1
                    if item.tries >= MAX_TRIES:
                        done.add(item.id)
                        yield from _lost(item, exc)
                    else:
                        queue.appendleft(item)
                    continue
                except self.ray.exceptions.RayTaskError as exc:  # a bug, not a dead node
                    results = list(_lost(item, exc, "the Ray task failed"))
                if item.id not in done:  # exactly once: a late duplicate is dropped
                    done.add(item.id)
                    yield from results

    def _hand_out(self, queue: deque[_Batch], fresh: _Batch | None,
                  batches: Iterator[_Batch]) -> _Batch | None:
        """Batches to the actors with room, retried ones first; returns the next fresh
        batch not handed out yet (None when there is none left)."""
        for actor in self.actors.values():
            while actor.ready and (queue or fresh is not None) and actor.busy < IN_FLIGHT:
                if queue:
                    item = queue.popleft()
                else:
                    assert fresh is not None
                    item, fresh = fresh, next(batches, None)
                self.pending[actor.handle.analyze.remote(item.refs)] = (actor, item)
                actor.busy += 1
        return fresh

    def _actor_started(self, ref: Any) -> None:
        actor = self.actors[ref]
        try:
            self.ray.get(ref)
            actor.ready = True
        except self.ray.exceptions.RayError as exc:  # could not load its models
            del self.actors[ref]
            self.failures.append(f"a worker failed to start: {_cause(exc)}")

    def _actor_died(self, actor: _Actor, exc: BaseException) -> None:
        for ref, a in list(self.actors.items()):
            if a is actor:
                del self.actors[ref]
                self.failures.append(f"a worker died: {_cause(exc)}")
                self._add_actor()  # joins when the cluster can place it
                return

    def stop(self) -> None:
        for actor in self.actors.values():
            try:
                self.ray.kill(actor.handle)
            except Exception:  # already gone with its node
                pass
        self.actors.clear()
        self.pending.clear()


def _cause(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _lost(item: _Batch, exc: BaseException, what: str = "") -> Iterator[PhotoResult]:
    what = what or f"the Ray worker analysing it died {item.tries} times"
    reason = f"analysis failed: {what} ({type(exc).__name__}: {_cause(exc)})"
    for ref in item.refs:
        yield PhotoResult(uri=ref.uri, error=reason)
