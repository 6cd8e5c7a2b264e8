"""``faceledger bench index`` end to end on a small gallery: real LFW embeddings from the
default pack (a few dozen people, computed here), synthetic faces shaped by them, and the
three index kinds side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from faceledger.cli.main import main
from faceledger.config import default_datasets_dir, default_models_dir
from faceledger_bench.synthetic import (
    LfwEmbeddings,
    SyntheticGallery,
    compute_lfw_embeddings,
    fit_gallery_model,
    similarity_profile,
    synth_faces,
)

LFW = default_datasets_dir() / "lfw"


@pytest.fixture(scope="module")
def lfw_cache(tmp_path_factory) -> tuple[LfwEmbeddings, object]:
    if not (LFW / "images").is_dir():
        pytest.skip(f"LFW is absent ({LFW}); see the shared datasets README")
    if not default_models_dir().is_dir():
        pytest.skip(f"model files are absent ({default_models_dir()})")
    emb = compute_lfw_embeddings(LFW, default_models_dir(), max_people=40, max_singles=10)
    path = tmp_path_factory.mktemp("lfw") / "lfw-embeddings.npz"
    emb.save(path)
    return emb, path


def test_synthetic_faces_look_like_real_ones(lfw_cache) -> None:
    emb, _ = lfw_cache
    assert emb.vectors.shape[1] == 256
    assert np.allclose(np.linalg.norm(emb.vectors, axis=1), 1, atol=1e-4)
    model = fit_gallery_model(emb)
    rng = np.random.default_rng(0)
    real = similarity_profile(emb.vectors, emb.person, rng, pairs=2000)
    vecs, ident, _ = synth_faces(model, np.random.default_rng(1), 2000)
    synth = similarity_profile(vecs, ident, rng, pairs=2000)
    # same person far more alike than two people, in both; and the synthetic levels near
    # the real ones (plain uniform noise would give mated ~ non-mated ~ 0)
    assert real["mated_mean"] - real["nonmated_mean"] > 0.3
    assert abs(synth["mated_mean"] - real["mated_mean"]) < 0.15
    assert abs(synth["nonmated_mean"] - real["nonmated_mean"]) < 0.1
    assert synth["nonmated_sd"] > 0.03


def test_gallery_streams_the_same_faces_for_the_same_seed(lfw_cache) -> None:
    emb, _ = lfw_cache
    g = SyntheticGallery(fit_gallery_model(emb), emb, 2500, batch=1000)
    a = [b.vectors for b in g.batches()]
    b = [b.vectors for b in g.batches()]
    assert sum(x.shape[0] for x in a) == 2500
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    ids = np.concatenate([b.ids for b in g.batches()])
    assert np.array_equal(ids, np.arange(2500))
    probes = g.probes()
    assert probes.real.sum() == 40 and probes.vectors.shape[0] == probes.mate.size


def test_bench_index_cli_reports_every_kind(lfw_cache, tmp_path) -> None:
    _, cache = lfw_cache
    result = CliRunner().invoke(main, [
        "bench", "index", "--n", "4000", "--cache", str(cache), "--lfw", str(LFW),
        "--workdir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_kind: dict[str, list[dict]] = {}
    for r in report["results"]:
        by_kind.setdefault(r["kind"], []).append(r)
    assert set(by_kind) == {"flat", "hnsw", "ivfpq"}
    flat = by_kind["flat"][0]
    assert flat["recall_at_10"] == 1.0 and flat["recall_at_1"] == 1.0
    assert report["exact_mate_at_1"] >= 0.8  # real LFW probes find their enrolled photo
    best_ivf = max(by_kind["ivfpq"], key=lambda r: r["recall_at_10"])
    assert best_ivf["recall_at_10"] >= 0.8
    assert best_ivf["ram_bytes_per_face"] < flat["ram_bytes_per_face"] / 4
    assert by_kind["hnsw"][0]["recall_at_1"] >= 0.8
    assert all(r["p99_ms"] >= r["p50_ms"] > 0 for r in report["results"])
    assert list(tmp_path.iterdir()) == []  # the temporary index files are gone
