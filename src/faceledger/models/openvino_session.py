"""OpenVINO (CPU) behind :class:`~.session.InferenceSession`.

Speed notes (measured in ``docs/benchmarks.md``, section "Runtimes"):

* Which network serves a call is the session's ``shapes`` policy: a recognizer's
  :func:`~.session.static_batches` (1, 2) compiles networks for exactly one or two crops
  (a dynamic batch runs a single face about 20-25 % slower) and one dynamic-batch network
  for the rest; a detector's :func:`~.session.dynamic_image` one network for any image size.
* A compiled network runs one inference at a time (one "stream"): with one stream, a
  second thread's request waits for the first's to finish (measured: a batch-2 request
  issued during a batch-128 one returned only after it). With several streams, OpenVINO
  hands each synchronous request to a stream thread of its own while the caller waits, a
  thread switch per call that a busy machine makes slow. So each call borrows a *slot*,
  a network compiled for one stream and its infer request, that no other thread uses
  meanwhile; a thread that finds every slot busy compiles one more (~0.1 s, once per
  process). The request then runs in the calling thread, and several threads (ingest
  lanes, server calls) infer side by side with one copy of the model on disk and a
  compiled copy per thread at once. Slots give bit-identical outputs.
* CPU pinning is off: the inference thread is the caller's, and pinning it to a core on
  a shared machine keeps it waiting while another core is free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .compiled_cache import CompiledCache, files_digest
from .session import NamedSession, ShapePolicy

Slot = tuple[Any, Any]  # a compiled network and its infer request


class OpenVinoSession(NamedSession):
    def __init__(
        self,
        model_path: Path,
        threads: int | None = None,
        precision: str | None = None,
        shapes: ShapePolicy | None = None,
        warm: Sequence[tuple[int, ...]] = (),
        cache: CompiledCache | None = None,
    ) -> None:
        """``model_path``: an IR ``.xml`` (its ``.bin`` beside it) or an ``.onnx`` file.
        ``precision``: INFERENCE_PRECISION_HINT ("f32", "bf16", "f16"; None keeps the CPU
        plugin's choice: bf16 on CPUs with AMX/AVX512-BF16, else f32). ``cache``: where
        compiled networks are kept between processes (None: compiled in each)."""
        super().__init__()
        self.model_path = Path(model_path)
        self.threads = threads
        self.precision = precision
        self.shapes = shapes
        self.warm = tuple(tuple(s) for s in warm)
        self.cache = cache
        self._digest = ""  # of the model's files, for the cache's keys
        self._version = ""
        self._core: Any = None
        self._model: Any = None
        self._config: dict[str, str] = {}
        self._aliases: list[list[str]] = []  # every tensor name of each output
        self._idle: dict[tuple[int, ...], list[Slot]] = {}  # network shape -> idle slots

    def _load(self) -> None:
        try:
            import openvino as ov

            self._core = ov.Core()
            self._model = self._core.read_model(str(self.model_path))
            self._version = ov.get_version()
            if self.cache is not None:
                self._digest = files_digest(self._files())
        except Exception as exc:  # OpenVINO's own errors, translated at the boundary
            raise ModelError(
                f"cannot read OpenVINO model {self.model_path}: {exc}") from exc
        if self.shapes is not None and len(self._model.inputs) != 1:
            raise ModelError(f"{self.model_path}: a shape policy needs a one-input model")
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                  "ENABLE_CPU_PINNING": "NO"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = str(self.threads)
        if self.precision:
            config["INFERENCE_PRECISION_HINT"] = self.precision
        self._config = config
        self._inputs = [i.get_any_name() for i in self._model.inputs]
        self._aliases = [sorted(o.get_names()) for o in self._model.outputs]
        self._outputs = [o.get_any_name() for o in self._model.outputs]  # run: under each alias
        for shape in self.warm:
            key = self._key(shape)
            self._idle.setdefault(key, []).append(self._new_slot(key))

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.load()
        feeds = [inputs[name] for name in self._inputs]
        key = self._key(tuple(feeds[0].shape)) if self.shapes is not None else ()
        slot = self._borrow(key)
        try:
            result = slot[1].infer(feeds)
            values = [np.asarray(result[i]) for i in range(len(self._aliases))]
        except Exception as exc:
            raise ModelError(f"OpenVINO inference failed for {self.model_path}: {exc}") from exc
        finally:
            self._give_back(key, slot)
        return {name: value for names, value in zip(self._aliases, values) for name in names}

    def _key(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(self.shapes(shape)) if self.shapes is not None else ()

    def _files(self) -> list[Path]:
        weights = self.model_path.with_suffix(".bin")
        if self.model_path.suffix == ".xml" and weights.is_file():
            return [self.model_path, weights]
        return [self.model_path]

    def _new_slot(self, key: tuple[int, ...]) -> Slot:
        """A network compiled for inputs of shape ``key`` (the model as it is for ``()``)
        and its infer request; imported from the cache when it holds that network."""

        def compile_() -> Any:
            model = self._model
            if key:
                model = model.clone()
                model.reshape(list(key))
            return self._core.compile_model(model, "CPU", self._config)

        try:
            if self.cache is None:
                compiled = compile_()
            else:
                compiled = self.cache.compiled(
                    self.cache.key(self._digest, key, self._config,
                                   f"openvino {self._version}", "CPU"),
                    compile_, lambda blob: self._core.import_model(blob, "CPU", self._config))
        except Exception as exc:
            raise ModelError(f"cannot compile {self.model_path}: {exc}") from exc
        return compiled, compiled.create_infer_request()

    def _borrow(self, key: tuple[int, ...]) -> Slot:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            slot = idle.pop() if idle else None
        return slot if slot is not None else self._new_slot(key)

    def _give_back(self, key: tuple[int, ...], slot: Slot) -> None:
        with self._lock:
            self._idle[key].append(slot)
