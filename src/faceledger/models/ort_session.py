"""A thin ONNX Runtime session: one image blob in, the model's outputs out.

Detectors take any object with the same ``run``/``output_names`` pair, so a unit test can
hand one in without onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class OrtSession:
    def __init__(self, model_path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self.output_names = [o.name for o in self._session.get_outputs()]

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """The outputs in the model's order."""
        return self._session.run(self.output_names, {self._input: blob})
