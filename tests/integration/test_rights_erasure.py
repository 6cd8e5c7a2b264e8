"""Erasure (Art. 17) on real LFW photos: catalog rows, index vectors, and the bytes on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceledger.cli.main import main
from faceledger.privacy.access import find_person
from faceledger.privacy.erasure import erase
from faceledger.privacy.rights import erase_person

from ..conftest import lfw_image
from .rights_support import (
    CTX,
    bucket_keys,
    catalog_files,
    make_gallery,
    new_store,
    scan,
    settings_for,
    source_kwargs,
)

PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez", "Gerhard_Schroeder",
          "Ariel_Sharon"]
TARGET = "Colin_Powell"


@pytest.fixture()
def store(tmp_path, lfw_dir, models_dir, backend):
    gallery = make_gallery(tmp_path / "photos", lfw_dir, PEOPLE, range(1, 4))
    st = new_store(tmp_path, models_dir, gallery, **backend())
    yield st
    st.close()


def _blobs(store, face_ids):
    """The templates as the store's cipher wrote them (what the catalog gives back)."""
    return dict(store.catalog.embeddings(face_ids, store.pack.name))


def _scan_all(store, needles):
    found = {}
    for root in catalog_files(store):
        for key, where in scan(root, needles).items():
            found.setdefault(key, []).extend(f"{root}/{w}" for w in where)
    return found


