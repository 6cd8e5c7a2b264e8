"""API keys and subject tokens: hashed at rest, checked in constant time, one-time tokens."""

from __future__ import annotations

import sqlite3
import time

import pytest

from faceledger.api.keys import KeyStore, RightsKind, Role
from faceledger.errors import AuthError, ForbiddenError, NotFoundError


@pytest.fixture
def keys(tmp_path):
    with KeyStore.for_data_dir(tmp_path) as ks:
        yield ks


def test_key_round_trip_and_only_its_hash_is_stored(keys, tmp_path):
    issued = keys.create("alice", Role.INVESTIGATOR)
    assert issued.secret.startswith(f"flk_{issued.key.id}_")
    key = keys.authenticate(issued.secret)
    assert (key.name, key.role) == ("alice", Role.INVESTIGATOR)
    secret_part = issued.secret.split("_", 2)[2]
    raw = (tmp_path / "keys.db").read_bytes()
    for suffix in ("-wal", "-shm"):
        path = tmp_path / f"keys.db{suffix}"
        if path.exists():
            raw += path.read_bytes()
    assert secret_part.encode() not in raw
    rows = sqlite3.connect(tmp_path / "keys.db").execute("SELECT secret_sha256 FROM api_keys")
    assert [len(r[0]) for r in rows] == [64]


def test_wrong_secret_unknown_id_and_malformed_are_refused(keys):
    issued = keys.create("bob", "auditor")
    key_id = issued.key.id
    for bad in (f"flk_{key_id}_wrong", "flk_000000000000_x" + "a" * 40, "nonsense", "", "flk__x"):
        with pytest.raises(AuthError):
            keys.authenticate(bad)


def test_revoked_key_is_refused_and_listed_as_revoked(keys):
    issued = keys.create("carol", Role.OPERATOR)
    keys.revoke(issued.key.id)
    with pytest.raises(AuthError, match="revoked"):
        keys.authenticate(issued.secret)
    assert keys.list() == []
    assert [k.id for k in keys.list(include_revoked=True)] == [issued.key.id]
    with pytest.raises(NotFoundError):
        keys.revoke(issued.key.id)


def test_subject_role_cannot_hold_a_key(keys):
    with pytest.raises(ForbiddenError):
        keys.create("someone", Role.SUBJECT)
    with pytest.raises(ValueError):
        keys.create("someone", "superuser")


def test_last_used_is_recorded(keys):
    issued = keys.create("dave", Role.ADMIN)
    assert keys.list()[0].last_used_at is None
    keys.authenticate(issued.secret)
    assert keys.list()[0].last_used_at is not None


def test_subject_token_works_once_for_its_kind_only(keys):
    issued = keys.issue_token("REQ-1", RightsKind.ACCESS, issued_by="apikey:x:admin")
    assert keys.peek_token(issued.secret).subject == "REQ-1"
    with pytest.raises(ForbiddenError):
        keys.redeem_token(issued.secret, RightsKind.ERASURE)
    token = keys.redeem_token(issued.secret, RightsKind.ACCESS)
    assert token.used_at is not None
    with pytest.raises(AuthError, match="already been used"):
        keys.redeem_token(issued.secret, RightsKind.ACCESS)
    with pytest.raises(AuthError):
        keys.peek_token(issued.secret)


def test_expired_token_is_refused(keys):
    issued = keys.issue_token("REQ-2", "opt_out", issued_by="cli", ttl_s=0.01)
    time.sleep(0.05)
    with pytest.raises(AuthError, match="expired"):
        keys.peek_token(issued.secret)


def test_an_api_key_is_not_a_token_and_back(keys):
    key = keys.create("erin", Role.ADMIN).secret
    token = keys.issue_token("REQ-3", "access", issued_by="cli").secret
    with pytest.raises(AuthError):
        keys.peek_token(key)
    with pytest.raises(AuthError):
        keys.authenticate(token)
