"""Runtime benchmarks: YuNet through OpenCV, OpenVINO and ONNX Runtime, and where the time of
the default pack goes (decode, detect, align, embed), before and after the recognizer changes.

Every comparison is interleaved image by image (each variant runs on the same image in turn,
in rotating order), so that load from other processes on a shared machine falls on all
variants alike; figures are medians and means of per-image wall times. See
``benchmarks/runtimes.py`` for the command that prints the tables in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceledger.images.decode import read_image_file
from faceledger.models.align import OMZ_REFERENCE_96x112, align_face
from faceledger.models.base import Detector, l2_normalise
from faceledger.types import Box, DetectedFace, Landmarks

YUNET_FILE = "yunet/face_detection_yunet_2023mar.onnx"
OMZ_0095_XML = "omz/face-reidentification-retail-0095/FP16/face-reidentification-retail-0095.xml"


@dataclass(frozen=True)
class Timing:
    """Wall-clock and process CPU milliseconds per item. On a shared, busy machine the CPU
    time (all threads of this process) is the steadier figure; wall time includes waiting."""

    name: str
    median_ms: float
    mean_ms: float
    p90_ms: float
    cpu_median_ms: float
    cpu_mean_ms: float

    @classmethod
    def of(cls, name: str, seconds: Sequence[float], cpu_seconds: Sequence[float]) -> Timing:
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        cpu = np.asarray(cpu_seconds, dtype=np.float64) * 1000.0
        return cls(name, float(np.median(ms)), float(ms.mean()), float(np.percentile(ms, 90)),
                   float(np.median(cpu)), float(cpu.mean()))


@dataclass(frozen=True)
class Agreement:
    """How a detector's output compares with the reference's on the same images."""

    images: int
    same_count: int  # images where both found the same number of faces
    matched_faces: int  # reference faces with a face at IoU >= 0.5 in the other output
    reference_faces: int
    max_landmark_px: float  # over matched faces
    max_score_diff: float


@dataclass(frozen=True)
class DetectorRun:
    timing: Timing
    agreement: Agreement | None = None


@dataclass
class Interleaved:
    seconds: dict[str, list[float]]
    cpu_seconds: dict[str, list[float]]
    outputs: dict[str, list[object]]

    def timing(self, name: str) -> Timing:
        return Timing.of(name, self.seconds[name], self.cpu_seconds[name])


def interleave(
    variants: dict[str, Callable[[object], object]], items: Sequence[object], warmup: int = 3
) -> Interleaved:
    """Run every variant on every item, rotating the order per item; per-item wall and CPU
    seconds and outputs for each variant."""
    names = list(variants)
    for item in items[:warmup]:
        for name in names:
            variants[name](item)
    result = Interleaved({n: [] for n in names}, {n: [] for n in names}, {n: [] for n in names})
    for i, item in enumerate(items):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            start, cpu = time.perf_counter(), time.process_time()
            out = variants[name](item)
            result.cpu_seconds[name].append(time.process_time() - cpu)
            result.seconds[name].append(time.perf_counter() - start)
            result.outputs[name].append(out)
    return result


def _iou(a: DetectedFace, b: DetectedFace) -> float:
    ax2, ay2 = a.box.x + a.box.width, a.box.y + a.box.height
    bx2, by2 = b.box.x + b.box.width, b.box.y + b.box.height
    iw = max(0.0, min(ax2, bx2) - max(a.box.x, b.box.x))
    ih = max(0.0, min(ay2, by2) - max(a.box.y, b.box.y))
    inter = iw * ih
    union = a.box.area + b.box.area - inter
    return inter / union if union > 0 else 0.0


def agreement(reference: list[list[DetectedFace]], other: list[list[DetectedFace]]) -> Agreement:
    same = matched = total = 0
    max_px = max_score = 0.0
    for want, got in zip(reference, other):
        same += len(want) == len(got)
        total += len(want)
        for w in want:
            best = max(got, key=lambda g: _iou(w, g), default=None)
            if best is None or _iou(w, best) < 0.5:
                continue
            matched += 1
            diff = np.abs(w.landmarks.as_array() - best.landmarks.as_array()).max()
            max_px = max(max_px, float(diff))
            max_score = max(max_score, abs(w.score - best.score))
    return Agreement(len(reference), same, matched, total, max_px, max_score)


def yunet_detectors(models_dir: Path, threads: int | None = 1) -> dict[str, Detector]:
    from faceledger.models.yunet import YuNetDetector

    from .yunet_runtimes import YuNetRuntimeDetector

    path = Path(models_dir) / YUNET_FILE
    detectors: dict[str, Detector] = {
        "opencv": YuNetDetector(path, threads=threads),
        "openvino": YuNetRuntimeDetector(path, runtime="openvino", threads=threads),
        "onnxruntime": YuNetRuntimeDetector(path, runtime="onnxruntime", threads=threads),
    }
    for det in detectors.values():
        det.load()
    return detectors


def compare_detectors(
    detectors: dict[str, Detector], images: Sequence[np.ndarray], reference: str = "opencv"
) -> dict[str, DetectorRun]:
    """Time ``detect()`` of each detector on each BGR image, and compare outputs with
    ``reference``'s."""
    variants = {name: det.detect for name, det in detectors.items()}
    result = interleave(variants, images)
    runs = {}
    for name in detectors:
        agree = None
        if name != reference:
            agree = agreement(result.outputs[reference], result.outputs[name])  # type: ignore
        runs[name] = DetectorRun(result.timing(name), agree)
    return runs


