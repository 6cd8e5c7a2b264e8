"""Decode JPEG, PNG, WebP, BMP, TIFF, GIF (first frame), and the phone formats HEIC/HEIF
(through pillow-heif) and AVIF (Pillow's own plugin), in bounded memory.

Every limit holds before the pixels are decoded: the byte limit, the declared width x height
(Pillow reads the header lazily, so ``img.size`` is known before ``load()``), and the memory
the decoder would need. A JPEG larger than ``max_side`` is decoded at 1/2, 1/4 or 1/8 scale by
libjpeg itself (Pillow's ``draft``), so a header that claims 80 Mpx costs a few MB; every other
format is decoded at full size only when that fits ``max_decode_bytes``. Whatever comes out is
then shrunk by a whole factor until its longest side is at most ``max_side`` (faces do not
need more), EXIF orientation is applied, and every mode becomes 8-bit RGB without float64
copies of the full image.

The decoded image is what ingest records (width, height, face boxes) and what crops are
cut from, so stored boxes always refer to the reduced, orientation-corrected image.
Pillow's decompression-bomb guard is turned into :class:`ImageTooLargeError` too.

Pillow opens every file and reads every header. A YCbCr or greyscale JPEG of at most
``max_side`` then takes its pixels from libjpeg-turbo directly (:mod:`.jpeg_turbo`: the same
pixels, in about half the time); any JPEG that path does not vouch for is decoded by Pillow.

HEIF and AVIF: opening parses the container only (measured: +2 MB and +5 MB for a 3000 x 3000
photo), so the size a file's ``ispe`` box declares is checked before a pixel is decoded. That
matters: libavif decodes a 250 x 250 picture whose header claims 9000 x 9000 into a full
9000 x 9000 canvas (324 MB from a 2 KB file). libheif applies a HEIF's rotation and mirror
boxes itself and reports orientation 1; an AVIF's rotation comes back as its EXIF orientation,
applied here like any other. The first image of a HEIF collection is the one decoded.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageDecodeError, ImageTooLargeError
from . import jpeg_turbo
from .files import read_regular_file

SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO", "HEIF", "AVIF"}
IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
    ".heic", ".heif", ".hif", ".avif",
}
MIB = 1024 * 1024
# decoders that hold more full-size buffers while decoding, counted that many times against
# ``max_decode_bytes``: libwebp's output travels through three copies before it is an image
# (measured: +257 MB for a 4096 x 4096 RGBA WebP), libtiff decodes through RGBA strips;
# libheif and libavif decode to YUV planes, then RGB, then Pillow's copy (measured: +79 MB and
# +86 MB for a 3000 x 3000 photo, whose RGBA is 34 MB)
_DECODER_COPIES = {"WEBP": 4, "TIFF": 2, "HEIF": 3, "AVIF": 3}
_DRAFT_FORMATS = {"JPEG", "MPO"}
# the only Pillow plugins ever asked to open a photo (MPO files open through JPEG's)
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "AVIF")
_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}
# the same turns on an H x W x 3 array, as views (the caller makes them contiguous)
_TURN = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, k=1),
}


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 50 * MIB
    max_pixels: int = 80_000_000  # declared width x height
    max_side: int = 4096  # the longest side of a decoded photo; larger ones are reduced
    max_decode_bytes: int = 128 * MIB  # pixel memory of a full-size decode (non-JPEG)


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # H x W x 3, uint8, RGB
    sha256: str
    size_bytes: int
    format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def bgr(self) -> np.ndarray:
        return np.ascontiguousarray(self.rgb[:, :, ::-1])


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_image_file(path: str | Path, limits: ImageLimits = ImageLimits()) -> DecodedImage:
    """Decode a photo file named by the user (a probe): a regular file under the byte limit,
    read with that limit (a FIFO or a device is refused, never read)."""
    data = read_regular_file(path, limits.max_bytes, label=str(path))
    return decode_image(data, limits, name=str(path))


def decode_image(
    data: bytes, limits: ImageLimits = ImageLimits(), name: str = "image"
) -> DecodedImage:
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"{name}: {len(data)} bytes is over the limit of {limits.max_bytes} bytes"
        )
    if not data:
        raise ImageDecodeError(f"{name}: empty file")
    digest = sha256_bytes(data)
    _check_webp_canvas(data, limits, name)
    heif = heif_available()
    if not heif and _is_heif(data):
        raise ImageDecodeError(
            f"{name}: is a HEIC/HEIF photo, and pillow-heif is not installed to decode it "
            "(pip install pillow-heif, or scripts/setup.sh)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data),
                             formats=(*_OPEN_FORMATS, "HEIF") if heif else _OPEN_FORMATS)
        try:
            fmt = img.format or "unknown"
            rgb = _decode_bounded(img, data, fmt, limits, name)
        finally:
            img.close()
    except (ImageTooLargeError, ImageDecodeError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{name}: refused as a decompression bomb ({exc})") from exc
    except MemoryError as exc:
        raise ImageTooLargeError(f"{name}: not enough memory to decode it") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(f"{name}: cannot decode image ({exc})") from exc
    except Exception as exc:  # a decoder's own bug on hostile bytes (TypeError in a TIFF tag)
        raise ImageDecodeError(
            f"{name}: cannot decode image ({type(exc).__name__}: {exc})"
        ) from exc
    return DecodedImage(rgb=rgb, sha256=digest, size_bytes=len(data), format=fmt)


@functools.cache
def heif_available() -> bool:
    """Register pillow-heif's HEIF opener with Pillow, once, on the first decode (not at
    import); False when pillow-heif is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener(thumbnails=False)
    return True


