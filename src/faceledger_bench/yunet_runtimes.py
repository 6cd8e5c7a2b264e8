"""YuNet run through ONNX Runtime or OpenVINO instead of OpenCV's FaceDetectorYN.

The library's :class:`~faceledger.models.yunet.YuNetDetector` runs its passes on any
:class:`~faceledger.models.session.InferenceSession` (decoding in
:mod:`faceledger.models.yunet_session`); this module only opens the session the way a pack
declaring that runtime would (:func:`faceledger.models.assemble.build_detector`):

* ``runtime="openvino"``: one dynamic-size network, f32; its detections match
  FaceDetectorYN's;
* ``runtime="onnxruntime"``: the published fixed 640x640 input (a letterbox for larger
  images, which loses small faces in large photos).

See ``docs/benchmarks.md`` ("Runtimes") for the measured speeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceledger.errors import ModelError
from faceledger.models.assemble import YUNET_FIXED_SIDE, detector_session
from faceledger.models.pack_spec import NetworkSpec
from faceledger.models.runtime import SESSION_RUNTIMES
from faceledger.models.session import InferenceSession
from faceledger.models.yunet import YuNetDetector
from faceledger.models.yunet_session import decode_yunet

RUNTIMES = SESSION_RUNTIMES

__all__ = ["RUNTIMES", "YuNetRuntimeDetector", "decode_yunet"]


class YuNetRuntimeDetector(YuNetDetector):
    """YuNet through ONNX Runtime or OpenVINO; same outputs and options as YuNetDetector."""

    def __init__(
        self,
        model_path: Path,
        runtime: str = "openvino",
        session: InferenceSession | None = None,
        **kwargs: Any,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ModelError(f"unknown YuNet runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
        threads = kwargs.pop("threads", None)
        if session is None:
            session = detector_session(NetworkSpec("yunet", runtime), Path(model_path), threads)
        fixed = YUNET_FIXED_SIDE if runtime == "onnxruntime" else None
        super().__init__(model_path, threads=threads, session=session, fixed_side=fixed,
                         **kwargs)
        self.runtime = runtime
