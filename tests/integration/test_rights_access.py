"""Right of access (Art. 15) on real LFW photos: the person's copy, and nothing kept of the
selfie."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from faceledger.cli.main import main
from faceledger.privacy.access import export_access, find_person

from ..conftest import lfw_image
from .rights_support import CTX, make_gallery, new_store, scan

PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez", "Gerhard_Schroeder"]
PERSON = "Gerhard_Schroeder"


@pytest.fixture(scope="module")
def store(tmp_path_factory, lfw_dir, models_dir, backend):
    root = tmp_path_factory.mktemp("access")
    gallery = make_gallery(root / "photos", lfw_dir, PEOPLE, range(1, 4))
    st = new_store(root, models_dir, gallery, **backend())
    yield st
    st.close()


def test_access_copy_lists_every_face_with_its_basis(store, lfw_dir, tmp_path):
    investigator = store.search(lfw_image(lfw_dir, PERSON, 5), k=3, largest_only=True,
                                context=CTX.__class__("officer-2", "fraud check", "INV-7"))
    assert f"/{PERSON}/" in investigator[0].matches[0].photo_uri
    selfies = [lfw_image(lfw_dir, PERSON, 4), lfw_image(lfw_dir, PERSON, 6)]
    report = export_access(store, selfies, tmp_path / "copy", context=CTX)
    data = json.loads(report.json_path.read_text())
    faces = data["faces"]
    mine = [f for f in faces if f"/{PERSON}/" in f["photo_uri"]]
    assert len(mine) == 3 == report.faces, [f["photo_uri"] for f in faces]
    for f in mine:
        assert f["decision"] == "match"
        assert f["controller"] == "Acme Photo Ltd"
        assert f["lawful_basis"]["code"] == "consent" and "6(1)(a)" in f["lawful_basis"]["text"]
        assert "9(2)(a)" in f["special_category_condition"]["text"]
        assert f["purpose"] == "attendees find their photos" and f["retention_days"] == 30
        assert f["collected_at"] and f["erase_by"] > f["collected_at"]
        # what the store derived from the face is part of the copy too (issue 13)
        assert 0.0 < f["quality"] <= 1.0
        assert isinstance(f["yaw"], float) and isinstance(f["pitch"], float)
        crop = cv2.imdecode(np.frombuffer((report.out_dir / f["crop"]).read_bytes(), np.uint8),
                            cv2.IMREAD_COLOR)
        assert crop is not None and min(crop.shape[:2]) > 40
    returned = {m.face_id for m in investigator[0].matches}
    # the copy says the face was returned by a logged search, never the investigation's
    # purpose or case reference (Art. 15(4): other people's data)
    assert all(f["returned_by_searches"] >= 1 for f in mine if f["face_id"] in returned)
    raw = report.json_path.read_text() + report.html_path.read_text()
    assert "INV-7" not in raw and "fraud check" not in raw
    processing = data["processing"]
    assert [p["purpose"] for p in processing["purposes"]] == ["attendees find their photos"]
    assert {r["role"] for r in processing["recipients"]} >= {"investigator"}
    assert processing["retention"] == [{"source": "events", "retention_days": 30}]
    assert any("template" in c for c in processing["categories_of_data"])
    assert any("pose" in c and "quality" in c for c in processing["categories_of_data"])
    assert processing["sources"][0]["controller"] == "Acme Photo Ltd"
    html = report.html_path.read_text()
    assert "Acme Photo Ltd" in html and "Art. 6(1)(a)" in html and html.count("<img") == 3
    assert html.count("<dt>Quality and pose</dt><dd>quality 0.") == 3
    assert len(data["request"]["selfies_sha256"]) == 2
    entry = store.audit.entries()[-1]
    assert entry.action == "rights_access" and entry.outputs["face_ids"] == [
        f["face_id"] for f in faces]


def test_selfies_are_not_stored(store, lfw_dir, tmp_path):
    selfie = lfw_image(lfw_dir, PERSON, 7)
    export_access(store, [selfie.read_bytes()], tmp_path / "copy", context=CTX)
    data = selfie.read_bytes()
    needles = {"selfie-middle": data[len(data) // 2 : len(data) // 2 + 256],
               "selfie-tail": data[-256:]}
    assert scan(store.data_dir, needles) == {}
    assert scan(tmp_path / "copy", needles) == {}


def test_high_recall_point_is_looser_than_the_search_point(store, lfw_dir):
    person = find_person(store, [lfw_image(lfw_dir, PERSON, 4)])
    assert person.threshold < person.match_threshold
    assert all(m.similarity >= person.threshold for m in person.matches)
    stranger = find_person(store, [lfw_image(lfw_dir, "Jennifer_Lopez", 1)])
    assert all(m.decision != "match" for m in stranger.matches)


def test_cli_rights_access(store, lfw_dir, tmp_path):
    out = tmp_path / "req"
    result = CliRunner().invoke(
        main,
        ["--data", str(store.data_dir), "--models-dir", str(store.settings.models_dir),
         "rights", "access", str(lfw_image(lfw_dir, PERSON, 4)), "--out", str(out),
         "--case", "REQ-42"],
        env={"FACELEDGER_KEY_FILE": str(store.settings.key_file)},
    )
    assert result.exit_code == 0, result.output
    assert "3 face(s) found" in result.output
    assert (out / "index.html").exists() and len(list((out / "crops").glob("*.jpg"))) == 3
