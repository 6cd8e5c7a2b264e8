"""Pose and quality on real LFW photos, stored per face, shown in search results; poor probes
and poor selfies say so (issue 13)."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from faceledger import ActionContext, Settings, init_store
from faceledger.api.routes.search import results_json
from faceledger.errors import PoorPhotoError
from faceledger.images.decode import read_image_file
from faceledger.models import load_pack
from faceledger.privacy.access import find_person
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
