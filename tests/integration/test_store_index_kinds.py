"""The store over each index kind: search, erasure, switching kind, the index CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceledger import ActionContext, Settings, init_store
from faceledger.cli.main import main

from ..conftest import lfw_image

PEOPLE = ["Ariel_Sharon", "Bill_Clinton", "Colin_Powell", "Donald_Rumsfeld", "George_W_Bush",
          "Gerhard_Schroeder", "Hugo_Chavez", "Jacques_Chirac", "Jean_Chretien", "John_Ashcroft",
          "Junichiro_Koizumi", "Serena_Williams", "Tony_Blair", "Vladimir_Putin"]
CTX = ActionContext("test", "index kinds test", "T-IDX")


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, lfw_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("gallery-kinds")
    for name in PEOPLE:
        for i in (1, 2, 3, 4):
            shutil.copy(lfw_image(lfw_dir, name, i), root)
    return root


def make_store(path: Path, gallery: Path, models_dir: Path, kind: str):
    st = init_store(Settings(data_dir=path, models_dir=models_dir, index_kind=kind))
    st.add_source("kinds", location=gallery, controller="tests", lawful_basis="consent",
                  special_category_condition="explicit-consent", purpose="test",
                  retention_days=30, minors_policy="none-expected")
    st.ingest("kinds", workers=1)
    return st


@pytest.mark.parametrize("kind", ["flat", "ivfpq", "hnsw", "auto"])
def test_each_kind_finds_the_person_and_forgets_an_erased_face(tmp_path, gallery, models_dir,
                                                              lfw_dir, kind):
    st = make_store(tmp_path / "d", gallery, models_dir, kind)
    assert st.index_file.kind == ("flat" if kind == "auto" else kind)
    probe = lfw_image(lfw_dir, "Colin_Powell", 5)
    top = st.search(probe, k=3, largest_only=True, context=CTX)[0].matches
    assert "/Colin_Powell_" in top[0].photo_uri
    st.erase_faces([top[0].face_id], context=CTX)
    again = st.search(probe, k=10, largest_only=True, context=CTX)[0].matches
    assert top[0].face_id not in [m.face_id for m in again]
    assert st.check().ok
    st.close()
    reopened = init_store(Settings(data_dir=tmp_path / "d", models_dir=models_dir, index_kind=kind))
    assert top[0].face_id not in reopened.index_file.index.ids()
    assert reopened.check().ok
    reopened.close()


def index_files_in_use(data: Path) -> tuple[str, bool]:
    """(the manifest's kind, whether the index dir holds exactly the files it names)."""
    import json

    (pack_dir,) = [p for p in (data / "index").iterdir() if p.is_dir()]
    manifest = json.loads((pack_dir / "manifest.json").read_text())
    named = {s["file"] for s in manifest["segments"]} | (
        {manifest["codec"]} if manifest["codec"] else set())
    present = {p.name for p in pack_dir.iterdir()} - {"manifest.json", ".lock"}
    legacy = [p for p in (data / "index").iterdir() if p.is_file()]
    return manifest["kind"], present == named and not legacy


def test_retrain_switches_kind_and_leaves_no_stale_index_file(tmp_path, gallery, models_dir,
                                                              lfw_dir):
    data = tmp_path / "d"
    make_store(data, gallery, models_dir, "flat").close()
    runner = CliRunner()
    env = {"FACELEDGER_MODELS_DIR": str(models_dir)}
    out = runner.invoke(main, ["--data", str(data), "index", "retrain", "--kind", "ivfpq"], env=env)
    assert out.exit_code == 0, out.output
    assert "ivfpq index with" in out.output and "agree" in out.output
    assert index_files_in_use(data) == ("ivfpq", True)
    info = runner.invoke(main, ["--data", str(data), "index", "info", "--json"], env=env)
    assert info.exit_code == 0 and '"kind": "ivfpq"' in info.output
    st = init_store(Settings(data_dir=data, models_dir=models_dir))  # the store keeps ivfpq
    assert st.index_file.kind == "ivfpq" and st.check().ok
    st.rebuild_index("flat")
    assert st.check().ok and index_files_in_use(data) == ("flat", True)
    top = st.search(lfw_image(lfw_dir, "Tony_Blair", 6), k=1, context=CTX)[0].matches[0]
    assert "/Tony_Blair_" in top.photo_uri
    st.close()


def test_unknown_kind_is_refused_and_the_index_kept(tmp_path, gallery, models_dir):
    st = make_store(tmp_path / "d", gallery, models_dir, "flat")
    from faceledger.errors import StoreError

    with pytest.raises(StoreError, match="unknown index kind"):
        st.rebuild_index("annoy")
    assert st.index_file.kind == "flat" and st.check().ok
    st.close()
