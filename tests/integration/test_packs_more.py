"""The extra packs on real LFW photos: dlib (skipped when not installed), yunet-dlib, the
research SCRFD + MobileFaceNet pack, and YuNet through OpenVINO / ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.errors import LicenceNotAcknowledged
from faceledger.images.decode import read_image_file
from faceledger.models import get_pack, load_pack
from faceledger.models.dlib_models import dlib_available
from faceledger.models.yunet import YuNetDetector
from faceledger_bench.yunet_runtimes import YuNetRuntimeDetector

from ..conftest import lfw_image

needs_dlib = pytest.mark.skipif(
    not dlib_available(), reason="dlib extra not installed (pip install 'faceledger[dlib]')"
)


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> dict[str, np.ndarray]:
    picks = {
        "bush1": ("George_W_Bush", 1),
        "bush2": ("George_W_Bush", 2),
        "powell": ("Colin_Powell", 1),
        "blair": ("Tony_Blair", 1),
    }
    return {k: read_image_file(lfw_image(lfw_dir, n, i)).bgr for k, (n, i) in picks.items()}


def _check_same_beats_different(analyzer, photos) -> None:
    emb = {}
    for key, bgr in photos.items():
        faces = analyzer.analyze(bgr, largest_only=True)
        assert len(faces) == 1, key
        e = faces[0].embedding
        assert e.shape == (analyzer.embedding_size,)
        assert float(np.linalg.norm(e)) == pytest.approx(1.0, abs=1e-4)
        left_eye, right_eye, nose, left_mouth, right_mouth = faces[0].face.landmarks.as_array()
        assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])
        emb[key] = e
    same = float(emb["bush1"] @ emb["bush2"])
    different = [float(emb[a] @ emb[b]) for a in emb for b in emb
                 if a < b and {a, b} != {"bush1", "bush2"}]
    assert same > max(different)
    spec = analyzer.spec
    # the provisional thresholds separate this easy case too
    assert same > spec.threshold(1e-3) > max(different)


def test_research_pack_refused_without_acknowledgement(models_dir):
    with pytest.raises(LicenceNotAcknowledged, match="non-commercial research only"):
        load_pack("scrfd-mbf", models_dir)
    assert all(get_pack(p).research for p in ("scrfd-mbf", "scrfd2.5g-mbf", "yunet-mbf"))
    assert not get_pack("dlib").research and not get_pack("yunet-dlib").research


@pytest.mark.parametrize("pack", ["scrfd-mbf", "yunet-mbf"])
def test_research_packs_same_person_more_similar(models_dir, photos, pack):
    analyzer = load_pack(pack, models_dir, accept_research_licence=True, threads=1)
    _check_same_beats_different(analyzer, photos)


@needs_dlib
def test_dlib_pack_needs_no_model_directory(tmp_path, photos):
    spec = get_pack("dlib")
    assert spec.files == {} and not spec.needs_models_dir
    analyzer = load_pack("dlib", tmp_path / "empty", threads=1)
    _check_same_beats_different(analyzer, photos)


@needs_dlib
def test_yunet_dlib_same_person_more_similar(models_dir, photos):
    analyzer = load_pack("yunet-dlib", models_dir, threads=1)
    _check_same_beats_different(analyzer, photos)


@needs_dlib
def test_yunet_alignment_agrees_with_dlib_chip(models_dir, photos):
    """YuNet landmarks on DLIB_CHIP_REFERENCE_150 give nearly dlib's own descriptor."""
    from faceledger.models.dlib_models import DlibRecognizer

    yunet = load_pack("yunet-omz0095", models_dir, threads=1).detector
    chip, marks = DlibRecognizer("chip"), DlibRecognizer("landmarks")
    bgr = photos["blair"]
    face = yunet.detect(bgr)[0]
    a, b = chip.embed(bgr, [face])[0], marks.embed(bgr, [face])[0]
    assert float(a @ b) > 0.97


def test_yunet_openvino_runtime_matches_opencv(models_dir, datasets_dir, photos):
    path = models_dir / "yunet" / "face_detection_yunet_2023mar.onnx"
    reference = YuNetDetector(path, threads=1)
    openvino = YuNetRuntimeDetector(path, runtime="openvino", threads=1)
    onnxruntime = YuNetRuntimeDetector(path, runtime="onnxruntime", threads=1)
    wider = sorted((datasets_dir / "wider-dev" / "images").glob("*/*.jpg"))[:2]
    images = list(photos.values()) + [read_image_file(p).bgr for p in wider]
    for bgr in images:
        want = reference.detect(bgr)
        got = openvino.detect(bgr)
        assert len(got) == len(want)
        for w, g in zip(want, got):
            assert np.abs(w.landmarks.as_array() - g.landmarks.as_array()).max() < 0.5
            assert abs(w.score - g.score) < 1e-3
    for bgr in photos.values():  # small photos fit the fixed 640x640 input: same main face
        want, got = reference.detect(bgr), onnxruntime.detect(bgr)
        assert want and got  # (a weak background face can differ: different padding)
        assert np.abs(want[0].landmarks.as_array() - got[0].landmarks.as_array()).max() < 6


def test_default_pack_flip_in_one_call_matches_two_calls(models_dir, photos):
    analyzer = load_pack("yunet-omz0095", models_dir, threads=1)
    bgr = photos["powell"]
    faces = analyzer.detect(bgr)
    rec = analyzer.recognizer
    one_call = rec.embed(bgr, faces, flip=True)
    crops = [rec.align(bgr, f) for f in faces]
    two_calls = rec._embed(crops) + rec._embed([np.ascontiguousarray(c[:, ::-1]) for c in crops])
    two_calls /= np.linalg.norm(two_calls, axis=1, keepdims=True)
    assert float((one_call * two_calls).sum(axis=1).min()) > 0.9999


def test_batched_faces_match_one_at_a_time(models_dir, datasets_dir):
    """A crowd photo goes through the dynamic-batch network; each face alone through the
    static batch-2 one: the embeddings must agree."""
    analyzer = load_pack("yunet-omz0095", models_dir, threads=1)
    wider = sorted((datasets_dir / "wider-dev" / "images").glob("*/*.jpg"))
    bgr, faces = None, []
    for path in wider[:40]:
        bgr = read_image_file(path).bgr
        faces = analyzer.detect(bgr)
        if len(faces) >= 3:
            break
    assert len(faces) >= 3
    together = analyzer.embed(bgr, faces)
    alone = np.concatenate([analyzer.embed(bgr, [f]) for f in faces])
    assert float((together * alone).sum(axis=1).min()) > 0.999
