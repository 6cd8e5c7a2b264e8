"""Recognizers in OpenVINO IR: Intel OMZ face-reidentification-retail-0095 (Apache-2.0) and
IR conversions with the same interface (BGR 0-255 NCHW in, one vector out).

Speed notes (measured in ``docs/benchmarks.md``, section "Runtimes"):

* A network reshaped to a dynamic batch runs a single face about 20-25 % slower than the same
  network compiled for a static batch, so batches of one or two crops (one face, with or
  without its mirror image) use networks compiled for exactly that size; larger batches use
  the dynamic network, where the difference is small.
* With ``flip=True`` a face and its mirror image go through the network in one call (batch 2)
  instead of two calls.
* A compiled network runs one inference at a time (one "stream"): with one stream, a
  second thread's request waits for the first's to finish (measured: a batch-2 request
  issued during a batch-128 one returned only after it). With several streams, OpenVINO
  hands each synchronous request to a stream thread of its own while the caller waits, a
  thread switch per call that a busy machine makes slow. So each call borrows a *slot*,
  a network compiled for one stream and its infer request, that no other thread uses
  meanwhile; a thread that finds every slot busy compiles one more (~0.1 s, once per
  process). The request then runs in the calling thread, and several threads (ingest
  lanes, server calls) infer side by side with one copy of the model on disk and a
  compiled copy (~2 MB of weights) per thread at once. Slots give bit-identical outputs.
* CPU pinning is off: the inference thread is the caller's, and pinning it to a core on
  a shared machine keeps it waiting while another core is free.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..types import DetectedFace
from .align import align_face
from .base import Recognizer, l2_normalise

# batch sizes that get a network compiled for exactly that size (compiling one takes ~0.2 s)
STATIC_BATCHES = (1, 2)
DYNAMIC = -1


class OpenVinoRecognizer(Recognizer):
    concurrent = True  # each call borrows a compiled network no other thread uses

    def __init__(
        self,
        xml_path: Path,
        reference: np.ndarray,
        input_size: int,
        embedding_size: int,
        threads: int | None = None,
        batch: int = 16,
        precision: str | None = None,
    ) -> None:
        """``precision`` is OpenVINO's INFERENCE_PRECISION_HINT ("f32", "bf16", "f16"); None
        keeps the CPU plugin's choice (bf16 on CPUs with AMX/AVX512-BF16, else f32).
        ``threads``: inference threads per call (None: the plugin's latency choice)."""
        super().__init__()
        self.xml_path = Path(xml_path)
        self.reference = reference
        self.input_size = input_size
        self.embedding_size = embedding_size
        self.threads = threads
        self.batch = batch
        self.precision = precision
        self._core: Any = None
        self._model: Any = None
        self._config: dict[str, str] = {}
        self._idle: dict[int, list[tuple[Any, Any]]] = {}  # batch key -> idle slots
        self._slots_lock = threading.Lock()

    def _load(self) -> None:
        try:
            import openvino as ov

            self._core = ov.Core()
            self._model = self._core.read_model(str(self.xml_path))
        except Exception as exc:  # OpenVINO's own errors, translated at the boundary
            raise ModelError(f"cannot read OpenVINO model {self.xml_path}: {exc}") from exc
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                  "ENABLE_CPU_PINNING": "NO"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = str(self.threads)
        if self.precision:
            config["INFERENCE_PRECISION_HINT"] = self.precision
        self._config = config
        # the single-face, flip-averaged case is the common one: have it ready
        key = _key(2)
        self._idle[key] = [self._new_slot(key)]

    def _new_slot(self, key: int) -> tuple[Any, Any]:
        """A network compiled for a batch of ``key`` (static for small sizes, else
        dynamic) and its infer request."""
        model = self._model.clone()
        model.reshape([key, 3, self.input_size, self.input_size])
        try:
            compiled = self._core.compile_model(model, "CPU", self._config)
        except Exception as exc:
            raise ModelError(f"cannot compile {self.xml_path}: {exc}") from exc
        return compiled, compiled.create_infer_request()

    def _borrow(self, size: int) -> tuple[int, tuple[Any, Any]]:
        key = _key(size)
        with self._slots_lock:
            idle = self._idle.setdefault(key, [])
            slot = idle.pop() if idle else None
        return key, slot if slot is not None else self._new_slot(key)

    def _give_back(self, key: int, slot: tuple[Any, Any]) -> None:
        with self._slots_lock:
            self._idle[key].append(slot)

    def align(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        size = (self.input_size, self.input_size)
        return align_face(bgr, face.landmarks.as_array(), self.reference, size)

    def embed_crops(self, crops: list[np.ndarray], flip: bool = False,
                    faces_per_call: int | None = None) -> np.ndarray:
        """As :meth:`Recognizer.embed_crops`, with each face and its mirror image in one
        batch. ``faces_per_call`` (default ``batch // 2``) sets how many faces share a
        network call when crops of many photos are embedded together."""
        self.load()
        if not crops:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        if not flip:
            return l2_normalise(self._embed(crops))
        vectors = []
        per_call = max(1, faces_per_call or self.batch // 2)
        for start in range(0, len(crops), per_call):
            chunk = crops[start : start + per_call]
            both = self._infer(chunk + [c[:, ::-1] for c in chunk])
            vectors.append(both[: len(chunk)] + both[len(chunk) :])
        return l2_normalise(np.concatenate(vectors, axis=0))

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        outputs = [
            self._infer(crops[start : start + self.batch])
            for start in range(0, len(crops), self.batch)
        ]
        return np.concatenate(outputs, axis=0)

    def _infer(self, crops: list[np.ndarray]) -> np.ndarray:
        """One network call on HxWx3 uint8 BGR crops; returns len(crops) x embedding_size."""
        tensor = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        key, slot = self._borrow(len(crops))
        try:
            result = slot[1].infer(tensor)
            return np.asarray(result[0], dtype=np.float32).reshape(len(crops), -1)
        except Exception as exc:
            raise ModelError(f"OpenVINO inference failed for {self.xml_path}: {exc}") from exc
        finally:
            self._give_back(key, slot)


def _key(size: int) -> int:
    """The compiled batch size serving a call of ``size`` crops."""
    return size if size in STATIC_BATCHES else DYNAMIC
