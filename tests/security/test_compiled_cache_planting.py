"""An outsider plants a compiled network in the cache of compiled networks
(faceledger.models.compiled_cache), on the real default pack and OpenVINO.

The planted network is a real OpenVINO export that imports: it maps every face to the same
256-d vector, so if the engine ran it every face would match every other. It is planted
under the very names the engine's entries have. The planted network is used when the same
user owns a private cache (that user can change the code as well: out of scope). That shows
the plant works. It is never used from a directory another user could write, nor through
links."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from faceledger.images.decode import read_image_file
from faceledger.models import load_pack
from faceledger.models.compiled_cache import CompiledCache

from ..conftest import lfw_image

ov = pytest.importorskip("openvino")


def planted_network() -> bytes:
    """A network with the 0095 recognizer's input and output shapes that gives the same
    vector for every face: the mean of each colour channel times a fixed matrix."""
    from openvino import opset13 as ops

    image = ops.parameter([-1, 3, 128, 128], np.float32, name="data")
    means = ops.reduce_mean(image, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    weights = ops.constant(np.ones((3, 256), np.float32))
    vector = ops.matmul(means, weights, False, False)
    model = ov.Model([vector], [image], "planted")
    compiled = ov.Core().compile_model(model, "CPU")
    return compiled.export_model().getvalue()


def embeddings(models_dir: Path, cache: CompiledCache, photos) -> np.ndarray:
    analyzer = load_pack("yunet-omz0095", models_dir, threads=1, cache=cache)
    return np.stack([f.embedding for bgr in photos for f in analyzer.analyze(bgr)])


@pytest.fixture(scope="module")
def photos(lfw_dir):
    return [read_image_file(lfw_image(lfw_dir, name, 1)).bgr
            for name in ("George_W_Bush", "Colin_Powell", "Tony_Blair")]


def plant(directory: Path, entries: list[str], blob: bytes, as_link: Path | None = None) -> None:
    for name in entries:
        target = directory / name
        target.unlink()
        if as_link is not None:
            target.symlink_to(as_link)
        else:
            target.write_bytes(blob)


def test_a_planted_network_is_never_run_from_a_cache_others_could_write(
        models_dir, photos, tmp_path):
    directory = tmp_path / "compiled"
    honest = embeddings(models_dir, CompiledCache(directory), photos)
    entries = sorted(p.name for p in directory.glob("*.blob"))
    assert entries, "the engine stored its compiled networks"
    blob = planted_network()

    # the plant works: in a cache the engine trusts, it is what runs
    plant(directory, entries, blob)
    trusted = CompiledCache(directory)
    fooled = embeddings(models_dir, trusted, photos)
    assert trusted.imported >= 1
    assert not np.allclose(fooled, honest, atol=1e-3)
    assert np.allclose(fooled, fooled[0], atol=1e-4)  # every face the same vector

    # the same plant in a directory its group or others may write: compiled, not imported
    for mode in (0o770, 0o707):
        os.chmod(directory, mode)
        refused = CompiledCache(directory)
        assert np.array_equal(embeddings(models_dir, refused, photos), honest)
        assert refused.imported == 0
        assert all((directory / name).read_bytes() == blob for name in entries), (
            "nothing is written to a directory the engine does not trust")
    os.chmod(directory, 0o700)


def test_a_planted_network_is_never_reached_through_a_link(models_dir, photos, tmp_path):
    directory = tmp_path / "compiled"
    honest = embeddings(models_dir, CompiledCache(directory), photos)
    entries = sorted(p.name for p in directory.glob("*.blob"))
    elsewhere = tmp_path / "planted.blob"
    elsewhere.write_bytes(planted_network())
    plant(directory, entries, b"", as_link=elsewhere)
    cache = CompiledCache(directory)
    assert np.array_equal(embeddings(models_dir, cache, photos), honest)
    assert cache.imported == 0
    assert all(not (directory / name).is_symlink() for name in entries)  # replaced by rename
    # the directory itself a link to one the attacker filled: not used at all
    linked = tmp_path / "linked"
    linked.symlink_to(directory, target_is_directory=True)
    plant(directory, entries, elsewhere.read_bytes())
    through_link = CompiledCache(linked)
    assert np.array_equal(embeddings(models_dir, through_link, photos), honest)
    assert through_link.imported == 0


def test_a_planted_network_in_another_users_directory_is_not_run(models_dir, photos, tmp_path):
    if os.getuid() != 0:
        pytest.skip("only root can give a directory to another user")
    directory = tmp_path / "compiled"
    honest = embeddings(models_dir, CompiledCache(directory), photos)
    entries = sorted(p.name for p in directory.glob("*.blob"))
    plant(directory, entries, planted_network())
    os.chown(directory, 65534, 65534)  # an attacker made it first, mode 0700, and filled it
    cache = CompiledCache(directory)
    assert np.array_equal(embeddings(models_dir, cache, photos), honest)
    assert cache.imported == 0
