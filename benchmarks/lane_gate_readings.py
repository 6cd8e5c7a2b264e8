"""What the lane gate reads in default ingests, and how many lanes it let work.

    python benchmarks/lane_gate_readings.py --n 400 --runs 20 --busy 1

Each run is a fresh throw-away store (its models load in the run, as in `faceledger bench
ingest`) ingested with the default worker count, while ``--busy`` busy-loop processes (each
in a session of its own, as the benchmark starts them) keep that many cores busy for the
whole experiment. Per run: photos/s, the lanes the gate let work on average, and every
free-cores reading the gate took (seconds into the call, seconds watched, free cores). Then
the first readings' range and the runs in which a second lane worked, which on a machine
with one core free for this process costs that core's time (see pipeline/lane_gate.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import faceledger.pipeline.free_cores as free_cores
from faceledger.config import Settings, default_datasets_dir, default_models_dir
from faceledger.ledger import init_store
from faceledger_bench.ingest_bench import BusyLoops, _add_source, lfw_photos


class ReadingLog:
    """(monotonic time, seconds watched, free cores) of every FreeCores reading, while in
    a ``with``."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float | None]] = []
        self._orig = free_cores.FreeCores.sample

    def __enter__(self) -> ReadingLog:
        orig, rows = self._orig, self.rows

        def sample(fc):
            watched = fc.age()
            value = orig(fc)
            rows.append((time.monotonic(), watched, value))
            return value

        free_cores.FreeCores.sample = sample  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        free_cores.FreeCores.sample = self._orig  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--busy", type=int, default=1, help="busy-loop processes meanwhile")
    parser.add_argument("--lfw", type=Path, default=default_datasets_dir() / "lfw")
    parser.add_argument("--models", type=Path, default=default_models_dir())
    args = parser.parse_args()
    photos = lfw_photos(args.lfw, args.n)
    if len(photos) < args.n:
        sys.exit(f"only {len(photos)} LFW photos under {args.lfw}")
    firsts: list[float] = []
    more_lanes = 0
    with tempfile.TemporaryDirectory(prefix="faceledger-gate-") as tmp, BusyLoops(args.busy):
        listing = Path(tmp) / "photos.txt"
        listing.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
        for k in range(args.runs):
            store = init_store(Settings(data_dir=Path(tmp) / f"s{k}", models_dir=args.models))
            try:
                _add_source(store, listing, args.lfw)
                with ReadingLog() as log:
                    start = time.monotonic()
                    report = store.ingest("lfw-bench", workers=None, actor="bench")
                    wall = time.monotonic() - start
            finally:
                store.close()
            readings = [(round(t - start, 2), round(w, 3), None if v is None else round(v, 3))
                        for t, w, v in log.rows]
            if readings and readings[0][2] is not None:
                firsts.append(readings[0][2])
            more_lanes += report.lanes > 1.0
            print(f"{k:2d} {args.n / wall:6.1f} photos/s, lanes {report.lanes:.2f}, "
                  f"readings (s in, s watched, free) {readings}", flush=True)
    if firsts:
        print(f"first readings {min(firsts):.3f}-{max(firsts):.3f} free cores; runs with "
              f"more than one lane at work: {more_lanes} of {args.runs} "
              f"({args.busy} busy loop(s))")


if __name__ == "__main__":
    main()
