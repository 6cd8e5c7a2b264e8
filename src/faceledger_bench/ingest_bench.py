"""Ingest throughput against its limits, on real LFW photos, in throw-away stores.

In one run, on the same photos:

* **the model-bound limit**: the pack's detector and recognizer alone (the photos decoded
  and the faces aligned beforehand, untimed), their CPU time measured on one thread and
  divided over the cores: ``photos / (model CPU seconds / cores)``. No ingest of these
  photos on this machine can be faster while it runs these models.
* **the models alone on every core**: the same calls in one thread per core at once (sibling
  analyzers, as the lanes run them), in wall time: what the bare models reach on this
  machine when all its cores run them, with the CPU that the hypervisor gave to other
  guests meanwhile (steal: a virtual machine's cores are not all its own when they are all
  busy). The model-bound limit above assumes every core is whole; this one does not.
* **ingests** with 1 and 2 lanes in this process (threads sharing one copy of the models;
  optionally also 2 worker processes, and, with Ray installed, on a local Ray instance with
  1 and 2 actors): photos/s and faces/s in wall time, the CPU the run used (this process
  and its workers) per photo and per second of wall time (the cores it got), its peak RSS,
  and how busy the machine was meanwhile.
* **the default worker count** (``workers=None``: one lane per core, as many at work at once
  as the free cores allow) on the idle machine, and, with ``busy``, 1 lane, 2 lanes and the
  default again while ``busy`` busy-loop processes (each in a session of its own, like
  another user's job) take that many cores: "never slower than one lane on a busy machine".
* **face_recognition** (the ``peers`` extra), photo by photo: ``load_image_file``,
  ``face_locations`` (HOG), ``face_encodings``, as its README shows.

The models alone and the lane runs (local, default, busy) are repeated in rounds
(``repeats``) and every figure is the median round's: the same run moves by up to a fifth
from one minute to the next on a shared machine, and the machine's speed by up to two times
within a few minutes (seen on 2026-12-03: the models alone took 13.6 s of CPU, and the
ingest right after them 27 ms of CPU per photo where it had taken 15). So the models alone
are measured just before and just after the run with one lane per core, and
``model_bound_ratio`` is the median over the rounds of that run's photos/s over the limit
from the mean of its two measurements (``model_bound_ratio_each``). Likewise every
comparison of two runs (two lanes against one, the default against two lanes, and on the busy
machine two lanes and the default against one) is the median over the rounds of that round's
quotient of two runs made one after the other (``*_each``), and every other round runs them
in the opposite order: medians of each kind taken apart compared runs minutes apart, and a
fixed order made the later run pay for a drift (on 2026-12-03 the default came out at 0.91
of two lanes in all three rounds of one run, and 0.74 of one lane on the busy machine, while
the same two ingests run back to back, alternately, were within 2 % of each other).

A round during which the hypervisor gave more than a twentieth of a core to its other
guests on average (steal, in ``/proc/stat``) is run again, up to twice: its figures measured
the host, not this machine (``discarded_rounds``; on 2026-12-03 whole rounds lost 0.2-0.3
cores, and one two-lane run got 1.39 cores because the hypervisor took 0.56).

``photos_per_second`` is the ingest with one worker per core. On a shared machine the wall
figures move with the other jobs; ``cpu_efficiency`` (the models' CPU time over all the CPU
the ingest used) does not, and is the ratio an idle machine would reach with every core
busy (see docs/benchmarks.md).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from faceledger.config import Settings
from faceledger.ledger import init_store
from faceledger.types import ActionContext

from .machine import cpu_name, openvino_precision


@dataclass(frozen=True)
class IngestRun:
    mode: str  # "local" (lanes in threads of this process) | "auto" | "processes" | "ray"
    workers: int  # 0 for "auto": the default worker count
    photos: int
    faces: int
    errors: int
    seconds: float
    cpu_seconds: float  # this process and its worker processes (Ray actors not counted)
    others_cpu_seconds: float  # CPU used by everything else on the machine meanwhile
    peak_rss_mb: float  # the ingesting process plus its workers' peaks (upper bound)
    busy: int = 0  # busy-loop processes running meanwhile
    lanes: float = 0.0  # lanes at work at once, on average (the ingest's report)
    repeat: int = 0  # which round of the benchmark's runs
    steal_seconds: float = 0.0  # CPU time the hypervisor gave other guests meanwhile

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds else 0.0

    @property
    def faces_per_second(self) -> float:
        return self.faces / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_photo(self) -> float:
        return self.cpu_seconds / self.photos * 1000 if self.photos else 0.0

    @property
    def cores_used(self) -> float:
        """CPU seconds per wall second: the cores the run got (at most the machine's)."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0

    @property
    def steal_cores(self) -> float:
        """Cores' worth of time the hypervisor took from this machine during the run."""
        return self.steal_seconds / self.seconds if self.seconds else 0.0


# the JSON's comparisons of two kinds of run, (mode, workers) over (mode, workers), each
# paired within a round (IngestBenchResult.paired); True: on the busy machine
COMPARISONS: dict[str, tuple[tuple[str, int], tuple[str, int], bool]] = {
    "two_workers_vs_one": (("local", 2), ("local", 1), False),
    "default_vs_two_workers": (("auto", 0), ("local", 2), False),
    "busy_two_workers_vs_one": (("local", 2), ("local", 1), True),
    "busy_default_vs_one": (("auto", 0), ("local", 1), True),
}


@dataclass
class IngestBenchResult:
    photos: int
    cores: int
    load_before: list[float]
    load_after: list[float]
    model_cpu_seconds: float  # the median over the rounds
    model_bound_photos_per_second: float
    runs: list[IngestRun]
    repeats: int = 1
    # every models-alone measurement in order (two per round: before and after the run
    # with one lane per core)
    model_cpu_seconds_each: list[float] = field(default_factory=list)
    # per round: its one-lane-per-core run's photos/s over the limit from the models alone
    # measured right before and right after that run (the mean of the two)
    model_bound_ratio_each: list[float] = field(default_factory=list)
    # the models alone in one thread per core at once, wall time (median over the rounds)
    models_all_cores_photos_per_second: float = 0.0
    models_all_cores_each: list[float] = field(default_factory=list)
    models_all_cores_steal_cores: float = 0.0  # of the median round
    # rounds measured again because the hypervisor took too much of the machine meanwhile:
    # {"round": r, "steal_cores": mean cores taken over its ingests and models-alone runs}
    discarded_rounds: list[dict] = field(default_factory=list)
    face_recognition_photos_per_second: float | None = None
    face_recognition_cpu_ms_per_photo: float | None = None
    face_recognition_faces: int | None = None
    gallery_faces: int = 0
    search_queries: int = 0
    search_p50_ms: float = 0.0
    search_p99_ms: float = 0.0
    index_p50_ms: float = 0.0
    notes: list[str] = field(default_factory=list)
    cpu: str = ""  # the CPU's model name and core count (machine.cpu_name)
    # what OpenVINO infers in here by default: "bf16" or "f32" makes the models' cost
    # several times apart (machine.py)
    inference_precision: str | None = None

    def run(self, mode: str, workers: int, busy: bool = False) -> IngestRun | None:
        """The median run of this kind over the rounds (by photos/s; the lower of the two
        middle ones for an even count), or None."""
        same = self._runs_of((mode, workers), busy)
        return lower_median(same, key=lambda r: r.photos_per_second) if same else None

    def _runs_of(self, kind: tuple[str, int], busy: bool) -> list[IngestRun]:
        return [r for r in self.runs
                if (r.mode, r.workers) == kind and bool(r.busy) == busy]

    def _ratio(self, a: IngestRun | None, b: IngestRun | None) -> float | None:
        return a.photos_per_second / b.photos_per_second if a and b else None

    @property
    def main_run(self) -> IngestRun:
        return self.run("local", self.cores) or self.runs[-1]

    @property
    def photos_per_second(self) -> float:
        return self.main_run.photos_per_second

    @property
    def model_bound_ratio(self) -> float:
        """The median over the rounds of each round's ratio (its run with one lane per core
        against the models alone measured just before and just after that run), or, with no
        such pairs, photos/s over the model-bound limit."""
        if self.model_bound_ratio_each:
            return lower_median(self.model_bound_ratio_each)
        return self.photos_per_second / self.model_bound_photos_per_second

    @property
    def vs_models_all_cores(self) -> float | None:
        peak = self.models_all_cores_photos_per_second
        return self.photos_per_second / peak if peak else None

    @property
    def cpu_efficiency(self) -> float:
        return self.model_cpu_seconds / self.main_run.cpu_seconds

    @property
    def vs_face_recognition(self) -> float | None:
        peer = self.face_recognition_photos_per_second
        return self.photos_per_second / peer if peer else None

    def paired(self, a: tuple[str, int], b: tuple[str, int], busy: bool = False) -> list[float]:
        """Per round, run ``a`` (mode, workers) over run ``b`` of the same round: two runs
        next to each other in time, so that a drift of the machine's speed over minutes
        moves both (rounds alternate their order, so that it favours neither)."""
        firsts, seconds = ({x.repeat: x for x in reversed(self._runs_of(kind, busy))}
                           for kind in (a, b))
        return [self._ratio(firsts[r], seconds[r]) for r in range(self.repeats)
                if r in firsts and r in seconds]

    def comparison(self, name: str) -> float | None:
        """The median round of one of :data:`COMPARISONS`, or None without such pairs."""
        each = self.paired(*COMPARISONS[name])
        return lower_median(each) if each else None

    @property
    def two_vs_one(self) -> float | None:
        return self.comparison("two_workers_vs_one")

    @property
    def auto_vs_two(self) -> float | None:
        return self.comparison("default_vs_two_workers")

    @property
    def busy_two_vs_one(self) -> float | None:
        return self.comparison("busy_two_workers_vs_one")

    @property
    def busy_auto_vs_one(self) -> float | None:
        return self.comparison("busy_default_vs_one")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["runs"] = [dict(asdict(r), photos_per_second=round(r.photos_per_second, 2),
                          faces_per_second=round(r.faces_per_second, 2),
                          cpu_ms_per_photo=round(r.cpu_ms_per_photo, 2),
                          cores_used=round(r.cores_used, 2),
                          steal_cores=round(r.steal_cores, 2)) for r in self.runs]
        main = self.main_run
        d.update(
            photos_per_second=round(self.photos_per_second, 2),
            faces_per_second=round(main.faces_per_second, 2),
            model_bound_photos_per_second=round(self.model_bound_photos_per_second, 2),
            model_bound_ratio=round(self.model_bound_ratio, 3),
            model_cpu_ms_per_photo=round(self.model_cpu_seconds / self.photos * 1000, 2),
            cpu_efficiency=round(self.cpu_efficiency, 3),
            vs_models_all_cores=_round(self.vs_models_all_cores),
            models_all_cores_vs_model_bound=_round(
                self.models_all_cores_photos_per_second / self.model_bound_photos_per_second
                if self.models_all_cores_photos_per_second else None),
            steal_cores=round(main.steal_cores, 2),
            vs_face_recognition=(round(self.vs_face_recognition, 2)
                                 if self.vs_face_recognition is not None else None),
        )
        for name, pair in COMPARISONS.items():
            each = self.paired(*pair)
            d[name] = _round(lower_median(each)) if each else None
            d[f"{name}_each"] = [round(x, 3) for x in each]
        return d


# A round whose ingests and all-cores models run lost more than this many cores on average
# to the hypervisor's other guests (steal) measured the host, not this machine: the
# comparisons assume whole cores. Quiet rounds here lose 0.00-0.01 cores; on 2026-12-03
# whole rounds lost 0.2-0.3, single runs up to 0.74 (two lanes at 1.39 cores used).
STEAL_LIMIT_CORES = 0.05
STEAL_RETRIES = 2  # tries after the first, per round


def lower_median(values: list, key=None):
    """The middle value, the lower of the two middle ones for an even count."""
    ranked = sorted(values, key=key)
    return ranked[(len(ranked) - 1) // 2]


def _round(x: float | None) -> float | None:
    return round(x, 3) if x is not None else None


class BusyLoops:
    """``count`` processes that each keep a core busy until the block ends, each in a
    session of its own (so the kernel's autogroup scheduling treats them as another user's
    jobs, not as this process's)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._procs: list[subprocess.Popen] = []

    def __enter__(self) -> BusyLoops:
        for _ in range(self.count):
            self._procs.append(subprocess.Popen(
                [sys.executable, "-c", "while True: pass"], start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        time.sleep(1.5 if self.count else 0.0)  # spinning, and in the free-core reading
        return self

    def __exit__(self, *exc) -> None:
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait()


def lfw_photos(lfw_dir: Path, n: int) -> list[Path]:
    """``n`` photos spread evenly over LFW (so, mostly different people)."""
    every = sorted((Path(lfw_dir) / "images").glob("*/*.jpg"))
    step = max(1, len(every) // max(1, n))
    return every[::step][:n]


def _cpu_times() -> tuple[float, float, float]:
    """(this process and its reaped children's CPU seconds, the machine's busy seconds,
    the seconds the hypervisor gave to other guests: steal, part of busy)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    fields += [0] * (8 - len(fields))
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    busy = (sum(fields[:8]) - idle) / tick
    return ours, busy, fields[7] / tick


def _decoded(photos: list[Path], limits) -> list[np.ndarray]:
    """The photos' BGR pixels, decoded as ingest decodes them (untimed)."""
    from faceledger.images import decode_image

    return [decode_image(p.read_bytes(), limits, name=str(p)).bgr for p in photos]


def model_cpu_seconds(photos: list[Path], analyzer, limits) -> tuple[float, int]:
    """CPU seconds of the detector and the recognizer alone over ``photos`` (decoding and
    alignment done first and not counted), called as the ingest lanes call them. The
    process's CPU time, not this thread's: a runtime may infer in threads of its own
    (OpenVINO with several streams does), and nothing else runs in this process meanwhile."""
    from faceledger.pipeline.worker import FACES_PER_CALL

    images = _decoded(photos, limits)
    analyzer.analyze(images[0])  # warm up
    detect = embed = 0.0
    faces = 0
    for bgr in images:
        start = time.process_time()
        found = analyzer.detect(bgr)
        detect += time.process_time() - start
        crops = [analyzer.recognizer.align(bgr, f) for f in found]
        start = time.process_time()
        analyzer.recognizer.embed_crops(crops, flip=analyzer.spec.flip,
                                        faces_per_call=FACES_PER_CALL)
        embed += time.process_time() - start
        faces += len(found)
    return detect + embed, faces


def models_on_all_cores(photos: list[Path], analyzer, limits,
                        threads: int) -> tuple[float, float]:
    """(wall seconds, steal seconds) of the models alone over ``photos`` in ``threads``
    threads at once, one sibling analyzer each (as the ingest lanes run them), taking the
    photos from one shared queue; decoding done first and not timed."""
    import threading

    from faceledger.pipeline.worker import FACES_PER_CALL

    images = _decoded(photos, limits)
    analyzers = [analyzer] + [analyzer.sibling() for _ in range(threads - 1)]
    for each in analyzers:  # warm up: every sibling's networks are compiled or imported
        each.embed_prepared([each.prepare(images[0])], FACES_PER_CALL)
    queue = iter(images)
    lock = threading.Lock()

    def work(each) -> None:
        while True:
            with lock:
                bgr = next(queue, None)
            if bgr is None:
                return
            each.embed_prepared([each.prepare(bgr)], FACES_PER_CALL)

    workers = [threading.Thread(target=work, args=(each,)) for each in analyzers]
    steal0 = _cpu_times()[2]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start, _cpu_times()[2] - steal0


def face_recognition_run(photos: list[Path]) -> tuple[float, float, int] | None:
    """(photos/s wall, CPU ms per photo, faces) for face_recognition, or None if absent."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition
    except ImportError:
        return None
    face_recognition.face_encodings(face_recognition.load_image_file(str(photos[0])))  # warm
    faces = 0
    cpu = time.process_time()
    start = time.perf_counter()
    for path in photos:
        image = face_recognition.load_image_file(str(path))
        boxes = face_recognition.face_locations(image)
        faces += len(face_recognition.face_encodings(image, boxes))
    wall = time.perf_counter() - start
    return len(photos) / wall, (time.process_time() - cpu) / len(photos) * 1000, faces


def _peak_rss_mb(workers: int, before_children: int) -> float:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    extra = kids * workers if kids > before_children else 0
    return round((me + extra) / 1024, 1)


def _add_source(store, listing: Path, lfw_dir: Path) -> None:
    store.add_source(
        "lfw-bench", location=listing, kind="urls", root=Path(lfw_dir) / "images",
        controller="benchmark", lawful_basis="legitimate-interests",
        special_category_condition="archiving-research", purpose="benchmark",
        retention_days=1, minors_policy="none-expected",
    )


@dataclass
class _Round:
    """One try of a round: its ingests, models-alone CPU seconds, all-cores runs, and the
    cores the hypervisor took on average meanwhile."""

    runs: list[IngestRun] = field(default_factory=list)
    model_cpu: list[float] = field(default_factory=list)
    all_cores: list[tuple[float, float]] = field(default_factory=list)
    steal: float = 0.0


def _ingest_run(st, ray, mode: str, w: int, loops: int, r: int) -> IngestRun:
    """One ingest of the bench's source into the fresh store ``st``, with ``loops`` busy
    loops meanwhile."""
    if mode != "ray" and ray is not None and ray.is_initialized():
        ray.shutdown()  # its processes would be the busy runs' other jobs
    kids_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if mode == "ray" and not ray.is_initialized():
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, object_store_memory=256 * 1024 * 1024,
                 runtime_env=_ray_env(), _node_ip_address="127.0.0.1")
    with BusyLoops(loops):
        ours0, busy0, steal0 = _cpu_times()
        report = st.ingest("lfw-bench", workers=w or None, actor="bench",
                           ray="auto" if mode == "ray" else None,
                           processes=mode == "processes")
        ours1, busy1, steal1 = _cpu_times()
    return IngestRun(
        mode, w, report.photos, report.faces, report.errors, report.seconds,
        round(ours1 - ours0, 3), round(max(0.0, (busy1 - busy0) - (ours1 - ours0)), 3),
        _peak_rss_mb(w if mode == "processes" and w > 1 else 0, kids_before),
        busy=loops, lanes=report.lanes, repeat=r, steal_seconds=round(steal1 - steal0, 3))


def run_ingest_bench(
    lfw_dir: Path, models_dir: Path, n: int = 400, workers: tuple[int, ...] = (1, 2),
    queries: int = 20, ray_workers: tuple[int, ...] = (1, 2), peers: bool = True,
    process_workers: tuple[int, ...] = (), busy: int | None = None, repeats: int = 1,
) -> IngestBenchResult:
    """``busy``: busy-loop processes for the busy-machine runs (None: one core fewer than
    the machine has; 0: no busy runs). ``repeats``: rounds of the models-alone measurement
    and the lane runs (local, default, busy), one after the other, so that a slow spell of
    a shared machine moves one round, not one figure; every figure is the median over the
    rounds. The Ray and process runs and face_recognition run once, in the first round. A
    round during which the hypervisor took more than :data:`STEAL_LIMIT_CORES` of this
    machine's cores is run again, up to :data:`STEAL_RETRIES` times (``discarded_rounds``)."""
    repeats = max(1, repeats)
    photos = lfw_photos(lfw_dir, n)
    cores = os.cpu_count() or 1
    busy = max(0, cores - 1) if busy is None else busy
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs: list[IngestRun] = []
    notes: list[str] = []
    discarded: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="faceledger-bench-") as tmp:
        listing = Path(tmp) / "photos.txt"
        listing.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
        store = None

        def fresh(name: str):
            nonlocal store
            if store is not None:
                store.close()
            store = init_store(Settings(data_dir=Path(tmp) / name, models_dir=models_dir))
            _add_source(store, listing, lfw_dir)
            return store

        ray = _ray_or_none() if ray_workers else None
        if ray_workers and ray is None:
            notes.append("ray is not installed: no Ray runs (pip install 'faceledger[ray]')")

        def round_plan(r: int, first_try: bool) -> list[tuple[str, int, int, int]]:
            """(mode, workers, busy loops, round) of round ``r``'s steps."""
            # the models alone just before and just after the run with one lane per core:
            # a shared machine's speed drifts by up to two times within minutes, so the
            # round's ratio compares runs a few seconds apart (the mean of the two). The
            # other lane counts and the default worker count go on either side of that
            # run, and the busy runs one after the other, in the opposite order in every
            # other round: each comparison is of two runs close in time (see `paired`),
            # and a drift within a round favours neither side.
            bracket = ([("models", 0, 0, r), ("local", cores, 0, r), ("models", 0, 0, r)]
                       if cores in workers else [("models", 0, 0, r)])
            others = [("local", w, 0, r) for w in workers if w != cores]
            default = [("auto", 0, 0, r)]
            # one lane in the middle: the baseline of both busy comparisons, next to each
            busy_runs = ([("local", 2, busy, r), ("local", 1, busy, r), ("auto", 0, busy, r)]
                         if busy else [])
            flip = r % 2 == 1
            plan = [("models-all-cores", cores, 0, r)]
            plan += (default + bracket + others) if flip else (others + bracket + default)
            if r == 0 and first_try:  # once, and not measured again with a round
                plan += [("processes", w, 0, r) for w in process_workers]
                plan += [("ray", w, 0, r) for w in ray_workers] if ray is not None else []
            plan += busy_runs[::-1] if flip else busy_runs
            return plan

        step = 0

        def measure_round(r: int, first_try: bool) -> _Round:
            nonlocal step
            got = _Round()
            stolen = wall_seconds = 0.0  # of the round's ingests and all-cores models run
            for mode, w, loops, _ in round_plan(r, first_try):
                st = fresh(f"{step}-{mode}{w}{'-busy' if loops else ''}-{r}")
                step += 1
                if mode == "models":
                    got.model_cpu.append(model_cpu_seconds(photos, st.analyzer, st.limits)[0])
                    continue
                if mode == "models-all-cores":
                    wall, steal = models_on_all_cores(photos, st.analyzer, st.limits, w)
                    got.all_cores.append((len(photos) / wall, steal / wall))
                    stolen, wall_seconds = stolen + steal, wall_seconds + wall
                    continue
                run = _ingest_run(st, ray, mode, w, loops, r)
                got.runs.append(run)
                if mode in ("local", "auto"):
                    stolen, wall_seconds = stolen + run.steal_seconds, wall_seconds + run.seconds
            got.steal = stolen / wall_seconds if wall_seconds else 0.0
            return got

        model_cpu_each: list[float] = []
        model_cpu_round: list[int] = []  # the round of each
        all_cores: list[tuple[float, float]] = []  # (photos/s, steal cores) per round
        for r in range(repeats):
            for attempt in range(1 + STEAL_RETRIES):
                got = measure_round(r, attempt == 0)
                if got.steal <= STEAL_LIMIT_CORES or attempt == STEAL_RETRIES:
                    break
                # not this machine's cores being measured: the round again, its runs
                # dropped (but the Ray and process runs, which are not measured again)
                discarded.append({"round": r, "steal_cores": round(got.steal, 3)})
                runs.extend(x for x in got.runs if x.mode in ("processes", "ray"))
            if got.steal > STEAL_LIMIT_CORES:
                notes.append(f"round {r + 1}: the hypervisor took {got.steal:.2f} cores on "
                             f"average in {1 + STEAL_RETRIES} tries; kept the last")
            runs.extend(got.runs)
            model_cpu_each += got.model_cpu
            model_cpu_round += [r] * len(got.model_cpu)
            all_cores += got.all_cores
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        peer = face_recognition_run(photos) if peers else None
        if peers and peer is None:
            notes.append("face_recognition is not installed (the peers extra): no comparison")
        assert store is not None
        search = _search(store, lfw_dir, photos, queries) if queries else (0, 0.0, 0.0, 0.0)
        gallery = len(store.index_file)
        store.close()
    model_cpu = float(np.median(model_cpu_each))
    ratios = []
    for run in runs:
        if run.mode == "local" and run.workers == cores and not run.busy:
            cpu = [c for c, r in zip(model_cpu_each, model_cpu_round) if r == run.repeat]
            limit = len(photos) / (float(np.mean(cpu)) / cores)
            ratios.append(round(run.photos_per_second / limit, 3))
    peak, peak_steal = lower_median(all_cores) if all_cores else (0.0, 0.0)
    return IngestBenchResult(
        photos=len(photos), cores=cores, load_before=load_before,
        load_after=[round(x, 2) for x in os.getloadavg()],
        model_cpu_seconds=round(model_cpu, 3),
        model_bound_photos_per_second=round(len(photos) / (model_cpu / cores), 2),
        runs=runs, repeats=repeats,
        model_cpu_seconds_each=[round(x, 3) for x in model_cpu_each],
        model_bound_ratio_each=ratios,
        models_all_cores_photos_per_second=round(peak, 2),
        models_all_cores_each=[round(x, 2) for x, _ in all_cores],
        models_all_cores_steal_cores=round(peak_steal, 2),
        discarded_rounds=discarded,
        face_recognition_photos_per_second=round(peer[0], 2) if peer else None,
        face_recognition_cpu_ms_per_photo=round(peer[1], 1) if peer else None,
        face_recognition_faces=peer[2] if peer else None,
        gallery_faces=gallery, search_queries=search[0], search_p50_ms=search[1],
        search_p99_ms=search[2], index_p50_ms=search[3], notes=notes,
        cpu=cpu_name(), inference_precision=openvino_precision(),
    )


def _ray_or_none():
    try:
        import ray
    except ImportError:
        return None
    return ray


def _ray_env() -> dict:
    path = os.environ.get("PYTHONPATH")
    return {"env_vars": {"PYTHONPATH": path}} if path else {}


def _search(store, lfw_dir: Path, photos: list[Path], count: int):
    probes = _probes(lfw_dir, photos, count)
    context = ActionContext("bench", "benchmark", "BENCH")
    store.search(probes[0], k=10, context=context)  # load the models before timing
    totals, index_times = [], []
    for probe in probes:
        start = time.perf_counter()
        results = store.search(probe, k=10, largest_only=True, context=context)
        totals.append(time.perf_counter() - start)
        query = np.zeros((1, store.pack.embedding_size), np.float32)
        query[0, 0] = 1.0
        start = time.perf_counter()
        store.index_file.search(query, 10)
        index_times.append(time.perf_counter() - start)
        assert results
    return (len(probes), round(float(np.percentile(totals, 50)) * 1000, 2),
            round(float(np.percentile(totals, 99)) * 1000, 2),
            round(float(np.percentile(index_times, 50)) * 1000, 3))


def _probes(lfw_dir: Path, ingested: list[Path], count: int) -> list[Path]:
    """Photos not in the gallery."""
    taken = set(ingested)
    rest = [p for p in sorted((Path(lfw_dir) / "images").glob("*/*.jpg")) if p not in taken]
    step = max(1, len(rest) // count)
    return rest[::step][:count]
