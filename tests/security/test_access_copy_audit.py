"""Issue 9, finding 2 (a gap left): `rights access` wrote the person's copy (their crops,
photos, sources) into the output folder before it appended to the audit log, so with a
broken log the copy was on disk and the log had no trace of it.

Now the log must be writable before anything is searched, and the copy is logged before a
byte of it is written. Real models, real LFW photos, a real store.
"""

from __future__ import annotations

import shutil

import pytest

from faceledger import open_store
from faceledger.errors import IntegrityError, StoreError
from faceledger.privacy.access import export_access

from ..conftest import lfw_image
from .audit_support import CTX, attacker, cli, settings_for, source_kwargs

PERSON = "Tony_Blair"


@pytest.fixture
def store_root(tmp_path, lfw_dir, models_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in (1, 2):
        shutil.copy(lfw_image(lfw_dir, PERSON, n), photos)
    from faceledger import init_store

    with init_store(settings_for(tmp_path, models_dir)) as st:
        st.add_source("events", **source_kwargs(photos))
        st.ingest("events", workers=1)
        assert st.catalog.counts()["faces"] >= 2
    return tmp_path


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*")) if folder.exists() else []


def test_with_a_wiped_log_no_copy_is_written(store_root, lfw_dir, models_dir):
    conn = attacker(store_root / "data" / "audit.db")
    conn.execute("DELETE FROM entries")
    conn.execute("DELETE FROM head")
    conn.close()
    out = store_root / "copy"
    selfie = lfw_image(lfw_dir, PERSON, 3)
    with open_store(settings_for(store_root, models_dir)) as st:
        with pytest.raises(IntegrityError):
            export_access(st, [selfie], out, context=CTX)
    assert _files(out) == [], "the copy was written although the log could not record it"
    result = cli(store_root, "--models-dir", str(models_dir), "rights", "access",
                 str(selfie), "--out", str(out / "cli"))
    assert result.exit_code != 0 and "audit log" in result.output
    assert _files(out) == []


def test_a_copy_the_log_refuses_to_record_is_not_written(store_root, lfw_dir, models_dir,
                                                         monkeypatch):
    out = store_root / "copy"
    with open_store(settings_for(store_root, models_dir)) as st:
        real = st.audit.append

        def append(action, *args, **kwargs):
            if action == "rights_access":  # the log fails at that moment (disk full, a lock)
                raise StoreError("cannot append to the audit log: database or disk is full")
            return real(action, *args, **kwargs)

        monkeypatch.setattr(st.audit, "append", append)
        with pytest.raises(StoreError):
            export_access(st, [lfw_image(lfw_dir, PERSON, 3)], out, context=CTX)
    assert _files(out) == []


def test_a_logged_copy_is_written_whole(store_root, lfw_dir, models_dir):
    out = store_root / "copy"
    with open_store(settings_for(store_root, models_dir)) as st:
        report = export_access(st, [lfw_image(lfw_dir, PERSON, 3)], out, context=CTX)
        entry = st.audit.entry(report.audit_seq)
    assert entry.action == "rights_access" and len(entry.outputs["face_ids"]) == report.faces
    assert report.faces >= 2
    crops = [p for p in _files(out) if str(p).startswith("crops/")]
    assert len(crops) == report.faces  # one crop per face
    assert (out / "access.json").is_file() and (out / "index.html").is_file()
