"""dlib's point mapping and the OpenVINO recognizer's batching, without model files."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger.errors import ModelError
from faceledger.models.align import OMZ_REFERENCE_96x112
from faceledger.models.dlib_models import (
    DLIB_CHIP_REFERENCE_150,
    DlibRecognizer,
    dlib_points_to_landmarks,
)
from faceledger.models.session_recognizer import SessionRecognizer
from faceledger.types import Box, DetectedFace, Landmarks

# dlib's 5 points for an upright face: right-of-picture eye corners, left-of-picture eye
# corners, subnasale
DLIB_POINTS = np.array([[157, 115], [140, 116], [96, 116], [113, 116], [119, 146]], float)


def test_dlib_points_map_to_picture_order():
    marks = dlib_points_to_landmarks(DLIB_POINTS).as_array()
    left_eye, right_eye, nose, left_mouth, right_mouth = marks
    assert left_eye.tolist() == pytest.approx([104.5, 116.0])
    assert right_eye.tolist() == pytest.approx([148.5, 115.5])
    assert left_eye[1] < nose[1] < left_mouth[1]  # eyes above nose tip above mouth
    assert nose[1] < DLIB_POINTS[4, 1]  # the tip is above the subnasale
    assert left_mouth[0] < nose[0] < right_mouth[0]


def test_dlib_points_keep_picture_order_for_a_mirrored_layout():
    swapped = DLIB_POINTS[[2, 3, 0, 1, 4]]
    marks = dlib_points_to_landmarks(swapped).as_array()
    assert marks[0, 0] < marks[1, 0] and marks[3, 0] < marks[4, 0]


def test_dlib_chip_reference_is_in_landmark_order():
    ref = DLIB_CHIP_REFERENCE_150
    assert ref[0, 0] < ref[2, 0] < ref[1, 0]
    assert ref[0, 1] < ref[2, 1] < ref[3, 1]
    assert ((ref > 0) & (ref < 1)).all()


def test_dlib_recognizer_rejects_unknown_alignment():
    with pytest.raises(ModelError, match="alignment"):
        DlibRecognizer(alignment="crop")


def _face(shift: float) -> DetectedFace:
    pts = ((40 + shift, 50), (80 + shift, 50), (60 + shift, 70), (45 + shift, 90), (75 + shift, 90))
    return DetectedFace(Box(20 + shift, 20, 80, 100), Landmarks(pts), 0.9)


class _LinearSession:
    """An InferenceSession computing a fixed linear map of NCHW crops; records batch sizes."""

    input_names = ["data"]
    output_names = ["embedding"]

    def __init__(self):
        self.calls: list[int] = []
        rng = np.random.default_rng(0)
        self.weights = rng.normal(size=(32 * 32 * 3, 4)).astype(np.float32)

    def run(self, inputs):
        blob = inputs["data"]
        assert blob.shape[1:] == (3, 32, 32) and blob.dtype == np.float32
        self.calls.append(blob.shape[0])
        return {"embedding": blob.reshape(blob.shape[0], -1) @ self.weights}


class _RecordingRecognizer(SessionRecognizer):
    """The real embed/align/batching code on a fake session."""

    def __init__(self, batch: int):
        super().__init__(_LinearSession(), OMZ_REFERENCE_96x112, 32, 4, batch=batch)

    @property
    def calls(self) -> list[int]:
        return self.session.calls


def test_flip_embeds_face_and_mirror_in_one_call():
    rec = _RecordingRecognizer(batch=16)
    image = np.random.default_rng(1).integers(0, 255, (140, 140, 3), dtype=np.uint8)
    vectors = rec.embed(image, [_face(0)], flip=True)
    assert rec.calls == [2]
    crop = rec.align(image, _face(0))
    expected = rec._infer([crop])[0] + rec._infer([np.ascontiguousarray(crop[:, ::-1])])[0]
    assert vectors[0] == pytest.approx(expected / np.linalg.norm(expected), rel=1e-5)


def test_batches_respect_the_batch_size():
    rec = _RecordingRecognizer(batch=16)
    image = np.zeros((140, 200, 3), np.uint8)
    faces = [_face(i % 50) for i in range(20)]
    assert rec.embed(image, faces, flip=True).shape == (20, 4)
    assert rec.calls == [16, 16, 8]
    rec.calls.clear()
    assert rec.embed(image, faces, flip=False).shape == (20, 4)
    assert rec.calls == [16, 4]
    assert rec.embed(image, [], flip=True).shape == (0, 4)
