"""The audit log on PostgreSQL: one chain, appended to by many processes at once, stays
ordered and verifies; tampering is found as on SQLite."""

from __future__ import annotations

import multiprocessing as mp

import psycopg
import pytest

from faceledger.errors import StoreError
from faceledger.privacy.audit import AuditLog
from faceledger.store.pg_audit import PgAuditStorage

KEY = b"k" * 32
WRITERS = 4
APPENDS = 40


def _writer(url: str, name: str, n: int, start, out) -> None:
    log = AuditLog(PgAuditStorage(url), head_key=KEY)
    start.wait()
    seqs = [log.append("search", name, purpose="test", inputs={"i": i}).seq for i in range(n)]
    log.close()
    out.put((name, seqs))


def test_appends_from_many_processes_stay_ordered(pg_url):
    AuditLog(PgAuditStorage(pg_url), head_key=KEY).close()  # migrate once, before the race
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(pg_url, f"w{i}", APPENDS, start, out))
             for i in range(WRITERS)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = AuditLog(PgAuditStorage(pg_url), head_key=KEY)
    try:
        result = log.verify()
        assert result.ok, result.reason
        assert result.entries == len(log) == WRITERS * APPENDS
        every = sorted(s for seqs in results.values() for s in seqs)
        assert every == list(range(1, WRITERS * APPENDS + 1))  # no seq twice, none lost
        for name, seqs in results.items():  # each writer's entries in its own order
            mine = [e for e in log.entries() if e.actor == name]
            assert [e.seq for e in mine] == seqs
            assert [e.inputs["i"] for e in mine] == list(range(APPENDS))
        # the writers really interleaved (not one after another)
        actors = [e.actor for e in log.entries()]
        assert sum(a != b for a, b in zip(actors, actors[1:])) > WRITERS
    finally:
        log.close()


def test_entries_refuse_update_and_delete(pg_url):
    log = AuditLog(PgAuditStorage(pg_url))
    log.append("search", "cli")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for sql in ("UPDATE audit_entries SET body = 'x'", "DELETE FROM audit_entries",
                    "TRUNCATE audit_entries"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)
    assert log.verify().ok
    log.close()


def test_an_edited_entry_and_a_cut_tail_are_found(pg_url):
    log = AuditLog(PgAuditStorage(pg_url), head_key=KEY)
    for i in range(5):
        log.append("search", "cli", inputs={"i": i})
    assert log.verify().ok
    with psycopg.connect(pg_url, autocommit=True) as conn:  # an attacker with DDL rights
        conn.execute("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        conn.execute("UPDATE audit_entries SET body = replace(body, '\"i\":2', '\"i\":9') "
                     "WHERE seq = 3")
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 3 and "edited" in result.reason
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE audit_entries SET body = replace(body, '\"i\":9', '\"i\":2') "
                     "WHERE seq = 3")
        assert log.verify().ok
        conn.execute("DELETE FROM audit_entries WHERE seq = 5")
    result = log.verify()
    assert not result.ok and "removed from the end" in result.reason
    log.close()


def test_an_unreachable_server_is_a_store_error():
    with pytest.raises(StoreError, match="cannot connect"):
        PgAuditStorage("postgresql://nobody:x@127.0.0.1:1/none")
