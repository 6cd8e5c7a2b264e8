"""Finding 2: the audit log could be wiped, deleted, truncated or rolled back unnoticed.

Each attack is made with write access to the data dir (as a stolen shell or a careless
admin has it) but without the store key, which lives outside the data dir. After each one
`faceledger audit verify` must fail with a reason, and the store must refuse to do (and
record) anything more instead of starting a new chain.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from faceledger import open_store
from faceledger.errors import IntegrityError

from .audit_support import attacker, busy_store, cli, entry_actions, restore, snapshot


def _data(root: Path) -> Path:
    return root / "data"


def _wipe_entries_and_head(root: Path) -> None:
    conn = attacker(_data(root) / "audit.db")
    conn.execute("DELETE FROM entries")
    conn.execute("DELETE FROM head")
    conn.close()


def _delete_audit_db(root: Path) -> None:
    for name in ("audit.db", "audit.db-wal", "audit.db-shm"):
        (_data(root) / name).unlink(missing_ok=True)


def _wipe_audit_and_the_catalog_anchor(root: Path) -> None:
    _delete_audit_db(root)
    conn = sqlite3.connect(str(_data(root) / "catalog.db"), isolation_level=None)
    conn.execute("DELETE FROM store_meta WHERE key = 'audit_anchor'")
    conn.close()


def _delete_the_catalog_anchor(root: Path) -> None:
    conn = sqlite3.connect(str(_data(root) / "catalog.db"), isolation_level=None)
    conn.execute("DELETE FROM store_meta WHERE key = 'audit_anchor'")
    conn.close()


ATTACKS = {
    "wipe-entries-and-head": (_wipe_entries_and_head, "empty or missing"),
    "delete-audit-db": (_delete_audit_db, "empty or missing"),
    "delete-audit-db-and-catalog-anchor": (_wipe_audit_and_the_catalog_anchor,
                                           "refusing to start a new chain"),
    "delete-catalog-anchor": (_delete_the_catalog_anchor, "anchor of the audit log is missing"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_wiped_or_deleted_log_is_detected_and_no_new_chain_starts(tmp_path, attack):
    st = busy_store(tmp_path)
    settings = st.settings
    st.close()
    tamper, reason = ATTACKS[attack]
    tamper(tmp_path)
    left = entry_actions(_data(tmp_path) / "audit.db")

    result = cli(tmp_path, "audit", "verify")
    assert result.exit_code == 1, result.output
    assert "AUDIT LOG BROKEN" in result.output and reason in result.output

    # the store opens (so the operator can look) but refuses to act or record
    st = open_store(settings)
    try:
        assert st.audit.refusal is not None
        with pytest.raises(IntegrityError, match="cannot be trusted"):
            st.record("search", "officer-7", "p", "c")
        with pytest.raises(IntegrityError):
            st.add_source("more", location=tmp_path, controller="c", lawful_basis="consent",
                          purpose="p", retention_days=1,
                          special_category_condition="explicit-consent",
                          minors_policy="none-expected")
        assert [s.name for s in st.sources()] == ["events"]
    finally:
        st.close()
    assert entry_actions(_data(tmp_path) / "audit.db") == left  # no new chain, no entry
    refused = cli(tmp_path, "source", "add", "x", "--path", str(tmp_path), "--controller", "c",
                  "--basis", "consent", "--art9", "explicit-consent", "--purpose", "p",
                  "--retention", "1d", "--minors-policy", "none-expected")
    assert refused.exit_code == 2 and "cannot be trusted" in refused.output
    assert entry_actions(_data(tmp_path) / "audit.db") == left


def test_an_older_copy_of_the_audit_log_is_detected(tmp_path):
    """Roll audit.db back to an earlier backup: a consistent, sealed log, just shorter."""
    st = busy_store(tmp_path)
    snapshot(st.audit.path, tmp_path / "old-audit.db")
    for i in range(3):  # the searches someone wants to hide
        st.record("search", "mallory", "curiosity", f"X-{i}")
    st.close()
    restore(tmp_path / "old-audit.db", _data(tmp_path) / "audit.db")

    result = cli(tmp_path, "audit", "verify")
    assert result.exit_code == 1, result.output
    assert "older copy" in result.output


def test_an_older_copy_of_the_catalog_is_detected(tmp_path):
    """Roll catalog.db back (e.g. to bring erased rows back): the log's copy of the
    catalog's anchor is newer than the catalog's own."""
    st = busy_store(tmp_path)
    snapshot(st.catalog.path, tmp_path / "old-catalog.db")
    for i in range(3):
        st.record("search", "officer-7", "p", f"C-{i}")
    st.close()
    restore(tmp_path / "old-catalog.db", _data(tmp_path) / "catalog.db")

    result = cli(tmp_path, "audit", "verify")
    assert result.exit_code == 1, result.output
    assert "catalog.db was rolled back" in result.output


def test_a_forged_catalog_anchor_is_detected(tmp_path):
    """Roll audit.db back and rewrite the catalog's anchor to fit it: without the key the
    forged anchor fails its HMAC."""
    st = busy_store(tmp_path)
    snapshot(st.audit.path, tmp_path / "old-audit.db")
    old_seq, old_hash = st.audit.head()
    for i in range(3):
        st.record("search", "mallory", "curiosity", f"X-{i}")
    st.close()
    restore(tmp_path / "old-audit.db", _data(tmp_path) / "audit.db")
    forged = f'{{"count": {old_seq}, "hash": "{old_hash}", "mac": "{"0" * 64}", "seq": {old_seq}}}'
    cat = sqlite3.connect(str(_data(tmp_path) / "catalog.db"), isolation_level=None)
    cat.execute("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('audit_anchor', ?)",
                (forged,))
    cat.close()
    result = cli(tmp_path, "audit", "verify")
    assert result.exit_code == 1 and "HMAC" in result.output, result.output


def test_a_new_store_is_anchored_from_the_start(tmp_path):
    st = busy_store(tmp_path, entries=0)
    st.close()
    result = cli(tmp_path, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "sealed" in result.output


def test_a_crash_between_the_two_writes_of_an_append_is_repaired(tmp_path):
    """The entry is committed, the process dies before the catalog anchor follows: the
    anchor is one entry behind, the chain continues from it, and the next open repairs it."""
    st = busy_store(tmp_path)
    before = st.catalog.audit_anchor()
    st.record("search", "officer-7", "p", "last")
    st.close()
    cat = sqlite3.connect(str(_data(tmp_path) / "catalog.db"), isolation_level=None)
    cat.execute("UPDATE store_meta SET value = ? WHERE key = 'audit_anchor'", (before,))
    cat.close()
    st = open_store(st.settings)
    try:
        result = st.audit.verify()
        assert result.ok and result.unanchored == 0, result
        st.record("search", "officer-7", "p", "after")  # writes are allowed
    finally:
        st.close()
