"""Ingest one source: list its photos, analyse them on every free core, write them in batches.

The run is a pipeline: analysis lanes (:class:`~.worker.AnalysisLane`: reading and
decoding in threads ahead of the models, crops of many photos embedded together) run in
worker processes started once per run (or in this process for one worker, or as Ray actors
with ``ray=``), and the catalog writer (:mod:`.writer`) runs in its own thread, so that
neither the models nor the writer waits for the other. Several lanes run as threads of this
process sharing one copy of the models (OpenVINO runs one inference per core at once; the
models, OpenCV and Pillow release the GIL), or as worker processes with ``processes=True``.
With ``workers=None`` the number of lanes follows the cores (:func:`auto_workers`), and of
lanes in threads only as many work at once as the other processes leave cores free for
(:mod:`.lane_gate`).

One run per source at a time: a run holds an OS lock (``locks/ingest-<source id>.lock``)
for its whole life, and a second one is refused with :class:`~faceledger.errors.BusyError`.
The run is audited as an ``ingest_intent`` entry when it starts and an ``ingest_run`` entry
when it ends; a run killed outright (kill -9, power loss) stays "running" with its lock
free, and the next open of the store marks it "crashed" and writes its ``ingest_run``.

Resumable by construction: a photo already in the catalog for this source is skipped
without being read; each batch of photos and faces is one catalog transaction; vectors go
into the index only after their transaction commits, and the index is saved at the end (a
run killed outright is caught up from the catalog when the store next opens). Ctrl-C or a
stop event ends the run as "interrupted" with everything committed so far kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool  # not cf.process: unset until imported
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import ConfigError, ModelError
from ..parts import HasAudit, HasCatalog, HasLocks
from ..privacy.erasure import tombstones
from ..privacy.sources import validate_source
from .free_cores import FreeCores
from .lane_gate import LaneGate
from .lane_pool import LanePool
from .listing import PhotoRef, list_source
from .ray_ingest import RayParts
from .todo import TodoStream
from .worker import AnalysisLane, PhotoResult, analyze_chunk, init_worker
from .writer import CatalogWriter, WriterParts

CHUNK = 16  # photos per task handed to a worker
IN_FLIGHT = 2  # tasks queued per worker (bounds the results waiting in memory)


@dataclass
class IngestProgress:
    total: int  # photos to read found so far (the listing streams: final once listed_all)
    done: int = 0
    faces: int = 0
    errors: int = 0
    duplicates: int = 0
    blocked: int = 0
    elapsed: float = 0.0
    unsupported: int = 0  # files the source holds that are not decoded (not read)
    listed_all: bool = False  # the source's listing has been read to its end

    @property
    def photos_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class IngestReport:
    run_id: int
    source: str
    status: str  # completed | interrupted
    photos: int  # photos read in this run (ok + errors + duplicates)
    faces: int
    errors: int
    duplicates: int
    skipped: int  # already in the catalog from an earlier run
    blocked: int  # faces dropped because they match the opt-out list
    seconds: float
    unsupported: int = 0  # files the source holds in a format that is not decoded
    unsupported_suffixes: dict[str, int] = field(default_factory=dict)  # those, by suffix
    lanes: float = 0.0  # lanes of this process at work at once, on average (0: on Ray)

    def as_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[IngestProgress], None]


@runtime_checkable
class RecoveryParts(HasCatalog, HasLocks, HasAudit, Protocol):
    """Finding crashed runs on open: the catalog's runs, their locks and the audit log."""


@runtime_checkable
class IngestParts(WriterParts, RayParts, Protocol):
    """An ingest run: the writer's parts (catalog, cipher, opt-out list, index, subjects'
    and people's parts), the sources, the tombstones (erased photos are never collected
    again), the run lock, the audit log, and the models and settings the analysis lanes
    (threads, processes or Ray actors) are built from."""


def run_lock_name(source_id: int) -> str:
    """The lock an ingest of this source holds for its whole life."""
    return f"ingest-{int(source_id)}"


