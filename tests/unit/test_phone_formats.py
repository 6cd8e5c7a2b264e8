"""Phone formats: HEIC/HEIF (pillow-heif) and AVIF (Pillow) decode, oriented and bounded.

Every file here is made by the test: a picture with a red block in one corner, encoded with
an EXIF orientation, must come out with the block where a viewer shows it; headers that
declare a huge canvas over a tiny payload are refused before a pixel is decoded.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from faceledger.errors import ImageDecodeError, ImageTooLargeError
from faceledger.images import ImageLimits, decode_image
from faceledger.images.decode import IMAGE_SUFFIXES, heif_available

FORMATS = ["HEIF", "AVIF"]
W, H = 120, 80


def marked() -> Image.Image:
    """W x H, mid grey with a red block in the top-left corner."""
    arr = np.full((H, W, 3), 128, np.uint8)
    arr[: H // 4, : W // 4] = (255, 0, 0)
    return Image.fromarray(arr)


def encode(img: Image.Image, fmt: str, orientation: int | None = None) -> bytes:
    assert heif_available()  # registers the HEIF writer too
    kw = {"quality": 90}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def red_corner(rgb: np.ndarray) -> str:
    h, w = rgb.shape[:2]
    corners = {"top-left": (2, 2), "top-right": (2, w - 3), "bottom-left": (h - 3, 2),
               "bottom-right": (h - 3, w - 3)}
    red = [name for name, (y, x) in corners.items()
           if rgb[y, x, 0] > 200 and rgb[y, x, 1] < 60]
    assert len(red) == 1, red
    return red[0]


def test_phone_suffixes_are_listed_as_photos():
    assert {".heic", ".heif", ".avif"} <= IMAGE_SUFFIXES


@pytest.mark.parametrize("fmt", FORMATS)
def test_heif_and_avif_decode_to_rgb(fmt):
    data = encode(marked(), fmt)
    out = decode_image(data, name=f"photo.{fmt.lower()}")
    assert out.format == fmt
    assert out.rgb.shape == (H, W, 3) and out.rgb.dtype == np.uint8
    assert red_corner(out.rgb) == "top-left"
    assert abs(int(out.rgb[H - 5, W - 5, 1]) - 128) < 12  # the grey survives lossy coding


# EXIF orientation -> (shape, where the top-left block is shown)
ORIENTED = {
    1: ((H, W), "top-left"),
    3: ((H, W), "bottom-right"),  # rotated 180
    6: ((W, H), "top-right"),  # rotated 90 clockwise
    8: ((W, H), "bottom-left"),  # rotated 90 counter-clockwise
    2: ((H, W), "top-right"),  # mirrored
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_exif_orientation_is_applied_once(fmt, orientation):
    shape, corner = ORIENTED[orientation]
    out = decode_image(encode(marked(), fmt, orientation))
    assert out.rgb.shape[:2] == shape
    assert red_corner(out.rgb) == corner


def _declare(data: bytes, width: int, height: int) -> bytes:
    """The same file with its ``ispe`` box claiming another canvas size."""
    at = data.find(b"ispe")
    assert at > 0 and data.count(b"ispe") == 1
    return data[: at + 8] + struct.pack(">II", width, height) + data[at + 16:]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_header_that_claims_a_huge_canvas_is_refused_before_decoding(fmt):
    small = encode(marked(), fmt)
    assert len(small) < 10_000
    with pytest.raises(ImageTooLargeError, match="81000000 pixels is over the limit"):
        decode_image(_declare(small, 9000, 9000))
    # under the pixel limit, over the decode memory limit (libavif would make the 5000 x
    # 5000 canvas from this 2 KB file if it were asked to)
    with pytest.raises(ImageTooLargeError, match="MiB to decode"):
        decode_image(_declare(small, 5000, 5000))
    limits = ImageLimits(max_pixels=W * H - 1)
    with pytest.raises(ImageTooLargeError, match="pixels is over the limit"):
        decode_image(small, limits)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_phone_files_are_a_decode_error(fmt):
    data = encode(marked(), fmt)
    for cut in (12, 40, len(data) // 2, len(data) - 10):
        with pytest.raises((ImageDecodeError, ImageTooLargeError)):
            decode_image(data[:cut])


def test_a_large_heif_is_reduced_to_max_side():
    big = Image.new("RGB", (1000, 500), (128, 128, 128))
    out = decode_image(encode(big, "HEIF"), ImageLimits(max_side=256))
    assert max(out.rgb.shape[:2]) <= 256 and out.rgb.shape[1] == 250
