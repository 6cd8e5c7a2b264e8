from __future__ import annotations

from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.errors import ConfigError, LicenceNotAcknowledged, ModelError, ModelFileError
from faceledger.models.files import ModelFile, file_sha256, verify_file
from faceledger.models.registry import get_pack, load_pack


def test_settings_from_environment():
    s = Settings.from_env({"FACELEDGER_DATA_DIR": "/x", "FACELEDGER_WORKERS": "3",
                           "FACELEDGER_REQUIRE_PURPOSE": "no", "FACELEDGER_OPERATING_FAR": "1e-3"})
    assert s.data_dir == Path("/x") and s.workers == 3 and s.require_purpose is False
    assert s.operating_far == 1e-3


def test_bad_setting_is_named():
    with pytest.raises(ConfigError, match="FACELEDGER_WORKERS"):
        Settings.from_env({"FACELEDGER_WORKERS": "many"})


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        verify_file(tmp_path, ModelFile("x/model.onnx", "0" * 64))


def test_mismatching_model_file_is_refused(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"not the model")
    with pytest.raises(ModelFileError, match="sha256"):
        verify_file(tmp_path, ModelFile("m.onnx", "0" * 64))
    good = ModelFile("m.onnx", file_sha256(tmp_path / "m.onnx"))
    assert verify_file(tmp_path, good) == (tmp_path / "m.onnx").resolve()


def test_default_pack_is_refused_from_a_directory_without_its_files(tmp_path):
    with pytest.raises(ModelFileError):
        load_pack("yunet-omz0095", tmp_path)


def test_unknown_pack_names_the_known_ones():
    with pytest.raises(ModelError, match="yunet-omz0095"):
        get_pack("no-such-pack")


def test_thresholds_for_unknown_far_are_refused():
    spec = get_pack("yunet-omz0095")
    with pytest.raises(ModelError):
        spec.threshold(1e-9)
    assert spec.threshold(1e-3) <= spec.threshold(1e-4)


def test_research_packs_need_acknowledgement(tmp_path):
    from faceledger.models.registry import available_packs

    research = [p for p in available_packs() if p.research]
    if not research:
        pytest.skip("no research pack registered")
    with pytest.raises(LicenceNotAcknowledged, match="licence"):
        load_pack(research[0].name, tmp_path)


def test_a_pack_whose_python_package_is_missing_is_not_ready_and_not_loaded(tmp_path):
    from dataclasses import replace

    from faceledger.models import registry

    spec = replace(get_pack("yunet-omz0095"), name="needs-missing",
                   python_modules={"no_such_module_for_faceledger": "pip install it"})
    assert spec.missing_modules() == ["no_such_module_for_faceledger (pip install it)"]
    with pytest.raises(ModelError, match="no_such_module_for_faceledger"):
        registry.load_spec(spec, tmp_path)


def test_purpose_limitation_setting_from_the_environment():
    s = Settings.from_env({"FACELEDGER_REFUSE_UNDECLARED_PURPOSE": "1",
                           "FACELEDGER_TRANSFERS": "none"})
    assert s.refuse_undeclared_purpose is True and s.transfers == "none"
    assert Settings.from_env({}).refuse_undeclared_purpose is False


def test_the_default_model_and_dataset_dirs_follow_their_environment_variables(
        tmp_path, monkeypatch):
    from faceledger.config import default_datasets_dir, default_models_dir

    monkeypatch.setenv("FACELEDGER_MODELS_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("FACELEDGER_DATASETS_DIR", str(tmp_path / "d"))
    assert default_models_dir() == tmp_path / "m"
    assert default_datasets_dir() == tmp_path / "d"
    monkeypatch.delenv("FACELEDGER_MODELS_DIR")
    monkeypatch.delenv("FACELEDGER_DATASETS_DIR")
    assert default_models_dir() != tmp_path / "m"
    assert default_datasets_dir() != tmp_path / "d"
