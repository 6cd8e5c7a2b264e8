"""HTTP load benchmark: one-face searches over loopback at 1, 8 and 32 concurrent clients.

    python benchmarks/http_load.py --data /tmp/fl-bench --faces 10000
    python benchmarks/http_load.py --data /tmp/fl-bench --skip-build --concurrency 1,8,32

1. Builds (or reuses) a store in --data holding LFW photos until the gallery has about
   --faces faces (ingested with the library, like ``faceledger ingest``). Each person's last
   photo is kept out of the gallery and used as a probe.
2. Starts ``faceledger serve`` on 127.0.0.1 in a subprocess (so the load generator does not
   share the server's interpreter) and creates an investigator key.
3. For each concurrency level, N asyncio clients (httpx) post probes to ``/api/search``
   (``largest_only=true``, k=10) back to back for --seconds or --max-requests, whichever
   comes first, after a short warm-up. Prints requests/s and latency percentiles as a
   Markdown table. Loopback only; every count and time is bounded.
4. With --during-ingest N, an operator first starts (over the API) an ingest of the next N
   LFW photos after the gallery, and the levels run while it does; the ingest's own rate
   is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from faceledger import Settings, init_store
from faceledger.api.keys import KeyStore, Role
from faceledger.api.server import free_port
from faceledger.config import default_datasets_dir

SOURCE = "bench-lfw"


def later_photos(lfw_images: Path, faces: int, count: int) -> list[Path]:
    """The first ``count`` photos of the people after the gallery's last person."""
    gallery, _ = plan(lfw_images, faces)
    last = gallery[-1].parent.name
    out: list[Path] = []
    for person in sorted(p for p in lfw_images.iterdir() if p.is_dir() and p.name > last):
        out.extend(sorted(person.glob("*.jpg")))
        if len(out) >= count:
            break
    return out[:count]


def start_ingest(url: str, data: Path, photos: list[Path]) -> tuple[str, int]:
    """Register a source of ``photos`` (admin) and start its ingest (operator)."""
    name = f"bench-during-{int(time.time())}"
    listing = data / f"{name}.txt"
    listing.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
    with KeyStore.for_data_dir(data) as keys:
        admin = keys.create("http-load-admin", Role.ADMIN).secret
        operator = keys.create("http-load-operator", Role.OPERATOR).secret
    r = httpx.post(url + "/api/sources", headers={"Authorization": f"Bearer {admin}"}, json={
        "name": name, "location": str(listing), "kind": "urls",
        "root": str((default_datasets_dir() / "lfw" / "images").resolve()),
        "controller": "faceledger benchmarks", "lawful_basis": "legitimate-interests",
        "special_category_condition": "archiving-research",
        "purpose": "measure search speed during an ingest", "retention": "30d",
        "minors_policy": "none-expected"}, timeout=60)
    r.raise_for_status()
    r = httpx.post(url + "/api/ingest/runs", headers={"Authorization": f"Bearer {operator}"},
                   json={"source": name}, timeout=60)
    r.raise_for_status()
    return operator, int(r.json()["id"])


