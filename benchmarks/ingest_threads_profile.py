"""Where an ingest's CPU goes, by thread, against the models' own cost (issue 12's gap).

    python benchmarks/ingest_threads_profile.py --n 400 --lanes 1,2

Prints, for the same LFW photos (spread over the sorted list, as `faceledger bench ingest`):

* the models alone, as the benchmark's model-bound limit measures them (detect, then embed
  the photo's crops; decoding and alignment outside), in one thread;
* detection, alignment and embedding in one thread and in two threads at once (two sibling
  analyzers, as two ingest lanes run them): what the models cost per photo when both cores
  run them, before any pipeline;
* ingests with 1 and 2 lanes into throw-away stores: wall seconds, the process's CPU per
  photo, and that CPU split by thread (lanes, readers, catalog writer, main), read from
  ``/proc/self/task`` every 20 ms. The models are loaded before each ingest starts, so
  start-up is left out (the benchmark's ingests include it).

CPU per photo moves much less than wall time with the other jobs on a shared machine, so
these are the figures to compare; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from faceledger.config import Settings, default_datasets_dir, default_models_dir
from faceledger.images import decode_image
from faceledger.ledger import init_store
from faceledger_bench.ingest_bench import _add_source, lfw_photos, model_cpu_seconds


def thread_kind(name: str) -> str:
    """A thread's name without its pool number: lanes, readers, the writer."""
    return name.split("_")[0].rstrip("0123456789-")


class ThreadCpu:
    """CPU seconds per thread name, sampled from /proc/self/task while a run goes on;
    ``group`` maps a thread's name to the name it is counted under; ``every``: seconds
    between samples."""

    def __init__(self, group: Callable[[str], str] = thread_kind, every: float = 0.02) -> None:
        self._group = group
        self._every = every
        self._tick = os.sysconf("SC_CLK_TCK")
        self._last: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="profiler", daemon=True)

    def _snap(self) -> None:
        names = {t.native_id: self._group(t.name) for t in threading.enumerate()}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            name = names.get(int(tid)) or self._last.get(tid, ("native", 0.0))[0]
            self._last[tid] = (name, (int(fields[11]) + int(fields[12])) / self._tick)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._snap()
            time.sleep(self._every)

    def __enter__(self) -> ThreadCpu:
        self._snap()
        self._base = dict(self._last)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._snap()

    def by_name(self) -> dict[str, float]:
        out: dict[str, float] = collections.defaultdict(float)
        for tid, (name, seconds) in self._last.items():
            out[name] += seconds - self._base.get(tid, (name, 0.0))[1]
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def models_in_threads(analyzer, images, threads: int) -> float:
    """CPU ms per photo of detect + align + embed, ``threads`` sibling analyzers at once."""
    analyzers = [analyzer] + [analyzer.sibling() for _ in range(threads - 1)]

    def run(an, part):
        for bgr in part:
            an.embed_prepared([an.prepare(bgr)], 1)

    run(analyzers[-1], images[:2])  # warm up (compiles the second network)
    start = time.process_time()
    workers = [threading.Thread(target=run, args=(an, images[k::threads]))
               for k, an in enumerate(analyzers)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (time.process_time() - start) / len(images) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--lanes", default="1,2")
    parser.add_argument("--lfw", type=Path, default=default_datasets_dir() / "lfw")
    parser.add_argument("--models", type=Path, default=default_models_dir())
    args = parser.parse_args()
    photos = lfw_photos(args.lfw, args.n)
    print(f"{len(photos)} LFW photos, {os.cpu_count()} cores, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="faceledger-profile-") as tmp:
        listing = Path(tmp) / "photos.txt"
        listing.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
        st = init_store(Settings(data_dir=Path(tmp) / "models", models_dir=args.models))
        model_cpu, faces = model_cpu_seconds(photos, st.analyzer, st.limits)
        print(f"models alone (the benchmark's limit): {model_cpu / len(photos) * 1000:.2f} "
              f"ms CPU per photo ({faces} faces)")
        images = [decode_image(p.read_bytes(), st.limits).bgr for p in photos]
        for threads in (1, 2):
            ms = models_in_threads(st.analyzer, images, threads)
            print(f"detect + align + embed, {threads} thread(s) at once: {ms:.2f} ms CPU per photo")
        st.close()
        for lanes in (int(x) for x in args.lanes.split(",")):
            st = init_store(Settings(data_dir=Path(tmp) / f"lanes{lanes}",
                                     models_dir=args.models))
            _add_source(st, listing, args.lfw)
            st.analyzer.load()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with ThreadCpu() as threads_cpu:
                report = st.ingest("lfw-bench", workers=lanes, actor="profile")
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            print(f"ingest, {lanes} lane(s): {report.photos} photos, {report.faces} faces in "
                  f"{wall:.2f} s ({report.photos / wall:.1f} photos/s), "
                  f"{cpu / report.photos * 1000:.2f} "
                  f"ms CPU per photo, {cpu / wall:.2f} cores")
            for name, seconds in threads_cpu.by_name().items():
                if seconds >= 0.005 and name != "profiler":
                    print(f"    {name:16s} {seconds / report.photos * 1000:6.2f} ms per photo")
            st.close()
    print(f"load {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
