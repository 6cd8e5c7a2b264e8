"""The accuracy benchmarks on a few real LFW pairs and WIDER FACE images, real models."""

from __future__ import annotations

import json

from click.testing import CliRunner

from faceledger.cli.main import main
from faceledger.models import load_pack
from faceledger_bench.detect import configure_detector, run_detect


def _small_pairs(lfw_dir, tmp_path, per_half: int = 20):
    lines = (lfw_dir / "pairsDevTest.txt").read_text().splitlines()
    n = int(lines[0])
    same, diff = lines[1 : 1 + per_half], lines[1 + n : 1 + n + per_half]
    path = tmp_path / "pairs-small.txt"
    path.write_text("\n".join([str(per_half), *same, *diff]) + "\n")
    return path


def test_bench_verify_cli_on_a_few_lfw_pairs(lfw_dir, models_dir, tmp_path):
    pairs = _small_pairs(lfw_dir, tmp_path)
    result = CliRunner().invoke(
        main,
        ["bench", "verify", "--lfw", str(lfw_dir), "--pairs", str(pairs),
         "--models-dir", str(models_dir), "--json", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["pairs"] == 40
    assert len(report["fold_accuracies"]) == 10
    assert report["no_face_images"] == []
    assert report["accuracy_mean"] >= 0.9
    assert report["roc_auc"] >= 0.95
    assert set(report["tar_at_far"]) == {"0.01", "0.001", "0.0001"}


def test_bench_verify_reports_a_missing_file_as_an_error(lfw_dir, models_dir, tmp_path):
    result = CliRunner().invoke(
        main,
        ["bench", "verify", "--lfw", str(lfw_dir), "--pairs", str(tmp_path / "nope.txt"),
         "--models-dir", str(models_dir), "--quiet"],
    )
    assert result.exit_code == 2
    assert "not found" in result.output


def test_bench_detect_on_a_few_wider_images(datasets_dir, models_dir):
    wider = datasets_dir / "wider-dev"
    analyzer = load_pack("yunet-omz0095", models_dir, threads=1)
    detector = configure_detector(analyzer.detector, 0.3, ())
    report = run_detect(detector, wider / "images", wider / "ground_truth", limit=5)
    assert report.images == 5
    assert report.faces_detected > 0
    assert 0.2 < report.ap["easy"] <= 1.0
    assert all(0.0 <= ap <= 1.0 for ap in report.ap.values())
    assert report.images_per_second > 0
