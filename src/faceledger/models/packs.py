"""The default model pack, declared as data (no file is touched until a pack is loaded)."""

from __future__ import annotations

from .files import ModelFile
from .pack_spec import NetworkSpec, PackSpec

YUNET = ModelFile(
    "yunet/face_detection_yunet_2023mar.onnx",
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx",
)
_OMZ_STORAGE = (
    "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1/"
    "face-reidentification-retail-0095/FP16/"
)
OMZ_0095_XML = ModelFile(
    "omz/face-reidentification-retail-0095/FP16/face-reidentification-retail-0095.xml",
    "c9b6c7b8cdbd4fd0a5d9e031cefa1b7a2c899ba0d6305ca77b8838686f8949f0",
    _OMZ_STORAGE + "face-reidentification-retail-0095.xml",
)
OMZ_0095_BIN = ModelFile(
    "omz/face-reidentification-retail-0095/FP16/face-reidentification-retail-0095.bin",
    "c2f8a7b9268e5b5236574d6fda2216df43c03acaa39c078848a98fbb707ae0a3",
    _OMZ_STORAGE + "face-reidentification-retail-0095.bin",
)


#: YuNet in OpenCV's FaceDetectorYN (the measured fastest way to run it here), multi-pass
YUNET_DETECTOR = NetworkSpec("yunet", "opencv", YUNET)

YUNET_OMZ0095 = PackSpec(
    name="yunet-omz0095",
    description="YuNet detector + Intel OMZ face-reidentification-retail-0095, flip-averaged",
    licence="MIT (YuNet, OpenCV Zoo) + Apache-2.0 (OMZ 0095)",
    detector=YUNET_DETECTOR,
    recognizer=NetworkSpec("crop-embedder", "openvino", OMZ_0095_XML, OMZ_0095_BIN,
                           input_size=128, alignment="omz-96x112"),
    embedding_size=256,
    input_spec=(
        "YuNet: reference pass (long side <= 1280) + coarse pass + fine tiles, score >= 0.4; "
        "0095: 128x128 BGR 0-255, OMZ 5-point"
    ),
    thresholds={1e-2: 0.251, 1e-3: 0.358, 1e-4: 0.448, 1e-5: 0.526},
    calibration=(
        "faceledger bench calibrate --pack yunet-omz0095 (LFW peopleDevTrain.txt: "
        "all pairs of 9,525 images of 4,038 people, 45,140,413 impostor pairs; 2026-11-26)"
    ),
)


#: the packs this module declares (faceledger.models.registry collects them)
PACKS = (YUNET_OMZ0095,)
