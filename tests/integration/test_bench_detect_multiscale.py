"""YuNet's opt-in multi-scale / tiled mode on a real WIDER FACE crowd photo."""

from __future__ import annotations

import numpy as np

from faceledger.images.decode import read_image_file
from faceledger.models.packs import YUNET
from faceledger.models.yunet import YuNetDetector


def _iou(a, b) -> float:
    ax2, ay2 = a.x + a.width, a.y + a.height
    bx2, by2 = b.x + b.width, b.y + b.height
    iw = max(0.0, min(ax2, bx2) - max(a.x, b.x))
    ih = max(0.0, min(ay2, by2) - max(a.y, b.y))
    inter = iw * ih
    return inter / (a.area + b.area - inter)


def test_multiscale_finds_more_small_faces_without_duplicates(datasets_dir, models_dir):
    images = sorted((datasets_dir / "wider-dev" / "images" / "18--Concerts").glob("*.jpg"))[:3]
    path = models_dir / YUNET.path
    single = YuNetDetector(path, score_threshold=0.5, threads=1)
    multi = YuNetDetector(path, score_threshold=0.5, threads=1, scales=(1.0, 2.0), tile=800)
    n_single = n_multi = 0
    for image in images:
        bgr = read_image_file(image).bgr
        a, b = single.detect(bgr), multi.detect(bgr)
        n_single, n_multi = n_single + len(a), n_multi + len(b)
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                assert _iou(b[i].box, b[j].box) <= multi.nms_threshold + 1e-6
        h, w = bgr.shape[:2]
        for f in b:  # tiles are shifted back into the photo's coordinates
            assert -f.box.width < f.box.x < w and -f.box.height < f.box.y < h
        assert np.isfinite([f.score for f in b]).all()
    assert n_multi > n_single


def test_default_detector_is_a_single_pass(models_dir):
    detector = YuNetDetector(models_dir / YUNET.path)
    assert detector.scales == ()
