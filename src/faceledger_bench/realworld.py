"""``faceledger bench realworld``: detection rate and verification accuracy on photos that look
like a real collection's, made in code from ``../shared`` (see :mod:`.realworld_sets`).

Sets (each from a seeded generator, the same on every run):

* ``lfw``: LFW View 2 photos as they are (250 x 250);
* ``lfw-phone``: the same photos upscaled to 3,000-4,000 px, JPEG (quality 80-95), stored
  with a random EXIF rotation; ``lfw-upscaled``: upscaled only (no JPEG, no rotation: the
  cheap form, for all 7,701 photos);
* ``lfw-pasted``: each photo shrunk so its face is 24-48 px, pasted into a 4,000 x 3,000
  frame of smooth texture, JPEG;
* ``lfw-40px``: each photo shrunk until its face is 40 px wide;
* ``dlib-phone``: dlib's example scenes (43 annotated faces) upscaled to phone size, JPEG,
  EXIF rotation (detection rate over the annotated faces); and dlib's ``johns`` chips (5
  people x 11 photos, the face filling the frame) the same way (verification over all
  1,485 pairs, 10-fold by pair position);
* ``wider-dev``: the WIDER FACE dev subset (recall of the hard set's faces at the detector's
  own threshold, and AP).

For LFW sets the face a photo is about is known from the source photo (its most prominent
face, size x score x centrality as the rights flows choose, :mod:`faceledger.models.prominence`,
found once at 250 x 250); on the new photo the detection that overlaps that box best
(IoU >= 0.3) is taken, so a pasted or a rotated face is judged where it really is. A photo
where it is not found counts as a miss, and its pairs as errors. Verification uses View 2's
pairs (``pairs_per_fold`` matched + as many mismatched pairs of each of the ten folds) and
the 10-fold protocol of ``bench verify``.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceledger.errors import ConfigError, FaceLedgerError
from faceledger.images.decode import decode_image, read_image_file
from faceledger.models.base import l2_normalise
from faceledger.models.prominence import main_face
from faceledger.types import Box, DetectedFace

from .lfw import Pair, images_dir, parse_pairs, resolve_list_file
from .metrics import kfold_accuracy
from .realworld_sets import (
    Built,
    box_iou,
    downscaled_photo,
    pasted_photo,
    phone_photo,
)
from .wider_eval import evaluate, load_ground_truth

LFW_SETS = ("lfw", "lfw-phone", "lfw-upscaled", "lfw-pasted", "lfw-40px")
SETS = (*LFW_SETS, "dlib-phone", "wider-dev")
MATCH_IOU = 0.3


@dataclass(frozen=True)
class SetReport:
    name: str
    photos: int
    faces_expected: int
    faces_found: int
    no_face_photos: tuple[str, ...] = ()
    pairs: int = 0
    accuracy: float | None = None  # 10-fold mean
    accuracy_std: float | None = None
    extra: dict = field(default_factory=dict)
    detect_seconds: float = 0.0  # process CPU time of detection alone
    seconds: float = 0.0  # wall time of the whole set (building photos included)

    @property
    def detection_rate(self) -> float:
        return self.faces_found / self.faces_expected if self.faces_expected else float("nan")

    def as_dict(self) -> dict:
        return {
            "set": self.name, "photos": self.photos, "faces_expected": self.faces_expected,
            "faces_found": self.faces_found, "detection_rate": self.detection_rate,
            "no_face_photos": list(self.no_face_photos), "pairs": self.pairs,
            "accuracy": self.accuracy, "accuracy_std": self.accuracy_std,
            "detect_seconds": self.detect_seconds, "seconds": self.seconds, **self.extra,
        }


@dataclass
class _Embedder:
    analyzer: object
    detect_seconds: float = 0.0

    def detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        t0 = time.process_time()
        faces = self.analyzer.detect(bgr)
        self.detect_seconds += time.process_time() - t0
        return faces

    def embed(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        return self.analyzer.embed(bgr, [face])[0]


def _pixels(built: Built) -> np.ndarray:
    if built.bgr is not None:
        return built.bgr
    return decode_image(built.data, name="built photo").bgr


def _best_match(faces: list[DetectedFace], expected: Box) -> DetectedFace | None:
    best = max(faces, key=lambda f: box_iou(f.box, expected), default=None)
    if best is None or box_iou(best.box, expected) < MATCH_IOU:
        return None
    return best


def select_pairs(pairs: list[Pair], pairs_per_fold: int | None) -> list[Pair]:
    """The first ``pairs_per_fold`` matched and mismatched pairs of every fold."""
    if not pairs_per_fold:
        return pairs
    out, count = [], {}
    for p in pairs:
        key = (p.fold, p.same)
        if count.get(key, 0) < pairs_per_fold:
            count[key] = count.get(key, 0) + 1
            out.append(p)
    return out


def _build(name: str, bgr: np.ndarray, face: DetectedFace, rng) -> Built:
    if name == "lfw":
        return Built(None, bgr, 1.0, (0.0, 0.0))
    if name == "lfw-phone":
        return phone_photo(bgr, rng)
    if name == "lfw-upscaled":
        return phone_photo(bgr, rng, jpeg=False)
    if name == "lfw-pasted":
        return pasted_photo(bgr, face.box.width, rng)
    if name == "lfw-40px":
        return downscaled_photo(bgr, face.box.width)
    raise ConfigError(f"unknown LFW set {name!r}")


def run_lfw_set(analyzer, reference_detector, name: str, lfw_dir: Path, pairs_file: str,
                pairs_per_fold: int | None, seed: int = 0,
                progress: Callable[[int, int], None] | None = None) -> SetReport:
    """One LFW-derived set: detection rate over its photos, 10-fold accuracy over its pairs.
    ``reference_detector`` finds the face each source photo is about (a single pass)."""
    start = time.perf_counter()
    pairs = select_pairs(parse_pairs(resolve_list_file(lfw_dir, pairs_file)), pairs_per_fold)
    root = images_dir(lfw_dir)
    images = list(dict.fromkeys([p.image_a for p in pairs] + [p.image_b for p in pairs]))
    rng = np.random.default_rng(seed)
    embedder = _Embedder(analyzer)
    dim = analyzer.embedding_size
    vectors = np.full((len(images), dim), np.nan, dtype=np.float32)
    missing: list[str] = []
    reference_detector.load()
    analyzer.load()
    for i, rel in enumerate(images):
        source = read_image_file(root / rel).bgr
        ref = main_face(reference_detector.detect(source), source.shape[1], source.shape[0])
        if ref is None:
            # the source itself has no face for the reference pass: judge by the centre face
            missing.append(rel)
            continue
        built = _build(name, source, ref, rng)
        bgr = _pixels(built)
        face = _best_match(embedder.detect(bgr), built.map_box(ref.box))
        if face is None:
            missing.append(rel)
        else:
            vectors[i] = embedder.embed(bgr, face)
        if progress is not None:
            progress(i + 1, len(images))
    idx = {rel: i for i, rel in enumerate(images)}
    a = np.array([idx[p.image_a] for p in pairs])
    b = np.array([idx[p.image_b] for p in pairs])
    v = l2_normalise(np.nan_to_num(vectors, nan=0.0)).astype(np.float64)
    scores = np.einsum("ij,ij->i", v[a], v[b])
    scores[np.isnan(vectors[a, 0]) | np.isnan(vectors[b, 0])] = np.nan
    acc = kfold_accuracy(scores, np.array([p.same for p in pairs]),
                         np.array([p.fold for p in pairs]))
    return SetReport(
        name=name, photos=len(images), faces_expected=len(images),
        faces_found=len(images) - len(missing), no_face_photos=tuple(missing),
        pairs=len(pairs), accuracy=acc.mean, accuracy_std=acc.std,
        detect_seconds=embedder.detect_seconds, seconds=time.perf_counter() - start,
    )


def dlib_boxes(faces_dir: Path) -> dict[str, list[Box]]:
    """Annotated face boxes of dlib's example scenes (training.xml + testing.xml)."""
    boxes: dict[str, list[Box]] = {}
    for xml in ("training.xml", "testing.xml"):
        path = Path(faces_dir) / xml
        if not path.is_file():
            raise ConfigError(f"{path}: dlib example annotations not found")
        for image in ET.parse(path).getroot().iter("image"):
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                boxes.setdefault(image.get("file"), []).append(Box(
                    float(b.get("left")), float(b.get("top")), float(b.get("width")),
                    float(b.get("height"))))
    return boxes


