"""Print the "Runtimes" tables of docs/benchmarks.md.

    OMP_NUM_THREADS=1 python benchmarks/runtimes.py [--lfw 500] [--wider 50] [--threads 1]

YuNet per-image latency through OpenCV's FaceDetectorYN, OpenVINO and ONNX Runtime on LFW and
WIDER photos, with agreement against OpenCV's detections; then the default pack's stages before
and after the recognizer changes. Every comparison is interleaved image by image.
"""

from __future__ import annotations

import argparse
import os
import platform

from faceledger.config import default_datasets_dir, default_models_dir
from faceledger.images.decode import read_image_file
from faceledger_bench.runtimes import (
    compare_detectors,
    profile_align_and_embed,
    profile_default_pack,
    profile_dlib,
    yunet_detectors,
)


def spread(paths, n):
    paths = sorted(paths)
    step = max(1, len(paths) // n)
    return paths[::step][:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lfw", type=int, default=500)
    parser.add_argument("--wider", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dlib", type=int, default=0,
                        help="also time dlib's detectors and recognizer on N LFW photos")
    parser.add_argument("--only-dlib", action="store_true")
    args = parser.parse_args()
    data, models = default_datasets_dir(), default_models_dir()
    lfw = spread((data / "lfw" / "images").glob("*/*.jpg"), args.lfw)
    wider = spread((data / "wider-dev" / "images").glob("*/*.jpg"), args.wider)
    load = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average at start {load:.1f}; threads={args.threads}\n")

    if args.dlib:
        print_dlib(spread((data / "lfw" / "images").glob("*/*.jpg"), args.dlib))
        if args.only_dlib:
            return
    detectors = yunet_detectors(models, args.threads)
    print("| images | runtime | median ms wall | median ms CPU | mean ms CPU | CPU vs OpenCV |"
          " same face count | faces matched (IoU 0.5) | max landmark diff px | max score diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, paths in ((f"LFW {len(lfw)} (250x250)", lfw),
                         (f"WIDER {len(wider)} (1024 wide)", wider)):
        images = [read_image_file(p).bgr for p in paths]
        runs = compare_detectors(detectors, images)
        base = runs["opencv"].timing.cpu_median_ms
        for name, run in runs.items():
            t, a = run.timing, run.agreement
            agree = ["reference", "", "", ""] if a is None else [
                f"{a.same_count}/{a.images}", f"{a.matched_faces}/{a.reference_faces}",
                f"{a.max_landmark_px:.2f}", f"{a.max_score_diff:.4f}"]
            print(f"| {label} | {name} | {t.median_ms:.2f} | {t.cpu_median_ms:.2f} | "
                  f"{t.cpu_mean_ms:.2f} | {t.cpu_median_ms / base:.2f}x | " + " | ".join(agree)
                  + " |")

    print("\nDefault pack (yunet-omz0095), per LFW photo, median ms CPU (wall in brackets):\n")
    stages = profile_default_pack(models, lfw, args.threads)
    before_cpu = stages["before"].cpu_ms()["total"]
    before_wall = stages["before"].wall_ms()["total"]
    print("| variant | decode | detect | align+embed (flip) | total | total vs before CPU (wall) |")
    print("|---|---|---|---|---|---|")
    for name, st in stages.items():
        cpu, wall = st.cpu_ms(), st.wall_ms()
        cells = " | ".join(f"{cpu[s]:.2f} ({wall[s]:.2f})"
                           for s in ("decode", "detect", "align+embed", "total"))
        print(f"| {name} | {cells} | {cpu['total'] / before_cpu:.2f} "
              f"({wall['total'] / before_wall:.2f}) |")

    print("\nRecognizer parts, per LFW photo (one face):\n")
    print("| part | median ms CPU | median ms wall |")
    print("|---|---|---|")
    for name, t in profile_align_and_embed(models, lfw[:200], args.threads).items():
        print(f"| {name} | {t.cpu_median_ms:.2f} | {t.median_ms:.2f} |")


def print_dlib(paths) -> None:
    print(f"dlib on {len(paths)} LFW photos (250x250), per photo:\n")
    print("| step | median ms CPU | median ms wall |")
    print("|---|---|---|")
    for name, t in profile_dlib(paths).items():
        print(f"| {name} | {t.cpu_median_ms:.1f} | {t.median_ms:.1f} |")
    print()


if __name__ == "__main__":
    main()
