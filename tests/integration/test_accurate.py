"""Accurate mode (issue 13, requirement 6) on real LFW photos: the fused score and its
decision, the option through the CLI and the HTTP API, and rights flows re-scored by it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from faceledger.api import create_app
from faceledger.api.keys import Role
from faceledger.cli.main import main
from faceledger.models.dlib_models import dlib_available
from faceledger.models.fusion import fusion_for
from faceledger.privacy.access import find_person
from faceledger.privacy.rights import erase_person
from faceledger.search.fused import fused_point

from ..conftest import lfw_image
from .rights_support import CTX, make_gallery, new_store

pytestmark = pytest.mark.skipif(not dlib_available(), reason="needs the dlib extra")

# the first matched and mismatched pairs of LFW View 1's test file (pairsDevTest.txt): people
# the fusion was never calibrated on
SAME = [("Abdullah_Gul", 13, 14), ("Abdullatif_Sener", 1, 2), ("Adel_Al-Jubeir", 1, 3),
        ("Al_Pacino", 1, 2)]
DIFFERENT = [(("AJ_Lamas", 1), ("Zach_Safrin", 1)), (("Aaron_Guiel", 1), ("Reese_Witherspoon", 3)),
             (("Aaron_Tippin", 1), ("Jose_Luis_Rodriguez_Zapatero", 1)),
             (("Abdullah_Gul", 16), ("Steve_Cox", 1))]

PEOPLE = ["Colin_Powell", "Tony_Blair", "Gerhard_Schroeder", "Hugo_Chavez"]
PERSON = "Gerhard_Schroeder"


@pytest.fixture(scope="module")
def store(tmp_path_factory, lfw_dir, models_dir):
    root = tmp_path_factory.mktemp("accurate")
    gallery = make_gallery(root / "photos", lfw_dir, PEOPLE, range(2, 5))
    st = new_store(root, models_dir, gallery)
    yield st
    st.close()


def _pairs(lfw_dir):
    same = [(lfw_image(lfw_dir, n, a), lfw_image(lfw_dir, n, b)) for n, a, b in SAME]
    diff = [(lfw_image(lfw_dir, *a), lfw_image(lfw_dir, *b)) for a, b in DIFFERENT]
    return same, diff


def test_fused_score_and_decision_on_real_lfw_pairs(store, lfw_dir):
    spec = fusion_for(store.pack.name)
    point = fused_point(spec, 1e-3)
    same, diff = _pairs(lfw_dir)
    for (a, b), expected in [*((p, True) for p in same), *((p, False) for p in diff)]:
        fused = store.verify(a, b, far=1e-3, context=CTX, accurate=True)
        plain = store.verify(a, b, far=1e-3, context=CTX, accurate=False)
        assert fused.same_person is expected, (a.name, b.name, fused.similarity)
        assert fused.scorer == spec.name and plain.scorer == store.pack.name
        assert fused.threshold == point.match_threshold != plain.threshold
        # the primary half of the fusion is the default verification's own score
        assert fused.components[spec.primary] == pytest.approx(plain.similarity, abs=1e-4)
        assert fused.similarity == pytest.approx(
            spec.fuse(fused.components[spec.primary], fused.components[spec.secondary]),
            abs=2e-4)
    entry = store.audit.entries()[-2]
    assert entry.action == "verify" and entry.inputs["scorer"] == spec.name


def test_the_option_through_the_cli(store, lfw_dir):
    a, b = _pairs(lfw_dir)[0][1]
    base = ["--data", str(store.data_dir), "--models-dir", str(store.settings.models_dir)]
    env = {"FACELEDGER_KEY_FILE": str(store.settings.key_file)}
    runs = {}
    for flag in ("--accurate", "--no-accurate"):
        result = CliRunner().invoke(main, [*base, "verify", str(a), str(b), flag, "--json",
                                           "--purpose", "check", "--case", "C-1"], env=env)
        assert result.exit_code == 0, result.output
        runs[flag] = json.loads(result.output)
    spec = fusion_for(store.pack.name)
    assert runs["--accurate"]["scorer"] == spec.name and runs["--accurate"]["same_person"]
    assert set(runs["--accurate"]["components"]) == {spec.primary, spec.secondary}
    assert runs["--no-accurate"]["scorer"] == store.pack.name
    assert runs["--no-accurate"]["components"] == {}
    # the setting decides when the command is not told
    setting = CliRunner().invoke(main, [*base, "verify", str(a), str(b), "--json", "--case",
                                        "C-1", "--purpose", "check"],
                                 env={**env, "FACELEDGER_ACCURATE": "1"})
    assert json.loads(setting.output)["scorer"] == spec.name


def test_the_option_through_the_api(store, lfw_dir):
    app = create_app(store.settings, store=store, preload_models=False)
    key = app.state.ctx.keys.create("it-investigator", Role.INVESTIGATOR).secret
    client = TestClient(app)
    same, diff = _pairs(lfw_dir)
    out = {}
    for name, (a, b) in (("same", same[0]), ("different", diff[0])):
        r = client.post("/api/verify", headers={"Authorization": f"Bearer {key}"},
                        files={"a": a.read_bytes(), "b": b.read_bytes()},
                        data={"purpose": "check", "case": "C-2", "accurate": "true"})
        assert r.status_code == 200, r.text
        out[name] = r.json()
    spec = fusion_for(store.pack.name)
    assert out["same"]["same_person"] is True and out["different"]["same_person"] is False
    assert out["same"]["scorer"] == spec.name and spec.secondary in out["same"]["components"]


def test_access_in_accurate_mode_rescores_the_shortlist(store, lfw_dir):
    selfie = lfw_image(lfw_dir, PERSON, 5)
    default = find_person(store, [selfie], accurate=False)
    accurate = find_person(store, [selfie], accurate=True)
    spec = fusion_for(store.pack.name)
    assert default.scorer == store.pack.name and accurate.scorer == spec.name
    assert accurate.threshold == fused_point(spec, 1e-3).match_threshold
    records = store.catalog.faces(accurate.face_ids)
    owners = {_owner(records[m.face_id].photo_uri) for m in accurate.matches}
    assert owners == {PERSON} and len(accurate.matches) == 3
    assert all(m.decision == "match" for m in accurate.matches)
    for m in accurate.matches:  # each face was re-scored by the fused verifier
        photo = records[m.face_id].photo_uri.removeprefix("file://")
        again = store.verify(selfie, photo, context=CTX, accurate=True)
        # the stored landmarks (rounded to 0.01 px at ingest) against a fresh detection
        assert m.similarity == pytest.approx(again.similarity, abs=2e-3)
        assert m.similarity != pytest.approx(
            next(d.similarity for d in default.matches if d.face_id == m.face_id), abs=1e-3)


def test_erasure_by_selfie_in_accurate_mode_erases_only_the_person(tmp_path, lfw_dir,
                                                                    models_dir):
    gallery = make_gallery(tmp_path / "photos", lfw_dir, ["Tony_Blair", "Colin_Powell"],
                           range(2, 4))
    st = new_store(tmp_path, models_dir, gallery)
    try:
        faces = st.counts()["faces"]
        selfie = lfw_image(lfw_dir, "Tony_Blair", 1)
        theirs = set(find_person(st, [selfie], accurate=False).face_ids)
        report = erase_person(st, [selfie], context=CTX, accurate=True)
        assert set(report.faces) == theirs and len(theirs) == 2
        assert st.counts()["faces"] == faces - 2
        assert find_person(st, [selfie], accurate=True).matches == []
        other = find_person(st, [lfw_image(lfw_dir, "Colin_Powell", 1)], accurate=True)
        assert len(other.matches) == 2
    finally:
        st.close()


def _owner(uri: str) -> str:
    return Path(uri).parent.name
