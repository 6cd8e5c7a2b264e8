"""JPEG decoding: libjpeg-turbo straight into the array (images/jpeg_turbo.py) against
Pillow alone, on the same photos in the same process.

    python benchmarks/decode_jpeg.py --n 500

Prints, for LFW photos spread over the sorted list and for WIDER FACE photos, the CPU per
photo of ``decode_image`` (read from memory, so no disk) with the fast path and with Pillow
only, alternating the two in rounds (best round of each), whether their pixels are equal
on every photo, and the ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from faceledger.config import default_datasets_dir
from faceledger.images import ImageLimits, decode_image, jpeg_turbo


def cpu_per_photo(datas: list[bytes], limits: ImageLimits) -> float:
    start = time.process_time()
    for data in datas:
        decode_image(data, limits)
    return (time.process_time() - start) / len(datas)


def compare(label: str, files: list[Path], rounds: int) -> None:
    limits = ImageLimits()
    datas = [f.read_bytes() for f in files]
    module = jpeg_turbo.simplejpeg
    fast, slow = [], []
    try:
        for _ in range(rounds):
            jpeg_turbo.simplejpeg = module
            fast.append(cpu_per_photo(datas, limits))
            jpeg_turbo.simplejpeg = None
            slow.append(cpu_per_photo(datas, limits))
        jpeg_turbo.simplejpeg = None
        pillow = [decode_image(d, limits).rgb for d in datas]
    finally:
        jpeg_turbo.simplejpeg = module
    same = all(np.array_equal(decode_image(d, limits).rgb, p) for d, p in zip(datas, pillow))
    print(f"{label}: {len(datas)} photos, fast path {min(fast) * 1e3:.3f} ms, Pillow "
          f"{min(slow) * 1e3:.3f} ms CPU per photo (best of {rounds}); Pillow / fast "
          f"{min(slow) / min(fast):.2f}x; identical pixels: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--datasets", type=Path, default=default_datasets_dir())
    args = parser.parse_args()
    if not jpeg_turbo.available():
        raise SystemExit("simplejpeg is not installed: there is no fast path to measure")
    lfw = sorted((args.datasets / "lfw" / "images").glob("*/*.jpg"))
    compare("LFW", lfw[:: max(1, len(lfw) // args.n)][: args.n], args.rounds)
    wider = sorted((args.datasets / "wider-dev").rglob("*.jpg"))
    if wider:
        compare("WIDER FACE", wider[: args.n], max(1, args.rounds // 2))


if __name__ == "__main__":
    main()
