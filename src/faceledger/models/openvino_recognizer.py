"""Recognizers in OpenVINO IR: Intel OMZ face-reidentification-retail-0095 (Apache-2.0) and
IR conversions with the same interface (BGR 0-255 NCHW in, one vector out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..types import DetectedFace
from .align import align_face
from .base import Recognizer


class OpenVinoRecognizer(Recognizer):
    def __init__(
        self,
        xml_path: Path,
        reference: np.ndarray,
        input_size: int,
        embedding_size: int,
        threads: int | None = None,
        batch: int = 16,
    ) -> None:
        super().__init__()
        self.xml_path = Path(xml_path)
        self.reference = reference
        self.input_size = input_size
        self.embedding_size = embedding_size
        self.threads = threads
        self.batch = batch
        self._compiled = None

    def _load(self) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(self.xml_path))
        model.reshape([-1, 3, self.input_size, self.input_size])
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = str(self.threads)
        self._compiled = core.compile_model(model, "CPU", config)

    def align(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        size = (self.input_size, self.input_size)
        return align_face(bgr, face.landmarks.as_array(), self.reference, size)

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        assert self._compiled is not None
        outputs = []
        for start in range(0, len(crops), self.batch):
            chunk = np.stack(crops[start : start + self.batch]).astype(np.float32)
            tensor = np.ascontiguousarray(chunk.transpose(0, 3, 1, 2))
            result = self._compiled(tensor)[0]
            outputs.append(np.asarray(result, dtype=np.float32).reshape(len(chunk), -1))
        return np.concatenate(outputs, axis=0)
