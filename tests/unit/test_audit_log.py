"""The audit log's hash chain: appends, exports, and every kind of tampering."""

from __future__ import annotations

import io
import itertools
import json
import sqlite3

import numpy as np
import pytest

from faceledger.errors import IntegrityError
from faceledger.privacy.audit import AuditLog, sha256_hex, verify_jsonl


def _fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append(
            "search",
            "alice",
            purpose="fraud investigation",
            case=f"CASE-{i}",
            inputs={"probe_sha256": sha256_hex(f"probe{i}".encode()), "k": 10},
            outputs={"face_ids": [i, i + 1]},
        )


def _raw(path):
    conn = sqlite3.connect(str(path), isolation_level=None)
    # a deliberate attacker drops the append-only triggers first
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("DROP TRIGGER entries_no_delete")
    return conn


@pytest.fixture()
def log(tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    _fill(log)
    yield log
    log.close()


def test_append_chains_entries(log):
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert entries[2].case == "CASE-2" and entries[2].outputs == {"face_ids": [2, 3]}
    assert entries[0].at.endswith("+00:00")
    result = log.verify()
    assert result.ok and result.entries == 5 and result.first_bad_seq is None
    assert log.head() == (5, entries[-1].hash)


def test_entries_paging(log):
    assert [e.seq for e in log.entries(since_seq=2, limit=2)] == [3, 4]


def test_reopen_continues_chain(tmp_path):
    with AuditLog(tmp_path / "a.db") as log:
        _fill(log, 2)
    with AuditLog(tmp_path / "a.db") as log:
        e = log.append("verify", "bob", "p", "c")
        assert e.seq == 3
        assert log.verify().ok


def test_triggers_refuse_update_and_delete(log):
    conn = sqlite3.connect(str(log.path))
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM entries WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("UPDATE entries SET body = '{}' WHERE seq = 2")
    conn.close()


def test_edited_entry_detected(log):
    conn = _raw(log.path)
    body = json.loads(conn.execute("SELECT body FROM entries WHERE seq = 3").fetchone()[0])
    body["actor"] = "mallory"
    conn.execute("UPDATE entries SET body = ? WHERE seq = 3", (json.dumps(body),))
    conn.close()
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 3
    assert "edited" in result.reason


def test_deleted_middle_entry_detected(log):
    conn = _raw(log.path)
    conn.execute("DELETE FROM entries WHERE seq = 2")
    conn.close()
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 2
    assert "missing" in result.reason


def test_deleted_last_entry_detected(log):
    conn = _raw(log.path)
    conn.execute("DELETE FROM entries WHERE seq = 5")
    conn.close()
    result = log.verify()
    assert not result.ok and "head" in result.reason
    # and the writer refuses to extend a truncated log
    with pytest.raises(IntegrityError):
        log.append("search", "alice", "p", "c")


def test_swapped_entries_detected(log):
    conn = _raw(log.path)
    rows = {s: (b, p, h) for s, b, p, h in conn.execute("SELECT * FROM entries")}
    conn.execute("UPDATE entries SET body=?, prev_hash=?, hash=? WHERE seq=2", rows[3])
    conn.execute("UPDATE entries SET body=?, prev_hash=?, hash=? WHERE seq=3", rows[2])
    conn.close()
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 2
    assert "reordered" in result.reason


def test_recomputed_chain_caught_by_head_key(tmp_path):
    key = b"k" * 32
    log = AuditLog(tmp_path / "a.db", head_key=key)
    _fill(log, 3)
    assert log.verify().ok and log.verify().head_sealed
    # an attacker without the key truncates the log and rewrites the head to match
    conn = _raw(log.path)
    conn.execute("DELETE FROM entries WHERE seq = 3")
    seq, digest = conn.execute("SELECT seq, hash FROM entries WHERE seq = 2").fetchone()
    conn.execute("UPDATE head SET seq = ?, hash = ?, mac = NULL", (seq, digest))
    conn.close()
    result = log.verify()
    assert not result.ok and "HMAC" in result.reason
    # without the key the same truncation goes unnoticed: that is the documented limit
    assert AuditLog(tmp_path / "a.db").verify().ok
    log.close()


def test_anchor_detects_rewritten_history(log, tmp_path):
    anchor = log.head()
    assert log.verify(anchor=anchor).ok
    assert not log.verify(anchor=(anchor[0], "f" * 64)).ok
    assert not log.verify(anchor=(anchor[0] + 3, anchor[1])).ok


def test_export_jsonl_round_trip_and_tamper(log):
    buf = io.StringIO()
    assert log.export_jsonl(buf) == 5
    lines = buf.getvalue().splitlines()
    # five entries, then the signed trailer (tests/security/test_audit_export.py)
    assert len(lines) == 6 and json.loads(lines[0])["seq"] == 1
    assert json.loads(lines[-1])["count"] == 5
    assert verify_jsonl(io.StringIO(buf.getvalue())).ok
    edited = json.loads(lines[1])
    edited["outputs"]["face_ids"] = []
    lines[1] = json.dumps(edited)
    bad = verify_jsonl(io.StringIO("\n".join(lines)))
    assert not bad.ok and bad.first_bad_seq == 2


def test_refuses_templates_and_raw_bytes(tmp_path):
    with AuditLog(tmp_path / "a.db") as log:
        with pytest.raises(TypeError):
            log.append("search", "a", inputs={"vec": np.ones(4, np.float32)})
        with pytest.raises(TypeError):
            log.append("search", "a", inputs={"probe": b"\xff\xd8"})
        e = log.append("erase", "a", outputs={"face_ids": np.arange(3)})
        assert e.outputs == {"face_ids": [0, 1, 2]}
        assert len(log) == 1 and log.verify().ok
