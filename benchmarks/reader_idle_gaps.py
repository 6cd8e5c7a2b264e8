"""What reading and decoding a photo costs when the thread idles between photos, as an
ingest's reader threads do (they wake for one photo while the models work on another).

    python benchmarks/reader_idle_gaps.py --n 300

Reads (through the reader's checks) and decodes the same LFW photos in one thread, with a
sleep of 0, 1, 5 and 20 ms after each, and prints the thread's CPU per photo for each gap.
On a machine whose cores keep their caches and clocks while idle the four figures agree;
where they do not, the difference is what each wake-up costs there.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from faceledger.config import default_datasets_dir
from faceledger.images import ImageLimits, decode_image
from faceledger.pipeline.reader import read_inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--lfw", type=Path, default=default_datasets_dir() / "lfw")
    args = parser.parse_args()
    root = args.lfw / "images"
    every = sorted(root.glob("*/*.jpg"))
    files = every[:: max(1, len(every) // args.n)][: args.n]
    limits = ImageLimits()
    for path in files[:20]:  # warm up: imports, the page cache
        decode_image(read_inside(root, path, limits.max_bytes, str(path)), limits)
    for gap_ms in (0, 1, 5, 20):
        start = time.thread_time()
        for path in files:
            decode_image(read_inside(root, path, limits.max_bytes, str(path)), limits)
            if gap_ms:
                time.sleep(gap_ms / 1000)
        per_photo = (time.thread_time() - start) / len(files)
        print(f"gap {gap_ms:2d} ms: {per_photo * 1e3:.3f} ms CPU per photo")


if __name__ == "__main__":
    main()