def auto_workers(limit: int, cores: int | None = None, load: float | None = None,
                 shared_models: bool = False) -> int:
    """Analysis lanes for a run, at least one and at most ``limit`` and the cores.

    Lanes in threads of this process (``shared_models``: the pack's models run in several
    threads at once, ``FaceAnalyzer.parallel_in_threads``) cost no start-up and no second
    copy of the models, and the kernel shares the cores between threads: on a busy machine
    a second lane takes its share of the CPU instead of waiting, so there is one lane per
    core whatever the load, and the run's :class:`~.lane_gate.LaneGate` lets only as many
    of them work at once as the other processes leave cores free for.
    Worker processes each start an interpreter and load the models (~1 s of CPU and
    ~250 MB each): they get the cores nobody else is using (cores minus the one-minute
    load average, rounded), since on a busy machine a second one only contends."""
    cores = cores or os.cpu_count() or 1
    if shared_models:
        return max(1, min(limit, cores))
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):
            load = 0.0
    return max(1, min(limit, cores, round(cores - load)))


def ingest_source(
    store: IngestParts,
    name: str,
    progress: ProgressCallback | None = None,
    stop_event: threading.Event | None = None,
    workers: int | None = None,
    actor: str = "cli",
    ray: str | None = None,
    processes: bool = False,
) -> IngestReport:
    catalog = store.catalog
    info = store.source(name)
    validate_source(info)  # refuses a source that lacks any part of its lawful basis
    source_id = catalog.source(name).id
    store.audit.require_writable()  # a log that cannot record the run: nothing starts
    lock = store.locks.lock(run_lock_name(source_id))
    lock.require(f"an ingest of source {name!r}")  # one run per source, across processes
    try:
        return _run_locked(store, name, info, source_id, lock.name, progress, stop_event,
                           workers, actor, ray, processes)
    finally:
        lock.release()


def _run_locked(
    store: IngestParts, name: str, info, source_id: int, lock_name: str,
    progress: ProgressCallback | None, stop_event: threading.Event | None,
    workers: int | None, actor: str, ray: str | None = None, processes: bool = False,
) -> IngestReport:
    if ray is not None and store.analyzer_injected:
        raise ConfigError("Ray actors load the store's pack; an analyzer handed to the store "
                          "runs in this process only (ingest without --ray)")
    catalog = store.catalog
    # watched from before the models load, so that the lane gate's first reading of the
    # free cores is there when the lanes start (see lane_gate)
    free = FreeCores() if workers is None and ray is None else None
    listing = list_source(info)  # streamed: read as the analysis asks for photos
    erasures = tombstones(store)
    todo = TodoStream(listing.refs, lambda uris: catalog.known_among(source_id, uris),
                      lambda uris: erasures.filter(source_id, uris))  # never re-collect
    state = IngestProgress(total=0)
    run_id = catalog.start_run(source_id, store.pack.name)
    started = time.perf_counter()
    status = "failed"
    if workers is None and ray is None:
        shared = not processes and store.built_analyzer().parallel_in_threads
        workers = auto_workers(store.settings.workers, shared_models=shared)
    gate = LaneGate(workers or 1, free)

    def report_progress() -> None:
        state.total, state.listed_all = todo.handed_out, todo.exhausted
        state.unsupported = listing.unsupported_count
        state.elapsed = time.perf_counter() - started
        if progress:
            progress(state)

    intent = None
    writer: CatalogWriter | None = None
    writer_error: Exception | None = None
    try:
        # the run is "running" from here; a process killed now leaves its lock free and
        # the next open of the store marks the run crashed (see recover_crashed_runs)
        intent = store.audit.begin(
            "ingest", actor, purpose=info.purpose,
            inputs={"source": name, "run_id": run_id, "listing": "streamed"},
            lock=lock_name,
        )
        report_progress()
        writer = CatalogWriter(store, source_id, run_id, state, on_commit=todo.committed)
        if ray is not None:
            from .ray_ingest import analyse_on_ray

            results = analyse_on_ray(store, iter(todo), ray, stop_event, workers=workers)
        else:
            assert workers is not None
            results = _analyse(store, iter(todo), gate, stop_event, processes)
        batch: list[PhotoResult] = []
        for result in results:
            batch.append(result)
            if len(batch) >= store.settings.batch_size:
                writer.put(batch)
                batch = []
                report_progress()
        if batch:
            writer.put(batch)
        writer.close()  # every batch committed (or its error raised here)
        stopped = stop_event is not None and stop_event.is_set()
        status = "interrupted" if stopped else "completed"
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        if writer is not None:
            try:  # what was analysed and handed over is kept, even on Ctrl-C
                writer.close()
            except Exception as exc:  # recorded as failed below, then raised
                status, writer_error = "failed", exc
        report_progress()
        # persist the run's faces; merge small segments only if enough piled up (a server
        # does that in the background, see store/compactor.py)
        store.index_file.save(compact=store.index_file.compaction_due())
        counts = {
            "photos": state.done, "faces": state.faces, "errors": state.errors,
            "duplicates": state.duplicates, "skipped": todo.skipped,
            "blocked": state.blocked, "seconds": round(state.elapsed, 3),
            "unsupported": listing.unsupported_count,
        }
        catalog.finish_run(run_id, status, counts)
        report = IngestReport(run_id=run_id, source=name, status=status,  # type: ignore[arg-type]
                              unsupported_suffixes=listing.unsupported_by_suffix(),
                              lanes=0.0 if ray is not None else round(gate.mean_allowed(), 2),
                              **counts)
        inputs = {"source": name, "run_id": run_id}
        if intent is not None:
            store.audit.complete(intent, "ingest_run", actor, info.purpose, None,
                                 inputs=inputs, outputs=report.as_dict())
        else:
            store.record("ingest_run", actor=actor, purpose=info.purpose, inputs=inputs,
                         outputs=report.as_dict())
    if writer_error is not None:
        raise writer_error
    return report


