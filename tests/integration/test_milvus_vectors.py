"""The vector-store contract against the real Milvus server of ``scripts/services.sh``.

Two ``MilvusVectors`` over one catalog file behave as two processes do: all they share is
the catalog (its change log and the recorded position) and the Milvus server.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from faceledger.privacy.crypto import TemplateCipher
from faceledger.store.catalog import Catalog
from faceledger.store.milvus_vectors import MilvusVectors, Rotation, scan_for_vectors
from tests.unit.test_index_contract import DIM, PACK, Gallery, unit_vectors

pytestmark = pytest.mark.cluster


@pytest.fixture
def setup(tmp_path, milvus_url):
    pytest.importorskip("pymilvus")
    cipher = TemplateCipher.generate()
    writer = Gallery(tmp_path / "catalog.db", cipher)
    url = milvus_url.rsplit("/", 1)[0] + "/t" + uuid.uuid4().hex[:10]
    made: list[MilvusVectors] = []

    def vectors(kind: str = "flat", key: TemplateCipher | None = None) -> MilvusVectors:
        other = Catalog(tmp_path / "catalog.db")  # its own connection, as another process
        v = MilvusVectors(url, PACK, DIM, kind, other, key or cipher)
        v.open()
        made.append(v)
        return v

    yield writer, vectors, cipher
    if made:
        made[0].drop()
    for v in made:
        v.close()


def test_the_rotation_keeps_similarities_and_hides_the_vectors():
    x = unit_vectors(50)
    a = Rotation(b"k" * 32, DIM)
    b = Rotation(b"j" * 32, DIM)
    assert np.allclose(a.apply(x) @ a.apply(x).T, x @ x.T, atol=1e-5)
    assert np.allclose(np.linalg.norm(a.apply(x), axis=1), 1, atol=1e-5)
    assert np.abs((a.apply(x) * x).sum(axis=1)).max() < 0.4  # not the vectors themselves
    assert not np.allclose(a.matrix, b.matrix) and a.fingerprint != b.fingerprint
    assert np.array_equal(Rotation(b"k" * 32, DIM).matrix, a.matrix)  # derived, not random


@pytest.mark.parametrize("kind", ["flat", "ivfsq8", "ivfpq", "hnsw"])
def test_two_processes_agree_and_an_erasure_is_out_of_reach_at_once(setup, kind):
    writer, vectors, _ = setup
    first = writer.add(unit_vectors(600, seed=1))
    a, b = vectors(kind), vectors(kind)
    assert len(a) == len(b) == 600
    late = writer.add(unit_vectors(50, seed=2))
    probe = writer.vectors[late[0]][None, :]
    sims, ids = b.search(probe, 1)  # b sees a face it never wrote
    assert ids[0, 0] == late[0] and sims[0, 0] == pytest.approx(1.0, abs=1e-4)
    gone = first[:10] + late[:1]
    erased = np.stack([writer.vectors[i] for i in gone])
    writer.delete(gone)
    assert a.remove(gone) == len(gone)
    for f in (a, b):  # strong consistency: the very next search of any process
        _, got = f.search(erased, 5)
        assert not np.isin(got, gone).any()
    assert a.check().ok and b.check().ok
    assert a.check().index_faces == 639


def test_a_face_deleted_behind_every_process_back_is_caught_by_check(setup):
    writer, vectors, _ = setup
    ids = writer.add(unit_vectors(40))
    a = vectors("flat")
    writer.delete(ids[:3])  # committed; no process told
    report = a.check()  # check syncs first: the log names the deletion
    assert report.ok and report.index_faces == 37


def test_key_rotation_renews_every_stored_vector(setup):
    writer, vectors, cipher = setup
    writer.add(unit_vectors(100))
    a = vectors("flat")
    before = a.rotation.fingerprint
    new = TemplateCipher.generate()
    # the catalog's embeddings are re-encrypted by the store's rotation; here, by hand
    a.catalog.rewrite_embeddings(lambda blob: new.encrypt_vector(cipher.decrypt_vector(blob)))
    a.reencrypt(new)
    assert a.rotation.fingerprint != before and a.check().ok
    probe = writer.vectors[min(writer.vectors)][None, :]
    assert a.search(probe, 1)[1][0, 0] == min(writer.vectors)
    b = vectors("flat", key=new)  # another process under the new key uses it as it is
    assert b.physical == a.physical and b.check().ok


def test_an_erased_vector_leaves_the_segment_files_after_compaction(setup, services_env):
    data = Path(services_env.get("FACELEDGER_MILVUS_DATA", ""))
    if not data.is_dir():
        pytest.skip("Milvus's data dir is not on this machine")
    writer, vectors, _ = setup
    ids = writer.add(unit_vectors(300, seed=5))
    a = vectors("flat")
    a.compact()  # flushed: every vector is now in a segment file
    rotated = a.rotation.apply(np.stack([writer.vectors[i] for i in ids[:2]]))
    held = scan_for_vectors(data, rotated)
    assert any("insert_log" in p for p in held[0])  # the control: scanning can find it
    assert not scan_for_vectors(data, np.stack([writer.vectors[ids[0]]]))[0]  # rotated
    writer.delete(ids[:1])
    a.remove(ids[:1])
    a.compact()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = scan_for_vectors(data, rotated)
        if not [p for p in left[0] if not p.startswith("rocksmq")]:
            break
        time.sleep(3)
    segments = [p for p in left[0] if not p.startswith("rocksmq")]
    assert not segments, f"the erased vector is still in {segments}"
    assert any("insert_log" in p for p in left[1])  # a kept face is still there


def test_the_next_search_honours_an_erasure_without_strong_reads(setup):
    """Searches pass a guarantee timestamp, not strong consistency: each erasure (told to
    one process, or only written to the catalog's log) must still be out of reach of the
    very next search of every process. The control, a bounded-staleness search issued
    right after the same deletions, shows that a cheaper read would have returned them."""
    from pymilvus import Collection

    writer, vectors, _ = setup
    ids = writer.add(unit_vectors(400, seed=9))
    a, b = vectors("flat"), vectors("flat")
    b.search(writer.vectors[ids[0]][None, :], 1)  # b holds a guarantee from before
    raw = Collection(a.physical, using=a.using)
    stale = 0
    erased = ids[1:25]
    for turn, fid in enumerate(erased):
        probe = writer.vectors[fid][None, :]
        writer.delete([fid])
        if turn % 2 == 0:
            a.remove([fid])  # the eraser's own process deletes in Milvus at once
            found = raw.search(a.rotation.apply(probe), "v", {"metric_type": "IP"},
                               limit=1, consistency_level="Bounded")
            stale += int(fid in list(found[0].ids))
        for f in (b, a):  # else nobody told: the log alone names the deletion
            _, got = f.search(probe, 5)
            assert fid not in got, f"erased face {fid} returned (turn {turn})"
    assert a.guarantee_ts > 0 and b.guarantee_ts > 0  # the guarantee path ran, not Strong
    assert stale > 0, "the bounded control never saw an erased face: the test proves nothing"
    assert a.check().ok and b.check().ok and len(a) == 400 - len(erased)
