"""One embedding per benchmark image, with the variants the accuracy table compares.

For every image the pack's detector runs, "the" face of the image is kept: the most prominent
(size x score x centrality, :mod:`faceledger.models.prominence`, as the rights flows pick a
selfie's face), and the recognizer embeds it both as is and
mirrored, so that flip averaging on and off come from one pass. An image where no face is
found keeps a NaN row: callers count it as an error, never drop it.

Results can be cached in a directory *outside the repository* (``cache_dir``), keyed by the
pack, the alignment and the detector settings; the cache only saves time.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceledger.errors import ConfigError, FaceLedgerError
from faceledger.images.decode import read_image_file
from faceledger.models.align import ARCFACE_REFERENCE_112, OMZ_REFERENCE_96x112, align_face
from faceledger.models.base import l2_normalise
from faceledger.models.prominence import main_face
from faceledger.types import DetectedFace

ALIGNMENTS = ("pack", "arcface", "box", "stretch")


@dataclass(frozen=True)
class EmbedOptions:
    # "pack": the pack's own 5-point template; "arcface": ArcFace's 112 template; "box": a
    # square crop of the detector box (no landmarks); "stretch": OMZ template on 96x112, resized
    align: str = "pack"
    detector_scales: tuple[float, ...] = ()  # () = the detector's default single pass
    mirror: bool = True  # also embed the mirrored crop (False halves the work; no flip then)

    def key(self) -> str:
        # "v2": prominence picks the face, implausible detections are refused, profiles are
        # aligned on their midline and quality includes sharpness and pose (older caches
        # hold other embeddings)
        return json.dumps(
            {"align": self.align, "scales": list(self.detector_scales), "mirror": self.mirror,
             "faces": "v2"}
        )


@dataclass(frozen=True)
class ImageEmbeddings:
    images: tuple[str, ...]
    plain: np.ndarray  # N x d, L2-normalised, NaN rows where no face was found
    mirrored: np.ndarray  # N x d, embeddings of the mirrored crops
    quality: np.ndarray  # N, analyzer quality in [0, 1] (0 where no face)
    faces_found: np.ndarray  # N, number of faces the detector returned
    seconds: float  # wall time spent computing (0 for a full cache hit)

    def vectors(self, flip: bool) -> np.ndarray:
        if not flip:
            return self.plain
        return l2_normalise(self.plain + self.mirrored)

    @property
    def missing(self) -> np.ndarray:
        return self.faces_found == 0

    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.images)}


def _box_crop(bgr: np.ndarray, face: DetectedFace, size: int) -> np.ndarray:
    b = face.box
    side = max(b.width, b.height)
    cx, cy = b.x + b.width / 2.0, b.y + b.height / 2.0
    scale = size / max(side, 1.0)
    matrix = np.array([[scale, 0, size / 2.0 - scale * cx], [0, scale, size / 2.0 - scale * cy]])
    return cv2.warpAffine(bgr, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)


def _crop(analyzer, bgr: np.ndarray, face: DetectedFace, align: str) -> np.ndarray:
    recognizer = analyzer.recognizer
    if align == "pack":
        return recognizer.align(bgr, face)
    size = int(getattr(recognizer, "input_size", 0))
    if not size:
        raise ConfigError(f"alignment {align!r} needs a recognizer with a square input_size")
    if align == "arcface":
        return align_face(bgr, face.landmarks.as_array(), ARCFACE_REFERENCE_112, (size, size))
    if align == "box":
        return _box_crop(bgr, face, size)
    if align == "stretch":
        # OMZ's template is given for a 96x112 crop: align there, then resize to the square
        # input (a horizontal stretch, as a 96x112 training crop resized to 128x128 would be)
        crop = align_face(bgr, face.landmarks.as_array(), OMZ_REFERENCE_96x112, (96, 112))
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    raise ConfigError(f"unknown alignment {align!r}; choose from {', '.join(ALIGNMENTS)}")


def _cache_file(cache_dir: Path, analyzer, options: EmbedOptions, root: Path) -> Path:
    h = hashlib.sha256()
    h.update(analyzer.name.encode())
    h.update(options.key().encode())
    h.update(json.dumps(_detector_key(analyzer)).encode())
    h.update(str(Path(root).resolve()).encode())
    return Path(cache_dir) / f"emb-{analyzer.name}-{h.hexdigest()[:16]}.npz"


def _detector_key(analyzer) -> dict:
    """The detector settings that change what it finds (a cache made with other settings,
    or before the detector had them, is not reused)."""
    det = getattr(analyzer, "detector", None)
    names = ("passes", "score_threshold", "max_side", "fine_factor", "proposal_score",
             "proposal_max_face", "cell", "coarse_side", "coarse_min_face")
    return {n: getattr(det, n) for n in names if hasattr(det, n)}


def _read_cache(path: Path | None) -> dict[str, tuple]:
    if path is None or not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        names = [str(v) for v in data["images"]]
        plain, mirrored = data["plain"], data["mirrored"]
        quality, found = data["quality"], data["faces_found"]
    return {
        name: (plain[i], mirrored[i], quality[i], found[i]) for i, name in enumerate(names)
    }


def _write_cache(path: Path, entries: dict[str, tuple]) -> None:
    names = list(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        images=np.array(names),
        plain=np.stack([entries[n][0] for n in names]),
        mirrored=np.stack([entries[n][1] for n in names]),
        quality=np.array([entries[n][2] for n in names], dtype=np.float32),
        faces_found=np.array([entries[n][3] for n in names], dtype=np.int32),
    )
    tmp.replace(path)


def embed_images(
    analyzer,
    root: Path,
    images: list[str],
    options: EmbedOptions = EmbedOptions(),
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImageEmbeddings:
    """Embed the central face of each of ``images`` (paths relative to ``root``)."""
    images = list(dict.fromkeys(images))  # unique, order kept
    cache = _cache_file(cache_dir, analyzer, options, root) if cache_dir else None
    cached = _read_cache(cache)
    todo = [i for i, rel in enumerate(images) if rel not in cached]
    n = len(images)
    dim = analyzer.embedding_size
    plain = np.full((n, dim), np.nan, dtype=np.float32)
    mirrored = np.full((n, dim), np.nan, dtype=np.float32)
    quality = np.zeros(n, dtype=np.float32)
    found = np.zeros(n, dtype=np.int32)
    for i, rel in enumerate(images):
        if rel in cached:
            plain[i], mirrored[i], quality[i], found[i] = cached[rel]
    seconds = 0.0
    if todo:
        start = time.perf_counter()
        _compute(analyzer, root, images, todo, options, plain, mirrored, quality, found, progress)
        seconds = time.perf_counter() - start
    if cache is not None and todo:
        for i in todo:
            cached[images[i]] = (plain[i], mirrored[i], quality[i], found[i])
        _write_cache(cache, cached)
    return ImageEmbeddings(tuple(images), plain, mirrored, quality, found, seconds)


def _compute(analyzer, root, images, todo, options, plain, mirrored, quality, found, progress):
    from faceledger.models.analyzer import face_quality

    analyzer.load()
    detector = analyzer.detector
    if options.detector_scales:
        if not hasattr(detector, "scales"):
            raise ConfigError(f"the detector of {analyzer.name} has no multi-scale mode")
        detector.scales = tuple(options.detector_scales)
    for done, i in enumerate(todo, start=1):
        try:
            bgr = read_image_file(Path(root) / images[i]).bgr
        except FaceLedgerError:
            bgr = None  # unreadable: counted like an image without a face
        if bgr is not None:
            faces = analyzer.detect(bgr)
            found[i] = len(faces)
            face = main_face(faces, bgr.shape[1], bgr.shape[0])
            if face is not None:
                crop = _crop(analyzer, bgr, face, options.align)
                if options.mirror:
                    both = [crop, np.ascontiguousarray(crop[:, ::-1])]
                    plain[i], mirrored[i] = l2_normalise(analyzer.recognizer._embed(both))
                else:
                    plain[i] = mirrored[i] = l2_normalise(analyzer.recognizer._embed([crop]))[0]
                quality[i] = face_quality(face, crop)
        if progress is not None:
            progress(done, len(todo))
