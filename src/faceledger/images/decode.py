"""Decode JPEG, PNG, WebP, BMP, TIFF and GIF (first frame) with Pillow.

EXIF orientation is applied, every mode is converted to 8-bit RGB, and files over the byte
or pixel limit are refused before decoding (Pillow's decompression-bomb guard is turned into
:class:`ImageTooLargeError` too).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageDecodeError, ImageTooLargeError

SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 80_000_000


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
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if size > limits.max_bytes:
        raise ImageTooLargeError(
            f"{path}: {size} bytes is over the limit of {limits.max_bytes} bytes"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "unknown"
                if fmt not in SUPPORTED_FORMATS:
                    raise ImageDecodeError(f"{name}: unsupported image format {fmt}")
                width, height = img.size
                if width * height > limits.max_pixels:
                    raise ImageTooLargeError(
                        f"{name}: {width}x{height} = {width * height} pixels is over the limit "
                        f"of {limits.max_pixels} pixels"
                    )
                img.seek(0)  # first frame of GIF / multi-page TIFF
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb = _to_rgb(img)
    except (ImageTooLargeError, ImageDecodeError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{name}: refused as a decompression bomb ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(f"{name}: cannot decode image ({exc})") from exc
    return DecodedImage(rgb=rgb, sha256=digest, size_bytes=len(data), format=fmt)


def _to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max() if arr.size else 0
        scale = 255.0 / 65535.0 if peak > 255 else 1.0
        arr8 = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([arr8] * 3, axis=-1))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr8 = ((arr - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([arr8] * 3, axis=-1))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
