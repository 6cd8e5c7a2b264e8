"""The storage contract, run against every implementation.

* every vector index kind: codes made by ``encode`` and added with ``add_codes`` give the
  index that ``add`` gives; removal is real;
* the index on disk (``IndexFile`` over a real SQLite catalog and real FAISS segments):
  two instances over one catalog behave as two processes do, since all they share is the
  catalog file and the index directory.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from faceledger.privacy.crypto import TemplateCipher
from faceledger.store import index_file as index_file_module
from faceledger.store.catalog import Catalog
from faceledger.store.index_file import IndexFile
from faceledger.store.index_kinds import INDEX_KINDS
from faceledger.types import SourceInfo

DIM = 256
PACK = "test-pack"


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", sorted(INDEX_KINDS))
def test_codes_rebuild_the_same_index(kind):
    x = unit_vectors(3000)
    ids = np.arange(3000, dtype=np.int64) * 7 + 3
    a = INDEX_KINDS[kind](DIM)
    if not a.is_trained:
        a.train(x)
    codec = a.codec()
    a.add(ids, x)
    b = INDEX_KINDS[kind].from_codec(codec, DIM)
    b.add_codes(ids, b.encode(x))
    for index in (a, b):
        if hasattr(index, "reranker"):
            index.rerank = 0  # compare the codes themselves, not a re-ranking
    _, ia = a.search(x[:40], 10)
    _, ib = b.search(x[:40], 10)
    assert np.array_equal(ia, ib)
    assert b.remove(ids[:5]) == 5
    _, again = b.search(x[:5], 10)
    assert not np.isin(again, ids[:5]).any() and len(b) == 2995


class Gallery:
    """A real catalog with faces written as ingest writes them."""

    def __init__(self, path, cipher):
        self.catalog = Catalog(path)
        self.cipher = cipher
        info = SourceInfo(name="s", kind="folder", location="/nowhere", controller="c",
                          lawful_basis="consent", purpose="p", retention_days=30,
                          special_category_condition="explicit-consent",
                          minors_policy="none-expected")
        self.catalog.add_source(info)
        self.source_id = self.catalog.source("s").id
        self.run_id = self.catalog.start_run(self.source_id, PACK)
        self.vectors: dict[int, np.ndarray] = {}
        self.count = 0

    def add(self, vectors: np.ndarray) -> list[int]:
        ids = []
        with self.catalog.write() as conn:
            for v in vectors:
                self.count += 1
                photo = self.catalog.insert_photo(conn, self.source_id, self.run_id,
                                                  f"file:///p/{self.count}.jpg", "ok")
                fid = self.catalog.insert_face(conn, photo, self.run_id, [0, 0, 10, 10],
                                               [[0, 0]] * 5, 0.9, 0.9, PACK,
                                               self.cipher.encrypt_vector(v))
                self.vectors[fid] = v
                ids.append(fid)
        return ids

    def delete(self, ids: list[int]) -> None:
        with self.catalog.write() as conn:
            for fid in ids:
                conn.execute("DELETE FROM faces WHERE id = ?", (fid,))
                self.vectors.pop(fid)


@pytest.fixture
def setup(tmp_path):
    cipher = TemplateCipher.generate()
    writer = Gallery(tmp_path / "catalog.db", cipher)

    def index(kind: str = "flat") -> IndexFile:
        other = Catalog(tmp_path / "catalog.db")  # its own connection, as another process
        f = IndexFile(tmp_path / "index", PACK, DIM, kind, other, cipher)
        f.open()
        return f

    return writer, index, tmp_path / "index" / PACK


def segment_files(directory) -> set[str]:
    return {p.name for p in directory.glob("seg-*.bin")}


def disk_plaintext(directory, cipher) -> bytes:
    return b"".join(cipher.decrypt_blob(p.read_bytes()) for p in sorted(directory.glob("*.bin")))


@pytest.mark.parametrize("kind", ["flat", "ivfpq", "hnsw"])
def test_two_processes_agree_through_the_log(setup, kind):
    writer, index, directory = setup
    first = writer.add(unit_vectors(600, seed=1))
    a, b = index(kind), index(kind)
    assert len(a) == len(b) == 600
    late = writer.add(unit_vectors(50, seed=2))
    probe = writer.vectors[late[0]][None, :]
    assert b.search(probe, 1)[1][0, 0] == late[0]  # b sees a face it never wrote
    gone = first[:10] + late[:1]
    erased = [writer.vectors[i].tobytes() for i in gone]
    writer.delete(gone)
    a.save()  # a process that had the faces in memory writes the files
    for f in (a, b):
        _, ids = f.search(np.stack([np.frombuffer(e, np.float32) for e in erased]), 5)
        assert not np.isin(ids, gone).any()
    assert not np.isin(a.disk_ids(), gone).any()
    if kind != "ivfpq":  # flat and hnsw segments hold the float32 vectors themselves
        plain = disk_plaintext(directory, a.cipher)
        assert writer.vectors[first[20]].tobytes() in plain  # the control: scanning can fail
        assert not any(e in plain for e in erased)
    assert a.check().ok and b.check().ok


def test_an_erasure_rewrites_only_the_segment_that_held_the_face(setup, monkeypatch):
    monkeypatch.setattr(index_file_module, "SEGMENT_BYTES", 100 * (DIM * 4 + 8))
    writer, index, directory = setup
    ids = writer.add(unit_vectors(450))
    f = index("flat")
    before = segment_files(directory)
    assert len(before) == 5  # 100 + 100 + 100 + 100 + 50
    writer.delete([ids[150]])
    f.save()
    after = segment_files(directory)
    assert len(before - after) == 1 and len(after - before) == 1
    assert f.check().ok and f.check().disk_faces == 449


def test_compact_merges_small_segments_and_keeps_every_face(setup):
    writer, index, directory = setup
    f = index("flat")
    for seed in range(6):
        writer.add(unit_vectors(20, seed=seed))
        f.save()
    assert len(segment_files(directory)) == 6
    f.compact()
    assert len(segment_files(directory)) == 1
    assert f.check().ok and f.check().disk_faces == 120


def test_faces_committed_but_never_saved_are_replayed_at_open(setup):
    writer, index, _ = setup
    index("flat")
    writer.add(unit_vectors(30))  # no process saved these: as after a kill -9
    f = index("flat")
    assert len(f) == 30 and f.check().ok


def test_a_process_left_behind_a_pruned_log_reloads_from_the_files(setup, monkeypatch):
    monkeypatch.setattr(index_file_module, "LOG_KEEP", 10)
    writer, index, _ = setup
    writer.add(unit_vectors(40, seed=1))
    a, b = index("flat"), index("flat")
    ids = writer.add(unit_vectors(40, seed=2))
    writer.delete(ids[:5])
    a.save()  # writes the files and prunes the log behind them
    assert a.catalog.log_floor() > b.applied + 1
    assert len(b) == 75 and b.check().ok
    _, got = b.search(np.stack([unit_vectors(40, seed=2)[0]]), 3)
    assert ids[0] not in got


def test_a_build_prunes_the_log_behind_its_files(setup, monkeypatch):
    """A first open of a large catalog builds every segment: the log behind them is cut
    there, not left for the next ingest's save (10 M faces: ~10 M rows to delete)."""
    monkeypatch.setattr(index_file_module, "LOG_KEEP", 10)
    writer, index, _ = setup
    writer.add(unit_vectors(60, seed=3))
    head = writer.catalog.log_head()
    f = index("flat")  # no manifest yet: the open builds the files
    assert f.catalog.log_floor() == head - 10 + 1
    ids = writer.add(unit_vectors(5, seed=4))
    f.save()
    assert f.check().ok and len(f) == 65
    assert f.search(unit_vectors(5, seed=4)[:1], 1)[1][0, 0] == ids[0]


