"""YuNet face detector (OpenCV Zoo, MIT licence), run through OpenCV's FaceDetectorYN.

YuNet sees faces of roughly 10 to 300 pixels. The default (``passes="auto"``, what ingest
runs) covers faces from ~5 px to the whole frame at a bounded cost:

1. the **reference pass** at the photo's size, scaled down to ``max_side`` if larger (small
   photos in which nothing is found are tried once more with a border, which rescues tight
   crops);
2. a **coarse pass** at a long side of ``coarse_side`` px, padded, for faces too large for the
   reference pass (only faces of at least ``coarse_min_face`` px there are kept);
3. **fine tiles**: grid cells where the reference pass, read at score ``proposal_score``
   (half that in a photo scaled down for it), proposes a face of at most
   ``proposal_max_face`` px are run again at ``fine_factor`` times the reference size (only
   faces still <= ``max_upscaled_face`` px there are kept, so faces cut by a tile border add
   nothing, and only those scoring ``fine_score_threshold``, by default ``score_threshold``).

Detections of all passes are merged by :func:`~.detect_merge.merge_candidates`: NMS groups, the
highest score, and the box and landmarks of the pass that saw the face at a good size (the
reference pass keeps every face it saw well). Which passes run is decided in
:mod:`.detect_passes`. ``passes="single"`` is the reference pass alone (the detector before
issue 13); ``scales=(1.0, 2.0)`` ... runs whole-image passes at those sizes of the photo,
without the ``max_side`` cap, tile by tile above ``tile`` pixels (a benchmark mode).

The network runs in OpenCV's ``FaceDetectorYN`` unless the detector is handed an
:class:`~.session.InferenceSession` (ONNX Runtime, OpenVINO, a test's fake): then each pass
goes through :func:`~.yunet_session.session_pass`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError
from ..types import Box, DetectedFace, Landmarks
from .base import Detector
from .detect_merge import Candidate, merge_candidates
from .detect_passes import coarse_factor, proposal_regions
from .session import InferenceSession, load_session
from .yunet_session import session_pass

_LOG_LEVEL_LOCK = threading.Lock()


@contextmanager
def _opencv_errors_only() -> Iterator[None]:
    """OpenCV's log at errors only for the block. OpenCV 5's DNN prints a warning
    ("setPreferableTarget Targets are not supported by the new graph engine") each time a
    FaceDetectorYN is made, about a target we never ask for; every ingest and search would
    show it."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        yield
        return
    with _LOG_LEVEL_LOCK:  # the level is the process's: one block at a time
        level = log.getLogLevel()
        log.setLogLevel(min(level, log.LOG_LEVEL_ERROR))
        try:
            yield
        finally:
            log.setLogLevel(level)

PASSES = ("auto", "single")


