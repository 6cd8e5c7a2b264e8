"""Template protection on a real store: encrypted at rest, wrong keys refused, rotation."""

from __future__ import annotations

import base64
import stat

import pytest
from click.testing import CliRunner

from faceledger import open_store
from faceledger.cli.main import main
from faceledger.errors import ConfigError, IntegrityError
from faceledger.privacy.crypto import blob_key_id, is_encrypted, pending_key_file
from faceledger.privacy.keys import rotate_keys
from faceledger.privacy.rights import opt_out_person

from ..conftest import lfw_image
from .rights_support import CTX, catalog_files, make_gallery, new_store, scan

PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez"]


@pytest.fixture()
def store(tmp_path, lfw_dir, models_dir, backend):
    gallery = make_gallery(tmp_path / "photos", lfw_dir, PEOPLE, range(1, 3))
    st = new_store(tmp_path, models_dir, gallery, **backend())
    yield st
    st.close()


def _stored(st) -> list[tuple[int, bytes]]:
    """(face id, template as the store's cipher wrote it), from the catalog (on PostgreSQL
    the table holds it wrapped once more under its bucket's key)."""
    return [row for batch in st.catalog.iter_embeddings(st.pack.name) for row in batch]


def _plaintexts(st) -> dict[str, bytes]:
    return {f"face-{fid}": st.cipher.decrypt_vector(blob).tobytes()[:64]
            for fid, blob in _stored(st)}


def index_files(store) -> dict:
    """The index's blob files (codec and segments; not the manifest or the lock). A store
    whose vectors are in Milvus has none: Milvus holds them rotated under a key-derived
    matrix, not encrypted (tests/integration/test_milvus_vectors.py checks that)."""
    if store.backends.vectors != "faiss":
        return {}
    return {p: p.read_bytes() for p in sorted(store.index_file.directory.glob("*.bin"))}


def has_index_files(store) -> bool:
    return store.backends.vectors == "faiss"


def test_templates_and_index_are_encrypted_at_rest(store):
    rows = _stored(store)
    assert rows and all(is_encrypted(blob) for _, blob in rows)
    assert bool(index_files(store)) == has_index_files(store)
    assert all(is_encrypted(b) for b in index_files(store).values())
    for root in catalog_files(store):
        assert scan(root, _plaintexts(store)) == {}, f"a plaintext template is in {root}"
    key = store.settings.key_file
    assert key.exists() and store.data_dir not in key.parents
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_wrong_or_missing_key_is_refused(store, monkeypatch):
    settings = store.settings
    store.close()
    monkeypatch.setenv("FACELEDGER_KEY", base64.b64encode(b"\x01" * 32).decode())
    with pytest.raises(IntegrityError, match="wrong key"):
        open_store(settings)
    monkeypatch.delenv("FACELEDGER_KEY")
    with pytest.raises(ConfigError, match="no template key"):
        open_store(settings.with_(key_file=settings.key_file.with_name("missing.key")))
    monkeypatch.setenv("FACELEDGER_KEY", settings.key_file.read_text().strip())
    st = open_store(settings)  # the right key from the environment works too
    assert st.check().ok
    st.close()
    monkeypatch.delenv("FACELEDGER_KEY")
    store.__init__(settings)


def test_rotation_reencrypts_everything_and_retires_the_old_key(store, lfw_dir):
    opt_out_person(store, [lfw_image(lfw_dir, "Serena_Williams", 3)], context=CTX,
                   erase_existing=False)
    probe = lfw_image(lfw_dir, "Tony_Blair", 3)
    before = store.search(probe, k=3, context=CTX)[0].matches
    old_key = store.settings.key_file.read_text()
    old_id = store.cipher.key_id
    old_blob = _stored(store)[0][1]
    report = rotate_keys(store)
    assert report.faces == store.counts()["faces"] and report.optout_templates == 1
    assert store.settings.key_file.read_text() != old_key
    assert not pending_key_file(store.settings.key_file).exists()
    rows = _stored(store)
    assert all(blob_key_id(blob) == store.cipher.key_id != old_id for _, blob in rows)
    assert all(blob_key_id(b) == store.cipher.key_id for b in index_files(store).values())
    with pytest.raises(IntegrityError):
        store.cipher.decrypt_vector(old_blob)  # the old key is gone: old copies are unreadable
    store.close()
    store.__init__(store.settings)
    after = store.search(probe, k=3, context=CTX)[0].matches
    assert [(m.face_id, m.similarity) for m in after] == [(m.face_id, m.similarity) for m in before]
    assert store.audit.verify().ok and store.audit.verify().head_sealed
    assert store.optout.blocked_mask(store.optout._templates()).all()


