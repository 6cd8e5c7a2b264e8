"""Score-level fusion of two packs, for comparisons of a few photos ("accurate" mode).

The store's pack (the *primary*) finds and embeds a face as usual; a second recognizer (the
*secondary*, loaded only on first use) embeds the same detected face on its own alignment.
Each pack's cosine is z-normalised by the mean and spread of its scores over label-free
random image pairs of the calibration set (almost all of them different people), the two are
averaged with a calibrated weight, and the result is put back on the primary pack's cosine
scale::

    z_i   = (cos_i - mean_i) / std_i
    fused = mean_1 + std_1 * (w * z_1 + (1 - w) * z_2)

so a pair on which both packs agree scores the primary's own cosine, and the fused score
reads like a similarity. Its decision thresholds are its own (``thresholds``), calibrated
like a pack's, on LFW View 1 training data only (``faceledger bench calibrate-fusion``);
:mod:`faceledger.search.decisions` turns them into operating points.

A fusion needs both packs to see the same face: the secondary recognizer is handed the
primary detector's box and landmarks (``yunet-dlib`` uses the same YuNet as the default
pack, so its calibration holds for those faces).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError
from ..types import DetectedFace
from .registry import get_pack, load_pack

if TYPE_CHECKING:
    from .analyzer import FaceAnalyzer
    from .base import Recognizer


@dataclass(frozen=True)
class ScoreNorm:
    """A pack's cosine score as a z-score over random (impostor-like) pairs."""

    mean: float
    std: float

    def __call__(self, cosine):
        return (np.asarray(cosine, dtype=np.float64) - self.mean) / self.std


@dataclass(frozen=True)
class FusionSpec:
    name: str
    primary: str  # the store's pack
    secondary: str  # the pack whose recognizer is added
    weight: float  # of the primary's z-score; the secondary gets 1 - weight
    primary_norm: ScoreNorm
    secondary_norm: ScoreNorm
    # fused-score thresholds keyed by the false-accept rate they give on calibration data
    thresholds: dict[float, float]
    calibration: str = ""

    def fuse(self, primary_cosine, secondary_cosine):
        """The fused score of one pair (floats) or of many (arrays); NaN stays NaN."""
        z = (self.weight * self.primary_norm(primary_cosine)
             + (1.0 - self.weight) * self.secondary_norm(secondary_cosine))
        fused = self.primary_norm.mean + self.primary_norm.std * z
        return float(fused) if np.ndim(fused) == 0 else fused


#: LFW View 1 training data only: the images of pairsDevTrain.txt (never View 2's pairs.txt,
#: which is the test). See docs/benchmarks.md, "Accurate mode".
YUNET_OMZ0095_DLIB = FusionSpec(
    name="yunet-omz0095+yunet-dlib",
    primary="yunet-omz0095",
    secondary="yunet-dlib",
    weight=0.7,
    primary_norm=ScoreNorm(0.00545, 0.09614),
    secondary_norm=ScoreNorm(0.83455, 0.03521),
    thresholds={1e-2: 0.217, 1e-3: 0.305, 1e-4: 0.379, 1e-5: 0.444},
    calibration=(
        "faceledger bench calibrate-fusion (LFW View 1 pairsDevTrain.txt: norms and thresholds "
        "from all pairs of its 3,443 images, 5,923,194 impostor pairs; weight on its 1,100 "
        "matched pairs; 2026-12-02)"
    ),
)

#: fusions by primary pack (one each)
FUSIONS: Mapping[str, FusionSpec] = MappingProxyType(
    {YUNET_OMZ0095_DLIB.primary: YUNET_OMZ0095_DLIB})


def fusion_for(pack: str) -> FusionSpec:
    """The calibrated fusion of ``pack``, or a ModelError if it has none."""
    spec = FUSIONS.get(pack)
    if spec is None or not spec.thresholds:
        known = ", ".join(sorted(p for p, s in FUSIONS.items() if s.thresholds)) or "none"
        raise ModelError(f"pack {pack!r} has no calibrated accurate mode "
                         f"(packs that have one: {known})")
    return spec


@dataclass(frozen=True)
class FusedTemplate:
    """One face embedded by both packs (L2-normalised vectors)."""

    face: DetectedFace
    primary: np.ndarray = field(repr=False)
    secondary: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class FusedScore:
    score: float  # on the primary pack's cosine scale
    primary: float  # the primary pack's cosine
    secondary: float  # the secondary pack's cosine


class FusedEmbedder:
    """Embeds a face with the primary analyzer and the secondary recognizer.

    The secondary recognizer is built and loaded on first use (``secondary`` may be handed
    in, e.g. by a test); calls are serialised, as each model keeps per-call state."""

    def __init__(self, spec: FusionSpec, primary: FaceAnalyzer, models_dir: Path | None = None,
                 secondary: Recognizer | None = None) -> None:
        if primary.name != spec.primary:
            raise ModelError(f"fusion {spec.name} needs pack {spec.primary}, not {primary.name}")
        self.spec = spec
        self.primary = primary
        self.models_dir = models_dir
        self._secondary = secondary
        self._lock = threading.Lock()
        self.secondary_flip = get_pack(spec.secondary).flip

    @property
    def secondary(self) -> Recognizer:
        with self._lock:
            if self._secondary is None:
                if self.models_dir is None:
                    raise ModelError(f"fusion {self.spec.name}: no models directory given")
                # only the recognizer is used: faces come from the primary's detector
                recognizer = load_pack(self.spec.secondary, self.models_dir, threads=1).recognizer
                recognizer.load()
                self._secondary = recognizer
            return self._secondary

    def embed(self, bgr: np.ndarray, faces: list[DetectedFace]) -> list[FusedTemplate]:
        """Both embeddings of each of ``faces`` (detected in ``bgr``)."""
        if not faces:
            return []
        first = self.primary.embed(bgr, faces)
        secondary = self.secondary
        with self._lock:  # the secondary pack's own flip setting, as it was calibrated
            second = secondary.embed(bgr, faces, flip=self.secondary_flip)
        return [FusedTemplate(f, a, b) for f, a, b in zip(faces, first, second)]

    def score(self, a: FusedTemplate, b: FusedTemplate) -> FusedScore:
        p = float(np.dot(a.primary, b.primary))
        s = float(np.dot(a.secondary, b.secondary))
        return FusedScore(self.spec.fuse(p, s), p, s)


__all__ = ["FUSIONS", "FusedEmbedder", "FusedScore", "FusedTemplate", "FusionSpec",
           "ScoreNorm", "fusion_for"]
