"""The engine end to end on real photos: ingest under a lawful basis, search, verify."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from faceledger import ActionContext, Decision, Settings, init_store
from faceledger.errors import LawfulBasisError, NoFaceError

from ..conftest import lfw_image

# People with several LFW photos: photo 1 goes in the gallery, photo 2 is the probe.
PEOPLE = [
    "Aaron_Peirsol", "Abdullah_Gul", "Adrien_Brody", "Al_Gore", "Alejandro_Toledo",
    "Ali_Naimi", "Alvaro_Uribe", "Amelie_Mauresmo", "Andre_Agassi", "Angela_Merkel",
    "Ann_Veneman", "Ari_Fleischer", "Arnold_Schwarzenegger", "Ben_Affleck", "Bill_Clinton",
    "Bill_Gates", "Carlos_Moya", "Colin_Powell", "David_Beckham", "Donald_Rumsfeld",
]
STRANGERS = ["Jennifer_Lopez", "Tony_Blair", "Serena_Williams", "Hugo_Chavez"]
CTX = ActionContext(actor="test", purpose="integration test", case="T-1")


def source_kwargs(location: Path) -> dict:
    return dict(
        location=location, controller="faceledger tests", lawful_basis="consent",
        special_category_condition="explicit-consent", purpose="integration test",
        retention_days=30, minors_policy="none-expected",
    )


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, lfw_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("gallery")
    for name in PEOPLE:
        (root / name).mkdir()
        shutil.copy(lfw_image(lfw_dir, name, 1), root / name)
    shutil.copy(lfw_image(lfw_dir, PEOPLE[0], 1), root / "copy-of-first.jpg")  # exact duplicate
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory, gallery: Path, models_dir: Path, backend):
    data = tmp_path_factory.mktemp("data")
    st = init_store(Settings(data_dir=data, models_dir=models_dir, **backend()))
    st.add_source("lfw-sample", **source_kwargs(gallery))
    st.first_report = st.ingest("lfw-sample", workers=2)
    yield st
    st.close()


def test_ingest_report_counts_photos_errors_and_duplicates(store):
    report = store.first_report
    assert report.status == "completed"
    assert report.photos == len(PEOPLE) + 2
    assert report.errors == 1
    assert report.duplicates == 1
    assert report.faces >= len(PEOPLE)
    photo = store.catalog.query("SELECT status, error FROM photos WHERE uri LIKE '%corrupt.jpg'")
    assert photo[0]["status"] == "error" and "cannot decode" in photo[0]["error"]


@pytest.mark.parametrize("name", PEOPLE[:8])
def test_another_photo_of_an_ingested_person_is_rank_one(store, lfw_dir, name):
    results = store.search(lfw_image(lfw_dir, name, 2), k=5, largest_only=True, context=CTX)
    top = results[0].matches[0]
    assert f"/{name}/" in top.photo_uri
    assert top.decision is not Decision.NO_MATCH
    assert top.source == "lfw-sample"


@pytest.mark.parametrize("name", STRANGERS)
def test_a_different_person_gets_no_match(store, lfw_dir, name):
    results = store.search(lfw_image(lfw_dir, name, 1), k=5, largest_only=True, context=CTX)
    assert results[0].matches, "the gallery is not empty, so there are nearest faces"
    assert all(m.decision is not Decision.MATCH for m in results[0].matches)
    assert results[0].matches[0].decision is Decision.NO_MATCH


def test_second_ingest_adds_nothing_and_catalog_agrees_with_index(store):
    before = store.counts()
    again = store.ingest("lfw-sample", workers=1)
    assert (again.photos, again.faces, again.skipped) == (0, 0, len(PEOPLE) + 2)
    after = store.counts()
    assert after.pop("runs") == before.pop("runs") + 1
    assert after == before
    report = store.check()
    assert report.ok and report.catalog_faces == report.index_faces == before["faces"]


def test_every_face_reaches_its_photo_source_and_run(store):
    rows = store.catalog.query(
        "SELECT f.id, p.uri, s.controller, s.lawful_basis, r.id AS run FROM faces f "
        "JOIN photos p ON p.id = f.photo_id JOIN sources s ON s.id = p.source_id "
        "JOIN ingest_runs r ON r.id = f.run_id"
    )
    assert len(rows) == store.counts()["faces"]
    assert {r["lawful_basis"] for r in rows} == {"consent"}


def test_search_requires_purpose_and_case(store, lfw_dir):
    with pytest.raises(LawfulBasisError):
        store.search(lfw_image(lfw_dir, PEOPLE[0], 2), context=ActionContext("test"))


def test_probe_without_a_face_says_so(store, tmp_path):
    import numpy as np
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    with pytest.raises(NoFaceError, match="no face"):
        store.search(blank, context=CTX)


def test_verify_same_and_different_people(store, lfw_dir):
    same = store.verify(
        lfw_image(lfw_dir, "Colin_Powell", 1), lfw_image(lfw_dir, "Colin_Powell", 3), context=CTX
    )
    other = store.verify(
        lfw_image(lfw_dir, "Colin_Powell", 1), lfw_image(lfw_dir, "Tony_Blair", 1), context=CTX
    )
    assert same.same_person and not other.same_person
    assert same.similarity > other.similarity


def test_searches_are_audited_with_probe_hash_not_probe(store, lfw_dir):
    store.search(lfw_image(lfw_dir, PEOPLE[1], 2), k=3, context=CTX)
    entry = store.audit.entries()[-1]
    assert entry.action == "search" and entry.case == "T-1"
    assert len(entry.inputs["probe_sha256"]) == 64
    assert entry.outputs["faces"][0][0]["face_id"] > 0


def test_source_without_lawful_basis_is_refused(tmp_path, models_dir, gallery):
    st = init_store(Settings(data_dir=tmp_path / "d", models_dir=models_dir))
    bad = source_kwargs(gallery) | {"special_category_condition": ""}
    with pytest.raises(LawfulBasisError, match="Art. 9"):
        st.add_source("no-basis", **bad)
    assert st.sources() == []
    st.close()


def test_interrupted_ingest_resumes_without_loss_or_duplicates(tmp_path, models_dir, gallery):
    st = init_store(Settings(data_dir=tmp_path / "d", models_dir=models_dir, batch_size=4))
    st.add_source("lfw-sample", **source_kwargs(gallery))
    stop = threading.Event()

    def stop_after_first_batch(state):
        if state.done >= 4:
            stop.set()

    first = st.ingest("lfw-sample", progress=stop_after_first_batch, stop_event=stop, workers=1)
    assert first.status == "interrupted" and 0 < first.photos < len(PEOPLE) + 2
    assert st.check().ok
    st.close()
    st = init_store(Settings(data_dir=tmp_path / "d", models_dir=models_dir))
    second = st.ingest("lfw-sample", workers=1)
    assert second.status == "completed"
    assert first.photos + second.photos == len(PEOPLE) + 2
    uris = [r[0] for r in st.catalog.query("SELECT uri FROM photos")]
    assert len(uris) == len(set(uris)) == len(PEOPLE) + 2
    assert st.check().ok
    st.close()


def test_index_is_rebuilt_from_catalog_when_its_file_is_lost(tmp_path, models_dir, gallery):
    settings = Settings(data_dir=tmp_path / "d", models_dir=models_dir)
    st = init_store(settings)
    st.add_source("lfw-sample", **source_kwargs(gallery))
    st.ingest("lfw-sample", workers=1)
    faces = st.counts()["faces"]
    st.close()
    import shutil

    shutil.rmtree(tmp_path / "d" / "index")
    st = init_store(settings)
    assert st.check().ok and st.counts()["index_vectors"] == faces
    st.close()


def test_a_zip_archive_source_is_ingested_and_its_faces_cropped(tmp_path, models_dir, lfw_dir):
    import zipfile

    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in PEOPLE[:3]:
            zf.write(lfw_image(lfw_dir, name, 1), f"event/{name}.jpg")
        zf.writestr("event/broken.png", b"\x89PNG not really")
    st = init_store(Settings(data_dir=tmp_path / "d", models_dir=models_dir))
    st.add_source("zip", **(source_kwargs(archive) | {"kind": "archive"}))
    report = st.ingest("zip", workers=1)
    assert (report.photos, report.errors) == (4, 1)
    top = st.search(lfw_image(lfw_dir, PEOPLE[2], 2), k=1, context=CTX)[0].matches[0]
    assert top.photo_uri.endswith(f"photos.zip!/event/{PEOPLE[2]}.jpg")
    crop = st.face_crop(top.face_id)
    assert crop[:2] == b"\xff\xd8"
    st.close()