def recover_crashed_runs(store: RecoveryParts, pending: list) -> list[int]:
    """Runs still marked "running" whose lock is free were left by a dead process: mark
    them crashed (with what they committed) and complete their audit intent. Returns the
    ids of the runs marked. ``pending``: the audit log's open intents."""
    intents = {
        int(p_entry.inputs.get("run_id", -1)): p_entry
        for p_entry in pending
        if p_entry.action == "ingest_intent"
    }
    marked: list[int] = []
    for run_id, source_id in store.catalog.running_runs():
        lock = store.locks.lock(run_lock_name(source_id))
        if not lock.acquire(0.0):
            continue  # a live run of that source holds it
        try:
            counts = store.catalog.mark_run_crashed(run_id)  # re-read under the lock
            if counts is None:
                continue
            marked.append(run_id)
            _record_end(store, run_id, intents.pop(run_id, None), "crashed", counts)
        finally:
            lock.release()
    for run_id, entry in intents.items():  # died after finishing the run, before its entry
        lock = store.locks.lock(run_lock_name(_source_of(store, run_id)))
        if not lock.acquire(0.0):
            continue
        try:
            record = store.catalog.run(run_id)
            _record_end(store, run_id, entry, record.status,
                        {"photos": record.photos, "faces": record.faces,
                         "errors": record.errors, "duplicates": record.duplicates})
        finally:
            lock.release()
    return marked


def _source_of(store: RecoveryParts, run_id: int) -> int:
    return store.catalog.run_source_id(run_id)


def _record_end(store: RecoveryParts, run_id: int, intent, status: str, counts: dict) -> None:
    record = store.catalog.run(run_id)
    inputs = {"source": record.source, "run_id": run_id}
    outputs = {"run_id": run_id, "source": record.source, "status": status, **counts,
               "found_by": "store open (the ingest process had died)"}
    if intent is not None:
        store.audit.complete(intent, "ingest_run", intent.actor, intent.purpose, None,
                             inputs=inputs, outputs=outputs)
    else:  # a run from before intents were written
        store.record("ingest_run", "system", purpose="crashed ingest run found on open",
                     inputs=inputs, outputs=outputs)


