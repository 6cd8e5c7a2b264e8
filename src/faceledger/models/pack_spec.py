"""What a model pack is, as data: its detector and recognizer (model, file, sha256, runtime,
input size), licence, thresholds, and whether it is opt-in. :mod:`.assemble` builds the
analyzer of a pack from this description; nothing here touches a file."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelError
from .files import ModelFile


@dataclass(frozen=True)
class NetworkSpec:
    """One model of a pack.

    ``model`` names the code that pre- and post-processes it (detectors: ``yunet``,
    ``scrfd``, ``dlib-hog``; recognizers: ``crop-embedder``, ``dlib-resnet``); ``runtime``
    what runs it: ``onnxruntime`` or ``openvino`` (an :class:`~.session.InferenceSession`),
    ``opencv`` (YuNet in ``cv2.FaceDetectorYN``) or ``dlib`` (dlib's own models, from PyPI).
    """

    model: str
    runtime: str
    file: ModelFile | None = None
    weights: ModelFile | None = None  # an OpenVINO IR's .bin, checked like the .xml
    input_size: int | None = None  # a square input in pixels; None: the image's own size
    precision: str | None = None  # OpenVINO's INFERENCE_PRECISION_HINT; None: the plugin's
    alignment: str = ""  # recognizers: the reference points crops are aligned to
    options: Mapping[str, Any] = field(default_factory=dict)  # the model's own settings


@dataclass(frozen=True)
class PackSpec:
    name: str
    description: str
    licence: str
    detector: NetworkSpec
    recognizer: NetworkSpec
    embedding_size: int
    input_spec: str
    # cosine-similarity thresholds keyed by the false-accept rate they give on calibration data
    thresholds: dict[float, float]
    # opt-in: a non-commercial (research) licence the user must acknowledge before loading
    research: bool = False
    flip: bool = True
    calibration: str = ""
    # Python modules the pack imports, with the install hint shown when one is missing
    python_modules: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, ModelFile]:
        """Every file of the pack by role (what ``models list`` and ``fetch`` check)."""
        roles = {"detector": self.detector.file, "detector_weights": self.detector.weights,
                 "recognizer": self.recognizer.file,
                 "recognizer_weights": self.recognizer.weights}
        return {role: f for role, f in roles.items() if f is not None}

    @property
    def needs_models_dir(self) -> bool:
        return bool(self.files)

    def missing_modules(self) -> list[str]:
        return [
            f"{module} ({hint})" for module, hint in self.python_modules.items()
            if importlib.util.find_spec(module) is None
        ]

    def threshold(self, far: float) -> float:
        """The threshold for ``far``; the nearest calibrated rate at or below it."""
        if far in self.thresholds:
            return self.thresholds[far]
        stricter = [f for f in self.thresholds if f <= far]
        if not stricter:
            raise ModelError(
                f"pack {self.name} has no threshold for FAR {far:g}; "
                f"calibrated: {', '.join(f'{f:g}' for f in sorted(self.thresholds))}"
            )
        return self.thresholds[max(stricter)]