_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def _is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def pixel_bytes(mode: str) -> int:
    """Bytes Pillow uses per pixel in memory (every multi-band mode takes 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def webp_canvas(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares (VP8X, lossless VP8L or lossy VP8), or None
    when ``data`` is not a WebP file this can read."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    return None


def _check_webp_canvas(data: bytes, limits: ImageLimits, name: str) -> None:
    """libwebp allocates its canvas when Pillow merely opens the file, so a WebP's declared
    size is checked on the raw header first (as RGBA, the most it can be)."""
    size = webp_canvas(data)
    if size is not None:
        _check_cost(size, size, "RGBA", "WEBP", limits, name)


def _check_cost(declared: tuple[int, int], decoded: tuple[int, int], mode: str, fmt: str,
                limits: ImageLimits, name: str) -> None:
    width, height = declared
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} = {width * height} pixels is over the limit "
            f"of {limits.max_pixels} pixels"
        )
    cost = decoded[0] * decoded[1] * pixel_bytes(mode) * _DECODER_COPIES.get(fmt, 1)
    if cost > limits.max_decode_bytes:
        raise ImageTooLargeError(
            f"{name}: a {width}x{height} {fmt} image in mode {mode} needs "
            f"{math.ceil(cost / MIB)} MiB to decode, over the limit of "
            f"{limits.max_decode_bytes // MIB} MiB"
        )


def _decode_bounded(img: Image.Image, data: bytes, fmt: str, limits: ImageLimits,
                    name: str) -> np.ndarray:
    if fmt not in SUPPORTED_FORMATS:
        raise ImageDecodeError(f"{name}: unsupported image format {fmt}")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"{name}: declares an empty {width}x{height} image")
    _check_cost((width, height), (width, height), "1", fmt, limits, name)  # pixels first
    img.seek(0)  # first frame of GIF / multi-page TIFF
    if fmt in _DRAFT_FORMATS and max(width, height) > limits.max_side:
        scale = next((s for s in (1, 2, 4, 8) if max(width, height) / s <= limits.max_side), 8)
        img.draft(None, (max(1, width // scale), max(1, height // scale)))
    _check_cost((width, height), img.size, img.mode, fmt, limits, name)
    if fmt == "JPEG" and img.mode in ("RGB", "L") and max(width, height) <= limits.max_side:
        rgb = jpeg_turbo.decode_rgb(data, (width, height))  # None: Pillow decodes it
        if rgb is not None:
            return _oriented(rgb, img.getexif().get(_ORIENTATION))
    img.load()
    orientation = img.getexif().get(_ORIENTATION)
    frame = _reduce(img, limits.max_side)
    if frame is not img:
        img.close()  # free the full-size pixels before converting
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    if method is not None:
        frame = frame.transpose(method)
    return _to_rgb(frame)


def _oriented(rgb: np.ndarray, orientation) -> np.ndarray:
    """``rgb`` turned as its EXIF orientation says: the same pixels as Pillow's
    ``transpose`` with the method of :data:`_TRANSPOSE` (the tests compare all eight)."""
    turn = _TURN.get(orientation) if isinstance(orientation, int) else None
    return rgb if turn is None else np.ascontiguousarray(turn(rgb))


def _reduce(img: Image.Image, max_side: int) -> Image.Image:
    """The image with its longest side at most ``max_side``, shrunk by a whole factor in one
    pass, so no full-size intermediate is ever made: a box average, or the nearest pixel for
    palette and 16-bit modes (which a box average would garble or cannot take) and for
    modes with alpha (whose box average first makes a premultiplied full-size copy)."""
    factor = math.ceil(max(img.size) / max_side)
    if factor <= 1:
        return img
    if img.mode in ("P", "PA", "1", "LA", "RGBA") or img.mode.startswith("I;16"):
        size = (max(1, img.size[0] // factor), max(1, img.size[1] // factor))
        return img.resize(size, Image.Resampling.NEAREST)
    return img.reduce(factor)


def _to_rgb(img: Image.Image) -> np.ndarray:
    """8-bit RGB of a frame already reduced to ``max_side`` (float32 at most, never float64)."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img)
        peak = int(arr.max()) if arr.size else 0
        scaled = arr.astype(np.float32)
        if peak > 255:
            scaled *= np.float32(255.0 / 65535.0)
        return _grey_to_rgb(np.clip(scaled, 0, 255, out=scaled).astype(np.uint8))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - np.float32(lo)) * np.float32(255.0 / ((hi - lo) or 1.0))
        return _grey_to_rgb(np.clip(scaled, 0, 255, out=scaled).astype(np.uint8))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img if mode == "RGBA" else img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))  # composited on white, in place
        flat.paste(rgba, mask=rgba.getchannel("A"))
        img = flat
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
