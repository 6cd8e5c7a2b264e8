"""Image decoding: formats, modes, EXIF orientation, limits, bombs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from faceledger.errors import ImageDecodeError, ImageTooLargeError
from faceledger.images import ImageLimits, decode_image, sha256_bytes


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(mode: str = "RGB", size=(40, 30)) -> Image.Image:
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    img = Image.fromarray(arr)
    return img if mode == "RGB" else img.convert(mode)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_format_decodes_to_rgb(fmt):
    data = encode(gradient(), fmt)
    out = decode_image(data)
    assert out.rgb.shape == (30, 40, 3) and out.rgb.dtype == np.uint8
    assert out.format == fmt
    assert out.sha256 == sha256_bytes(data)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "RGBA", "I;16", "1"])
def test_every_mode_becomes_rgb(mode):
    img = gradient().convert("L").convert(mode) if mode in ("I;16", "1") else gradient(mode)
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    out = decode_image(encode(img, fmt))
    assert out.rgb.shape == (30, 40, 3) and out.rgb.dtype == np.uint8


def test_sixteen_bit_grey_keeps_its_range():
    arr = np.tile(np.linspace(0, 65535, 40, dtype=np.uint16), (30, 1))
    out = decode_image(encode(Image.fromarray(arr), "PNG"))
    assert out.rgb[0, 0, 0] == 0 and out.rgb[0, -1, 0] == 255


def test_transparent_pixels_are_composited_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    out = decode_image(encode(img, "PNG"))
    assert tuple(out.rgb[0, 0]) == (255, 255, 255)


def test_gif_first_frame_only():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = decode_image(buf.getvalue())
    assert out.rgb[0, 0, 0] > 200 and out.rgb[0, 0, 2] < 50


def test_exif_orientation_is_applied():
    img = gradient(size=(40, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = decode_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.rgb.shape == (40, 30, 3)


def test_byte_limit_is_refused_with_a_named_error():
    data = encode(gradient(), "PNG")
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(data, ImageLimits(max_bytes=len(data) - 1))


def test_pixel_limit_refuses_before_decoding():
    data = encode(gradient(size=(400, 300)), "PNG")
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(data, ImageLimits(max_pixels=100_000))


def test_decompression_bomb_is_refused():
    # a tiny PNG that declares a huge canvas
    data = encode(Image.new("L", (20000, 20000)), "PNG", optimize=True)
    assert len(data) < 2_000_000
    with pytest.raises(ImageTooLargeError):
        decode_image(data, ImageLimits(max_pixels=10**12))


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\xff\xd8\xff\xe0truncated"])
def test_garbage_is_a_decode_error(data):
    with pytest.raises(ImageDecodeError):
        decode_image(data)
