"""YuNet run directly through ONNX Runtime or OpenVINO instead of OpenCV's FaceDetectorYN.

The published ONNX file has a fixed 1x3x640x640 input. OpenCV reshapes the network to each
image (padded on the right and bottom to a multiple of 32) and decodes the twelve outputs
itself; this module does the same pre- and post-processing in NumPy so that other runtimes can
run the network:

* ``runtime="openvino"`` reshapes the network to a dynamic input and feeds the image padded to
  a multiple of 32, exactly like OpenCV; its detections match FaceDetectorYN's.
* ``runtime="onnxruntime"`` must keep the 640x640 input: an image that fits is padded into it
  (same detections up to border effects), a larger one is scaled down to fit first (a
  letterbox, which loses small faces in large photos).

:class:`YuNetRuntimeDetector` subclasses :class:`~faceledger.models.yunet.YuNetDetector` and
only replaces the network pass (``detect_raw``), so resizing, the padded retry and any
multi-scale logic of the OpenCV detector apply unchanged. See ``docs/benchmarks.md``
("Runtimes") for the measured speeds. Only the runtime benchmarks use it, so it lives in the
bench package, not in the library's ``models/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from faceledger.errors import ModelError
from faceledger.models.ort_session import OrtSession
from faceledger.models.yunet import YuNetDetector
from faceledger.types import Box, DetectedFace, Landmarks

STRIDES = (8, 16, 32)
DIVISOR = 32
FIXED_SIDE = 640
RUNTIMES = ("onnxruntime", "openvino")


class Session(Protocol):
    """What the detector needs from a runtime: NCHW float32 in, the twelve outputs by name."""

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]: ...


def decode_yunet(
    outputs: dict[str, np.ndarray],
    pad_width: int,
    pad_height: int,
    score_threshold: float,
    nms_threshold: float,
    top_k: int = 5000,
) -> np.ndarray:
    """Decode YuNet's ``cls_*``, ``obj_*``, ``bbox_*``, ``kps_*`` outputs for a network input
    of ``pad_width`` x ``pad_height`` into rows ``x, y, w, h, 10 landmark coords, score``
    (OpenCV FaceDetectorYN's layout), after non-maximum suppression."""
    rows = []
    for stride in STRIDES:
        cols, nrows = pad_width // stride, pad_height // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        if cls.size != cols * nrows:
            raise ModelError(
                f"YuNet cls_{stride} has {cls.size} anchors, expected {cols * nrows} for a "
                f"{pad_width}x{pad_height} input"
            )
        score = np.sqrt(cls * obj)
        keep = np.nonzero(score >= score_threshold)[0]
        if keep.size == 0:
            continue
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[keep]
        col = (keep % cols).astype(np.float32)
        row = (keep // cols).astype(np.float32)
        cx = (col + bbox[:, 0]) * stride
        cy = (row + bbox[:, 1]) * stride
        w = np.exp(bbox[:, 2]) * stride
        h = np.exp(bbox[:, 3]) * stride
        pts = np.empty((keep.size, 10), dtype=np.float32)
        pts[:, 0::2] = (kps[:, 0::2] + col[:, None]) * stride
        pts[:, 1::2] = (kps[:, 1::2] + row[:, None]) * stride
        rows.append(
            np.column_stack([cx - w / 2, cy - h / 2, w, h, pts, score[keep]]).astype(np.float32)
        )
    if not rows:
        return np.zeros((0, 15), dtype=np.float32)
    found = np.concatenate(rows, axis=0)
    kept = cv2.dnn.NMSBoxes(
        found[:, :4].tolist(), found[:, 14].tolist(), score_threshold, nms_threshold, top_k=top_k
    )
    kept = np.asarray(kept, dtype=np.int64).reshape(-1)
    return found[kept]


def _rows_to_faces(rows: np.ndarray, factor: float = 1.0) -> list[DetectedFace]:
    out = []
    for row in rows:
        x, y, w, h = (float(v) * factor for v in row[:4])
        pts = tuple(
            (float(row[4 + 2 * i]) * factor, float(row[5 + 2 * i]) * factor) for i in range(5)
        )
        out.append(DetectedFace(Box(x, y, w, h), Landmarks(pts), float(row[14])))
    out.sort(key=lambda f: f.box.area, reverse=True)
    return out


class _NamedOutputs:
    """The ONNX Runtime session with its outputs by name, as this module's Session is."""

    def __init__(self, session: OrtSession) -> None:
        self._session = session

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self._session.output_names, self._session.run(blob)))


class _OpenVinoSession:
    def __init__(self, model_path: Path, threads: int | None) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(model_path))
        model.reshape([1, 3, -1, -1])
        # f32: the CPU plugin would otherwise pick bf16 on CPUs that have it, which moves
        # scores near the threshold; the detector is cheap enough in f32.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = str(threads)
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        # an output can carry several tensor names ('291' and 'cls_8'): keep YuNet's own
        self._names = [_yunet_name(o.get_names()) for o in self._compiled.outputs]

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        result = self._request.infer(blob)
        return {name: np.asarray(result[i]) for i, name in enumerate(self._names)}


def _yunet_name(names: set[str]) -> str:
    for name in names:
        if name.split("_")[0] in {"cls", "obj", "bbox", "kps"}:
            return name
    raise ModelError(f"unexpected YuNet output {sorted(names)}")


class YuNetRuntimeDetector(YuNetDetector):
    """YuNet through ONNX Runtime or OpenVINO; same outputs and options as YuNetDetector."""

    def __init__(
        self,
        model_path: Path,
        runtime: str = "openvino",
        session: Session | None = None,
        **kwargs: Any,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ModelError(f"unknown YuNet runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
        super().__init__(model_path, **kwargs)
        self.runtime = runtime
        self._session: Session | None = session
        if session is not None:
            self._loaded = True

    def _load(self) -> None:
        try:
            if self.runtime == "onnxruntime":
                self._session = _NamedOutputs(OrtSession(self.model_path, self.threads))
            else:
                self._session = _OpenVinoSession(self.model_path, self.threads)
        except Exception as exc:  # runtime-specific errors, translated at the boundary
            raise ModelError(f"cannot load YuNet with {self.runtime}: {exc}") from exc

    def detect_raw(self, bgr: np.ndarray) -> list[DetectedFace]:
        assert self._session is not None
        height, width = bgr.shape[:2]
        factor = 1.0
        image = bgr
        if self.runtime == "onnxruntime":
            pad_w = pad_h = FIXED_SIDE
            if max(height, width) > FIXED_SIDE:
                factor = max(height, width) / FIXED_SIDE
                size = (
                    min(FIXED_SIDE, round(width / factor)),
                    min(FIXED_SIDE, round(height / factor)),
                )
                image = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        else:
            pad_w = ((width - 1) // DIVISOR + 1) * DIVISOR
            pad_h = ((height - 1) // DIVISOR + 1) * DIVISOR
        blob = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)
        h, w = image.shape[:2]
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        outputs = self._session.run(blob)
        rows = decode_yunet(outputs, pad_w, pad_h, self.net_score_threshold,
                             self.nms_threshold)
        return _rows_to_faces(rows, factor)
