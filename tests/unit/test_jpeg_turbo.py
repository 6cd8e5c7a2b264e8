"""JPEG pixels straight from libjpeg-turbo: the same pixels as Pillow's, and every file the
path does not vouch for decoded by Pillow as before."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from faceledger.errors import ImageDecodeError
from faceledger.images import ImageLimits, decode_image, jpeg_turbo
from faceledger.images.decode import _oriented

pytestmark = pytest.mark.skipif(not jpeg_turbo.available(), reason="simplejpeg not installed")


def photo(size=(120, 90), mode="RGB") -> Image.Image:
    """Noise over a gradient: every 8 x 8 block differs, so no two decoders agree by luck."""
    w, h = size
    rng = np.random.default_rng(7)
    arr = (rng.random((h, w, 3)) * 120).astype(np.uint8)
    arr[..., 0] += np.linspace(0, 120, w, dtype=np.uint8)[None, :]
    arr[..., 1] += np.linspace(0, 120, h, dtype=np.uint8)[:, None]
    img = Image.fromarray(arr)
    return img if mode == "RGB" else img.convert(mode)


def jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def pillow_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture
def turbo_calls(monkeypatch) -> list[bool]:
    """One entry per fast-path attempt: True when it gave the pixels, False when it left the
    file to Pillow."""
    calls: list[bool] = []
    real = jpeg_turbo.decode_rgb

    def counted(data, size):
        out = real(data, size)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(jpeg_turbo, "decode_rgb", counted)
    return calls


@pytest.mark.parametrize("kw", [
    {"quality": 90}, {"quality": 75, "subsampling": 0}, {"quality": 75, "subsampling": 1},
    {"quality": 95, "progressive": True}, {"quality": 60, "optimize": True},
], ids=["420", "444", "422", "progressive", "optimized"])
def test_the_fast_path_gives_pillows_pixels(kw, turbo_calls):
    data = jpeg(photo(), **kw)
    out = decode_image(data)
    assert turbo_calls == [True]
    assert out.rgb.dtype == np.uint8 and out.rgb.flags.c_contiguous
    assert np.array_equal(out.rgb, pillow_rgb(data))


def test_greyscale_comes_out_as_pillows_rgb(turbo_calls):
    data = jpeg(photo(mode="L"))
    out = decode_image(data)
    assert turbo_calls == [True]
    assert out.rgb.shape == (90, 120, 3)
    assert np.array_equal(out.rgb, pillow_rgb(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_as_pillow_turns_it(orientation, turbo_calls):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = jpeg(photo(size=(60, 40)), exif=exif.tobytes())
    out = decode_image(data)
    assert turbo_calls == [True]
    with Image.open(io.BytesIO(data)) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert out.rgb.shape == expected.shape
    assert np.array_equal(out.rgb, expected)
    assert out.rgb.flags.c_contiguous


def test_an_orientation_that_is_not_a_number_is_ignored():
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    for odd in ("6", 6.0, (6,), None, 0, 9):
        assert _oriented(rgb, odd) is rgb


def test_a_file_libjpeg_warns_about_goes_to_pillow(turbo_calls):
    """Garbage before the end-of-image marker: libjpeg warns ("extraneous bytes before
    marker") and decodes. Such files are common from some cameras; Pillow accepts them, so
    the fast path must not refuse them."""
    data = jpeg(photo())
    assert data.endswith(b"\xff\xd9")
    warned = data[:-2] + b"\x00" * 7 + b"\xff\xd9"
    out = decode_image(warned)
    assert turbo_calls == [False]
    assert np.array_equal(out.rgb, pillow_rgb(warned))


def test_a_truncated_jpeg_is_still_refused(turbo_calls):
    data = jpeg(photo(size=(200, 160)))
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_image(data[: len(data) // 2], name="half.jpg")
    assert turbo_calls == [False]


def test_cmyk_and_large_jpegs_are_left_to_pillow(turbo_calls):
    cmyk = jpeg(photo(mode="CMYK"))
    assert decode_image(cmyk).rgb.shape == (90, 120, 3)
    large = jpeg(photo(size=(300, 200)))
    out = decode_image(large, ImageLimits(max_side=100))  # needs Pillow's draft and reduce
    assert max(out.rgb.shape[:2]) <= 100
    assert turbo_calls == []


def test_a_frame_size_other_than_the_checked_one_is_not_decoded():
    """The caller checked Pillow's reading of the size against its limits; libjpeg reading
    another size means the bound does not hold, so this path declines."""
    data = jpeg(photo())
    assert jpeg_turbo.decode_rgb(data, (120, 90)) is not None
    assert jpeg_turbo.decode_rgb(data, (121, 90)) is None
    assert jpeg_turbo.decode_rgb(data, (90, 120)) is None
    assert jpeg_turbo.decode_rgb(b"\xff\xd8\xff\xe0garbage", (120, 90)) is None


def test_without_simplejpeg_pillow_decodes_everything(monkeypatch):
    data = jpeg(photo())
    fast = decode_image(data).rgb
    monkeypatch.setattr(jpeg_turbo, "simplejpeg", None)
    assert jpeg_turbo.decode_rgb(data, (120, 90)) is None
    assert np.array_equal(decode_image(data).rgb, fast)


def test_random_damage_never_escapes_as_anything_but_a_decode_error():
    """Bytes flipped and files cut short: each is decoded (by either path) or refused with
    ImageDecodeError, never another exception."""
    rng = np.random.default_rng(3)
    good = jpeg(photo(size=(64, 48)))
    outcomes = {"decoded": 0, "refused": 0}
    for i in range(300):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 12))):
            data[int(rng.integers(2, len(data)))] = int(rng.integers(0, 256))
        if i % 3 == 0:
            data = data[: int(rng.integers(2, len(data)))]
        try:
            out = decode_image(bytes(data))
        except ImageDecodeError:
            outcomes["refused"] += 1
        else:
            assert out.rgb.ndim == 3 and out.rgb.shape[2] == 3
            outcomes["decoded"] += 1
    assert outcomes["decoded"] and outcomes["refused"]
