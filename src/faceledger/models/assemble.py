"""Build a pack's analyzer from its description (:class:`~.pack_spec.PackSpec`).

The one place that turns pack data into objects: licence and Python modules checked, every
file's sha256 verified, a session opened (lazily) on the runtime each network names, and the
detector and recognizer handed their sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LicenceNotAcknowledged, ModelError
from .align import ARCFACE_REFERENCE_112, OMZ_REFERENCE_96x112
from .base import Detector, Recognizer
from .compiled_cache import CompiledCache
from .files import verify_file
from .pack_spec import NetworkSpec, PackSpec
from .runtime import open_session
from .session import InferenceSession, dynamic_image, static_batches

if TYPE_CHECKING:
    from .analyzer import FaceAnalyzer

#: reference points (fractions of the crop) a ``crop-embedder`` aligns to, by name
REFERENCES: Mapping[str, np.ndarray] = {
    "omz-96x112": OMZ_REFERENCE_96x112,
    "arcface-112": ARCFACE_REFERENCE_112,
}
#: detectors fed images of any size get one dynamic-size OpenVINO network, in f32 (the CPU
#: plugin would otherwise pick bf16 on CPUs that have it, which moves scores near the
#: threshold); recognizers get static batch-1 and -2 networks (one face, flip-averaged)
DETECTOR_PRECISION = "f32"
RECOGNIZER_STATIC_BATCHES = (1, 2)
#: the published YuNet ONNX file's fixed input, kept by ONNX Runtime
YUNET_FIXED_SIDE = 640


def check_loadable(spec: PackSpec, accept_research_licence: bool) -> None:
    """Refuse an opt-in pack whose licence is not acknowledged, or missing Python modules."""
    if spec.research and not accept_research_licence:
        raise LicenceNotAcknowledged(
            f"model pack {spec.name!r} is under a non-commercial research licence "
            f"({spec.licence}). Acknowledge it explicitly (--accept-research-licence or "
            "FACELEDGER_ACCEPT_RESEARCH_LICENCE=1) to use it."
        )
    missing = spec.missing_modules()
    if missing:
        raise ModelError(f"model pack {spec.name!r} needs Python packages: {', '.join(missing)}")


def build_analyzer(
    spec: PackSpec,
    models_dir: Path,
    accept_research_licence: bool = False,
    threads: int | None = None,
    cache: CompiledCache | None = None,
) -> FaceAnalyzer:
    """The analyzer of ``spec``: files verified, licence and modules checked, models built
    on their runtimes (weights load on first use, or on ``load()``). ``cache``: where
    OpenVINO's compiled networks are kept between processes (None: compiled in each)."""
    from .analyzer import FaceAnalyzer

    check_loadable(spec, accept_research_licence)
    paths = {role: verify_file(models_dir, f) for role, f in spec.files.items()}
    detector = build_detector(spec.detector, paths.get("detector"), threads, cache)
    recognizer = build_recognizer(spec.recognizer, paths.get("recognizer"),
                                  spec.embedding_size, threads, cache)
    return FaceAnalyzer(spec, detector, recognizer)


DETECTOR_MODELS = ("yunet", "scrfd", "dlib-hog")
RECOGNIZER_MODELS = ("crop-embedder", "dlib-resnet")


def build_detector(net: NetworkSpec, path: Path | None, threads: int | None,
                   cache: CompiledCache | None = None) -> Detector:
    if net.model not in DETECTOR_MODELS:
        raise ModelError(f"unknown detector model {net.model!r}; "
                         f"known: {', '.join(DETECTOR_MODELS)}")
    if net.model == "dlib-hog":
        from .dlib_models import DlibHogDetector

        return DlibHogDetector(**net.options)
    if path is None:
        raise ModelError(f"detector {net.model} has no model file")
    if net.model == "yunet":
        from .yunet import YuNetDetector

        if net.runtime == "opencv":
            return YuNetDetector(path, threads=threads, **net.options)
        fixed = YUNET_FIXED_SIDE if net.runtime == "onnxruntime" else None
        session = detector_session(net, path, threads, cache)
        return YuNetDetector(path, threads=threads, session=session, fixed_side=fixed,
                             **net.options)
    from .scrfd import ScrfdDetector

    return ScrfdDetector(detector_session(net, path, threads, cache),
                         input_size=net.input_size or 640, **net.options)


def detector_session(net: NetworkSpec, path: Path, threads: int | None,
                     cache: CompiledCache | None = None) -> InferenceSession:
    """A detector's session: on OpenVINO one dynamic-size network unless the input is fixed."""
    shapes = dynamic_image if net.input_size is None else None
    return open_session(net.runtime, path, threads, net.precision or DETECTOR_PRECISION,
                        shapes=shapes, cache=cache)


def build_recognizer(net: NetworkSpec, path: Path | None, embedding_size: int,
                     threads: int | None, cache: CompiledCache | None = None) -> Recognizer:
    if net.model not in RECOGNIZER_MODELS:
        raise ModelError(f"unknown recognizer model {net.model!r}; "
                         f"known: {', '.join(RECOGNIZER_MODELS)}")
    if net.model == "dlib-resnet":
        from .dlib_models import DlibRecognizer

        return DlibRecognizer(alignment=net.alignment.removeprefix("dlib-"), **net.options)
    from .session_recognizer import SessionRecognizer

    if path is None or net.input_size is None:
        raise ModelError("a crop-embedder needs a model file and an input size")
    if net.alignment not in REFERENCES:
        raise ModelError(f"unknown alignment {net.alignment!r}; "
                         f"known: {', '.join(sorted(REFERENCES))}")
    side = net.input_size
    session = open_session(
        net.runtime, path, threads, net.precision,
        shapes=static_batches(*RECOGNIZER_STATIC_BATCHES),
        # the single-face, flip-averaged case is the common one: have it ready
        warm=[(2, 3, side, side)],
        cache=cache,
    )
    return SessionRecognizer(session, REFERENCES[net.alignment], side, embedding_size,
                             **net.options)
