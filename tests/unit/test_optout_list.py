"""The opt-out list with hand-made vectors: threshold, blocking, encryption, rotation."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger.errors import NotFoundError, StoreError
from faceledger.models.registry import get_pack
from faceledger.privacy.crypto import TemplateCipher, is_encrypted
from faceledger.privacy.erasure import Tombstones
from faceledger.privacy.optout import OptOutList, optout_threshold

DIM = 8


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture()
def optout(tmp_path):
    lst = OptOutList(tmp_path / "privacy.db", TemplateCipher.generate(), 0.45, DIM)
    yield lst
    lst.close()


def test_threshold_interpolates_on_log_far():
    pack = get_pack("yunet-omz0095")
    t = optout_threshold(pack, 3e-3)
    assert pack.thresholds[1e-2] < t < pack.thresholds[1e-3]
    assert optout_threshold(pack, 1e-3) == pack.thresholds[1e-3]
    assert optout_threshold(pack, 1.0) == pack.thresholds[max(pack.thresholds)]


def test_blocks_only_what_matches(optout):
    person = _unit(np.eye(DIM)[0] + 0.1 * np.eye(DIM)[1])
    assert not optout.blocked_mask(person[None]).any()  # empty list blocks nothing
    entry = optout.add(np.stack([person]), "REQ-1", actor="dpo")
    assert (entry.templates, entry.selfies) == (1, 1) and len(optout) == 1
    near = _unit(np.eye(DIM)[0] + 0.3 * np.eye(DIM)[2])  # cos ~0.95
    far = _unit(np.eye(DIM)[3])
    edge = _unit(0.44 * np.eye(DIM)[0] + np.sqrt(1 - 0.44**2) * np.eye(DIM)[4])
    mask = optout.blocked_mask(np.stack([near, far, edge]))
    assert mask.tolist() == [True, False, False]
    assert optout.blocked_mask(near[None]).tolist() == [True]


def test_templates_are_stored_encrypted_and_removed(optout, tmp_path):
    v = _unit(np.arange(1, DIM + 1))
    entry = optout.add(v[None], "REQ-2")
    blob = optout._db.execute("SELECT template FROM optout_templates").fetchone()[0]
    assert is_encrypted(bytes(blob)) and v.tobytes() not in bytes(blob)
    optout.remove(entry.id)
    assert optout.entries() == [] and not optout.blocked_mask(v[None]).any()
    with pytest.raises(NotFoundError):
        optout.remove(entry.id)
    assert v.tobytes()[:16] not in (tmp_path / "privacy.db").read_bytes()


def test_reencrypt_with_a_new_key(optout):
    v = _unit(np.arange(DIM) + 1.0)
    optout.add(v[None], "REQ-3")
    new = optout.cipher.rotated()
    assert optout.reencrypt(new) == 1
    optout.cipher = TemplateCipher.from_key_bytes(new.key)
    optout._matrix = None
    assert optout.blocked_mask(v[None]).all()


def test_refuses_empty_requests(optout):
    with pytest.raises(StoreError):
        optout.add(np.zeros((0, DIM), np.float32), "REQ")
    with pytest.raises(StoreError):
        optout.add(np.ones((1, DIM), np.float32), "  ")


def test_tombstones_hash_uris_per_source(tmp_path):
    t = Tombstones(tmp_path / "privacy.db")
    t.add([(1, "file:///photos/a.jpg")], "art17-request")
    assert t.is_erased(1, "file:///photos/a.jpg")
    assert not t.is_erased(2, "file:///photos/a.jpg")
    assert t.filter(1, ["file:///photos/a.jpg", "file:///photos/b.jpg"]) == {"file:///photos/a.jpg"}
    assert b"a.jpg" not in (tmp_path / "privacy.db").read_bytes()
    t.close()


def test_one_mean_template_per_person(optout):
    a, b = _unit(np.eye(DIM)[0]), _unit(np.eye(DIM)[1])
    entry = optout.add(np.stack([a, b]), "REQ-4")
    assert (entry.templates, entry.selfies) == (1, 2)
    held = optout._templates()
    assert held.shape == (1, DIM)
    assert np.allclose(held[0], _unit(a + b), atol=1e-6)
    # the mean (cos 0.71 to each selfie) blocks a face like either selfie
    assert optout.blocked_mask(np.stack([a, b])).all()


def test_tuned_threshold_for_the_default_pack():
    from faceledger.privacy.optout import OPTOUT_THRESHOLDS

    assert optout_threshold(get_pack("yunet-omz0095")) == OPTOUT_THRESHOLDS["yunet-omz0095"]


def test_an_entry_added_by_another_process_blocks_at_once(tmp_path):
    """A server caches the decrypted list; an entry the CLI adds (another connection to
    the same file) must block the server's next ingest, and a removal must unblock it."""
    cipher = TemplateCipher.generate()
    server = OptOutList(tmp_path / "privacy.db", cipher, 0.45, DIM)
    cli = OptOutList(tmp_path / "privacy.db", cipher, 0.45, DIM)
    try:
        person = _unit(np.eye(DIM)[0])
        assert not server.blocked_mask(person[None]).any()  # cached: empty
        entry = cli.add(person[None], "REQ-9")
        assert server.blocked_mask(person[None]).tolist() == [True]
        cli.remove(entry.id)
        assert not server.blocked_mask(person[None]).any()
    finally:
        server.close()
        cli.close()