def plan(lfw_images: Path, faces: int) -> tuple[list[Path], list[Path]]:
    """Gallery photos (all but each person's last, in name order, about ``faces`` faces at
    LFW's ~1.1 faces per photo) and probes (the last photo of people with two or more)."""
    gallery: list[Path] = []
    probes: list[Path] = []
    want = int(faces / 1.1)
    for person in sorted(p for p in lfw_images.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 2:
            gallery.extend(photos[:-1])
            probes.append(photos[-1])
        else:
            gallery.extend(photos)
        if len(gallery) >= want:
            break
    return gallery, probes


def build(data: Path, faces: int, workers: int) -> list[Path]:
    lfw = default_datasets_dir() / "lfw" / "images"
    gallery, probes = plan(lfw, faces)
    settings = Settings.from_env(data_dir=data, workers=workers)
    with init_store(settings) as store:
        if SOURCE not in {s.name for s in store.sources()}:
            listing = data / "bench-gallery.txt"
            listing.write_text("".join(p.resolve().as_uri() + "\n" for p in gallery))
            store.add_source(SOURCE, location=listing, kind="urls", root=lfw,
                             controller="faceledger benchmarks",
                             lawful_basis="legitimate-interests",
                             special_category_condition="archiving-research",
                             purpose="measure search speed on a research dataset",
                             retention_days=30, minors_policy="none-expected")
        started = time.perf_counter()
        report = store.ingest(SOURCE, workers=workers)
        counts = store.counts()
    print(f"gallery: {len(gallery)} photos listed, {report.photos} read now, "
          f"{counts.get('faces', '?')} faces in the store, "
          f"ingest {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return probes


async def client_loop(client: httpx.AsyncClient, probes: list[bytes], start: int,
                      stop_at: float, budget: list[int], latencies: list[float],
                      errors: list[int]) -> None:
    i = start
    while time.perf_counter() < stop_at and budget[0] > 0:
        budget[0] -= 1
        body = probes[i % len(probes)]
        i += 1
        t0 = time.perf_counter()
        r = await client.post("/api/search", files={"probe": ("probe.jpg", body, "image/jpeg")},
                              data={"purpose": "benchmark", "case": "BENCH-1", "k": "10",
                                    "largest_only": "true"})
        dt = time.perf_counter() - t0
        if r.status_code == 200:
            latencies.append(dt)
        else:
            errors.append(r.status_code)


async def level(url: str, key: str, probes: list[bytes], concurrency: int, seconds: float,
                max_requests: int, warmup: int) -> dict:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        warm: list[float] = []
        await asyncio.gather(*(client_loop(client, probes, i * 7, time.perf_counter() + 60,
                                           [warmup], warm, []) for i in range(concurrency)))
        latencies: list[float] = []
        errors: list[int] = []
        budget = [max_requests]
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(client_loop(client, probes, i * 13, stop_at, budget, latencies,
                                           errors) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "concurrency": concurrency, "requests": len(latencies), "errors": len(errors),
        "seconds": elapsed, "rps": len(latencies) / elapsed,
        "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="store directory (created if absent)")
    ap.add_argument("--faces", type=int, default=10_000, help="gallery size to aim for")
    ap.add_argument("--workers", type=int, default=2, help="ingest worker processes")
    ap.add_argument("--skip-build", action="store_true", help="reuse the store as it is")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=20.0, help="per level")
    ap.add_argument("--max-requests", type=int, default=2000, help="per level")
    ap.add_argument("--warmup", type=int, default=3, help="requests per client before timing")
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--during-ingest", type=int, default=0, metavar="N",
                    help="run the levels while an ingest of N more LFW photos runs")
    args = ap.parse_args()

    data = args.data.resolve()
    if args.skip_build:
        _, probes = plan(default_datasets_dir() / "lfw" / "images", args.faces)
    else:
        probes = build(data, args.faces, args.workers)
    probe_bytes = [p.read_bytes() for p in probes[: args.probes]]
    with KeyStore.for_data_dir(data) as keys:
        key = keys.create("http-load-benchmark", Role.INVESTIGATOR).secret

    port = free_port()
    env = dict(os.environ)
    server = subprocess.Popen(
        [sys.executable, "-c", "from faceledger.cli.main import main; main()",
         "--data", str(data), "serve",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("server did not start: " + (server.stderr.read() or b"").decode())
            time.sleep(0.3)
        ingest = None
        if args.during_ingest:
            lfw = default_datasets_dir() / "lfw" / "images"
            ingest = start_ingest(url, data, later_photos(lfw, args.faces, args.during_ingest))
        rows = []
        for n in (int(x) for x in args.concurrency.split(",")):
            row = asyncio.run(level(url, key, probe_bytes, n, args.seconds, args.max_requests,
                                    args.warmup))
            rows.append(row)
            print(f"c={n}: {row['rps']:.1f} req/s, p50 {row['p50']:.0f} ms, "
                  f"p99 {row['p99']:.0f} ms, {row['errors']} errors", file=sys.stderr)
        if ingest is not None:
            operator, run_id = ingest
            run = httpx.get(f"{url}/api/ingest/runs/{run_id}", timeout=60,
                            headers={"Authorization": f"Bearer {operator}"}).json()
            rate = run["done"] / run["elapsed"] if run["elapsed"] else 0.0
            print(f"ingest during the levels: run {run_id} {run['status']}, {run['done']}/"
                  f"{run['total']} photos, {run['faces']} faces, {rate:.1f} photos/s",
                  file=sys.stderr)
            if run["status"] == "running":
                httpx.post(f"{url}/api/ingest/runs/{run_id}/stop", timeout=60,
                           headers={"Authorization": f"Bearer {operator}"})
    finally:
        server.terminate()
        server.wait(30)

    print("| concurrent clients | requests | errors | requests/s | p50 ms | p90 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['requests']} | {r['errors']} | {r['rps']:.1f} | "
              f"{r['p50']:.0f} | {r['p90']:.0f} | {r['p99']:.0f} |")


if __name__ == "__main__":
    main()