def test_a_rebuild_by_one_process_is_picked_up_by_the_other(setup):
    writer, index, directory = setup
    writer.add(unit_vectors(800))
    a, b = index("flat"), index("flat")
    a.rebuild("ivfpq")
    assert b.search(unit_vectors(800)[:1], 1)[1][0, 0] > 0
    assert b.kind == "ivfpq" and b.check().ok
    assert {p.name.split("-")[0] for p in directory.glob("*.bin")} == {"codec", "seg"}


def test_an_unreadable_segment_is_rebuilt_from_the_catalog(setup):
    writer, index, directory = setup
    writer.add(unit_vectors(100))
    index("flat")
    (seg,) = sorted(directory.glob("seg-*.bin"))
    seg.write_bytes(b"garbage")
    f = index("flat")
    assert len(f) == 100 and f.check().ok
    assert not seg.exists()


def test_auto_chooses_the_kind_by_the_size_the_gallery_has_grown_to(setup, monkeypatch):
    from faceledger.store import index_kinds

    monkeypatch.setattr(index_kinds, "FLAT_MAX", 500)
    writer, index, _ = setup
    assert index("auto").kind == "flat"
    writer.add(unit_vectors(800))  # committed, not yet in any index file
    grown = index("auto")
    assert grown.kind == "ivfpq" and len(grown) == 800 and grown.check().ok


def test_the_background_compactor_merges_small_segments_when_due(setup):
    from faceledger.store.compactor import BackgroundCompactor

    writer, index, directory = setup
    writer.add(unit_vectors(2000, seed=3))
    f = index("flat")
    compactor = BackgroundCompactor(f, interval_s=0.05)
    assert not compactor.run_once()  # one segment: nothing to merge
    for seed in range(10):  # ten small ingest batches, each saved as its own segment
        writer.add(unit_vectors(20, seed=100 + seed))
        f.save()
    before = len(segment_files(directory))
    assert before >= 10 and f.compaction_due()
    compactor.start()
    try:
        deadline = time.monotonic() + 30
        while compactor.compactions == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        compactor.stop()
    assert compactor.compactions >= 1
    assert len(segment_files(directory)) < before and not f.compaction_due()
    assert f.check().ok and len(f) == 2200