def run_dlib_phone(analyzer, dlib_dir: Path, seed: int = 0) -> SetReport:
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    embedder = _Embedder(analyzer)
    analyzer.load()
    expected = found = 0
    missing: list[str] = []
    for file, boxes in sorted(dlib_boxes(Path(dlib_dir) / "faces").items()):
        source = read_image_file(Path(dlib_dir) / "faces" / file).bgr
        built = phone_photo(source, rng)
        faces = embedder.detect(_pixels(built))
        for box in boxes:
            expected += 1
            if _best_match(faces, built.map_box(box)) is not None:
                found += 1
            else:
                missing.append(f"{file}@{box.as_list()}")
    # verification on the johns chips: the face fills the frame
    people = sorted(p for p in (Path(dlib_dir) / "johns").iterdir() if p.is_dir())
    vecs, labels, photos, no_face = [], [], 0, []
    for person_id, person in enumerate(people):
        for chip in sorted(person.glob("*.jpg")):
            photos += 1
            built = phone_photo(read_image_file(chip).bgr, rng)
            bgr = _pixels(built)
            faces = embedder.detect(bgr)
            face = main_face(faces, bgr.shape[1], bgr.shape[0])
            if face is None:
                no_face.append(f"{person.name}/{chip.name}")
                vecs.append(np.full(analyzer.embedding_size, np.nan, dtype=np.float32))
            else:
                vecs.append(embedder.embed(bgr, face))
            labels.append(person_id)
    v = np.asarray(vecs, dtype=np.float64)
    ia, ib = np.triu_indices(len(v), k=1)
    scores = np.einsum("ij,ij->i", np.nan_to_num(v[ia]), np.nan_to_num(v[ib]))
    scores[np.isnan(v[ia, 0]) | np.isnan(v[ib, 0])] = np.nan
    same = np.asarray(labels)[ia] == np.asarray(labels)[ib]
    acc = kfold_accuracy(scores, same, np.arange(len(scores)) % 10)
    return SetReport(
        name="dlib-phone", photos=len(dlib_boxes(Path(dlib_dir) / "faces")) + photos,
        faces_expected=expected + photos, faces_found=found + photos - len(no_face),
        no_face_photos=tuple(missing + no_face), pairs=len(scores), accuracy=acc.mean,
        accuracy_std=acc.std,
        extra={"scene_faces": f"{found}/{expected}",
               "johns_photos_with_face": f"{photos - len(no_face)}/{photos}"},
        detect_seconds=embedder.detect_seconds, seconds=time.perf_counter() - start,
    )