def _chunks(todo: Iterator[PhotoRef], lanes: int = 1) -> Iterator[list[PhotoRef]]:
    """Chunks of ``CHUNK`` photos; with several lanes the run's last photos come in
    smaller and smaller chunks (each a ``2 * lanes``-th of those left), so that the lanes
    finish together. With whole chunks to the end, a lane that found the queue empty idled
    while another analysed its last chunk: up to a chunk's time (0.3 s on the 2-core test
    machine), and 0.09-0.31 s of a 4.3 s run of 400 photos in three runs. To know where the
    end is, ``lanes * CHUNK`` photos are listed ahead."""
    if lanes <= 1:
        while chunk := list(itertools.islice(todo, CHUNK)):
            yield chunk
        return
    ahead: deque[PhotoRef] = deque()
    for ref in todo:
        ahead.append(ref)
        if len(ahead) > (lanes + 1) * CHUNK:
            yield [ahead.popleft() for _ in range(CHUNK)]
    while ahead:
        size = min(CHUNK, -(-len(ahead) // (2 * lanes)))
        yield [ahead.popleft() for _ in range(size)]


def _analyse(
    store: IngestParts, todo: Iterator[PhotoRef], gate: LaneGate,
    stop_event: threading.Event | None, processes: bool = False,
) -> Iterator[PhotoResult]:
    """Results in the order of ``todo``, from ``gate.lanes`` lanes: in this process (one
    lane in this thread; several in threads sharing one copy of the models, as many at work
    at once as the gate lets in), or in worker processes with ``processes=True`` or when
    the pack's models cannot run in two threads at once (a detector that cannot be copied,
    a recognizer that is not ``concurrent``): each process loads its own models."""
    workers = gate.lanes
    limits = store.limits
    first = list(itertools.islice(todo, CHUNK + 1))  # one chunk or less: one lane
    one_lane = workers <= 1 or len(first) <= CHUNK
    analyzer = store.built_analyzer()  # loaded by the lanes in this process, not before
    if store.analyzer_injected and (processes or not analyzer.parallel_in_threads):
        one_lane = True  # worker processes would load the pack, not the analyzer handed in
    chunks = _chunks(itertools.chain(first, todo), 1 if one_lane else workers)
    if one_lane:
        gate.fix(1)
        lane = AnalysisLane(analyzer, limits, ready=analyzer.load_async().result)
        try:
            for chunk in chunks:
                for result in lane.analyze(chunk):
                    # a stop is honoured between photos: the rest of the chunk is not
                    # committed, so the next run analyses it again (nothing lost)
                    if stop_event is not None and stop_event.is_set():
                        return
                    yield result
        finally:
            lane.close()
        return
    if not processes and analyzer.parallel_in_threads:
        yield from _analyse_in_threads(store, chunks, gate, stop_event)
        return
    gate.fix(workers)  # worker processes: each its own, the kernel shares the cores
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=init_worker,
        initargs=(
            store.pack.name, str(store.settings.models_dir),
            store.settings.accept_research_licence, limits, store.settings.compiled_cache,
        ),
    )
    try:
        yield from _in_order(lambda chunk: pool.submit(analyze_chunk, chunk), chunks,
                             workers, stop_event)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _analyse_in_threads(
    store: IngestParts, chunks: Iterator[list[PhotoRef]], gate: LaneGate,
    stop_event: threading.Event | None,
) -> Iterator[PhotoResult]:
    """``gate.lanes`` lanes in threads of this process, lanes 0 to ``gate.allowed`` - 1
    taking chunks (:class:`~.lane_pool.LanePool`), each with its own
    :meth:`~faceledger.models.analyzer.FaceAnalyzer.sibling` of the store's analyzer (the
    detector copied, the recognizer shared: OpenVINO runs one inference per stream and
    per core side by side). The models, OpenCV and Pillow release the GIL, so the lanes
    use the cores without a second interpreter or a second copy of the models. The
    recognizer loads while the first lanes detect (``load_async``)."""
    analyzer = store.built_analyzer()
    ready = analyzer.load_async().result
    pool = LanePool(gate, lambda: AnalysisLane(analyzer.sibling(), store.limits, ready=ready),
                    lambda lane, chunk: lane.analyze(chunk))
    try:
        yield from _in_order(pool.submit, chunks, gate.lanes, stop_event)
    finally:
        pool.close()
        for lane in pool.lanes:
            lane.close()


def _in_order(
    submit: Callable[[list[PhotoRef]], cf.Future], chunks: Iterator[list[PhotoRef]],
    workers: int, stop_event: threading.Event | None,
) -> Iterator[PhotoResult]:
    """The results of the chunks in order, with ``IN_FLIGHT`` chunks queued per worker."""
    pending: deque[cf.Future] = deque()
    try:
        for chunk in chunks:
            pending.append(submit(chunk))
            if len(pending) >= workers * IN_FLIGHT:
                break
        while pending:
            if stop_event is not None and stop_event.is_set():
                return
            try:
                results = pending.popleft().result()
            except BrokenProcessPool as exc:
                raise ModelError(
                    "an ingest worker process died; if you call ingest from a script with "
                    "workers > 1, guard it with `if __name__ == '__main__':`"
                ) from exc
            nxt = next(chunks, None)
            if nxt is not None:
                pending.append(submit(nxt))
            yield from results
    finally:
        for fut in pending:
            fut.cancel()
