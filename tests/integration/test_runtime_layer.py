"""The runtime layer on real models and photos (a few LFW images, WIDER dev photos):

* ONNX Runtime and OpenVINO sessions on the same ONNX file give the same outputs, and the
  same faces through the same detector code (SCRFD: both runtimes can run the file as it
  is; YuNet: the same 640x640 input on both);
* the default pack built from its description gives what direct calls of the runtimes give:
  OpenCV's FaceDetectorYN for the faces, an OpenVINO network compiled and called without
  the session layer for the embeddings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.images.decode import read_image_file
from faceledger.models import load_pack
from faceledger.models.packs import OMZ_0095_XML, YUNET
from faceledger.models.packs_more import SCRFD_500M
from faceledger.models.runtime import open_session
from faceledger.models.scrfd import ScrfdDetector
from faceledger.models.session import dynamic_image, run_single
from faceledger.models.yunet import YuNetDetector
from faceledger.models.yunet_session import session_pass
from faceledger_bench.runtimes import LegacyOpenVinoRecognizer

from ..conftest import lfw_image


@pytest.fixture(scope="module")
def photos(lfw_dir: Path, datasets_dir: Path) -> list[np.ndarray]:
    lfw = [lfw_image(lfw_dir, n, i) for n, i in
           (("George_W_Bush", 1), ("Colin_Powell", 1), ("Tony_Blair", 1))]
    wider = sorted((datasets_dir / "wider-dev" / "images").glob("*/*.jpg"))[:3]
    return [read_image_file(p).bgr for p in lfw + wider]


def _same_faces(want, got, pixels: float, score: float) -> None:
    assert len(got) == len(want)
    for w, g in zip(want, got):
        assert np.abs(w.landmarks.as_array() - g.landmarks.as_array()).max() < pixels
        assert abs(w.score - g.score) < score


def test_ort_and_openvino_sessions_agree_on_scrfd(models_dir, photos):
    path = models_dir / SCRFD_500M.path
    ort = open_session("onnxruntime", path, threads=1)
    ov = open_session("openvino", path, threads=1, precision="f32")
    blob = np.random.default_rng(0).normal(size=(1, 3, 640, 640)).astype(np.float32)
    a, b = run_single(ort, blob), run_single(ov, blob)
    assert len(ort.output_names) == len(ov.output_names) == 9
    for name in ort.output_names:  # OpenVINO gives each output under its ONNX name too
        assert np.allclose(a[name], b[name], rtol=1e-3, atol=1e-4), name
    by_ort, by_ov = ScrfdDetector(ort), ScrfdDetector(ov)
    found = 0
    for bgr in photos:
        want = by_ort.detect(bgr)
        _same_faces(want, by_ov.detect(bgr), pixels=0.1, score=1e-3)
        found += len(want)
    assert found >= len(photos)


def test_ort_and_openvino_sessions_agree_on_yunet(models_dir, photos):
    path = models_dir / YUNET.path
    ort = open_session("onnxruntime", path, threads=1)
    ov = open_session("openvino", path, threads=1, precision="f32", shapes=dynamic_image)
    for bgr in photos:
        # both on the published 640x640 input (ONNX Runtime cannot take another)
        want = session_pass(ort, bgr, 0.4, 0.3, fixed_side=640)
        _same_faces(want, session_pass(ov, bgr, 0.4, 0.3, fixed_side=640), 0.1, 1e-3)
        assert want or bgr.shape[0] > 640  # the LFW photos each have their face


def test_default_pack_matches_direct_runtime_calls(models_dir, photos):
    analyzer = load_pack("yunet-omz0095", models_dir, threads=1)
    detector = YuNetDetector(models_dir / YUNET.path, threads=1)  # FaceDetectorYN
    direct = LegacyOpenVinoRecognizer(models_dir / OMZ_0095_XML.path, threads=1)
    faces_seen = 0
    for bgr in photos:
        got = analyzer.analyze(bgr)
        want = detector.detect(bgr)
        assert [f.face for f in got] == want
        if want:
            vectors = direct.embed(bgr, want)
            cosines = (vectors * np.stack([f.embedding for f in got])).sum(axis=1)
            assert cosines.min() >= 0.999
        faces_seen += len(want)
    assert faces_seen >= len(photos)


def test_a_network_imported_from_the_compiled_cache_gives_the_same_embeddings(
        models_dir, photos, tmp_path):
    """The default pack with and without the cache of compiled networks: the second build
    imports every network the first compiled, and the embeddings are bit-identical."""
    from faceledger.models.compiled_cache import CompiledCache

    def embeddings(cache):
        analyzer = load_pack("yunet-omz0095", models_dir, threads=1, cache=cache)
        return [f.embedding for bgr in photos for f in analyzer.analyze(bgr)]

    plain = embeddings(None)
    first, second = CompiledCache(tmp_path / "c"), CompiledCache(tmp_path / "c")
    compiled, imported = embeddings(first), embeddings(second)
    assert first.compiled_here >= 1 and first.imported == 0
    assert second.imported == first.compiled_here and second.compiled_here == 0
    assert len(plain) == len(compiled) == len(imported) >= len(photos)
    for a, b, c in zip(plain, compiled, imported):
        assert np.array_equal(a, b) and np.array_equal(a, c)
