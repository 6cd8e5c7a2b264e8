"""Packs are data: what each declares, checked without loading a model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from faceledger.errors import LicenceNotAcknowledged, ModelError
from faceledger.models.assemble import REFERENCES, build_analyzer
from faceledger.models.registry import available_packs, get_pack

RUNTIMES = {"onnxruntime", "openvino", "opencv", "dlib"}


@pytest.mark.parametrize("spec", available_packs(), ids=lambda s: s.name)
def test_every_network_names_a_known_model_runtime_and_its_checked_files(spec):
    assert spec.detector.model in {"yunet", "scrfd", "dlib-hog"}
    assert spec.recognizer.model in {"crop-embedder", "dlib-resnet"}
    for net in (spec.detector, spec.recognizer):
        assert net.runtime in RUNTIMES
        assert (net.file is None) == (net.runtime == "dlib")  # dlib's models come from PyPI
        for f in (net.file, net.weights):
            assert f is None or len(f.sha256) == 64
    if spec.recognizer.model == "crop-embedder":
        assert spec.recognizer.alignment in REFERENCES and spec.recognizer.input_size
    assert spec.files == {role: f for role, f in spec.files.items() if f is not None}
    assert spec.needs_models_dir == bool(spec.files)


@pytest.mark.parametrize("spec", available_packs(), ids=lambda s: s.name)
def test_a_non_commercial_licence_is_opt_in(spec):
    non_commercial = "non-commercial" in spec.licence.lower()
    assert spec.research == non_commercial
    if spec.research:
        with pytest.raises(LicenceNotAcknowledged, match="non-commercial"):
            build_analyzer(spec, models_dir=None)  # refused before any file is looked at
    uses_insightface = any(f.path.startswith("research/insightface/")
                           for f in spec.files.values())
    assert not uses_insightface or spec.research


def test_a_pack_naming_an_unknown_model_or_runtime_is_refused(tmp_path):
    spec = get_pack("dlib")  # no files to verify
    with pytest.raises(ModelError, match="unknown detector model"):
        build_analyzer(replace(spec, detector=replace(spec.detector, model="mtcnn")), tmp_path)
    yunet = get_pack("yunet-omz0095")
    wrong = replace(yunet.recognizer, alignment="nowhere")
    with pytest.raises(ModelError, match="alignment"):
        from faceledger.models.assemble import build_recognizer

        build_recognizer(wrong, tmp_path / "x.xml", 256, None)
