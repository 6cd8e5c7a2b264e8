"""Two worker settings of an ingest, alternated in pairs (ABBA), optionally on a busy machine.

    python benchmarks/ingest_pairs.py --n 500 --pairs 6 --busy 1 --a 1 --b default

One process, one busy-loop process per ``--busy`` for the whole experiment (each in a session
of its own, as `faceledger bench ingest` starts them), and a fresh throw-away store for every
ingest, as the benchmark makes them, so that each ingest loads its models. The pairs run
A B, B A, A B, ...: a drift of the shared machine's speed favours neither side. Prints, per
ingest: photos/s over the whole call, the process's CPU per photo, the steal, the lanes the
gate let work on average, and the CPU seconds of the thread ``lane-1`` (a second lane that
should not work on a busy machine); then B/A per pair and their median.

``--a`` and ``--b``: a lane count, or ``default`` (the ingest chooses: ``workers=None``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ingest_threads_profile import ThreadCpu  # beside this script

from faceledger.config import Settings, default_datasets_dir, default_models_dir
from faceledger.ledger import init_store
from faceledger_bench.ingest_bench import BusyLoops, _add_source, _cpu_times, lfw_photos


def one_ingest(store, workers: int | None, n: int) -> dict:
    ours0, _, steal0 = _cpu_times()
    start = time.perf_counter()
    with ThreadCpu(group=str, every=0.1) as threads:  # lane-1 by its own name
        report = store.ingest("lfw-bench", workers=workers, actor="bench")
    wall = time.perf_counter() - start
    ours1, _, steal1 = _cpu_times()
    if report.status != "completed" or report.photos != n:
        raise SystemExit(f"the ingest did not complete: {report}")
    return {"pps": n / wall, "cpu_ms": (ours1 - ours0) / n * 1000,
            "steal": (steal1 - steal0) / wall, "lanes": report.lanes,
            "lane1_cpu": threads.by_name().get("lane-1", 0.0)}


def setting(text: str) -> int | None:
    return None if text == "default" else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--busy", type=int, default=1, help="busy-loop processes meanwhile")
    parser.add_argument("--a", default="1")
    parser.add_argument("--b", default="default")
    parser.add_argument("--lfw", type=Path, default=default_datasets_dir() / "lfw")
    parser.add_argument("--models", type=Path, default=default_models_dir())
    args = parser.parse_args()
    photos = lfw_photos(args.lfw, args.n)
    if len(photos) < args.n:
        sys.exit(f"only {len(photos)} LFW photos under {args.lfw}")
    order: list[str] = []
    for k in range(args.pairs):
        order += [args.a, args.b] if k % 2 == 0 else [args.b, args.a]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.n} photos; busy loops {args.busy}",
          flush=True)
    speed: dict[str, list[float]] = {args.a: [], args.b: []}
    with tempfile.TemporaryDirectory(prefix="faceledger-pairs-") as tmp, BusyLoops(args.busy):
        listing = Path(tmp) / "photos.txt"
        listing.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
        for k, which in enumerate(order):
            store = init_store(Settings(data_dir=Path(tmp) / f"s{k}", models_dir=args.models))
            try:
                _add_source(store, listing, args.lfw)
                run = one_ingest(store, setting(which), args.n)
            finally:
                store.close()
            speed[which].append(run["pps"])
            print(f"{k:2d} {which:>7}: {run['pps']:6.1f} photos/s, {run['cpu_ms']:.2f} ms CPU "
                  f"per photo, steal {run['steal']:.2f} cores, lanes {run['lanes']:.2f}, "
                  f"lane-1 {run['lane1_cpu']:.2f} s CPU", flush=True)
    quotients = [b / a for a, b in zip(speed[args.a], speed[args.b])]
    print(f"{args.b}/{args.a} per pair: {[round(q, 3) for q in quotients]}; "
          f"median {statistics.median(quotients):.3f}")


if __name__ == "__main__":
    main()
