"""YuNet's default passes on real LFW photos: the reference pass keeps LFW's faces as they
were, a large face is found through the coarse pass, a small one through the fine tiles."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceledger.images.decode import read_image_file
from faceledger.models.packs import YUNET
from faceledger.models.prominence import main_face
from faceledger.models.yunet import YuNetDetector
from faceledger_bench.realworld_sets import texture


@pytest.fixture(scope="module")
def detectors(models_dir):
    path = models_dir / YUNET.path
    return (YuNetDetector(path, threads=1, passes="single"), YuNetDetector(path, threads=1))


def _lfw_photos(lfw_dir, n):
    files = sorted((lfw_dir / "images").glob("*/*.jpg"))
    return [read_image_file(f).bgr for f in files[:: len(files) // n][:n]]


def _main(faces, bgr):
    return main_face(faces, bgr.shape[1], bgr.shape[0])


def test_lfw_faces_keep_the_reference_pass_box_and_landmarks(lfw_dir, detectors):
    single, auto = detectors
    for bgr in _lfw_photos(lfw_dir, 25):
        a = _main(single.detect(bgr), bgr)
        b = _main(auto.detect(bgr), bgr)
        assert a is not None and b is not None
        assert b.box == a.box and b.landmarks == a.landmarks


def test_a_face_filling_a_phone_photo_is_found_where_it_is(lfw_dir, detectors):
    _, auto = detectors
    for bgr in _lfw_photos(lfw_dir, 3):
        ref = _main(auto.detect(bgr), bgr)
        # crop to the face, then upscale: the face fills a 3,600 px frame
        b = ref.box
        x0, y0 = int(max(b.x - 0.1 * b.width, 0)), int(max(b.y - 0.1 * b.height, 0))
        x1, y1 = int(min(b.x + 1.1 * b.width, 250)), int(min(b.y + 1.1 * b.height, 250))
        crop = bgr[y0:y1, x0:x1]
        k = 3600 / max(crop.shape[:2])
        big = cv2.resize(crop, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
        face = _main(auto.detect(big), big)
        assert face is not None
        expected = (ref.landmarks.as_array() - [x0, y0]) * k
        iod = np.linalg.norm(expected[0] - expected[1])
        err = np.linalg.norm(face.landmarks.as_array() - expected, axis=1).mean()
        assert err < 0.2 * iod


def _hit(faces, centre, tolerance=10.0):
    return any(abs(f.box.x + f.box.width / 2 - centre[0]) < tolerance
               and abs(f.box.y + f.box.height / 2 - centre[1]) < tolerance for f in faces)


def test_a_small_face_in_a_large_frame_is_found_by_the_fine_tiles(lfw_dir, detectors):
    single, auto = detectors
    rng = np.random.default_rng(3)
    found_single = found_auto = 0
    photos = _lfw_photos(lfw_dir, 6)
    for bgr in photos:
        ref = _main(auto.detect(bgr), bgr)
        k = 36 / ref.box.width  # a 36 px face in a 4,000 x 3,000 frame: 11.5 px at 1280
        small = cv2.resize(bgr, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        frame = texture(3000, 4000, rng)
        y0, x0 = int(rng.integers(0, 3000 - small.shape[0])), int(rng.integers(0, 4000 - 100))
        frame[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
        centre = (x0 + (ref.box.x + ref.box.width / 2) * k,
                  y0 + (ref.box.y + ref.box.height / 2) * k)
        found_single += _hit(single.detect(frame), centre)
        found_auto += _hit(auto.detect(frame), centre)
    assert found_auto > found_single
    assert found_auto >= len(photos) - 1
