"""Real-world test photos made in code from the public data beside the project (issue 13).

Nothing here is written into the repository: every photo is built in memory, from
``../shared/datasets``, by a seeded random generator, so a set is the same on every run.

* :func:`phone_photo`: upscaled to a phone's size (long side 3,000-4,000 px), re-encoded as
  JPEG, stored rotated with the EXIF orientation that turns it upright (as phones do);
* :func:`pasted_photo`: the photo shrunk and pasted into a large (4,000 x 3,000) frame of
  smooth texture, JPEG-encoded;
* :func:`downscaled_photo`: the photo shrunk until its face is 40 px wide.

Each returns the encoded file (or the pixels) and the affine map from the source photo's
pixels to the new photo's upright pixels, so a box known in the source can be found again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from faceledger.types import Box

PHONE_SIDES = (3000, 4000)
#: EXIF orientation -> how the upright picture is turned to be stored that way
_STORE = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # shown after turning it 90 degrees clockwise
    8: Image.Transpose.ROTATE_270,
}
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Built:
    data: bytes | None  # an encoded file to decode like an upload, or
    bgr: np.ndarray | None  # pixels to use as they are
    scale: float  # source pixel -> new photo pixel
    offset: tuple[float, float]  # added after scaling
    orientation: int = 1

    def map_box(self, box: Box) -> Box:
        dx, dy = self.offset
        return Box(box.x * self.scale + dx, box.y * self.scale + dy, box.width * self.scale,
                   box.height * self.scale)


def encode_jpeg(bgr: np.ndarray, quality: int = 90, orientation: int = 1) -> bytes:
    """JPEG bytes of an upright BGR image, stored turned and tagged with ``orientation``."""
    img = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    turn = _STORE[orientation]
    if turn is not None:
        img = img.transpose(turn)
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def upscale(bgr: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    h, w = bgr.shape[:2]
    scale = long_side / max(h, w)
    out = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    return out, scale


def phone_photo(bgr: np.ndarray, rng: np.random.Generator, jpeg: bool = True) -> Built:
    side = int(rng.integers(PHONE_SIDES[0], PHONE_SIDES[1] + 1))
    big, scale = upscale(bgr, side)
    if not jpeg:
        return Built(None, big, scale, (0.0, 0.0))
    orientation = int(rng.choice(list(_STORE)))
    quality = int(rng.integers(80, 96))
    return Built(encode_jpeg(big, quality, orientation), None, scale, (0.0, 0.0), orientation)


def texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth, face-free background: low-frequency colour noise plus a little grain."""
    low = rng.integers(40, 220, size=(6, 8, 3)).astype(np.uint8)
    field = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 6, size=(height // 4, width // 4, 3)).astype(np.float32)
    grain = cv2.resize(grain, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(field.astype(np.float32) + grain, 0, 255).astype(np.uint8)


def pasted_photo(bgr: np.ndarray, face_width: float, rng: np.random.Generator,
                 target_face: tuple[int, int] = (24, 48), frame=(3000, 4000)) -> Built:
    """``bgr`` (whose face is ``face_width`` px wide) shrunk so the face is 24-48 px, pasted at
    a random place of a 4,000 x 3,000 frame (portrait or landscape), JPEG-encoded."""
    h_frame, w_frame = frame if rng.random() < 0.5 else frame[::-1]
    canvas = texture(h_frame, w_frame, rng)
    scale = float(rng.integers(target_face[0], target_face[1] + 1)) / max(face_width, 1.0)
    h, w = bgr.shape[:2]
    small = cv2.resize(bgr, (max(2, round(w * scale)), max(2, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    y0 = int(rng.integers(0, h_frame - sh))
    x0 = int(rng.integers(0, w_frame - sw))
    canvas[y0 : y0 + sh, x0 : x0 + sw] = small
    data = encode_jpeg(canvas, int(rng.integers(85, 96)))
    return Built(data, None, scale, (float(x0), float(y0)))


def downscaled_photo(bgr: np.ndarray, face_width: float, target: float = 40.0) -> Built:
    scale = min(1.0, target / max(face_width, 1.0))
    h, w = bgr.shape[:2]
    small = cv2.resize(bgr, (max(2, round(w * scale)), max(2, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return Built(None, small, scale, (0.0, 0.0))


def box_iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    ih = max(0.0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    inter = iw * ih
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0
