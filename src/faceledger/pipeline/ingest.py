"""Ingest one source: list its photos, analyse them on every core, write them in batches.

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
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError
from ..images import ImageLimits
from ..privacy.erasure import tombstones
from ..privacy.sources import validate_source
from ..store.catalog import utc_now
from ..store.locks import FileLock
from .listing import PhotoRef, list_photos
from .worker import PhotoResult, analyze_chunk, analyze_photo, init_worker

if TYPE_CHECKING:
    from ..ledger import Store

CHUNK = 8  # photos per task handed to a worker


@dataclass
class IngestProgress:
    total: int
    done: int = 0
    faces: int = 0
    errors: int = 0
    duplicates: int = 0
    blocked: int = 0
    elapsed: float = 0.0

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

    def as_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[IngestProgress], None]


def run_lock_name(source_id: int) -> str:
    """The lock an ingest of this source holds for its whole life."""
    return f"ingest-{int(source_id)}"


def ingest_source(
    store: Store,
    name: str,
    progress: ProgressCallback | None = None,
    stop_event: threading.Event | None = None,
    workers: int | None = None,
    actor: str = "cli",
) -> IngestReport:
    catalog = store.catalog
    info = store.source(name)
    validate_source(info)  # refuses a source that lacks any part of its lawful basis
    source_id = int(catalog.source_row(name)["id"])
    store.audit.require_writable()  # a log that cannot record the run: nothing starts
    lock = FileLock(store.data_dir, run_lock_name(source_id))
    lock.require(f"an ingest of source {name!r}")  # one run per source, across processes
    try:
        return _run_locked(store, name, info, source_id, lock.name, progress, stop_event,
                           workers, actor)
    finally:
        lock.release()


def _run_locked(
    store: Store, name: str, info, source_id: int, lock_name: str,
    progress: ProgressCallback | None, stop_event: threading.Event | None,
    workers: int | None, actor: str,
) -> IngestReport:
    catalog = store.catalog
    refs = list_photos(info)
    known = catalog.known_uris(source_id)
    todo = [r for r in refs if r.uri not in known]
    erased = tombstones(store).filter(source_id, [r.uri for r in todo])  # never re-collect
    todo = [r for r in todo if r.uri not in erased]
    state = IngestProgress(total=len(todo))
    run_id = catalog.start_run(source_id, store.pack.name)
    started = time.perf_counter()
    status = "failed"
    workers = store.settings.workers if workers is None else workers
    intent = None
    try:
        # the run is "running" from here; a process killed now leaves its lock free and
        # the next open of the store marks the run crashed (see recover_crashed_runs)
        intent = store.audit.begin(
            "ingest", actor, purpose=info.purpose,
            inputs={"source": name, "run_id": run_id, "photos_to_read": len(todo)},
            lock=lock_name,
        )
        if progress:
            progress(state)
        batch: list[PhotoResult] = []
        for result in _analyse(store, todo, workers, stop_event):
            batch.append(result)
            if len(batch) >= store.settings.batch_size:
                _write(store, source_id, run_id, batch, state)
                batch = []
                state.elapsed = time.perf_counter() - started
                if progress:
                    progress(state)
        if batch:
            _write(store, source_id, run_id, batch, state)
        stopped = stop_event is not None and stop_event.is_set()
        status = "interrupted" if stopped else "completed"
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        state.elapsed = time.perf_counter() - started
        if progress:
            progress(state)
        store.index_file.compact()
        counts = {
            "photos": state.done, "faces": state.faces, "errors": state.errors,
            "duplicates": state.duplicates, "skipped": len(refs) - len(todo),
            "blocked": state.blocked, "seconds": round(state.elapsed, 3),
        }
        catalog.finish_run(run_id, status, counts)
        report = IngestReport(run_id=run_id, source=name, status=status, **counts)  # type: ignore[arg-type]
        inputs = {"source": name, "run_id": run_id}
        if intent is not None:
            store.audit.complete(intent, "ingest_run", actor, info.purpose, None,
                                 inputs=inputs, outputs=report.as_dict())
        else:
            store.record("ingest_run", actor=actor, purpose=info.purpose, inputs=inputs,
                         outputs=report.as_dict())
    return report


def recover_crashed_runs(store: Store, pending: list) -> list[int]:
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
        lock = FileLock(store.data_dir, run_lock_name(source_id))
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
        lock = FileLock(store.data_dir, run_lock_name(_source_of(store, run_id)))
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


def _source_of(store: Store, run_id: int) -> int:
    return store.catalog.run_source_id(run_id)


def _record_end(store: Store, run_id: int, intent, status: str, counts: dict) -> None:
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


def _analyse(
    store: Store, todo: list[PhotoRef], workers: int, stop_event: threading.Event | None
) -> Iterator[PhotoResult]:
    limits = ImageLimits(store.settings.max_image_bytes, store.settings.max_image_pixels)
    if workers <= 1 or len(todo) <= CHUNK:
        analyzer = store.analyzer
        for ref in todo:
            if stop_event is not None and stop_event.is_set():
                return
            yield analyze_photo(ref, analyzer, limits)
        return
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=init_worker,
        initargs=(
            store.pack.name, str(store.settings.models_dir),
            store.settings.accept_research_licence, limits,
        ),
    )
    pending: deque[cf.Future] = deque()
    try:
        it = iter(chunks)
        for chunk in it:
            pending.append(pool.submit(analyze_chunk, chunk))
            if len(pending) >= workers * 4:
                break
        while pending:
            if stop_event is not None and stop_event.is_set():
                return
            try:
                results = pending.popleft().result()
            except cf.process.BrokenProcessPool as exc:
                raise ModelError(
                    "an ingest worker process died; if you call ingest from a script with "
                    "workers > 1, guard it with `if __name__ == '__main__':`"
                ) from exc
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(analyze_chunk, nxt))
            yield from results
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _write(
    store: Store, source_id: int, run_id: int, batch: list[PhotoResult], state: IngestProgress
) -> None:
    """One transaction for a batch of photos and their faces; the index catches up after.

    The catalog's triggers log every face added, so the vector index (this process's and
    every other one's) learns of them from the log; the vectors computed here are handed
    over only to save decrypting them again."""
    catalog, cipher, pack = store.catalog, store.cipher, store.pack.name
    now = utc_now()
    known: dict[int, np.ndarray] = {}
    seen_in_batch: dict[str, int] = {}
    with catalog.write() as conn:
        for res in batch:
            state.done += 1
            common = dict(sha256=res.sha256, size_bytes=res.size_bytes, width=res.width,
                          height=res.height, now=now)
            if res.error is not None:
                state.errors += 1
                catalog.insert_photo(conn, source_id, run_id, res.uri, "error",
                                     error=res.error, **common)
                continue
            assert res.sha256 is not None
            original = seen_in_batch.get(res.sha256) or catalog.photo_by_sha(conn, res.sha256)
            if original is not None:
                state.duplicates += 1
                catalog.insert_photo(conn, source_id, run_id, res.uri, "duplicate",
                                     duplicate_of=original, **common)
                continue
            photo_id = catalog.insert_photo(conn, source_id, run_id, res.uri, "ok", **common)
            seen_in_batch[res.sha256] = photo_id
            faces = res.faces
            if faces and store.optout is not None:
                blocked = store.optout.blocked_mask(np.stack([f.embedding for f in faces]))
                state.blocked += int(np.count_nonzero(blocked))
                faces = [f for f, b in zip(faces, blocked) if not b]
            for face in faces:
                face_id = catalog.insert_face(
                    conn, photo_id, run_id, face.box, face.landmarks, face.score, face.quality,
                    pack, cipher.encrypt_vector(face.embedding), now,
                )
                known[face_id] = face.embedding
            state.faces += len(faces)
    store.index_file.sync(known)
    if known:  # each new face joins a person or starts one (faceledger.people)
        from ..people.service import assign_new_faces

        assign_new_faces(store, known)
