"""The audit log on a real store: every action recorded, and tampering caught by the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceledger import ActionContext, Settings
from faceledger.cli.main import main
from faceledger.errors import LawfulBasisError
from faceledger.privacy.access import export_access
from faceledger.privacy.keys import rotate_keys
from faceledger.privacy.retention import run_retention
from faceledger.privacy.rights import erase_person, opt_out_person

from ..conftest import lfw_image
from .rights_support import CTX, make_gallery, new_store, scan

PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez"]


@pytest.fixture(scope="module")
def busy_store(tmp_path_factory, lfw_dir, models_dir, backend):
    """A store on which every audited action has happened once."""
    root = tmp_path_factory.mktemp("audit")
    gallery = make_gallery(root / "photos", lfw_dir, PEOPLE, range(1, 3))
    st = new_store(root, models_dir, gallery, **backend())
    st.search(lfw_image(lfw_dir, "Tony_Blair", 3), k=3, context=CTX)
    st.verify(lfw_image(lfw_dir, "Hugo_Chavez", 3), lfw_image(lfw_dir, "Hugo_Chavez", 4),
              context=CTX)
    export_access(st, [lfw_image(lfw_dir, "Serena_Williams", 3)], root / "copy", context=CTX)
    erase_person(st, [lfw_image(lfw_dir, "Colin_Powell", 3)], context=CTX)
    opt_out_person(st, [lfw_image(lfw_dir, "Serena_Williams", 4)], context=CTX)
    rotate_keys(st)
    run_retention(st, now=datetime.now(UTC) + timedelta(days=1))
    yield st
    st.close()


def test_every_kind_of_action_is_appended(busy_store):
    actions = [e.action for e in busy_store.audit.entries()]
    for action in ("key_create", "source_add", "ingest_run", "search", "verify",
                   "rights_access", "erase", "optout_add", "key_rotate", "retention_run"):
        assert action in actions, f"{action} missing from {actions}"
    for e in busy_store.audit.entries():
        assert e.actor and datetime.fromisoformat(e.at).tzinfo is not None
    assert busy_store.audit.verify().ok


def test_search_and_verify_record_purpose_case_and_probe_hash(busy_store, lfw_dir):
    probe = lfw_image(lfw_dir, "Tony_Blair", 3)
    search = next(e for e in busy_store.audit.entries() if e.action == "search")
    assert (search.actor, search.purpose, search.case) == (CTX.actor, CTX.purpose, CTX.case)
    assert search.inputs["probe_sha256"] == hashlib.sha256(probe.read_bytes()).hexdigest()
    returned = [m["face_id"] for m in search.outputs["faces"][0]]
    assert returned and all(isinstance(i, int) for i in returned)
    verify = next(e for e in busy_store.audit.entries() if e.action == "verify")
    assert verify.case == CTX.case and len(verify.inputs["a_sha256"]) == 64


def test_no_probe_bytes_anywhere_in_the_data_dir(busy_store, lfw_dir):
    probes = [lfw_image(lfw_dir, "Tony_Blair", 3), lfw_image(lfw_dir, "Hugo_Chavez", 3),
              lfw_image(lfw_dir, "Serena_Williams", 3), lfw_image(lfw_dir, "Colin_Powell", 3)]
    needles = {}
    for p in probes:
        data = p.read_bytes()
        needles[p.name] = data[len(data) // 2 : len(data) // 2 + 512]
    assert scan(busy_store.data_dir, needles) == {}


def test_search_without_purpose_is_refused_unless_configured(busy_store, lfw_dir, tmp_path):
    probe = lfw_image(lfw_dir, "Tony_Blair", 3)
    with pytest.raises(LawfulBasisError):
        busy_store.search(probe, context=ActionContext("officer-7", purpose="x"))
    lax = Settings(**{**busy_store.settings.__dict__, "require_purpose": False})
    from faceledger import open_store

    st = open_store(lax)
    try:
        st.search(probe, k=1, context=ActionContext("officer-7"))
        last = st.audit.entries()[-1]
        assert last.action == "search" and last.purpose is None and last.case is None
    finally:
        st.close()


def _copy_store(st, dest: Path) -> list[str]:
    shutil.copytree(st.data_dir, dest / "data")
    return ["--data", str(dest / "data")]


def _cli(args, st):
    return CliRunner().invoke(main, [*args, "audit", "verify"],
                              env={"FACELEDGER_KEY_FILE": str(st.settings.key_file)})


def _tamper(db: Path, *statements: tuple[str, tuple]) -> None:
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
    conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    for sql, params in statements:
        conn.execute(sql, params)
    conn.close()


def test_cli_verify_accepts_the_intact_log(busy_store, tmp_path):
    result = _cli(_copy_store(busy_store, tmp_path), busy_store)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "sealed" in result.output


@pytest.mark.parametrize("attack", ["edit", "delete-middle", "delete-last", "swap"])
def test_cli_verify_rejects_a_tampered_log(busy_store, tmp_path, attack):
    if busy_store.catalog.path is None:
        pytest.skip("tampers with a copy of audit.db; on PostgreSQL: test_pg_audit_concurrent.py")
    args = _copy_store(busy_store, tmp_path)
    db = tmp_path / "data" / "audit.db"
    conn = sqlite3.connect(str(db))
    rows = conn.execute("SELECT seq, body, prev_hash, hash FROM entries ORDER BY seq").fetchall()
    conn.close()
    search = next(r for r in rows if json.loads(r[1])["action"] == "search")
    if attack == "edit":  # hide who searched
        body = json.loads(search[1])
        body["actor"] = "nobody"
        _tamper(db, ("UPDATE entries SET body = ? WHERE seq = ?", (json.dumps(body), search[0])))
        bad = search[0]
    elif attack == "delete-middle":
        _tamper(db, ("DELETE FROM entries WHERE seq = ?", (search[0],)))
        bad = search[0]
    elif attack == "delete-last":
        _tamper(db, ("DELETE FROM entries WHERE seq = ?", (rows[-1][0],)))
        bad = None
    else:  # swap two neighbouring entries, hashes and all
        a, b = rows[2], rows[3]
        _tamper(
            db,
            ("UPDATE entries SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?", (*b[1:], a[0])),
            ("UPDATE entries SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?", (*a[1:], b[0])),
        )
        bad = a[0]
    result = _cli(args, busy_store)
    assert result.exit_code == 1, result.output
    assert "AUDIT LOG BROKEN" in result.output
    if bad is not None:
        assert f"at entry {bad}:" in result.output


def test_recomputed_chain_without_the_key_is_rejected(busy_store, tmp_path):
    """An attacker who rewrites an entry and recomputes every hash (but has no key)."""
    if busy_store.catalog.path is None:
        pytest.skip("tampers with a copy of audit.db; on PostgreSQL: test_pg_audit_concurrent.py")
    from faceledger.privacy.audit import canonical_json, entry_hash

    args = _copy_store(busy_store, tmp_path)
    db = tmp_path / "data" / "audit.db"
    conn = sqlite3.connect(str(db))
    rows = conn.execute("SELECT seq, body FROM entries ORDER BY seq").fetchall()
    conn.close()
    statements = []
    prev = "0" * 64
    for seq, body in rows:
        data = json.loads(body)
        if data["action"] == "search":
            data["case"] = "NOTHING-TO-SEE"
        data["prev_hash"] = prev
        digest = entry_hash(data)
        statements.append(("UPDATE entries SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                           (canonical_json(data), prev, digest, seq)))
        prev = digest
    statements.append(("UPDATE head SET hash = ? WHERE id = 1", (prev,)))
    _tamper(db, *statements)
    result = _cli(args, busy_store)
    assert result.exit_code == 1 and "HMAC" in result.output


def test_export_jsonl_and_verify_the_copy(busy_store, tmp_path):
    out = tmp_path / "audit.jsonl"
    env = {"FACELEDGER_KEY_FILE": str(busy_store.settings.key_file)}
    args = ["--data", str(busy_store.data_dir)]
    r = CliRunner().invoke(main, [*args, "audit", "export", "--out", str(out)], env=env)
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    # every entry, then the signed trailer
    assert len(lines) == len(busy_store.audit) + 1 and json.loads(lines[0])["seq"] == 1
    ok = CliRunner().invoke(main, [*args, "audit", "verify", "--file", str(out)], env=env)
    assert ok.exit_code == 0, ok.output
    edited = json.loads(lines[1])
    edited["at"] = "2020-01-01T00:00:00+00:00"
    lines[1] = json.dumps(edited)
    out.write_text("\n".join(lines) + "\n")
    bad = CliRunner().invoke(main, [*args, "audit", "verify", "--file", str(out)], env=env)
    assert bad.exit_code == 1 and "entry 2" in bad.output
