"""Milvus beside FAISS in ``bench index``: the same gallery, the same queries, the same truth.

The gallery is inserted once into one Milvus collection (insert rate: rows per second
until flushed); each index kind is then built on it in turn (drop, create, wait, load),
measured, and released. Latency is one query after another over gRPC on loopback, with
the store's consistency (a guarantee timestamp from the server's clock taken after the last
write), beside strong and bounded consistency, and the first search after a deletion.
Server RSS is read from /proc for the PID that ``scripts/services.sh`` recorded (or
``--milvus-pid``).

The store's rotation (:class:`faceledger.store.milvus_vectors.Rotation`) is left out: it
keeps every inner product, so it changes no figure here but the rotation's own cost.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceledger.store.milvus_vectors import MilvusURL, credentials

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MilvusSetting:
    kind: str  # hnsw | ivfpq | ivfflat | flat
    index_type: str
    build: dict
    search: dict

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in {**self.build, **self.search}.items())


#: rows per sealed segment: Milvus seals a growing segment at dataCoord.segment.maxSize (512
#: MB) x sealProportion (0.23) and builds each segment's index on its own, so an IVF index's
#: nlist applies per segment, not to the whole collection
SEGMENT_BYTES = 512 * 1024 * 1024 * 0.23


def segment_rows(n: int, dim: int) -> int:
    return int(min(n, SEGMENT_BYTES // (4 * dim + 8)))


def default_settings(kinds: tuple[str, ...], n: int, dim: int) -> list[MilvusSetting]:
    rows = segment_rows(n, dim)
    nlist = int(min(4096, max(64, 4 * np.sqrt(rows))))  # Milvus's rule, per segment
    out = []
    for kind in kinds:
        if kind == "hnsw":
            for ef in (64, 128):
                out.append(MilvusSetting("hnsw", "HNSW", {"M": 16, "efConstruction": 128},
                                         {"ef": ef}))
        elif kind == "ivfpq":
            m = 32 if dim % 32 == 0 else 16
            for nprobe in (nlist // 8, nlist // 2):
                out.append(MilvusSetting("ivfpq", "IVF_PQ",
                                         {"nlist": nlist, "m": m, "nbits": 8},
                                         {"nprobe": max(1, nprobe)}))
        elif kind in ("ivfflat", "ivfsq8"):
            index_type = {"ivfflat": "IVF_FLAT", "ivfsq8": "IVF_SQ8"}[kind]
            # face embeddings are nearly isotropic: the exact top 10 spreads over most
            # lists, so the sweep reaches a quarter of them (docs/benchmarks.md, "How cost
            # grows"; at 100 k an eighth already finds the mate within 2.4 points of exact)
            for nprobe in (nlist // 16, nlist // 8, nlist // 4):
                out.append(MilvusSetting(kind, index_type, {"nlist": nlist},
                                         {"nprobe": max(1, nprobe)}))
        elif kind == "flat":
            out.append(MilvusSetting("flat", "FLAT", {}, {}))
        else:
            raise ValueError(f"unknown Milvus kind {kind!r}")
    return out


def server_rss_mb(pid: int | None) -> float:
    if not pid:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def recorded_pid() -> int | None:
    directory = Path(os.environ.get("FACELEDGER_SERVICES_DIR") or "/tmp/faceledger-services")
    try:
        return int((directory / "milvus" / "server.pid").read_text().strip())
    except (OSError, ValueError):
        return None


class MilvusGallery:
    """One collection holding the benchmark gallery."""

    def __init__(self, url: str, dim: int, pid: int | None = None) -> None:
        warnings.filterwarnings("ignore", module="pymilvus")
        from pymilvus import (
            Collection,
            CollectionSchema,
            DataType,
            FieldSchema,
            connections,
        )

        parsed = MilvusURL.parse(url)
        self.using = "bench-" + uuid.uuid4().hex[:8]
        connections.connect(alias=self.using, host=parsed.host, port=parsed.port, timeout=30,
                            **credentials())
        self.name = "bench_" + uuid.uuid4().hex[:12]
        schema = CollectionSchema([
            FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=dim)])
        self.c = Collection(self.name, schema, using=self.using, consistency_level="Strong",
                            shards_num=1)
        self.pid = pid or recorded_pid()
        self.insert_seconds = 0.0
        self.rows = 0
        self.guarantee_ts = 0

    def insert(self, ids: np.ndarray, vectors: np.ndarray, chunk: int = 10_000) -> None:
        t0 = time.perf_counter()
        for s in range(0, ids.size, chunk):
            self.c.insert([ids[s:s + chunk].tolist(), vectors[s:s + chunk]])
        self.insert_seconds += time.perf_counter() - t0
        self.rows += int(ids.size)

    def flush(self) -> None:
        t0 = time.perf_counter()
        self.c.flush()
        self.insert_seconds += time.perf_counter() - t0

    def settings_runs(self, settings: list[MilvusSetting]
                      ) -> Iterator[tuple[MilvusSetting, float]]:
        """Build each index type once (its search settings share it); yields
        (setting, build seconds) with the collection loaded on that index."""
        from pymilvus import utility

        built: tuple[str, str] | None = None
        build_s = 0.0
        for s in settings:
            key = (s.index_type, repr(sorted(s.build.items())))
            if key != built:
                if built is not None:
                    self.c.release()
                    self.c.drop_index()
                t0 = time.perf_counter()
                self.c.create_index("v", {"index_type": s.index_type, "metric_type": "IP",
                                          "params": s.build})
                utility.wait_for_index_building_complete(self.name, using=self.using)
                self.c.load()
                build_s = time.perf_counter() - t0
                built = key
            yield s, build_s

    def search(self, q: np.ndarray, k: int, setting: MilvusSetting) -> np.ndarray:
        out = np.full((q.shape[0], k), -1, np.int64)
        for s in range(0, q.shape[0], 256):
            hits = self.c.search(q[s:s + 256], "v",
                                 {"metric_type": "IP", "params": setting.search}, limit=k,
                                 **self.consistency("guarantee"))
            for row, found in enumerate(hits):
                ids = list(found.ids)
                out[s + row, :len(ids)] = ids
        return out

    def consistency(self, mode: str) -> dict:
        """``Strong``, ``Bounded``, or ``guarantee``: what a store search passes
        (:class:`~faceledger.store.milvus_vectors.MilvusVectors`), a timestamp from the
        server's clock taken after the last write (here: after the gallery was flushed)."""
        if mode != "guarantee":
            return {"consistency_level": mode}
        if not self.guarantee_ts:
            from faceledger.store.milvus_vectors import server_timestamp

            self.guarantee_ts = server_timestamp(self.using) or 0
        if not self.guarantee_ts:
            return {"consistency_level": "Strong"}
        return {"consistency_level": "Customized", "guarantee_timestamp": self.guarantee_ts}

    def search_one(self, q: np.ndarray, k: int, setting: MilvusSetting,
                   consistency: str = "guarantee") -> None:
        self.c.search(q, "v", {"metric_type": "IP", "params": setting.search}, limit=k,
                      **self.consistency(consistency))

    def search_after_erasure(self, q: np.ndarray, k: int, setting: MilvusSetting,
                             fake_id: int) -> float:
        """Seconds for the first search after a deletion, as the store runs it: delete
        (an id outside the gallery, so the figures of later settings are unchanged), take
        a timestamp from the server after it, search with that guarantee."""
        from faceledger.store.milvus_vectors import server_timestamp

        self.c.delete(f"id in [{int(fake_id)}]")
        ts = server_timestamp(self.using)
        t1 = time.perf_counter()
        self.c.search(q, "v", {"metric_type": "IP", "params": setting.search}, limit=k,
                      consistency_level="Customized", guarantee_timestamp=ts)
        self.guarantee_ts = max(self.guarantee_ts, ts or 0)
        return time.perf_counter() - t1

    def rss_mb(self) -> float:
        return server_rss_mb(self.pid)

    def drop(self) -> None:
        from pymilvus import connections, utility

        try:
            utility.drop_collection(self.name, using=self.using)
        finally:
            connections.disconnect(self.using)