def run_wider(analyzer, wider_dir: Path, limit: int | None = None) -> SetReport:
    start = time.perf_counter()
    gt = load_ground_truth(Path(wider_dir) / "ground_truth")
    images_root = Path(wider_dir) / "images"
    present = [g for g in gt if (images_root / g.relpath).is_file()][:limit]
    embedder = _Embedder(analyzer)
    analyzer.load()
    preds: dict[str, np.ndarray] = {}
    expected = found = 0
    for g in present:
        try:
            bgr = read_image_file(images_root / g.relpath).bgr
        except FaceLedgerError:
            bgr = None
        faces = embedder.detect(bgr) if bgr is not None else []
        preds[g.relpath] = np.array(
            [[f.box.x, f.box.y, f.box.width, f.box.height, f.score] for f in faces]
        ).reshape(-1, 5)
        for k in g.keep["hard"]:
            x, y, w, h = g.boxes[k - 1]
            expected += 1
            if _best_match_iou(faces, Box(x, y, w, h), 0.5):
                found += 1
    ap = evaluate(preds, present)
    return SetReport(
        name="wider-dev", photos=len(present), faces_expected=expected, faces_found=found,
        extra={"ap": {k: round(100 * v, 1) for k, v in ap.items()}},
        detect_seconds=embedder.detect_seconds, seconds=time.perf_counter() - start,
    )


def _best_match_iou(faces: list[DetectedFace], box: Box, iou: float) -> bool:
    return any(box_iou(f.box, box) >= iou for f in faces)


def run_realworld(analyzer, reference_detector, sets: tuple[str, ...], datasets: Path,
                  pairs_file: str = "pairs.txt", pairs_per_fold: int | None = 30,
                  wider_limit: int | None = None, seed: int = 0,
                  progress: Callable[[str, int, int], None] | None = None) -> list[SetReport]:
    reports = []
    for name in sets:
        if name in LFW_SETS:
            step = (lambda d, t, n=name: progress(n, d, t)) if progress else None
            reports.append(run_lfw_set(analyzer, reference_detector, name, datasets / "lfw",
                                       pairs_file, pairs_per_fold, seed, step))
        elif name == "dlib-phone":
            reports.append(run_dlib_phone(analyzer, datasets / "dlib-examples", seed))
        elif name == "wider-dev":
            reports.append(run_wider(analyzer, datasets / "wider-dev", wider_limit))
        else:
            raise ConfigError(f"unknown set {name!r}; choose from {', '.join(SETS)}")
    return reports
