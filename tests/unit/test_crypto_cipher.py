"""AES-GCM template protection and key handling."""

from __future__ import annotations

import base64
import os
import stat

import numpy as np
import pytest

from faceledger.errors import ConfigError, IntegrityError
from faceledger.privacy.crypto import (
    TemplateCipher,
    load_or_create_key,
    pending_key_file,
    write_key_file,
)


def _vec(seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(256).astype(np.float32)
    return v / np.linalg.norm(v)


def test_vector_round_trip_and_no_plaintext():
    c = TemplateCipher.generate()
    v = _vec()
    blob = c.encrypt_vector(v)
    assert v.tobytes() not in blob
    assert v.tobytes()[:16] not in blob
    out = c.decrypt_vector(blob)
    assert out.dtype == np.float32 and np.array_equal(out, v)
    # random nonce: same vector, different blob
    assert c.encrypt_vector(v) != blob
    assert c.is_current(blob)


def test_wrong_key_and_tampering_raise_integrity_error():
    c = TemplateCipher.generate()
    blob = c.encrypt_vector(_vec())
    with pytest.raises(IntegrityError):
        TemplateCipher.generate().decrypt_vector(blob)
    flipped = bytearray(blob)
    flipped[-20] ^= 1
    with pytest.raises(IntegrityError):
        c.decrypt_vector(bytes(flipped))
    with pytest.raises(IntegrityError):
        c.decrypt_blob(b"not a blob at all, just bytes")
    with pytest.raises(IntegrityError):
        c.decrypt_vector(c.encrypt_vector(_vec(), aad=b"face:1"), aad=b"face:2")


def test_rotation_reads_old_writes_new():
    old = TemplateCipher.generate()
    blob = old.encrypt_blob(b"index bytes")
    new = old.rotated()
    assert new.key_id != old.key_id
    assert not new.is_current(blob)
    assert new.decrypt_blob(blob) == b"index bytes"
    assert new.is_current(new.encrypt_blob(b"x"))
    finished = TemplateCipher.from_key_bytes(new.key)
    with pytest.raises(IntegrityError):
        finished.decrypt_blob(blob)


def test_key_file_created_with_0600_outside_data_dir(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    with pytest.raises(ConfigError):
        load_or_create_key("store-1", env=env)
    c = load_or_create_key("store-1", create=True, env=env)
    path = tmp_path / "cfg" / "faceledger" / "keys" / "store-1.key"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_key("store-1", env=env)
    assert again.key == c.key
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError):
        load_or_create_key("store-1", env=env)


def test_env_key_wins(tmp_path):
    key = os.urandom(32)
    env = {"FACELEDGER_KEY": base64.b64encode(key).decode(), "XDG_CONFIG_HOME": str(tmp_path)}
    assert load_or_create_key("s", env=env).key == key
    with pytest.raises(ConfigError):
        load_or_create_key("s", env={"FACELEDGER_KEY": "c2hvcnQ="})


def test_pending_rotation_key_is_loaded(tmp_path):
    path = tmp_path / "k.key"
    old = os.urandom(32)
    new = os.urandom(32)
    write_key_file(path, old)
    write_key_file(pending_key_file(path), new)
    c = load_or_create_key("s", key_file=path, env={})
    assert c.key == new and c.old_keys == (old,)