def _index_plaintext(store) -> bytes:
    """Every index file under the data dir, decrypted where it is encrypted."""
    from faceledger.privacy.crypto import is_encrypted

    out = []
    for f in sorted((store.data_dir / "index").rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            out.append(store.cipher.decrypt_blob(data) if is_encrypted(data) else data)
    return b"".join(out)


def test_erased_templates_leave_no_bytes_on_disk(store, lfw_dir):
    selfie = lfw_image(lfw_dir, TARGET, 4)
    person = find_person(store, [selfie])
    records = store.catalog.faces(person.face_ids)
    target_ids = [fid for fid, r in records.items() if f"/{TARGET}/" in r.photo_uri]
    assert len(target_ids) >= 3, "each gallery photo of the person is found"
    kept_id = next(int(r[0]) for r in store.catalog.query(
        "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.uri LIKE ?",
        ("%/Tony_Blair/%",)))

    erased_blobs = _blobs(store, target_ids)
    needles = {}
    for fid, blob in erased_blobs.items():
        plain = store.cipher.decrypt_vector(blob).tobytes()
        needles[f"cipher-{fid}"] = blob
        needles[f"plain-{fid}"] = plain
        needles[f"plain-head-{fid}"] = plain[:32]
    kept_plain = store.cipher.decrypt_vector(_blobs(store, [kept_id])[kept_id]).tobytes()

    # on PostgreSQL each template is encrypted once more under its bucket's key, and it is
    # the key that an erasure destroys (docs/privacy.md): the keys are needles too
    keys = bucket_keys(store, target_ids)
    needles.update(keys)
    store.catalog.scrub()  # a CHECKPOINT on PostgreSQL: the key rows reach the table files
    # controls: before erasure the scan does find the stored ciphertexts (on PostgreSQL,
    # the keys), and the decrypted index holds the vectors (so a pass below is not a scan
    # that cannot fail)
    control = [k for k in needles if k.startswith("bucket-key" if keys else "cipher")]
    before = _scan_all(store, {k: needles[k] for k in control})
    assert len(before) == len(control)
    # the index files are FAISS's (a Milvus store's vectors are on the Milvus server, whose
    # physical removal tests/integration/test_milvus_vectors.py scans for)
    files = store.backends.vectors == "faiss"
    if files:
        index_before = _index_plaintext(store)
        assert all(needles[f"plain-{fid}"] in index_before for fid in target_ids)
    erased_vectors = np.stack([np.frombuffer(needles[f"plain-{fid}"], np.float32)
                               for fid in target_ids])

    report = erase_person(store, [selfie], context=CTX)
    assert set(target_ids) <= set(report.faces)
    assert report.checkpointed and report.index_vectors == len(report.faces)

    for label in ("open store", "closed store"):
        leftovers = _scan_all(store, needles)
        assert leftovers == {}, f"{label}: erased template bytes still on disk: {leftovers}"
        if files:
            index_after = _index_plaintext(store)
            assert not any(needles[f"plain-{fid}"] in index_after for fid in target_ids)
            assert kept_plain in index_after  # the rewrite kept everyone else
        _, found = store.index_file.search(erased_vectors, 10)
        assert not set(target_ids) & set(found.ravel().tolist())
        store.close()
        store.__init__(store.settings)  # reopen in place for the second pass

    assert not store.catalog.faces(target_ids)
    if files:
        assert not set(target_ids) & set(store.index_file.index.ids().tolist())
    assert store.check().ok
    results = store.search(selfie, k=10, largest_only=True, context=CTX)
    assert all(f"/{TARGET}/" not in m.photo_uri for m in results[0].matches)
    entry = [e for e in store.audit.entries() if e.action == "erase"][-1]
    assert sorted(entry.outputs["faces"]) == sorted(report.faces)
    assert entry.case == CTX.case and len(entry.inputs["selfies_sha256"]) == 1


def test_photos_left_without_faces_go_and_do_not_come_back(store, lfw_dir):
    rows = store.catalog.query(
        "SELECT p.id, COUNT(f.id) FROM photos p JOIN faces f ON f.photo_id = p.id "
        "WHERE p.uri LIKE ? GROUP BY p.id", (f"%/{TARGET}/%",))
    photo_ids = [int(r[0]) for r in rows]
    report = erase(store, photo_ids=photo_ids, context=CTX)
    assert sorted(report.photos) == sorted(photo_ids)
    assert sum(int(r[1]) for r in rows) == len(report.faces)
    assert not store.catalog.query("SELECT id FROM photos WHERE uri LIKE ?", (f"%/{TARGET}/%",))
    again = store.ingest("events", workers=1)
    assert again.photos == 0 and again.faces == 0, "erased photos are tombstoned, not re-read"
    assert not store.catalog.query("SELECT id FROM photos WHERE uri LIKE ?", (f"%/{TARGET}/%",))
    assert store.check().ok


def test_a_source_can_keep_photo_records_without_faces(tmp_path, lfw_dir, models_dir):
    from faceledger import init_store

    gallery = make_gallery(tmp_path / "photos", lfw_dir, PEOPLE[:2], range(1, 3))
    st = init_store(settings_for(tmp_path, models_dir))
    st.add_source("archive", **source_kwargs(gallery, keep_photos_without_faces=True))
    st.ingest("archive", workers=1)
    face_ids = [int(r[0]) for r in st.catalog.query("SELECT id FROM faces")]
    photos = st.counts()["photos"]
    report = erase(st, face_ids=face_ids, context=CTX)
    assert len(report.faces) == len(face_ids) and report.photos == []
    assert st.counts()["photos"] == photos and st.counts()["faces"] == 0
    st.close()


def test_unknown_ids_are_reported_not_invented(store):
    report = erase(store, face_ids=[999_999], context=CTX)
    assert report.faces == [] and report.not_found == [999_999]


def test_cli_erase_by_selfie_lists_then_asks(store, lfw_dir):
    selfie = str(lfw_image(lfw_dir, TARGET, 4))
    base = ["--data", str(store.data_dir), "--models-dir", str(store.settings.models_dir)]
    env = {"FACELEDGER_KEY_FILE": str(store.settings.key_file)}
    faces_before = store.counts()["faces"]
    store.close()
    runner = CliRunner()
    no = runner.invoke(main, [*base, "rights", "erase", selfie, "--case", "REQ-1"], input="n\n",
                       env=env)
    assert no.exit_code == 0, no.output
    assert f"/{TARGET}/" in no.output and "nothing erased" in no.output
    missing_case = runner.invoke(main, [*base, "rights", "erase", selfie, "--yes"], env=env)
    assert missing_case.exit_code == 2 and "case reference" in missing_case.output
    yes = runner.invoke(main, [*base, "rights", "erase", selfie, "--case", "REQ-1"], input="y\n",
                        env=env)
    assert yes.exit_code == 0, yes.output
    assert "face(s) found" in yes.output and "erased " in yes.output
    store.__init__(store.settings)
    assert store.counts()["faces"] < faces_before
    assert not store.catalog.query(
        "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.uri LIKE ?",
        (f"%/{TARGET}/%",))


def test_erasure_truncates_the_wal_and_vacuum_leaves_no_free_pages(store, lfw_dir):
    if store.catalog.path is None:
        pytest.skip("SQLite's WAL and free pages (PostgreSQL: test_pg_erasure_physical.py)")
    assert store.catalog.query("PRAGMA secure_delete")[0][0] == 1
    erase_person(store, [lfw_image(lfw_dir, TARGET, 4)], context=CTX, vacuum=True)
    wal = Path(str(store.catalog.path) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    conn = sqlite3.connect(str(store.catalog.path))
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    conn.close()


def test_cli_erase_by_photo_id_and_audit_anchor(store):
    import json as _json

    photo_id = int(store.catalog.query(
        "SELECT id FROM photos WHERE uri LIKE ? ORDER BY id LIMIT 1", ("%/Tony_Blair/%",))[0][0])
    anchor = "{}:{}".format(*store.audit.head())
    settings = store.settings
    store.close()
    runner = CliRunner()
    base = ["--data", str(settings.data_dir)]
    env = {"FACELEDGER_KEY_FILE": str(settings.key_file)}
    r = runner.invoke(main, [*base, "rights", "erase", "--photo", str(photo_id), "--case", "R-7",
                             "--yes", "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = _json.loads(r.output)
    assert out["photos"] == [photo_id] and out["faces"]
    ok = runner.invoke(main, [*base, "audit", "verify", "--anchor", anchor], env=env)
    assert ok.exit_code == 0, ok.output
    forged = anchor.split(":")[0] + ":" + "0" * 64
    bad = runner.invoke(main, [*base, "audit", "verify", "--anchor", forged], env=env)
    assert bad.exit_code == 1 and "anchor" in bad.output
    store.__init__(settings)
    assert store.check().ok
