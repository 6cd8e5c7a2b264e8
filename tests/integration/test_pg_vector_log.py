"""The vector log on PostgreSQL, read by other processes: a reader that replays
``(applied, head]`` over and over while several writer processes commit faces and erasures
ends with exactly the faces that are held -- no change committed late with a low number is
ever skipped (the head is the highest number *committed*, and numbers follow commit order)."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from faceledger.store.pg_catalog import PgCatalog
from faceledger.types import SourceInfo

WRITERS = 3
BATCHES = 15


def _writer(url: str, w: int, start) -> None:
    cat = PgCatalog(url)
    source_id = cat.source("s").id
    run = cat.start_run(source_id, "p")
    start.wait()
    mine: list[int] = []
    for b in range(BATCHES):
        with cat.write() as tx:
            photo = cat.insert_photo(tx, source_id, run, f"w{w}-{b}.jpg", "ok", sha256=f"{w}{b}")
            for _ in range(3):
                mine.append(cat.insert_face(tx, photo, run, [0, 0, 1, 1], [[0, 0]] * 5, 0.9,
                                            0.9, "p", b"x" * 32))
        if b % 4 == 3:  # an erasure now and then
            cat.delete_faces_and_photos([mine.pop(0)], [])
    cat.close()


def test_a_reader_replaying_the_log_never_misses_a_change(pg_url):
    cat = PgCatalog(pg_url)
    cat.add_source(SourceInfo("s", "folder", "/p", "c", "consent", "t", 30))
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(WRITERS + 1)
    procs = [ctx.Process(target=_writer, args=(pg_url, w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.wait()
    held: set[int] = set()
    applied, rounds = 0, 0
    while True:
        alive = any(p.is_alive() for p in procs)
        head = cat.log_head()
        if head != applied:
            adds, dels = cat.log_changes(applied, head)
            held |= {int(i) for i in adds}
            held -= {int(i) for i in dels}
            applied, rounds = head, rounds + 1
        if not alive:
            break
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    head = cat.log_head()  # the last commits
    adds, dels = cat.log_changes(applied, head)
    held = (held | {int(i) for i in adds}) - {int(i) for i in dels}
    truth = set(cat.face_ids("p"))
    assert held == truth
    assert len(truth) == WRITERS * (BATCHES * 3 - BATCHES // 4)
    assert rounds > 3  # the reader really read while they wrote
    assert np.all(np.diff([r[0] for r in cat.query("SELECT seq FROM vector_log ORDER BY seq")])
                  > 0)
    cat.close()