class YuNetDetector(Detector):
    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.4,
        nms_threshold: float = 0.3,
        max_side: int = 1280,
        threads: int | None = None,
        scales: tuple[float, ...] = (),
        tile: int = 1600,
        max_upscaled_face: float = 128.0,
        passes: str = "auto",
        fine_factor: float = 2.0,
        proposal_score: float = 0.1,
        proposal_max_face: float = 32.0,
        cell: int = 256,
        coarse_side: int = 256,
        coarse_min_face: float = 40.0,
        fine_score_threshold: float | None = None,
        session: InferenceSession | None = None,
        fixed_side: int | None = None,
    ) -> None:
        super().__init__()
        if passes not in PASSES:
            raise ConfigError(f"unknown YuNet passes {passes!r}; choose from {', '.join(PASSES)}")
        self.model_path = Path(model_path)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.threads = threads
        self.scales = tuple(scales)
        self.tile = tile
        self.max_upscaled_face = max_upscaled_face
        self.passes = passes
        self.fine_factor = fine_factor
        self.proposal_score = proposal_score
        self.proposal_max_face = proposal_max_face
        self.cell = cell
        self.coarse_side = coarse_side
        self.coarse_min_face = coarse_min_face
        self.fine_score_threshold = fine_score_threshold
        self.session = session
        self.fixed_side = fixed_side  # a session's fixed square input (ONNX Runtime: 640)
        self._net: cv2.FaceDetectorYN | None = None

    cloneable = True

    def clone(self) -> YuNetDetector:
        """The same detector for another thread: an OpenCV ``FaceDetectorYN`` keeps the
        input size of its last call, so threads must not share one (the network is 230 KB
        and loads in a few milliseconds)."""
        return YuNetDetector(
            self.model_path, self.score_threshold, self.nms_threshold, self.max_side,
            self.threads, self.scales, self.tile, self.max_upscaled_face, self.passes,
            self.fine_factor, self.proposal_score, self.proposal_max_face, self.cell,
            self.coarse_side, self.coarse_min_face, self.fine_score_threshold,
            session=self.session, fixed_side=self.fixed_side,
        )

    @property
    def fine_threshold(self) -> float:
        """Lowest score kept from the fine tiles (``score_threshold`` unless set)."""
        if self.fine_score_threshold is None:
            return self.score_threshold
        return self.fine_score_threshold

    @property
    def net_score_threshold(self) -> float:
        """The network's own threshold: low enough for the fine tiles' proposals."""
        if self.passes == "auto" and not self.scales and self.fine_factor > 1.0:
            return min(self.score_threshold, self.proposal_score / 2, self.fine_threshold)
        return self.score_threshold

    def _load(self) -> None:
        if self.session is not None:
            load_session(self.session)
            return
        if self.threads:
            cv2.setNumThreads(self.threads)
        with _opencv_errors_only():
            self._net = cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), self.net_score_threshold,
                self.nms_threshold, 5000,
            )

    # -- the passes -------------------------------------------------------------------------

    def _detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        if self.scales:
            return self._detect_multiscale(bgr)
        height, width = bgr.shape[:2]
        ref_scale = min(1.0, self.max_side / max(height, width))
        ref = _resize(bgr, ref_scale)
        raw = self._reference_pass(ref)
        kept = [f for f in raw if f.score >= self.score_threshold]
        candidates = [Candidate(_rescale(f, 1.0 / ref_scale), ref_scale, anchor=True)
                      for f in kept]
        if self.passes == "single":
            return sorted((c.face for c in candidates), key=lambda f: f.box.area, reverse=True)
        candidates += self._coarse_pass(ref, ref_scale)
        candidates += self._fine_tiles(bgr, raw, ref.shape[1], ref.shape[0], ref_scale)
        return merge_candidates(candidates, self.nms_threshold)

    def _reference_pass(self, ref: np.ndarray) -> list[DetectedFace]:
        faces = self.detect_raw(ref)
        if not any(f.score >= self.score_threshold for f in faces) and max(ref.shape[:2]) <= 640:
            pad = max(ref.shape[:2]) // 2
            padded = cv2.copyMakeBorder(ref, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            faces = [_shift(f, -pad, -pad) for f in self.detect_raw(padded)]
        return faces

    def _coarse_pass(self, ref: np.ndarray, ref_scale: float) -> list[Candidate]:
        factor = coarse_factor(max(ref.shape[:2]), self.coarse_side)
        if factor is None:
            return []
        image = _resize(ref, factor)
        pad = max(image.shape[:2]) // 4
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        scale = ref_scale * factor
        return [
            Candidate(_rescale(_shift(f, -pad, -pad), 1.0 / scale), scale)
            for f in self.detect_raw(image)
            if f.score >= self.score_threshold
            and min(f.box.width, f.box.height) >= self.coarse_min_face
        ]

    def _fine_tiles(self, bgr: np.ndarray, raw: list[DetectedFace], ref_w: int, ref_h: int,
                    ref_scale: float) -> list[Candidate]:
        if self.fine_factor <= 1.0:
            return []
        # a photo scaled down for the reference pass has the pixels to show its small faces:
        # they are seen smaller (and less sure) there than they are, so propose more readily
        min_score = self.proposal_score * (0.5 if ref_scale < 1.0 else 1.0)
        regions = proposal_regions(raw, ref_w, ref_h, self.cell, self.proposal_max_face,
                                   min_score)
        scale = ref_scale * self.fine_factor
        out: list[Candidate] = []
        for r in regions:
            x0, y0 = int(r.x0 / ref_scale), int(r.y0 / ref_scale)
            x1, y1 = int(np.ceil(r.x1 / ref_scale)), int(np.ceil(r.y1 / ref_scale))
            part = bgr[y0:y1, x0:x1]
            if part.shape[0] < 2 or part.shape[1] < 2:
                continue
            for f in self._detect_tiled(_resize(part, scale)):
                if f.score < self.fine_threshold:
                    continue
                if min(f.box.width, f.box.height) > self.max_upscaled_face:
                    continue
                out.append(Candidate(_shift(_rescale(f, 1.0 / scale), x0, y0), scale))
        return out

    def _detect_multiscale(self, bgr: np.ndarray) -> list[DetectedFace]:
        height, width = bgr.shape[:2]
        found: list[Candidate] = []
        for scale in self.scales:
            faces = [f for f in self._detect_tiled(_resize(bgr, scale))
                     if f.score >= self.score_threshold]
            if scale > 1.0:
                faces = [
                    f for f in faces if min(f.box.width, f.box.height) <= self.max_upscaled_face
                ]
            found.extend(Candidate(_rescale(f, 1.0 / scale), scale, anchor=scale == 1.0)
                         for f in faces)
        return merge_candidates(found, self.nms_threshold)

    def _detect_tiled(self, bgr: np.ndarray) -> list[DetectedFace]:
        height, width = bgr.shape[:2]
        if max(height, width) <= self.tile:
            return self.detect_raw(bgr)
        overlap = max(64, self.tile // 8)
        step = self.tile - overlap
        faces: list[DetectedFace] = []
        for y0 in range(0, max(height - overlap, 1), step):
            for x0 in range(0, max(width - overlap, 1), step):
                part = bgr[y0 : y0 + self.tile, x0 : x0 + self.tile]
                if part.shape[0] < 2 or part.shape[1] < 2:
                    continue
                faces.extend(_shift(f, x0, y0) for f in self.detect_raw(part))
        return _nms(faces, self.nms_threshold)

    def detect_raw(self, bgr: np.ndarray) -> list[DetectedFace]:
        """One pass of the network at the image's own size (scores down to
        :attr:`net_score_threshold`; callers keep what they need)."""
        if self.session is not None:
            return session_pass(self.session, bgr, self.net_score_threshold,
                                self.nms_threshold, self.fixed_side)
        assert self._net is not None
        height, width = bgr.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(bgr)
        if rows is None:
            return []
        out = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            pts = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            out.append(DetectedFace(Box(x, y, w, h), Landmarks(pts), float(row[14])))
        out.sort(key=lambda f: f.box.area, reverse=True)
        return out


def _resize(bgr: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return bgr
    height, width = bgr.shape[:2]
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(bgr, size, interpolation=interp)


def _rescale(face: DetectedFace, factor: float) -> DetectedFace:
    if factor == 1.0:
        return face
    b = face.box
    return DetectedFace(
        Box(b.x * factor, b.y * factor, b.width * factor, b.height * factor),
        Landmarks(tuple((x * factor, y * factor) for x, y in face.landmarks.points)),
        face.score,
    )


def _shift(face: DetectedFace, dx: float, dy: float) -> DetectedFace:
    b = face.box
    return DetectedFace(
        Box(b.x + dx, b.y + dy, b.width, b.height),
        Landmarks(tuple((x + dx, y + dy) for x, y in face.landmarks.points)),
        face.score,
    )


def _nms(faces: list[DetectedFace], iou_threshold: float) -> list[DetectedFace]:
    """Greedy non-maximum suppression by score; result sorted by area, largest first."""
    if len(faces) < 2:
        return faces
    boxes = np.array([[f.box.x, f.box.y, f.box.x + f.box.width, f.box.y + f.box.height]
                      for f in faces])
    scores = np.array([f.score for f in faces])
    order = np.argsort(-scores, kind="mergesort")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        ih = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.maximum(iw, 0) * np.maximum(ih, 0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    kept = [faces[i] for i in keep]
    kept.sort(key=lambda f: f.box.area, reverse=True)
    return kept
