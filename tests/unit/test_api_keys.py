"""API keys and subject tokens: hashed at rest, checked in constant time, one-time tokens."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from faceledger.api.keys import KeyStore, RightsKind, Role
from faceledger.errors import AuthError, ForbiddenError, NotFoundError
from faceledger.privacy.identity import ReferenceTemplate

# the key store keeps a token's reference template as an opaque sealed blob
REFERENCE = ReferenceTemplate(template=b"FLE1-sealed-template-bytes", pack="yunet-omz0095",
                              photo_sha256="ab" * 32)


def issue(keys, subject, kind, issued_by="cli", ttl_s=3600.0):
    return keys.tokens.issue(keys.tokens.new_id(), subject, kind, issued_by, REFERENCE, ttl_s)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.cluster)])
def keys(request, tmp_path):
    """keys.db (the embedded store), and the same tables in a cluster store's PostgreSQL
    database when that service is up (a new schema, dropped after)."""
    if request.param == "sqlite":
        with KeyStore.for_data_dir(tmp_path) as ks:
            yield ks
        return
    from faceledger.api.pg_keys_db import PgKeysDB
    from tests.cluster_support import drop_schema, new_schema_name, pg_base_url, with_schema

    base = pg_base_url()
    if not base:
        message = "no PostgreSQL service (scripts/services.sh up)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    schema = new_schema_name("k")
    with KeyStore(PgKeysDB(with_schema(base, schema))) as ks:
        yield ks
    drop_schema(base, schema)


def _stored_bytes(keys, tmp_path) -> bytes:
    """Every byte the key store's files hold: keys.db and its WAL, or the PostgreSQL
    server's whole data directory after a checkpoint (the service runs on this machine)."""
    if keys.path is not None:
        return b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))
    keys.db.execute("CHECKPOINT")
    root = Path(keys.db.query("SHOW data_directory")[0][0])
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_key_round_trip_and_only_its_hash_is_stored(keys, tmp_path):
    issued = keys.create("alice", Role.INVESTIGATOR)
    assert issued.secret.startswith(f"flk_{issued.key.id}_")
    key = keys.authenticate(issued.secret)
    assert (key.name, key.role) == ("alice", Role.INVESTIGATOR)
    secret_part = issued.secret.split("_", 2)[2]
    raw = _stored_bytes(keys, tmp_path)
    assert issued.key.id.encode() in raw  # control: the scan sees the key's row
    assert secret_part.encode() not in raw
    rows = keys.db.query("SELECT secret_sha256 FROM api_keys")
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
    issued = issue(keys, "REQ-1", RightsKind.ACCESS, issued_by="apikey:x:admin")
    assert keys.tokens.peek(issued.secret).subject == "REQ-1"
    with pytest.raises(ForbiddenError):
        keys.tokens.begin_attempt(issued.secret, RightsKind.ERASURE)
    attempt = keys.tokens.begin_attempt(issued.secret, RightsKind.ACCESS)
    assert attempt.reference.template == REFERENCE.template and attempt.number == 1
    token = keys.tokens.settle(attempt, verified=True)
    assert token.used_at is not None and token.outcome == "verified"
    with pytest.raises(AuthError, match="already been used"):
        keys.tokens.begin_attempt(issued.secret, RightsKind.ACCESS)
    with pytest.raises(AuthError):
        keys.tokens.peek(issued.secret)
    assert not keys.tokens.has_reference(token.id)  # spent: the reference template is gone


def test_failed_attempts_spend_the_token_on_the_third(keys):
    issued = issue(keys, "REQ-4", RightsKind.ERASURE)
    for n in (1, 2, 3):
        attempt = keys.tokens.begin_attempt(issued.secret, RightsKind.ERASURE)
        assert attempt.number == n
        token = keys.tokens.settle(attempt, verified=False)
        assert token.attempts_left == 3 - n
    assert token.used_at is not None and token.outcome == "identity_not_verified"
    assert not keys.tokens.has_reference(token.id)
    with pytest.raises(AuthError, match="already been used"):
        keys.tokens.begin_attempt(issued.secret, RightsKind.ERASURE)


