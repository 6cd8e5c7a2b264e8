"""Issue 9, finding 2 (the gaps left): opt-out add/remove and API key and subject-token
issue and revocation wrote their one audit entry *after* the change, so a process killed
between the change and the entry left a change nobody could see in the log.

Now each is an intent before and a completion after. A real process makes the real change
and is killed with SIGKILL the moment the change returns (before anything else can be
written): the raw log must hold the intent, uncompleted; the next open of the store closes
it as interrupted, audited. On the old code the log held nothing about the change.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from faceledger import open_store
from faceledger.api.key_admin import create_key, revoke_key
from faceledger.api.keys import KeyStore
from faceledger.errors import NotFoundError
from faceledger.privacy.audit import AuditLog
from faceledger.privacy.rights import opt_out_vectors

from .audit_support import CTX, busy_store, child, cli, settings_for

KILLED_AFTER = """
import os, signal, sys
from pathlib import Path
import numpy as np
from faceledger import ActionContext, Settings, open_store
from faceledger.api.keys import KeyStore

root, which, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
st = open_store(Settings(data_dir=root / "data", key_file=root / "keys" / "t.key", workers=1))
keys = KeyStore.for_data_dir(st.data_dir)
ctx = ActionContext("officer-7", "security test", "SEC-9")

def kill_after(obj, name):
    real = getattr(obj, name)
    def changed_then_killed(*a, **kw):
        real(*a, **kw)
        os.kill(os.getpid(), signal.SIGKILL)
    setattr(obj, name, changed_then_killed)

if which == "optout_add":
    from faceledger.privacy.rights import opt_out_vectors
    kill_after(st.optout, "add")
    v = np.random.default_rng(1).normal(size=st.pack.embedding_size).astype("float32")
    opt_out_vectors(st, v / np.linalg.norm(v), ["0" * 64], ctx, "REQ-1", erase_existing=False)
elif which == "optout_remove":
    from faceledger.privacy.rights import remove_opt_out
    kill_after(st.optout, "remove")
    remove_opt_out(st, int(arg), ctx)
elif which == "api_key_create":
    from faceledger.api.key_admin import create_key
    kill_after(keys, "create")
    create_key(st, keys, "mallory", "investigator", "cli")
elif which == "api_key_revoke":
    from faceledger.api.key_admin import revoke_key
    kill_after(keys, "revoke")
    revoke_key(st, keys, arg, "cli")
elif which == "subject_token_issue":
    import faceledger.api.subject_tokens as sub
    from faceledger.privacy.identity import ReferenceTemplate
    v = np.random.default_rng(2).normal(size=st.pack.embedding_size).astype("float32")
    v /= np.linalg.norm(v)

    def enrolled(store, photo, token_id):  # the identity model is not what is tested here
        blob = store.cipher.encrypt_vector(v, aad=b"faceledger:subject-reference:"
                                           + token_id.encode())
        return ReferenceTemplate(blob, store.pack.name, "1" * 64)

    sub.enrol_reference = enrolled
    kill_after(keys.tokens, "issue")
    sub.issue_subject_token(st, keys.tokens, "REQ-2", "access", b"unused", "cli")
print("not killed", flush=True)
"""

CHANGES = ["optout_add", "optout_remove", "api_key_create", "api_key_revoke",
           "subject_token_issue"]


def _unit(dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _prepare(root: Path, which: str) -> str:
    """A store (and what the change acts on); returns the child's argument."""
    st = busy_store(root)
    try:
        if which == "optout_remove":
            result = opt_out_vectors(st, _unit(st.pack.embedding_size, 3), ["2" * 64], CTX,
                                     "REQ-0", erase_existing=False)
            return str(result.entry.id)
        if which == "api_key_revoke":
            with KeyStore.for_data_dir(st.data_dir) as keys:
                return create_key(st, keys, "eve", "auditor", "cli").key.id
        return "-"
    finally:
        st.close()


def _changed(data: Path, which: str, arg: str) -> bool:
    """Did the change itself land (read from the files, not through a store)?"""
    if which == "optout_add":
        return bool(_rows(data / "privacy.db", "SELECT 1 FROM optout_entries"))
    if which == "optout_remove":
        return not _rows(data / "privacy.db",
                         f"SELECT 1 FROM optout_entries WHERE id = {int(arg)}")
    if which == "api_key_create":
        return bool(_rows(data / "keys.db", "SELECT 1 FROM api_keys WHERE name = 'mallory'"))
    if which == "api_key_revoke":
        return bool(_rows(data / "keys.db",
                          "SELECT 1 FROM api_keys WHERE revoked_at IS NOT NULL"))
    return bool(_rows(data / "keys.db", "SELECT 1 FROM subject_tokens"))


@pytest.mark.parametrize("which", CHANGES)
def test_a_change_killed_before_its_entry_leaves_an_intent_that_is_reported(tmp_path, which):
    arg = _prepare(tmp_path, which)
    data = tmp_path / "data"
    proc = child(KILLED_AFTER, str(tmp_path), which, arg, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, (out, err)
    assert _changed(data, which, arg), "the change should have been made before the kill"

    with AuditLog(data / "audit.db") as log:  # the raw log, as the killed process left it
        result = log.verify()
        intents = [log.entry(seq) for seq in result.open_intents]
    assert result.ok, result.reason
    assert [e.action for e in intents] == [f"{which}_intent"], (
        "the change is in the files but the audit log holds no open intent for it")
    assert "secret" not in json.dumps(intents[0].inputs)

    verify = cli(tmp_path, "audit", "verify", "--json")  # opens the store: it closes it
    assert verify.exit_code == 0, verify.output
    with open_store(settings_for(tmp_path)) as st:
        last = [e for e in st.audit.entries() if e.action == which][-1]
        assert last.inputs["intent_seq"] == intents[0].seq
        assert last.outputs["status"] == "interrupted"
        assert not st.open_intents()


def test_each_change_is_an_intent_then_its_completion(tmp_path):
    st = busy_store(tmp_path)
    try:
        with KeyStore.for_data_dir(st.data_dir) as keys:
            key = create_key(st, keys, "alice", "investigator", "officer-7")
            revoke_key(st, keys, key.key.id, "officer-7")
            with pytest.raises(NotFoundError):
                revoke_key(st, keys, "nosuchkey", "officer-7")
        added = opt_out_vectors(st, _unit(st.pack.embedding_size, 4), ["3" * 64], CTX,
                                "REQ-5", erase_existing=False)
        from faceledger.privacy.rights import remove_opt_out

        remove_opt_out(st, added.entry.id, CTX)
        tail = st.audit.entries()[-10:]
        pairs = list(zip(tail[::2], tail[1::2], strict=True))
        assert [(a.action, b.action) for a, b in pairs] == [
            (f"{x}_intent", x) for x in
            ("api_key_create", "api_key_revoke", "api_key_revoke", "optout_add", "optout_remove")
        ]
        for intent, done in pairs:
            assert done.inputs["intent_seq"] == intent.seq
        assert pairs[0][0].inputs["key_id"] == key.key.id  # the intent names the key
        assert key.secret.split("_", 2)[2] not in json.dumps([e.body() for e in tail])
        assert pairs[2][1].outputs == {"status": "refused", "error": "not_found"}
        assert pairs[3][1].outputs["entry_id"] == added.entry.id
        assert st.audit.verify().ok and not st.open_intents()
    finally:
        st.close()
