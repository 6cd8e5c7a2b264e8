"""What watches cost ingest, and what enrolled subjects cost a recognition.

    python -m faceledger_bench.alerts_bench --watches 0,10,100,1000 --subjects 0,100,1000

For each number of active watches: the time :func:`faceledger.subjects.alerts.raise_alerts`
takes for one ingest batch of 32 new faces (random unit vectors: no alert is raised, so
this is the comparison itself: one query, the templates decrypted, one matrix product),
against the store with no watch. For each number of subjects (5 templates each): the time
to load and decrypt the subjects' templates and compare one face with them (the part of a
recognition that grows with subjects; detection and embedding are the pack's, see
"Speed of the default pack"). A real store in a temporary directory; no model is loaded.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from faceledger import Settings, init_store
from faceledger.store.catalog import utc_now
from faceledger.store.subjects import SubjectTables, subject_aad, watch_aad, watch_secret_aad
from faceledger.subjects.alerts import raise_alerts
from faceledger.subjects.registry import subject_matrix

BATCH = 32
TEMPLATES = 5


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _timed(fn, reps: int) -> float:
    fn()  # warm
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def run(watch_counts: list[int], subject_counts: list[int], reps: int = 50) -> dict:
    rng = np.random.default_rng(14)
    out: dict = {"batch_faces": BATCH, "watches": [], "subjects": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = init_store(Settings(data_dir=root / "data", key_file=root / "k.key"))
        dim = store.pack.embedding_size
        (root / "src").mkdir()
        store.add_source("bench", location=root / "src", controller="bench",
                         lawful_basis="legitimate-interests",
                         special_category_condition="archiving-research",
                         purpose="benchmark", retention_days=1, minors_policy="none-expected")
        source_id = store.catalog.source("bench").id
        table = SubjectTables(store.catalog)
        expires = "2999-01-01T00:00:00+00:00"
        faces = {i + 1: v for i, v in enumerate(_unit(rng, BATCH, dim))}
        made = 0
        base = None
        for n in sorted(watch_counts):
            for vec in _unit(rng, n - made, dim):
                table.add_watch(None, "operator", "bench", store.pack.name, 1e-5,
                                "http://127.0.0.1/", None, "bench", "bench", "bench",
                                utc_now(), expires,
                                lambda wid, v=vec: (store.cipher.encrypt_vector(v, watch_aad(wid)),
                                                    store.cipher.encrypt_blob(b"s" * 32,
                                                                              watch_secret_aad(wid))))
            made = n
            seconds = _timed(lambda: raise_alerts(store, faces), reps)
            base = seconds if base is None else base
            out["watches"].append({"watches": n, "ms_per_batch": round(seconds * 1e3, 3),
                                   "ratio_to_first": round(seconds / base, 2)})
        enrolled = 0
        base = None
        probe = _unit(rng, 1, dim)[0]
        for n in sorted(subject_counts):
            for i in range(enrolled, n):
                vecs = _unit(rng, TEMPLATES, dim)
                table.add_subject(f"s{i}", source_id, "", store.pack.name, "bench", utc_now(),
                                  lambda sid, vs=vecs: [(f"{j}", store.cipher.encrypt_vector(
                                      v, subject_aad(sid))) for j, v in enumerate(vs)])
            enrolled = n

            def compare() -> None:
                _ids, templates = subject_matrix(store)
                if len(templates):
                    templates @ probe

            seconds = _timed(compare, max(5, reps // 5))
            base = seconds if base is None else base
            out["subjects"].append({"subjects": n, "templates": n * TEMPLATES,
                                    "ms_per_face": round(seconds * 1e3, 3),
                                    "ratio_to_first": round(seconds / base, 2)})
        store.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", default="0,10,100,1000")
    parser.add_argument("--subjects", default="0,100,1000")
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args(argv)
    result = run([int(x) for x in args.watches.split(",")],
                 [int(x) for x in args.subjects.split(",")], args.reps)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
