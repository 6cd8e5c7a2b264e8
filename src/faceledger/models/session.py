"""The one runtime protocol every network-backed model takes: named inputs -> named outputs.

A model (detector, recognizer) is handed an :class:`InferenceSession` and never imports a
runtime itself, so a unit test can hand it a fake. Two implementations:

* :class:`~.ort_session.OrtSession`: ONNX Runtime, CPU provider;
* :class:`~.openvino_session.OpenVinoSession`: OpenVINO on CPU, each call on a network
  compiled for its shape that no other thread uses meanwhile.

:func:`~.runtime.open_session` opens one by runtime name. Both open their runtime lazily (on
the first call, or on :func:`load_session`) and translate
the runtime's errors into :class:`~faceledger.errors.ModelError`. Both may be called from
several threads at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from .base import Model

#: maps the shape of a call's input to the shape of the network that serves it (-1: a dynamic
#: dimension); calls that map to the same shape share compiled networks
ShapePolicy = Callable[[tuple[int, ...]], tuple[int, ...]]


@runtime_checkable
class InferenceSession(Protocol):
    """A network on a runtime: arrays by input name in, arrays by output name out."""

    @property
    def input_names(self) -> list[str]: ...

    @property
    def output_names(self) -> list[str]: ...

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class NamedSession(Model):
    """What both implementations share: opened lazily (:class:`~.base.Model`), their
    ``_load`` fills ``_inputs`` and ``_outputs``, the names the protocol gives."""

    def __init__(self) -> None:
        super().__init__()
        self._inputs: list[str] = []
        self._outputs: list[str] = []

    @property
    def input_names(self) -> list[str]:
        self.load()
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        self.load()
        return list(self._outputs)


def run_single(session: InferenceSession, blob: np.ndarray) -> dict[str, np.ndarray]:
    """Run a one-input network on ``blob``."""
    return session.run({session.input_names[0]: blob})


def load_session(session: InferenceSession) -> None:
    """Open the session's runtime now if it opens lazily (a fake has nothing to open)."""
    load = getattr(session, "load", None)
    if callable(load):
        load()


def static_batches(*sizes: int) -> ShapePolicy:
    """Networks compiled for exactly ``sizes`` in the batch dimension, one network with a
    dynamic batch for every other size (a dynamic batch runs one face ~20-25 % slower)."""

    def policy(shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape if shape[0] in sizes else (-1, *shape[1:])

    return policy


def dynamic_image(shape: tuple[int, ...]) -> tuple[int, ...]:
    """One network with a dynamic height and width (a detector fed images of any size)."""
    return (*shape[:2], -1, -1)
