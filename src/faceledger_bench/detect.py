"""WIDER FACE detection benchmark over the images present in a folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceledger.errors import ConfigError, FaceLedgerError
from faceledger.images.decode import read_image_file
from faceledger.models.plausible import plausible_faces

from .wider_eval import SUBSETS, evaluate, load_ground_truth


@dataclass(frozen=True)
class DetectReport:
    detector: str
    images: int
    faces_detected: int
    ap: dict[str, float]
    refused_implausible: int  # detections the landmark check refused (not in faces_detected)
    seconds: float  # detection time only (decode excluded), process CPU seconds
    settings: dict = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict:
        return {
            "detector": self.detector,
            "images": self.images,
            "faces_detected": self.faces_detected,
            "refused_implausible": self.refused_implausible,
            "ap": self.ap,
            "seconds": self.seconds,
            "images_per_second": self.images_per_second,
            "settings": self.settings,
        }


def configure_detector(detector, score_threshold: float | None, scales: tuple[float, ...],
                       passes: str | None = None):
    """Set a YuNet-style detector's score threshold, scales and passes before it loads."""
    if score_threshold is not None:
        if not hasattr(detector, "score_threshold"):
            raise ConfigError("this detector has no score threshold to set")
        detector.score_threshold = score_threshold
    if scales:
        if not hasattr(detector, "scales"):
            raise ConfigError("this detector has no multi-scale mode")
        detector.scales = tuple(scales)
    if passes is not None:
        if not hasattr(detector, "passes"):
            raise ConfigError("this detector has no passes to choose")
        detector.passes = passes
    return detector


def detector_settings(detector) -> dict:
    return {
        "score_threshold": getattr(detector, "score_threshold", None),
        "passes": getattr(detector, "passes", None),
        "scales": list(getattr(detector, "scales", ()) or ()),
        "max_side": getattr(detector, "max_side", None),
    }


def run_detect(
    detector,
    images_dir: Path,
    gt_dir: Path,
    name: str = "detector",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    plausible: bool = True,
) -> DetectReport:
    """Detect faces in every ground-truth image present under ``images_dir`` and score them
    with the official WIDER FACE protocol. With ``plausible`` (as the analyzer does), the
    detections whose landmarks cannot be a face's are refused and counted."""
    return run_detect_many({name: detector}, images_dir, gt_dir, limit, progress,
                           plausible=plausible)[0]


def run_detect_many(
    detectors: dict,
    images_dir: Path,
    gt_dir: Path,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    plausible: bool = True,
) -> list[DetectReport]:
    """:func:`run_detect` for several detectors, interleaved image by image (their order
    rotating), so that the machine's other load falls on all of them alike and their
    detection times can be compared as ratios. Times are process CPU seconds, the landmark
    check (``plausible``) included."""
    gt = load_ground_truth(gt_dir)
    present = [img for img in gt if (Path(images_dir) / img.relpath).is_file()]
    if limit:
        present = present[:limit]
    if not present:
        raise ConfigError(f"{images_dir}: none of the WIDER FACE ground-truth images is there")
    names = list(detectors)
    for detector in detectors.values():
        detector.load()
    preds: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    spent = dict.fromkeys(names, 0.0)
    n_faces = dict.fromkeys(names, 0)
    refused = dict.fromkeys(names, 0)
    for i, img in enumerate(present):
        try:
            bgr = read_image_file(Path(images_dir) / img.relpath).bgr
        except FaceLedgerError:
            bgr = None
        for k in range(len(names)):
            n = names[(i + k) % len(names)]
            rows = np.zeros((0, 5))
            if bgr is not None:
                t0 = time.process_time()
                faces = detectors[n].detect(bgr)
                if plausible:
                    kept = plausible_faces(faces)
                    refused[n] += len(faces) - len(kept)
                    faces = kept
                spent[n] += time.process_time() - t0
                rows = np.array(
                    [[f.box.x, f.box.y, f.box.width, f.box.height, f.score] for f in faces]
                ).reshape(-1, 5)
            n_faces[n] += len(rows)
            preds[n][img.relpath] = rows
        if progress is not None:
            progress(i + 1, len(present))
    reports = []
    for n in names:
        ap = evaluate(preds[n], present)
        reports.append(DetectReport(
            detector=n,
            images=len(present),
            faces_detected=n_faces[n],
            refused_implausible=refused[n],
            ap={s: ap[s] for s in SUBSETS},
            seconds=spent[n],
            settings={**detector_settings(detectors[n]), "plausible": plausible},
        ))
    return reports
