"""Sessions on a tiny OpenVINO network built here (y = 2 x), no model files: named inputs
and outputs, shape policies and slots, lazy opening and errors (both runtimes). ONNX Runtime
on real files: tests/integration/test_runtime_layer.py."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from faceledger.errors import ModelError
from faceledger.models.runtime import open_session
from faceledger.models.session import (
    InferenceSession,
    dynamic_image,
    load_session,
    run_single,
    static_batches,
)

ov = pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def doubling(tmp_path_factory) -> Path:
    """An OpenVINO IR and an ONNX file of y = 2 x, x of shape (1, 4)."""
    try:
        import openvino.opset13 as ops
    except ImportError:  # older OpenVINO
        import openvino.runtime.opset13 as ops
    folder = tmp_path_factory.mktemp("doubling")
    x = ops.parameter([1, 4], np.float32, name="x")
    y = ops.multiply(x, ops.constant(np.float32(2.0)))
    y.output(0).get_tensor().set_names({"y"})
    ov.save_model(ov.Model([y], [x], "double"), str(folder / "double.xml"))
    return folder / "double.xml"


def test_static_batches_policy():
    policy = static_batches(1, 2)
    assert policy((1, 3, 8, 8)) == (1, 3, 8, 8) and policy((2, 3, 8, 8)) == (2, 3, 8, 8)
    assert policy((3, 3, 8, 8)) == policy((9, 3, 8, 8)) == (-1, 3, 8, 8)
    assert dynamic_image((1, 3, 480, 640)) == (1, 3, -1, -1)


def test_openvino_session_names_and_outputs(doubling):
    session = open_session("openvino", doubling, threads=1, precision="f32")
    assert isinstance(session, InferenceSession)
    assert session.input_names == ["x"] and session.output_names == ["y"]
    out = run_single(session, np.arange(4, dtype=np.float32)[None])
    assert out["y"].tolist() == [[0.0, 2.0, 4.0, 6.0]]


def test_openvino_session_serves_each_batch_size_from_its_network(doubling):
    session = open_session("openvino", doubling, threads=1, precision="f32",
                           shapes=static_batches(1, 2), warm=[(2, 4)])
    load_session(session)
    assert set(session._idle) == {(2, 4)}  # the warmed network, compiled at load
    for n in (1, 2, 3, 5):
        x = np.random.default_rng(n).normal(size=(n, 4)).astype(np.float32)
        assert np.allclose(session.run({"x": x})["y"], 2 * x)
    assert set(session._idle) == {(1, 4), (2, 4), (-1, 4)}  # 3 and 5 share the dynamic one


def test_openvino_session_gives_each_concurrent_call_its_own_slot(doubling):
    session = open_session("openvino", doubling, threads=1, precision="f32",
                           shapes=static_batches(1))
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        x = np.random.default_rng(seed).normal(size=(1, 4)).astype(np.float32)
        start.wait()
        try:
            for _ in range(50):
                assert np.allclose(session.run({"x": x})["y"], 2 * x)
        except (AssertionError, ModelError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert 1 <= len(session._idle[(1, 4)]) <= 3  # slots are reused, at most one per thread


def test_sessions_open_lazily_and_say_what_failed(tmp_path):
    for runtime in ("onnxruntime", "openvino"):
        session = open_session(runtime, tmp_path / "missing.onnx")  # nothing read yet
        with pytest.raises(ModelError, match="missing.onnx"):
            load_session(session)
    with pytest.raises(ModelError, match="unknown runtime"):
        open_session("tensorflow", tmp_path / "x.onnx")
