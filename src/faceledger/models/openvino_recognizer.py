"""Recognizers in OpenVINO IR: Intel OMZ face-reidentification-retail-0095 (Apache-2.0) and
IR conversions with the same interface (BGR 0-255 NCHW in, one vector out).

Speed notes (measured in ``docs/benchmarks.md``, section "Runtimes"):

* A network reshaped to a dynamic batch runs a single face about 20-25 % slower than the same
  network compiled for a static batch, so batches of one or two crops (one face, with or
  without its mirror image) use networks compiled for exactly that size; larger batches use
  the dynamic network, where the difference is small.
* With ``flip=True`` a face and its mirror image go through the network in one call (batch 2)
  instead of two calls.
* Each thread gets its own infer requests (an OpenVINO request must not be shared between
  threads); compiled networks are shared. A compiled network runs one inference per
  *stream* at a time: with one stream, a second thread's request waits for the first's to
  finish (measured: a batch-2 request issued during a batch-128 one returned only after it).
  So networks are compiled with ``streams`` streams of ``threads`` threads each (default:
  one stream per core), and several threads (ingest lanes, server calls) infer side by side
  with one copy of the model. Streams do not change the results (bit-identical outputs).
* CPU pinning is off: a stream's thread is the caller's thread, and pinning it to a core on
  a shared machine keeps it waiting while another core is free.
"""

from __future__ import annotations

import os
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
    concurrent = True  # per-thread requests on shared networks, one stream per core

    def __init__(
        self,
        xml_path: Path,
        reference: np.ndarray,
        input_size: int,
        embedding_size: int,
        threads: int | None = None,
        batch: int = 16,
        precision: str | None = None,
        streams: int | None = None,
    ) -> None:
        """``precision`` is OpenVINO's INFERENCE_PRECISION_HINT ("f32", "bf16", "f16"); None
        keeps the CPU plugin's choice (bf16 on CPUs with AMX/AVX512-BF16, else f32).
        ``streams``: with ``threads`` set, the inferences that may run at once from different
        threads (default: the cores), each on ``threads`` threads; without ``threads``, the
        plugin's latency setting (one stream over all cores)."""
        super().__init__()
        self.xml_path = Path(xml_path)
        self.reference = reference
        self.input_size = input_size
        self.embedding_size = embedding_size
        self.threads = threads
        self.batch = batch
        self.precision = precision
        self.streams = max(1, streams or os.cpu_count() or 1)
        self._core: Any = None
        self._model: Any = None
        self._config: dict[str, str] = {}
        self._compiled: dict[int, Any] = {}
        self._compile_lock = threading.Lock()
        self._local = threading.local()

    def _load(self) -> None:
        try:
            import openvino as ov

            self._core = ov.Core()
            self._model = self._core.read_model(str(self.xml_path))
        except Exception as exc:  # OpenVINO's own errors, translated at the boundary
            raise ModelError(f"cannot read OpenVINO model {self.xml_path}: {exc}") from exc
        config = {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": "NO"}
        if self.threads:
            config["NUM_STREAMS"] = str(self.streams)
            config["INFERENCE_NUM_THREADS"] = str(self.threads * self.streams)
        if self.precision:
            config["INFERENCE_PRECISION_HINT"] = self.precision
        self._config = config
        # the single-face, flip-averaged case is the common one: have it ready
        self._compiled_for(2)

    def _compiled_for(self, size: int) -> Any:
        """The compiled network for a batch of ``size`` (static for small sizes)."""
        key = size if size in STATIC_BATCHES else DYNAMIC
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._compile_lock:
                compiled = self._compiled.get(key)
                if compiled is None:
                    model = self._model.clone()
                    model.reshape([key, 3, self.input_size, self.input_size])
                    try:
                        compiled = self._core.compile_model(model, "CPU", self._config)
                    except Exception as exc:
                        raise ModelError(f"cannot compile {self.xml_path}: {exc}") from exc
                    self._compiled[key] = compiled
        return compiled

    def _request_for(self, size: int) -> Any:
        key = size if size in STATIC_BATCHES else DYNAMIC
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        request = requests.get(key)
        if request is None:
            request = requests[key] = self._compiled_for(size).create_infer_request()
        return request

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
        request = self._request_for(len(crops))
        try:
            result = request.infer(tensor)
        except Exception as exc:
            raise ModelError(f"OpenVINO inference failed for {self.xml_path}: {exc}") from exc
        return np.asarray(result[0], dtype=np.float32).reshape(len(crops), -1)
