"""Pose and quality on real LFW photos, stored per face, shown in search results; poor probes
and poor selfies say so (issue 13)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from faceledger import ActionContext, Settings, init_store
from faceledger.api.routes.search import results_json
from faceledger.errors import PoorPhotoError
from faceledger.images.decode import read_image_file
from faceledger.models import load_pack
from faceledger.models.prominence import main_face
from faceledger.privacy.access import find_person
from faceledger.privacy.identity import check_identity, enrol_reference
from faceledger.privacy.rights import erase_person, opt_out_person
from faceledger.search.probe_quality import POOR_PROBE_QUALITY

from ..conftest import lfw_image

PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez"]
CTX = ActionContext(actor="test", purpose="quality test", case="Q-1")


@pytest.fixture(scope="module")
def analyzer(models_dir):
    a = load_pack("yunet-omz0095", models_dir, threads=1)
    a.load()
    return a


def encode_jpeg(bgr: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return data.tobytes()


def small(bgr: np.ndarray, face_px: float = 22.0) -> np.ndarray:
    """The photo downscaled so that its face (about 95 px in LFW) is ``face_px``."""
    s = face_px / 95.0
    return cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)


def test_a_sharp_frontal_lfw_face_has_a_high_quality(analyzer, lfw_dir):
    bgr = read_image_file(lfw_image(lfw_dir, "Colin_Powell", 1)).bgr
    face = analyzer.analyze(bgr, largest_only=True)[0]
    assert face.quality > 0.7
    assert face.sharpness == 1.0
    assert abs(face.yaw) < 30 and abs(face.pitch) < 30


def test_small_and_blurred_faces_fall_below_the_poor_probe_line(analyzer, lfw_dir):
    bgr = read_image_file(lfw_image(lfw_dir, "Colin_Powell", 1)).bgr
    good = analyzer.analyze(bgr, largest_only=True)[0]
    tiny = analyzer.analyze(small(bgr), largest_only=True)[0]
    blurred = analyzer.analyze(cv2.GaussianBlur(bgr, (0, 0), 4.0), largest_only=True)[0]
    assert tiny.quality < POOR_PROBE_QUALITY < good.quality
    assert blurred.sharpness < 0.3 and blurred.quality < POOR_PROBE_QUALITY


def test_a_turned_face_reads_as_turned_and_its_mirror_the_other_way(analyzer, lfw_dir):
    bgr = read_image_file(lfw_image(lfw_dir, "Patrick_Stewart", 1)).bgr
    face = analyzer.analyze(bgr, largest_only=True)[0]
    mirror = analyzer.analyze(np.ascontiguousarray(bgr[:, ::-1]), largest_only=True)[0]
    assert abs(face.yaw) > 35
    assert np.sign(face.yaw) == -np.sign(mirror.yaw)
    assert abs(face.yaw + mirror.yaw) < 10
    frontal = analyzer.analyze(read_image_file(lfw_image(lfw_dir, "Colin_Powell", 1)).bgr,
                               largest_only=True)[0]
    assert face.quality < frontal.quality  # pose counts


@pytest.fixture(scope="module")
def store(tmp_path_factory, lfw_dir, models_dir):
    gallery = tmp_path_factory.mktemp("gallery")
    for name in PEOPLE:
        shutil.copy(lfw_image(lfw_dir, name, 1), gallery / f"{name}.jpg")
    st = init_store(Settings(data_dir=tmp_path_factory.mktemp("data"), models_dir=models_dir,
                             key_file=tmp_path_factory.mktemp("keys") / "k.key", workers=1))
    st.add_source("q", location=gallery, controller="tests", lawful_basis="consent",
                  special_category_condition="explicit-consent", purpose="quality test",
                  retention_days=30, minors_policy="none-expected")
    st.ingest("q", workers=1)
    yield st
    st.close()


def test_pose_and_sharpness_are_stored_per_face(store):
    rows = store.catalog.query("SELECT yaw, pitch, sharpness, quality FROM faces")
    assert len(rows) >= len(PEOPLE)
    assert all(r["yaw"] is not None and r["pitch"] is not None for r in rows)
    assert all(0.0 <= r["sharpness"] <= 1.0 and 0.0 < r["quality"] <= 1.0 for r in rows)


def test_search_results_carry_quality_and_pose_and_a_good_probe_is_certain(store, lfw_dir):
    results = store.search(lfw_image(lfw_dir, "Colin_Powell", 2), k=3, largest_only=True,
                           context=CTX)
    r = results[0]
    assert not r.uncertain and r.warning == "" and r.quality > POOR_PROBE_QUALITY
    top = r.matches[0]
    assert "Colin_Powell" in top.photo_uri
    assert top.quality is not None and top.yaw is not None and top.pitch is not None
    data = results_json(results)[0]
    assert {"quality", "yaw", "pitch", "uncertain", "warning"} <= set(data)
    assert {"quality", "yaw", "pitch"} <= set(data["matches"][0])


def test_a_poor_probe_is_marked_uncertain_with_a_warning(store, lfw_dir):
    bgr = read_image_file(lfw_image(lfw_dir, "Colin_Powell", 2)).bgr
    results = store.search(encode_jpeg(small(bgr)), k=3, largest_only=True, context=CTX)
    r = results[0]
    assert r.uncertain and r.quality < POOR_PROBE_QUALITY
    assert "poor probe" in r.warning
    assert results_json(results)[0]["uncertain"] is True


def test_a_rights_flow_asks_for_a_better_selfie(store, lfw_dir, tmp_path):
    bgr = read_image_file(lfw_image(lfw_dir, "Colin_Powell", 2)).bgr
    poor = tmp_path / "poor.jpg"
    poor.write_bytes(encode_jpeg(cv2.GaussianBlur(bgr, (0, 0), 4.0)))
    with pytest.raises(PoorPhotoError, match="sharper photo"):
        find_person(store, [poor])
    found = find_person(store, [lfw_image(lfw_dir, "Colin_Powell", 2)])
    assert found.matches


def blurred_jpeg(path, sigma: float = 4.0) -> bytes:
    return encode_jpeg(cv2.GaussianBlur(read_image_file(path).bgr, (0, 0), sigma))


def test_erasure_and_opt_out_ask_for_a_better_selfie_and_change_nothing(store, lfw_dir):
    faces_before = store.counts()["faces"]
    entries_before, audit_before = len(store.optout), len(store.audit.entries())
    poor = blurred_jpeg(lfw_image(lfw_dir, "Tony_Blair", 2))
    with pytest.raises(PoorPhotoError, match="sharper photo"):
        erase_person(store, [poor], context=CTX)
    with pytest.raises(PoorPhotoError, match="sharper photo"):
        opt_out_person(store, [poor], context=CTX)
    # one good selfie beside a poor one is not enough either: every selfie is checked
    with pytest.raises(PoorPhotoError, match="selfie 2"):
        find_person(store, [lfw_image(lfw_dir, "Tony_Blair", 2), poor])
    assert store.counts()["faces"] == faces_before
    assert len(store.optout) == entries_before
    assert len(store.audit.entries()) == audit_before


def test_an_identity_check_fails_on_a_poor_selfie_with_the_reason(store, lfw_dir):
    reference = enrol_reference(store, lfw_image(lfw_dir, "Hugo_Chavez", 1), "tok-q")
    good = check_identity(store, reference, "tok-q", lfw_image(lfw_dir, "Hugo_Chavez", 2))
    assert good.verified
    poor = check_identity(store, reference, "tok-q",
                          blurred_jpeg(lfw_image(lfw_dir, "Hugo_Chavez", 2)))
    assert not poor.verified and "sharper photo" in poor.reason
    with pytest.raises(PoorPhotoError):  # a poor reference photo is refused when issued
        enrol_reference(store, blurred_jpeg(lfw_image(lfw_dir, "Hugo_Chavez", 1)), "tok-q2")


def two_people(large: np.ndarray, small_: np.ndarray) -> np.ndarray:
    """A 1,200 x 800 photo: ``large`` (an LFW photo, 2.4 x) left of the centre and ``small_``
    (as it is) exactly at the centre, so the face nearest the centre is the small one."""
    canvas = np.full((800, 1200, 3), 127, np.uint8)
    big = cv2.resize(large, (600, 600), interpolation=cv2.INTER_CUBIC)
    canvas[100:700, 0:600] = big
    canvas[275:525, 475:725] = small_
    return canvas


def test_the_face_of_a_selfie_is_the_most_prominent_not_the_most_central(store, analyzer,
                                                                         lfw_dir):
    """Requirement 2: the rights flows and the benchmarks pick "the" face by prominence."""
    tony = read_image_file(lfw_image(lfw_dir, "Tony_Blair", 2)).bgr
    colin = read_image_file(lfw_image(lfw_dir, "Colin_Powell", 2)).bgr
    photo = two_people(tony, colin)
    faces = analyzer.detect(photo)
    assert len(faces) >= 2
    centre = (photo.shape[1] / 2, photo.shape[0] / 2)
    nearest = min(faces, key=lambda f: (f.box.x + f.box.width / 2 - centre[0]) ** 2
                  + (f.box.y + f.box.height / 2 - centre[1]) ** 2)
    chosen = main_face(faces, photo.shape[1], photo.shape[0])
    assert nearest.box.x > 400  # the small face at the centre (Colin Powell's)
    assert chosen.box.x < 400 and chosen.box.area > 3 * nearest.box.area  # Tony Blair's
    assert analyzer.analyze(photo, largest_only=True)[0].face == chosen
    found = find_person(store, [encode_jpeg(photo)])
    names = [store.catalog.faces([m.face_id])[m.face_id].photo_uri for m in found.matches]
    assert names and all("Tony_Blair" in n for n in names)


def test_the_cli_search_shows_quality_and_warns_of_a_poor_probe(store, lfw_dir, tmp_path):
    from click.testing import CliRunner

    from faceledger.cli.main import main

    settings = store.settings
    base = ["--data", str(settings.data_dir), "--models-dir", str(settings.models_dir)]
    env = {"FACELEDGER_KEY_FILE": str(settings.key_file)}
    poor = tmp_path / "small.jpg"
    poor.write_bytes(encode_jpeg(small(read_image_file(lfw_image(lfw_dir, "Colin_Powell", 2)).bgr)))
    args = ["search", "--largest", "--purpose", "quality test", "--case", "Q-2"]
    runner = CliRunner()
    good = runner.invoke(main, [*base, *args, str(lfw_image(lfw_dir, "Colin_Powell", 2))],
                         env=env)
    assert good.exit_code == 0, good.output
    assert "quality 0." in good.output and "quality=0." in good.output
    assert "WARNING" not in good.output
    bad = runner.invoke(main, [*base, *args, str(poor)], env=env)
    assert bad.exit_code == 0, bad.output
    assert "WARNING: poor probe" in bad.output
    as_json = runner.invoke(main, [*base, *args, "--json", str(poor)], env=env)
    assert as_json.exit_code == 0, as_json.output
    face = json.loads(as_json.output)["faces"][0]
    assert face["uncertain"] is True and face["quality"] < POOR_PROBE_QUALITY