def test_two_verified_attempts_at_once_use_the_token_once(keys):
    issued = issue(keys, "REQ-5", RightsKind.ACCESS)
    first = keys.tokens.begin_attempt(issued.secret, RightsKind.ACCESS)
    second = keys.tokens.begin_attempt(issued.secret, RightsKind.ACCESS)
    keys.tokens.settle(first, verified=True)
    with pytest.raises(AuthError, match="already been used"):
        keys.tokens.settle(second, verified=True)


def test_a_token_needs_a_reference(keys):
    with pytest.raises(AuthError, match="reference photo"):
        keys.tokens.issue(keys.tokens.new_id(), "REQ-6", "access", "cli", None, 60)


def test_expired_token_is_refused(keys):
    issued = issue(keys, "REQ-2", "opt_out", ttl_s=0.01)
    time.sleep(0.05)
    with pytest.raises(AuthError, match="expired"):
        keys.tokens.peek(issued.secret)
    keys.tokens.purge_expired()
    assert not keys.tokens.has_reference(issued.token.id)


def test_an_api_key_is_not_a_token_and_back(keys):
    key = keys.create("erin", Role.ADMIN).secret
    token = issue(keys, "REQ-3", "access").secret
    with pytest.raises(AuthError):
        keys.tokens.peek(key)
    with pytest.raises(AuthError):
        keys.authenticate(token)


def test_web_sessions_end_on_revoke_and_with_their_key(keys):
    issued = keys.create("fay", Role.INVESTIGATOR)
    one = keys.sessions.create(issued.key.id)
    two = keys.sessions.create(issued.key.id)
    assert keys.authenticate_session(one.secret).name == "fay"
    assert keys.sessions.revoke(one.secret)
    with pytest.raises(AuthError, match="signed out"):
        keys.authenticate_session(one.secret)
    keys.revoke(issued.key.id)
    with pytest.raises(AuthError):
        keys.authenticate_session(two.secret)
    with pytest.raises(AuthError):
        keys.authenticate_session("not-a-session")


def test_keys_db_migrates_an_old_file(tmp_path):
    old = sqlite3.connect(tmp_path / "keys.db")
    old.executescript(
        "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
        "secret_sha256 TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL, "
        "last_used_at REAL);"
        "CREATE TABLE subject_tokens (id TEXT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT "
        "NOT NULL, issued_by TEXT NOT NULL, secret_sha256 TEXT NOT NULL, created_at REAL NOT "
        "NULL, expires_at REAL NOT NULL, used_at REAL);"
        f"INSERT INTO subject_tokens VALUES ('aaaa', 'REQ-old', 'access', 'cli', "
        f"'{'0' * 64}', 0, 9e12, NULL);"
    )
    old.commit()
    old.close()
    with KeyStore.for_data_dir(tmp_path) as ks:
        names = [r[0] for r in ks.db.execute("SELECT name FROM _migrations ORDER BY name")]
        assert names == ["0001_keys_and_tokens", "0002_subject_token_binding",
                         "0003_web_sessions"]
        token = ks.tokens.get("aaaa")
        assert token.attempts == 0 and token.reference_sha256 is None


def test_a_new_keys_db_is_private(tmp_path):
    with KeyStore.for_data_dir(tmp_path):
        pass
    assert (tmp_path / "keys.db").stat().st_mode & 0o077 == 0


def test_a_spent_tokens_reference_template_leaves_the_files(keys, tmp_path):
    """Spending a token deletes its reference template from every file of the key store
    (keys.db and its WAL; on PostgreSQL, the server's whole data directory)."""
    import secrets

    sealed = b"FLE1" + secrets.token_bytes(60)  # unique: no other test leaves it behind
    reference = ReferenceTemplate(template=sealed, pack="yunet-omz0095",
                                  photo_sha256="cd" * 32)
    issued = keys.tokens.issue(keys.tokens.new_id(), "REQ-7", RightsKind.ACCESS, "cli",
                               reference, 3600.0)
    assert sealed[-32:] in _stored_bytes(keys, tmp_path)  # control
    attempt = keys.tokens.begin_attempt(issued.secret, RightsKind.ACCESS)
    keys.tokens.settle(attempt, verified=True)
    assert sealed[-32:] not in _stored_bytes(keys, tmp_path)