def test_interrupted_rotation_is_finished_by_the_next_one(store, lfw_dir, monkeypatch):
    probe = lfw_image(lfw_dir, "Hugo_Chavez", 3)
    before = store.search(probe, k=2, context=CTX)[0].matches

    def crash(*_args) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.index_file, "reencrypt", crash)
    with pytest.raises(OSError):
        rotate_keys(store)
    monkeypatch.undo()
    assert pending_key_file(store.settings.key_file).exists()
    store.close()
    store.__init__(store.settings)  # opens with both keys: catalog new, index file old
    assert store.audit.verify().ok
    assert [m.face_id for m in store.search(probe, k=2, context=CTX)[0].matches] == [
        m.face_id for m in before]
    rotate_keys(store)
    assert not pending_key_file(store.settings.key_file).exists()
    assert store.cipher.old_keys == ()
    store.close()
    store.__init__(store.settings)
    assert store.check().ok and store.audit.verify().ok


def test_cli_keys_rotate(store):
    settings = store.settings
    store.close()
    result = CliRunner().invoke(main, ["--data", str(settings.data_dir), "keys", "rotate"],
                                env={"FACELEDGER_KEY_FILE": str(settings.key_file)})
    assert result.exit_code == 0, result.output
    assert "re-encrypted" in result.output
    store.__init__(settings)
    assert store.check().ok


def test_a_store_from_before_encryption_is_upgraded_on_open(store, lfw_dir):
    """Plain float32 templates, no key id, an unsealed audit head: encrypted and sealed."""
    import sqlite3

    if store.catalog.path is None:
        pytest.skip("stores from before encryption were SQLite stores")

    probe = lfw_image(lfw_dir, "Tony_Blair", 3)
    before = [m.face_id for m in store.search(probe, k=2, context=CTX)[0].matches]
    settings = store.settings
    rows = store.catalog.query("SELECT id, embedding FROM faces")
    plain = {int(r[0]): store.cipher.decrypt_vector(bytes(r[1])).tobytes() for r in rows}
    index_plain = {p: store.cipher.decrypt_blob(b) for p, b in index_files(store).items()}
    store.close()
    conn = sqlite3.connect(str(settings.data_dir / "catalog.db"), isolation_level=None)
    for fid, blob in plain.items():
        conn.execute("UPDATE faces SET embedding = ? WHERE id = ?", (blob, fid))
    conn.execute("DELETE FROM store_meta WHERE key = 'template_key_id'")
    conn.close()
    for path, data in index_plain.items():
        path.write_bytes(data)
    audit = sqlite3.connect(str(settings.data_dir / "audit.db"), isolation_level=None)
    audit.execute("UPDATE head SET mac = NULL")
    audit.close()
    settings.key_file.unlink()

    store.__init__(settings)
    rows = store.catalog.query("SELECT embedding FROM faces")
    assert all(is_encrypted(bytes(r[0])) for r in rows)
    assert bool(index_files(store)) == has_index_files(store)
    assert all(is_encrypted(b) for b in index_files(store).values())
    assert scan(settings.data_dir, {f"f{k}": v[:64] for k, v in plain.items()}) == {}
    assert store.audit.verify().ok and store.audit.verify().head_sealed
    assert [m.face_id for m in store.search(probe, k=2, context=CTX)[0].matches] == before
