"""The vector store of a cluster store: a Milvus collection, kept in step with the catalog.

Same behaviour as :class:`~faceledger.store.index_file.IndexFile` from the store's side:

* the catalog is the truth. Every process follows its change log (``vector_log``): the
  log position that the collection reflects is kept in the catalog (``store_meta``), so
  whichever process syncs first applies a change for all of them; inserts are upserts
  and deletes are idempotent, so two processes applying the same change agree;
* an erasure is out of reach at once: ``remove`` deletes in Milvus, and no search after it
  returns the face. A search does not pay for strong consistency every time (a strong
  search waits for the server's next time tick, ~200 ms); it passes a *guarantee
  timestamp* instead (:meth:`_guarantee`): one taken from the server's clock (the TSO)
  after the last change this process made or saw in the log. A change applied by any
  process is in Milvus before the log position that records it is written, so a
  timestamp taken after seeing that position covers it, and the server answers only once
  it has applied everything up to that timestamp. Between changes the guarantee stays put
  and searches are answered at once (docs/benchmarks.md, "Milvus beside FAISS");
* it becomes physical after a compaction that the store triggers (``save`` after a
  deletion flushes and compacts; Milvus's garbage collector then unlinks the old segment
  files): :func:`scan_for_vectors` looks for a vector's bytes under Milvus's data dir;
* Milvus holds vectors in the clear, so every vector and every query is multiplied by a
  secret random orthogonal matrix derived from the store key (:class:`Rotation`). Inner
  products, hence cosine similarities, are unchanged; the stored vectors are not the
  templates. Key rotation builds the collection again under the new key's rotation.
  Its limits (a few known pairs give it away): docs/privacy.md.

The server's credentials come from the environment, never from the URL or the store's
configuration: ``FACELEDGER_MILVUS_USER`` and ``FACELEDGER_MILVUS_PASSWORD`` (the server of
``scripts/services/milvus.sh`` runs with authentication on and a random root password, which
it writes to its env file); :func:`credentials` reads them for every client here.

A collection per model pack, reached through an alias: ``rebuild`` and ``reencrypt``
fill a new collection and move the alias in one step, so searches never see a half-built
one. IVF_PQ and IVF_SQ8 scores are approximate, so for them a shortlist is re-ranked with
the exact vectors from the catalog (as IndexFile does); FLAT, IVF_FLAT and HNSW keep
float32 vectors and their scores are exact.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ..errors import ConfigError, StoreError
from .catalog import Catalog
from .records import CheckReport
from .templates import Cipher

#: index kinds: the project's names (and Milvus's) -> (index type, build params, search params).
#: Milvus builds an index per sealed segment (~115 k faces of 256-d: 512 MB x 0.23), so IVF's
#: nlist is per segment (4 sqrt(rows) ~ 1,360 -> 1,024). Face embeddings are nearly
#: isotropic: the exact top 10 spreads over most lists, so IVF probes an eighth of them
#: (measured at 100 k: the real mate at rank 1 within 2.4 points of exact search, where a
#: 32nd loses 10 points; docs/benchmarks.md, "Milvus beside FAISS").
MILVUS_KINDS: dict[str, tuple[str, dict, dict]] = {
    "flat": ("FLAT", {}, {}),
    "ivfflat": ("IVF_FLAT", {"nlist": 1024}, {"nprobe": 128}),
    "ivfsq8": ("IVF_SQ8", {"nlist": 1024}, {"nprobe": 128}),
    "ivfpq": ("IVF_PQ", {"nlist": 1024, "m": 32, "nbits": 8}, {"nprobe": 128}),
    "hnsw": ("HNSW", {"M": 16, "efConstruction": 128}, {"ef": 128}),
}
#: "auto": chosen by measurement (docs/benchmarks.md, "Milvus beside FAISS", 100 k and 1 M
#: faces): IVF_SQ8 finds the real mate as often as IVF_FLAT (and at 100 k as often as HNSW
#: at ef 128, within a point), holds a quarter of their RAM (1 byte a dimension), and builds
#: in less time than HNSW (a rebuild is what a key rotation costs); its scores are
#: re-ranked exactly from the catalog. IVF_PQ's 8-bit codebooks took 4x IVF_SQ8's build.
AUTO_KIND = "ivfsq8"
RERANK = 4  # approximate scores: shortlist k * RERANK, re-ranked exactly
APPROXIMATE = frozenset({"ivfpq", "ivfsq8"})  # kinds whose scores are not the exact ones
BATCH = 8_192
APPLIED_META = "milvus_applied:"  # + physical collection name: the log position it holds
ROTATION_LABEL = "milvus-rotation"
DEFAULT_PORT = 19530


def kind_of(kind: str) -> str:
    name = {"IVF_FLAT": "ivfflat", "IVF_SQ8": "ivfsq8", "IVF_PQ": "ivfpq", "HNSW": "hnsw",
            "FLAT": "flat"}.get(
        kind, kind.lower())
    if name == "auto":
        return AUTO_KIND
    if name not in MILVUS_KINDS:
        raise ConfigError(f"unknown Milvus index kind {kind!r}: use one of "
                          f"{', '.join(sorted(MILVUS_KINDS))} or auto")
    return name


@dataclass(frozen=True)
class MilvusURL:
    host: str
    port: int
    collection: str

    @classmethod
    def parse(cls, url: str) -> MilvusURL:
        parts = urlsplit(url)
        if parts.scheme != "milvus" or not parts.hostname:
            raise ConfigError(f"{url!r}: a Milvus URL is milvus://host:port/collection")
        if parts.password:
            raise ConfigError("do not put a password in the Milvus URL")
        name = parts.path.strip("/") or "faceledger"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,150}", name):
            raise ConfigError(f"Milvus collection name {name!r}: letters, digits and _ only, "
                              "not starting with a digit")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise ConfigError(f"{url!r}: bad port") from exc
        return cls(parts.hostname, port, name)


def credentials(env: dict[str, str] | None = None) -> dict[str, str]:
    """``user``/``password`` keyword arguments for ``connections.connect`` from
    ``FACELEDGER_MILVUS_USER``/``FACELEDGER_MILVUS_PASSWORD`` ({} when neither is set)."""
    env = os.environ if env is None else env
    user = env.get("FACELEDGER_MILVUS_USER", "")
    password = env.get("FACELEDGER_MILVUS_PASSWORD", "")
    if bool(user) != bool(password):
        raise ConfigError("set both FACELEDGER_MILVUS_USER and FACELEDGER_MILVUS_PASSWORD, "
                          "or neither")
    return {"user": user, "password": password} if user else {}


class Rotation:
    """A secret random orthogonal matrix Q (dim x dim) derived from the store key:
    HKDF(SHA-256) of the cipher's key-derived secret -> seed -> QR of a Gaussian matrix.
    ``apply(x) = x @ Q`` keeps every inner product: (xQ)(yQ)^T = x y^T."""

    def __init__(self, secret: bytes, dim: int) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"faceledger milvus rotation v1 dim=%d" % dim).derive(secret)
        self.fingerprint = hashlib.sha256(b"fingerprint" + seed).hexdigest()[:16]
        rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.matrix = (q * np.sign(np.diag(r))).astype(np.float32)  # Haar-distributed

    @classmethod
    def of(cls, cipher: Cipher, dim: int) -> Rotation:
        derive = getattr(cipher, "derive", None)
        if derive is None:
            raise ConfigError("the Milvus vector store needs a cipher with key derivation "
                              "(TemplateCipher) to derive its rotation")
        return cls(derive(ROTATION_LABEL), dim)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(x, np.float32) @ self.matrix, np.float32)


def open_milvus_vectors(url: str, pack: str, dim: int, kind: str, catalog: Catalog,
                        cipher: Cipher) -> MilvusVectors:
    return MilvusVectors(MilvusURL.parse(url), pack, dim, kind, catalog, cipher)


class MilvusVectors:
    def __init__(self, url: MilvusURL | str, pack: str, dim: int, kind: str,
                 catalog: Catalog, cipher: Cipher) -> None:
        warnings.filterwarnings("ignore", module="pymilvus")  # pkg_resources deprecation
        try:
            import pymilvus  # noqa: F401
        except ImportError as exc:
            raise ConfigError("a Milvus vector store needs the cluster extra "
                              "(pip install 'faceledger[cluster]')") from exc
        self.url = MilvusURL.parse(url) if isinstance(url, str) else url
        self.pack = pack
        self.dim = dim
        self.requested_kind = kind
        self.kind = kind_of(kind)
        self.catalog = catalog
        self._cipher = cipher
        self.rotation = Rotation.of(cipher, dim)
        self.alias = self.url.collection + "_" + re.sub(r"[^A-Za-z0-9_]", "_", pack)
        self.using = f"faceledger-{uuid.uuid4().hex[:8]}"
        self.applied = -1  # the log position this process last saw the collection reach
        self.physical: str | None = None
        self._purge_due = False
        self._lock = threading.RLock()
        self._connected = False
        self.guarantee_ts = 0  # searches wait until the server has applied this timestamp
        self._changed = True  # a change made or seen since guarantee_ts was taken

    # -- plumbing -------------------------------------------------------------------------
    @property
    def cipher(self) -> Cipher:
        return self._cipher

    @cipher.setter
    def cipher(self, value: Cipher) -> None:
        self._cipher = value

    @property
    def path(self) -> str:
        return f"milvus://{self.url.host}:{self.url.port}/{self.alias}"

    def _connect(self) -> None:
        if self._connected:
            return
        from pymilvus import connections
        from pymilvus.exceptions import MilvusException

        try:
            connections.connect(alias=self.using, host=self.url.host, port=self.url.port,
                                timeout=20, **credentials())
        except MilvusException as exc:
            raise StoreError(f"cannot reach Milvus at {self.url.host}:{self.url.port}: "
                             f"{exc}") from exc
        self._connected = True

    def _collection(self, name: str | None = None):
        from pymilvus import Collection

        return Collection(name or self._resolve(), using=self.using)

    def _resolve(self) -> str:
        """The physical collection the alias names now (None: there is none yet)."""
        from pymilvus import utility

        if not utility.has_collection(self.alias, using=self.using):
            raise StoreError(f"no Milvus collection {self.alias}")
        desc = self._collection_raw(self.alias).describe()
        return str(desc["collection_name"])

    def _collection_raw(self, name: str):
        from pymilvus import Collection

        return Collection(name, using=self.using)

    def _create(self, kind: str) -> str:
        from pymilvus import Collection, CollectionSchema, DataType, FieldSchema

        name = f"{self.alias}_{uuid.uuid4().hex[:12]}"
        schema = CollectionSchema(
            [FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
             FieldSchema("v", DataType.FLOAT_VECTOR, dim=self.dim)],
            description=f"faceledger pack={self.pack} kind={kind} "
                        f"rotation={self.rotation.fingerprint}")
        c = Collection(name, schema, using=self.using, consistency_level="Strong",
                       shards_num=1)
        index_type, params, _ = MILVUS_KINDS[kind]
        c.create_index("v", {"index_type": index_type, "metric_type": "IP",
                             "params": params})
        c.load()
        return name

    @staticmethod
    def _described(c) -> dict[str, str]:
        text = c.description or ""
        return dict(p.split("=", 1) for p in text.split() if "=" in p)

    # -- open -----------------------------------------------------------------------------
    def open(self) -> None:
        """Connect; build the collection from the catalog if there is none, or if it was
        made under another key's rotation or another index kind; then catch up."""
        from pymilvus import utility

        with self._lock:
            self._connect()
            if not utility.has_collection(self.alias, using=self.using):
                self.rebuild()
                return
            physical = self._resolve()
            c = self._collection(physical)
            described = self._described(c)
            wanted = kind_of(self.requested_kind)
            if (described.get("rotation") != self.rotation.fingerprint
                    or described.get("kind") != wanted):
                self.rebuild()
                return
            self.kind = wanted
            c.load()
            self.physical = physical
            self.sync()

    # -- following the log ----------------------------------------------------------------
    def _shared_position(self, physical: str) -> int:
        value = self.catalog.meta(APPLIED_META + physical)
        return int(value) if value is not None else -1

    def sync(self, known: dict[int, np.ndarray] | None = None) -> tuple[int, int]:
        """Apply every change committed since the collection's recorded position."""
        with self._lock:
            self._connect()
            head = self.catalog.log_head()
            if head == self.applied:
                return 0, 0
            self._changed = True  # whoever applies it, it is in Milvus once recorded
            physical = self._resolve()
            position = self._shared_position(physical)
            if position >= head:
                self.applied, self.physical = head, physical
                return 0, 0
            if position < 0 or self.catalog.log_floor() > position + 1:
                self.rebuild()  # the log no longer reaches back to the collection's state
                return 0, 0
            adds, dels = self.catalog.log_changes(position, head)
            c = self._collection(physical)
            removed = self._delete(c, dels)
            added = 0
            for ids, vectors in self._vectors_of(adds, known or {}):
                c.upsert([ids.tolist(), self.rotation.apply(vectors)])
                added += ids.size
                self._changed = True
            if adds.size:
                # a face erased while we read it may have been upserted after the eraser's
                # delete: delete again whatever the catalog no longer holds
                gone = np.setdiff1d(adds, np.asarray(sorted(self.catalog.existing_face_ids(
                    [int(i) for i in adds])), np.int64))
                self._delete(c, gone)
            if self._shared_position(physical) < head:
                self.catalog.set_meta(APPLIED_META + physical, str(head))
            self.applied, self.physical = head, physical
            return added, removed

    def _delete(self, c, ids: np.ndarray) -> int:
        if not ids.size:
            return 0
        for start in range(0, ids.size, BATCH):
            chunk = [int(i) for i in ids[start:start + BATCH]]
            c.delete(f"id in {chunk}")
        self._purge_due = True
        self._changed = True
        return int(ids.size)

    def _vectors_of(self, ids: np.ndarray, known: dict[int, np.ndarray]
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, ids.size, BATCH):
            chunk = ids[start:start + BATCH]
            have = [int(i) for i in chunk if int(i) in known]
            got_ids, got = self._decode(self.catalog.embeddings(
                [int(i) for i in chunk if int(i) not in known], self.pack))
            out_ids = np.concatenate([np.asarray(have, np.int64), got_ids])
            if not out_ids.size:
                continue
            parts = [np.stack([known[i] for i in have]).astype(np.float32)] if have else []
            yield out_ids, np.concatenate(parts + [got]) if parts else got

    def _decode(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, self.dim), np.float32)
        vectors = np.stack([self.cipher.decrypt_vector(r[1]) for r in rows])
        return ids, vectors.astype(np.float32)

    # -- reading --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, np.float32).reshape(-1, self.dim)
        self.sync()
        n = len(queries)
        sims = np.full((n, k), -np.inf, np.float32)
        out = np.full((n, k), -1, np.int64)
        if not n or k <= 0:
            return sims, out
        _, _, search_params = MILVUS_KINDS[self.kind]
        limit = min(16_384, k * RERANK if self.kind in APPROXIMATE else k)
        c = self._collection(self.physical)
        hits = c.search(self.rotation.apply(queries), "v",
                        {"metric_type": "IP", "params": search_params}, limit=limit,
                        **self._consistency())
        for row, found in enumerate(hits):
            ids = np.asarray(list(found.ids), np.int64)
            scores = np.asarray(list(found.distances), np.float32)
            if self.kind in APPROXIMATE and ids.size:
                got_ids, vectors = self._decode(self.catalog.embeddings(ids, self.pack))
                scores = vectors @ queries[row]
                ids = got_ids
                order = np.argsort(-scores)
                ids, scores = ids[order], scores[order]
            take = min(k, ids.size)
            out[row, :take] = ids[:take]
            sims[row, :take] = scores[:take]
        return sims, out

    def _consistency(self) -> dict:
        """A search's consistency: 'read everything up to ``guarantee_ts``', renewed from
        the server's clock when something changed since it was taken (strong consistency
        if the server cannot hand out a timestamp)."""
        with self._lock:
            if self._changed:
                ts = server_timestamp(self.using)
                if ts is None:
                    return {"consistency_level": "Strong"}
                self.guarantee_ts, self._changed = max(self.guarantee_ts, ts), False
            return {"consistency_level": "Customized", "guarantee_timestamp": self.guarantee_ts}

    def remove(self, ids: list[int] | np.ndarray) -> int:
        """The caller deleted these faces' rows: delete them in Milvus now (the log names
        them too, so every other process's view agrees); how many the log removed."""
        with self._lock:
            removed = self.sync()[1]
            wanted = np.asarray(ids, np.int64)
            if wanted.size:
                self._delete(self._collection(self.physical), wanted)
            return removed

    def ids(self) -> np.ndarray:
        self.sync()
        c = self._collection(self.physical)
        parts = []
        it = c.query_iterator(batch_size=BATCH, expr="id >= 0", output_fields=["id"],
                              consistency_level="Strong")
        try:
            while True:
                rows = it.next()
                if not rows:
                    break
                parts.append(np.fromiter((r["id"] for r in rows), np.int64, len(rows)))
        finally:
            it.close()
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self.ids().size)

    # -- persistence ----------------------------------------------------------------------
    def save(self, compact: bool = False) -> None:
        """Catch up; after a deletion, flush and trigger a compaction so that Milvus
        writes its segments again without the deleted faces (the garbage collector then
        unlinks the old files). ``compact`` waits for the compaction to finish."""
        with self._lock:
            self.sync()
            if not (self._purge_due or compact):
                return
            c = self._collection(self.physical)
            c.flush()
            c.compact()
            if compact:
                c.wait_for_compaction_completed(timeout=600)
            self._purge_due = False

    def compact(self) -> None:
        self.save(compact=True)

    def compaction_due(self) -> bool:
        """Milvus merges its own segments; what the project must trigger (a compaction
        after deletions, so erased vectors leave the files) a save does already."""
        return False

    def rebuild(self, kind: str | None = None) -> None:
        """A new collection from one catalog snapshot, indexed and loaded, then the alias
        moves to it and the old one is dropped; changes after the snapshot are replayed
        from the log by the next sync."""
        from pymilvus import utility

        wanted = kind_of(kind or self.requested_kind)
        with self._lock:
            self._connect()
            old = self._resolve() if utility.has_collection(self.alias, using=self.using) \
                else None
            name = self._create(wanted)
            c = self._collection(name)
            with self.catalog.snapshot() as snap:
                head = snap.log_head()
                for rows in snap.iter_embeddings(self.pack, batch=BATCH):
                    ids, vectors = self._decode(rows)
                    if ids.size:
                        c.insert([ids.tolist(), self.rotation.apply(vectors)])
            c.flush()
            self._changed = True
            self.catalog.set_meta(APPLIED_META + name, str(head))
            if old is None:
                utility.create_alias(name, self.alias, using=self.using)
            else:
                utility.alter_alias(name, self.alias, using=self.using)
                utility.drop_collection(old, using=self.using)
            self.kind, self.physical, self.applied = wanted, name, -1
            self.sync()

    def check(self) -> CheckReport:
        """Do the catalog and the collection hold the same faces (and is the collection
        under this key's rotation)?"""
        self.sync()
        c = self._collection(self.physical)
        rotation_ok = self._described(c).get("rotation") == self.rotation.fingerprint
        held = self.ids()
        catalog_ids = np.asarray(self.catalog.face_ids(self.pack), dtype=np.int64)
        missing = np.setdiff1d(catalog_ids, held)
        extra = np.setdiff1d(held, catalog_ids)
        return CheckReport(
            ok=bool(rotation_ok and not missing.size and not extra.size),
            catalog_faces=int(catalog_ids.size), index_faces=int(held.size),
            missing_in_index=[int(i) for i in missing[:1000]],
            extra_in_index=[int(i) for i in extra[:1000]],
            disk_faces=int(held.size), missing_on_disk=[int(i) for i in missing[:1000]],
            extra_on_disk=[int(i) for i in extra[:1000]],
        )

    def reencrypt(self, new_cipher: Cipher) -> None:
        """Key rotation: the collection again under the new key's rotation (a rebuild
        from the catalog, whose embeddings the new cipher reads); the old collection, and
        so every vector under the old rotation, is dropped."""
        with self._lock:
            self._cipher = new_cipher
            self.rotation = Rotation.of(new_cipher, self.dim)
            self.rebuild(self.kind)

    def disk_bytes(self) -> int:
        return 0  # the vectors live in Milvus's data dir, not in the store's

    def close(self) -> None:
        if self._connected:
            from pymilvus import connections

            connections.disconnect(self.using)
            self._connected = False

    def drop(self) -> None:
        """Drop the collection and its alias (tests, benchmarks)."""
        from pymilvus import utility

        self._connect()
        if utility.has_collection(self.alias, using=self.using):
            physical = self._resolve()
            utility.drop_alias(self.alias, using=self.using)
            utility.drop_collection(physical, using=self.using)


