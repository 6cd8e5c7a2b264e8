"""WIDER FACE detection benchmark over the images present in a folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceledger.errors import ConfigError, FaceLedgerError
from faceledger.images.decode import read_image_file

from .wider_eval import SUBSETS, evaluate, load_ground_truth


@dataclass(frozen=True)
class DetectReport:
    detector: str
    images: int
    faces_detected: int
    ap: dict[str, float]
    seconds: float  # detection time only (decode excluded)
    settings: dict = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict:
        return {
            "detector": self.detector,
            "images": self.images,
            "faces_detected": self.faces_detected,
            "ap": self.ap,
            "seconds": self.seconds,
            "images_per_second": self.images_per_second,
            "settings": self.settings,
        }


def configure_detector(detector, score_threshold: float | None, scales: tuple[float, ...]):
    """Set a YuNet-style detector's score threshold and scales before it loads."""
    if score_threshold is not None:
        if not hasattr(detector, "score_threshold"):
            raise ConfigError("this detector has no score threshold to set")
        detector.score_threshold = score_threshold
    if scales:
        if not hasattr(detector, "scales"):
            raise ConfigError("this detector has no multi-scale mode")
        detector.scales = tuple(scales)
    return detector


def run_detect(
    detector,
    images_dir: Path,
    gt_dir: Path,
    name: str = "detector",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DetectReport:
    """Detect faces in every ground-truth image present under ``images_dir`` and score them
    with the official WIDER FACE protocol."""
    gt = load_ground_truth(gt_dir)
    present = [img for img in gt if (Path(images_dir) / img.relpath).is_file()]
    if limit:
        present = present[:limit]
    if not present:
        raise ConfigError(f"{images_dir}: none of the WIDER FACE ground-truth images is there")
    detector.load()
    preds: dict[str, np.ndarray] = {}
    spent = 0.0
    n_faces = 0
    for i, img in enumerate(present):
        try:
            bgr = read_image_file(Path(images_dir) / img.relpath).bgr
        except FaceLedgerError:
            bgr = None
        rows = np.zeros((0, 5))
        if bgr is not None:
            t0 = time.perf_counter()
            faces = detector.detect(bgr)
            spent += time.perf_counter() - t0
            rows = np.array(
                [[f.box.x, f.box.y, f.box.width, f.box.height, f.score] for f in faces]
            ).reshape(-1, 5)
        n_faces += len(rows)
        preds[img.relpath] = rows
        if progress is not None:
            progress(i + 1, len(present))
    ap = evaluate(preds, present)
    return DetectReport(
        detector=name,
        images=len(present),
        faces_detected=n_faces,
        ap={s: ap[s] for s in SUBSETS},
        seconds=spent,
        settings={
            "score_threshold": getattr(detector, "score_threshold", None),
            "scales": list(getattr(detector, "scales", ()) or ()),
            "max_side": getattr(detector, "max_side", None),
        },
    )