class LegacyOpenVinoRecognizer:
    """The default pack's recognizer as it was before the speed work (commit ad2846c): a
    network reshaped to a dynamic batch, compiled model called directly, the face and its
    mirror image in two calls. Kept here only as the "before" of the benchmark."""

    def __init__(self, xml_path: Path, threads: int | None) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(xml_path))
        model.reshape([-1, 3, 128, 128])
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = str(threads)
        self._compiled = core.compile_model(model, "CPU", config)

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        chunk = np.stack(crops).astype(np.float32)
        tensor = np.ascontiguousarray(chunk.transpose(0, 3, 1, 2))
        return np.asarray(self._compiled(tensor)[0], dtype=np.float32).reshape(len(chunk), -1)

    def embed(self, bgr: np.ndarray, faces: list[DetectedFace]) -> np.ndarray:
        crops = [align_face(bgr, f.landmarks.as_array(), OMZ_REFERENCE_96x112, (128, 128))
                 for f in faces]
        if not crops:
            return np.zeros((0, 256), np.float32)
        vectors = self._embed(crops) + self._embed([np.ascontiguousarray(c[:, ::-1])
                                                    for c in crops])
        return l2_normalise(vectors)


class _Clock:
    """Wall and process-CPU time since the last ``lap``."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


@dataclass
class StageTimes:
    """Per-image wall and CPU seconds of each stage of one pipeline variant."""

    name: str
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, stage: str, lap: tuple[float, float]) -> None:
        self.wall.setdefault(stage, []).append(lap[0])
        self.cpu.setdefault(stage, []).append(lap[1])

    @staticmethod
    def _medians(stages: dict[str, list[float]]) -> dict[str, float]:
        out = {s: float(np.median(v)) * 1000 for s, v in stages.items()}
        out["total"] = float(np.median(np.sum(list(stages.values()), axis=0))) * 1000
        return out

    def wall_ms(self) -> dict[str, float]:
        return self._medians(self.wall)

    def cpu_ms(self) -> dict[str, float]:
        return self._medians(self.cpu)


def profile_default_pack(
    models_dir: Path, paths: Sequence[Path], threads: int | None = 1
) -> dict[str, StageTimes]:
    """Decode -> detect -> align + embed (flip-averaged) for every photo, with these variants
    interleaved photo by photo (medians of per-photo times):

    * ``before``: OpenCV YuNet + the legacy recognizer (dynamic batch, two calls);
    * ``after``: OpenCV YuNet + the current SessionRecognizer (static batch, one call);
    * ``after+ov-yunet``: as ``after`` with YuNet through OpenVINO (yunet_runtimes.py).
    """
    from faceledger.models import load_pack

    analyzer = load_pack("yunet-omz0095", models_dir, threads=threads)
    analyzer.load()
    legacy = LegacyOpenVinoRecognizer(Path(models_dir) / OMZ_0095_XML, threads)
    detectors = yunet_detectors(models_dir, threads)

    def run_before(bgr: np.ndarray, times: StageTimes) -> None:
        clock = _Clock()
        faces = detectors["opencv"].detect(bgr)
        times.add("detect", clock.lap())
        legacy.embed(bgr, faces)
        times.add("align+embed", clock.lap())

    def run_after(detector: Detector) -> Callable[[np.ndarray, StageTimes], None]:
        def run(bgr: np.ndarray, times: StageTimes) -> None:
            clock = _Clock()
            faces = detector.detect(bgr)
            times.add("detect", clock.lap())
            analyzer.recognizer.embed(bgr, faces, flip=True)
            times.add("align+embed", clock.lap())

        return run

    variants = {
        "before": run_before,
        "after": run_after(detectors["opencv"]),
        "after+ov-yunet": run_after(detectors["openvino"]),
    }
    results = {name: StageTimes(name) for name in variants}
    names = list(variants)
    for i, path in enumerate(paths):
        clock = _Clock()
        bgr = read_image_file(path).bgr
        decode = clock.lap()
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            if i < 3:  # warm-up
                variants[name](bgr, StageTimes(name))
                continue
            results[name].add("decode", decode)
            variants[name](bgr, results[name])
    return results


def profile_align_and_embed(
    models_dir: Path, paths: Sequence[Path], threads: int | None = 1
) -> dict[str, Timing]:
    """Time per photo of the recognizer's parts (one LFW face each): alignment alone,
    and the network calls of the legacy and current recognizer."""
    from faceledger.models import load_pack

    analyzer = load_pack("yunet-omz0095", models_dir, threads=threads)
    analyzer.load()
    legacy = LegacyOpenVinoRecognizer(Path(models_dir) / OMZ_0095_XML, threads)
    rec = analyzer.recognizer
    items = []
    for path in paths:
        bgr = read_image_file(path).bgr
        faces = analyzer.detect(bgr)[:1]
        if faces:
            items.append((bgr, faces))
    crops = {id(item): [rec.align(item[0], f) for f in item[1]] for item in items}
    variants = {
        "align (warpAffine, 1 face)": lambda it: [rec.align(it[0], f) for f in it[1]],
        "network, before (2 calls, dynamic batch)": lambda it: (
            legacy._embed(crops[id(it)]),
            legacy._embed([np.ascontiguousarray(c[:, ::-1]) for c in crops[id(it)]]),
        ),
        "network, after (1 call, static batch 2)": lambda it: rec._infer(
            crops[id(it)] + [c[:, ::-1] for c in crops[id(it)]]
        ),
    }
    result = interleave(variants, items)
    return {name: result.timing(name) for name in variants}


def profile_dlib(paths: Sequence[Path]) -> dict[str, Timing]:
    """dlib's detectors (HOG without / with one upsampling, CNN mmod without upsampling) and
    its recognizer on the first face, per photo; needs the dlib extra."""
    from faceledger.models.dlib_models import DlibRecognizer, import_dlib

    dlib, models = import_dlib()
    hog = dlib.get_frontal_face_detector()
    cnn = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())
    recognizer = DlibRecognizer("chip")
    recognizer.load()
    items = []
    for path in paths:
        image = read_image_file(path)
        rects = hog(image.rgb, 1)
        if len(rects):
            r = rects[0]
            face = DetectedFace(
                Box(r.left(), r.top(), r.width(), r.height()),
                Landmarks(((0.0, 0.0),) * 5), 1.0,
            )
            items.append((image, face))
    variants = {
        "HOG, no upsampling": lambda it: hog(it[0].rgb, 0),
        "HOG, upsampled once": lambda it: hog(it[0].rgb, 1),
        "CNN mmod, no upsampling": lambda it: cnn(it[0].rgb, 0),
        "shape predictor + chip + ResNet (1 face)": lambda it: recognizer.embed(
            it[0].bgr, [it[1]]
        ),
    }
    result = interleave(variants, items, warmup=1)
    return {name: result.timing(name) for name in variants}
