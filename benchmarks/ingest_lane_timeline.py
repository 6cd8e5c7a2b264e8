"""When an ingest's lanes start and finish, against the run's own seconds: the lane time
lost at the start (models loading, the lane gate's first reading) and at the end (a lane
with no chunk left while another finishes its last).

    python benchmarks/ingest_lane_timeline.py --n 400 --runs 4

Each run is a fresh throw-away store (so the models load in the run, as in `faceledger bench
ingest`) with the default worker count on the idle machine. Per run: the report's seconds,
each lane's first chunk start and last chunk end (seconds into the call), and the lane
seconds lost, start and end, as a share of lanes x run seconds. These times move much less
with a shared machine's other jobs than photos/s: they are where the run waits, not how
fast it computes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import faceledger.pipeline.worker as worker
from faceledger.config import Settings, default_datasets_dir, default_models_dir
from faceledger.ledger import init_store
from faceledger_bench.ingest_bench import _add_source, lfw_photos


class ChunkLog:
    """(thread name, start, end) of every chunk a lane analyses, while in a ``with``."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()
        self._orig = worker.AnalysisLane.analyze

    def __enter__(self) -> ChunkLog:
        orig, rows, lock = self._orig, self.rows, self._lock

        def analyze(lane, refs):
            start = time.perf_counter()
            out = orig(lane, refs)
            with lock:
                rows.append((threading.current_thread().name, start, time.perf_counter()))
            return out

        worker.AnalysisLane.analyze = analyze  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        worker.AnalysisLane.analyze = self._orig  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--lfw", type=Path, default=default_datasets_dir() / "lfw")
    parser.add_argument("--models", type=Path, default=default_models_dir())
    args = parser.parse_args()
    photos = lfw_photos(args.lfw, args.n)
    lost_start, lost_end = [], []
    with tempfile.TemporaryDirectory(prefix="faceledger-timeline-") as tmp:
        listing = Path(tmp) / "photos.txt"
        listing.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
        for run in range(args.runs):
            store = init_store(Settings(data_dir=Path(tmp) / f"s{run}", models_dir=args.models))
            _add_source(store, listing, args.lfw)
            with ChunkLog() as log:
                t0 = time.perf_counter()
                report = store.ingest("lfw-bench", actor="bench")
                wall = time.perf_counter() - t0
            store.close()
            lanes = sorted({name for name, _, _ in log.rows})
            spans = {name: (min(s for n, s, _ in log.rows if n == name) - t0,
                            max(e for n, _, e in log.rows if n == name) - t0) for name in lanes}
            start = sum(first for first, _ in spans.values())
            end = sum(wall - last for _, last in spans.values())
            lost_start.append(start / (len(lanes) * wall))
            lost_end.append(end / (len(lanes) * wall))
            shown = ", ".join(f"{name} {a:.3f}-{b:.3f} s" for name, (a, b) in spans.items())
            print(f"run {run}: {report.photos} photos in {wall:.2f} s ({report.seconds:.2f} s "
                  f"reported), {shown}; lane time lost: start {lost_start[-1]:.1%}, "
                  f"end {lost_end[-1]:.1%}")
    print(f"median lane time lost: start {statistics.median(lost_start):.1%}, "
          f"end {statistics.median(lost_end):.1%}")


if __name__ == "__main__":
    main()
