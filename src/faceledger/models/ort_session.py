"""ONNX Runtime behind :class:`~.session.InferenceSession` (CPU provider, opened lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .session import NamedSession


class OrtSession(NamedSession):
    def __init__(self, model_path: Path, threads: int | None = None) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.threads = threads
        self._session: Any = None

    def _load(self) -> None:
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
            session = ort.InferenceSession(
                str(self.model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors, translated at the boundary
            raise ModelError(
                f"cannot load {self.model_path} in ONNX Runtime: {exc}") from exc
        self._inputs = [i.name for i in session.get_inputs()]
        self._outputs = [o.name for o in session.get_outputs()]
        self._session = session

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The outputs by name (ONNX Runtime runs calls from several threads at once)."""
        self.load()
        try:
            values = self._session.run(self._outputs, dict(inputs))
        except Exception as exc:
            raise ModelError(f"ONNX Runtime inference failed for {self.model_path}: "
                             f"{exc}") from exc
        return dict(zip(self._outputs, values))
