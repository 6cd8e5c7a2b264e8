"""``faceledger index info`` and ``faceledger index retrain`` on index files."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from faceledger.cli.index_cmd import index
from faceledger.store.ivf_index import IVFPQIndex
from faceledger.store.vector_index import FlatIndex, load_index


def _flat(path, n: int = 1200) -> np.ndarray:
    x = np.random.default_rng(3).standard_normal((n, 256)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    flat = FlatIndex(256)
    flat.add(np.arange(n) + 100, x)
    flat.save(path)
    return x


def test_info_describes_an_index_file(tmp_path) -> None:
    _flat(tmp_path / "faces.index")
    result = CliRunner().invoke(index, ["info", str(tmp_path / "faces.index")])
    assert result.exit_code == 0, result.output
    assert "kind: flat" in result.output and "faces: 1200" in result.output


def test_retrain_rebuilds_into_another_kind(tmp_path) -> None:
    x = _flat(tmp_path / "faces.index")
    dest = tmp_path / "new.index"
    result = CliRunner().invoke(index, ["retrain", str(tmp_path / "faces.index"), str(dest),
                                        "--kind", "ivfpq", "--batch", "500"])
    assert result.exit_code == 0, result.output
    new = load_index(dest)
    assert isinstance(new, IVFPQIndex) and len(new) == 1200
    assert new.search(x[:3], 1)[1][:, 0].tolist() == [100, 101, 102]
    info = CliRunner().invoke(index, ["info", str(dest)])
    assert "kind: ivfpq" in info.output and "(default)" in info.output


def test_retrain_refuses_a_missing_source(tmp_path) -> None:
    result = CliRunner().invoke(index, ["retrain", str(tmp_path / "nope"), str(tmp_path / "x")])
    assert result.exit_code != 0