def server_timestamp(using: str) -> int | None:
    """A fresh hybrid timestamp from the Milvus server's TSO (the clock that orders every
    insert and delete), or None if the server cannot give one. pymilvus 2.4 has no public
    call for it; the RPC (``AllocTimestamp``, Milvus >= 2.3) is on its gRPC stub. Milvus
    2.3.5 returns timestamp 0 for a delete, so the delete's own timestamp cannot be used."""
    from pymilvus import connections
    from pymilvus.grpc_gen import milvus_pb2

    try:
        stub = connections._fetch_handler(using)._stub
        reply = stub.AllocTimestamp(milvus_pb2.AllocTimestampRequest(), timeout=10)
    except Exception:  # noqa: BLE001  (UNIMPLEMENTED on an older server, a private API moved)
        return None
    if reply.status.code or reply.status.error_code or not reply.timestamp:
        return None
    return int(reply.timestamp)


def scan_for_vectors(data_dir: Path, vectors: np.ndarray, window: int = 32) -> dict[int, list[str]]:
    """Which files under ``data_dir`` hold the bytes of each vector (row i -> paths): a
    ``window``-byte slice from the middle of each float32 vector (8 floats: no two
    unrelated vectors share one by chance), searched in every file."""
    pats = []
    for v in np.asarray(vectors, np.float32):
        raw = v.tobytes()
        mid = max(0, len(raw) // 2 - window // 2)
        pats.append(raw[mid:mid + window])
    found: dict[int, list[str]] = {i: [] for i in range(len(pats))}
    for path in sorted(Path(data_dir).rglob("*")):
        try:
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
        except OSError:
            continue  # a file removed while we scan
        for i, pat in enumerate(pats):
            if pat in data:
                found[i].append(str(path.relative_to(data_dir)))
    return found
