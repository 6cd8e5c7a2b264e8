"""YuNet and SCRFD output decoding, on hand-made network outputs handed in through fake
inference sessions (no model files, no runtime)."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger.errors import ModelError
from faceledger.models.scrfd import ANCHORS, ScrfdDetector, anchor_centres, decode_scrfd
from faceledger.models.session import InferenceSession
from faceledger.models.yunet import YuNetDetector
from faceledger.models.yunet_session import decode_yunet
from faceledger_bench.yunet_runtimes import YuNetRuntimeDetector


def _yunet_outputs(width: int, height: int) -> dict[str, np.ndarray]:
    out = {}
    for stride in (8, 16, 32):
        n = (width // stride) * (height // stride)
        out[f"cls_{stride}"] = np.zeros((1, n, 1), np.float32)
        out[f"obj_{stride}"] = np.zeros((1, n, 1), np.float32)
        out[f"bbox_{stride}"] = np.zeros((1, n, 4), np.float32)
        out[f"kps_{stride}"] = np.zeros((1, n, 10), np.float32)
    return out


def _one_yunet_face(width: int = 64, height: int = 32) -> dict[str, np.ndarray]:
    out = _yunet_outputs(width, height)
    cols = width // 16
    idx = 1 * cols + 2  # row 1, column 2 of the stride-16 grid
    out["cls_16"][0, idx, 0] = 0.81
    out["obj_16"][0, idx, 0] = 1.0
    out["bbox_16"][0, idx] = [0.5, 0.25, np.log(2.0), np.log(1.0)]
    out["kps_16"][0, idx] = [0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1]
    return out


def test_decode_yunet_places_one_face_on_its_anchor():
    rows = decode_yunet(_one_yunet_face(), 64, 32, score_threshold=0.6, nms_threshold=0.3)
    assert rows.shape == (1, 15)
    x, y, w, h = rows[0, :4]
    # centre ((2 + 0.5) * 16, (1 + 0.25) * 16) = (40, 20); size (32, 16)
    assert (x, y, w, h) == pytest.approx((24.0, 12.0, 32.0, 16.0))
    assert rows[0, 4:6] == pytest.approx((32.0, 16.0))  # first landmark at the cell corner
    assert rows[0, 6:8] == pytest.approx((48.0, 16.0))
    assert rows[0, 14] == pytest.approx(0.9)  # sqrt(0.81 * 1.0)


def test_decode_yunet_drops_low_scores_and_duplicates():
    out = _one_yunet_face()
    assert decode_yunet(out, 64, 32, score_threshold=0.95, nms_threshold=0.3).shape == (0, 15)
    # a second, weaker anchor on the same face is suppressed
    out["cls_16"][0, 5, 0] = 0.64
    out["obj_16"][0, 5, 0] = 1.0
    out["bbox_16"][0, 5] = [0.5, 0.25, np.log(2.0), np.log(1.0)]
    out["bbox_16"][0, 5, 0] = 0.5 + 1.0 - 0.05  # column 1 -> nearly the same centre
    rows = decode_yunet(out, 64, 32, score_threshold=0.6, nms_threshold=0.3)
    assert len(rows) == 1 and rows[0, 14] == pytest.approx(0.9)


class _FakeSession:
    """An InferenceSession with one input ``input`` that answers every call with
    ``outputs`` (by name, in the given order) and records the input shapes."""

    def __init__(self, outputs: dict[str, np.ndarray]):
        self.outputs = outputs
        self.shapes: list[tuple[int, ...]] = []

    @property
    def input_names(self) -> list[str]:
        return ["input"]

    @property
    def output_names(self) -> list[str]:
        return list(self.outputs)

    def run(self, inputs):
        (blob,) = inputs.values()
        assert set(inputs) == {"input"} and blob.dtype == np.float32
        self.shapes.append(blob.shape)
        return dict(self.outputs)


def test_a_fake_session_meets_the_protocol():
    assert isinstance(_FakeSession({}), InferenceSession)


def test_yunet_on_a_dynamic_session_pads_to_multiple_of_32(tmp_path):
    session = _FakeSession(_one_yunet_face(64, 32))
    det = YuNetDetector(tmp_path / "none.onnx", session=session)
    faces = det.detect_raw(np.zeros((20, 50, 3), np.uint8))
    assert session.shapes == [(1, 3, 32, 64)]
    assert len(faces) == 1 and faces[0].box.width == pytest.approx(32.0)


def test_yunet_on_a_fixed_session_scales_large_images_into_it(tmp_path):
    session = _FakeSession(_yunet_outputs(640, 640))
    det = YuNetRuntimeDetector(tmp_path / "none.onnx", runtime="onnxruntime", session=session)
    assert det.detect_raw(np.zeros((700, 1280, 3), np.uint8)) == []
    assert session.shapes == [(1, 3, 640, 640)]


def test_yunet_clones_share_their_session(tmp_path):
    session = _FakeSession(_one_yunet_face(64, 32))
    det = YuNetDetector(tmp_path / "none.onnx", session=session, passes="single")
    twin = det.clone()
    assert twin.session is session
    assert twin.detect(np.zeros((32, 64, 3), np.uint8)) == det.detect(
        np.zeros((32, 64, 3), np.uint8))


def test_unknown_runtime_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="runtime"):
        YuNetRuntimeDetector(tmp_path / "none.onnx", runtime="tensorflow")


def test_scrfd_anchor_centres_repeat_each_cell():
    centres = anchor_centres(32, 16)
    assert centres.shape == (4 * ANCHORS, 2)
    assert centres[:4].tolist() == [[0, 0], [0, 0], [16, 0], [16, 0]]
    assert centres[4].tolist() == [0, 16]


def _scrfd_outputs(side: int) -> list[np.ndarray]:
    """The nine outputs in the model's order (scores, distances, landmarks per stride)."""
    scores, boxes, kps = [], [], []
    for stride in (8, 16, 32):
        n = (side // stride) ** 2 * ANCHORS
        scores.append(np.zeros((n, 1), np.float32))
        boxes.append(np.zeros((n, 4), np.float32))
        kps.append(np.zeros((n, 10), np.float32))
    return scores + boxes + kps


def test_decode_scrfd_distance_boxes_and_points():
    side = 64
    out = _scrfd_outputs(side)
    # stride 32 grid is 2x2; anchor 2*3+1 = second anchor of cell (row 1, col 1) -> (32, 32)
    i = 2 * 3 + 1
    out[2][i] = 0.9
    out[5][i] = [0.5, 0.25, 0.5, 0.75]
    out[8][i] = [-0.25, -0.25, 0.25, -0.25, 0, 0, -0.2, 0.3, 0.2, 0.3]
    boxes, points, scores = decode_scrfd(out, side, 0.5, 0.4)
    assert boxes.tolist() == [[16.0, 24.0, 48.0, 56.0]]
    assert points[0, 0].tolist() == [24.0, 24.0] and points[0, 1].tolist() == [40.0, 24.0]
    assert scores.tolist() == pytest.approx([0.9])


def _named(outputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    # ONNX Runtime's names for SCRFD's outputs are numbers, in no useful order: the
    # detector must read them in the session's output order, not by sorting names
    names = [str(900 - 7 * i) for i in range(len(outputs))]
    return dict(zip(names, outputs))


def test_scrfd_detector_maps_back_to_image_pixels(tmp_path):
    out = _scrfd_outputs(64)
    i = 2 * 3 + 1
    out[2][i] = 0.9
    out[5][i] = [0.5, 0.25, 0.5, 0.75]
    session = _FakeSession(_named(out))
    det = ScrfdDetector(session, input_size=64)
    faces = det.detect(np.zeros((64, 128, 3), np.uint8))  # scaled by 0.5 into the square
    assert session.shapes == [(1, 3, 64, 64)]
    assert len(faces) == 1
    box = faces[0].box
    assert (box.x, box.y, box.width, box.height) == pytest.approx((32, 48, 64, 64))


def test_decode_yunet_refuses_outputs_of_another_input_size():
    with pytest.raises(ModelError, match="anchors"):
        decode_yunet(_one_yunet_face(64, 32), 96, 32, score_threshold=0.6, nms_threshold=0.3)
