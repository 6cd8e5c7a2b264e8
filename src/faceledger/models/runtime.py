"""Open an :class:`~.session.InferenceSession` by runtime name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ModelError
from .compiled_cache import CompiledCache
from .session import InferenceSession, ShapePolicy

#: the runtimes a session can be opened on (``opencv`` and ``dlib`` run whole models, not
#: sessions: see :mod:`.assemble`)
SESSION_RUNTIMES = ("onnxruntime", "openvino")


def open_session(
    runtime: str,
    model_path: Path,
    threads: int | None = None,
    precision: str | None = None,
    shapes: ShapePolicy | None = None,
    warm: Sequence[tuple[int, ...]] = (),
    cache: CompiledCache | None = None,
) -> InferenceSession:
    """A session for ``model_path`` on ``runtime`` (nothing is read until its first use).

    ``threads``: inference threads per call (None: the runtime's choice). OpenVINO only:
    ``precision`` (its INFERENCE_PRECISION_HINT; None keeps the plugin's choice), ``shapes``
    (which network serves a call; None: the model as it is) and ``warm`` (input shapes whose
    networks are compiled at load) and ``cache`` (compiled networks kept between processes)."""
    if runtime == "onnxruntime":
        from .ort_session import OrtSession

        return OrtSession(model_path, threads)
    if runtime == "openvino":
        from .openvino_session import OpenVinoSession

        return OpenVinoSession(model_path, threads, precision, shapes, warm, cache)
    raise ModelError(f"unknown runtime {runtime!r}; known: {', '.join(SESSION_RUNTIMES)}")
