"""The vector index, kept in step with the catalog in memory and on disk, across processes.

The catalog is the truth. Its triggers log every face added or deleted (``vector_log``), in
commit order, whichever process or code path made the change. From that log:

* **memory**: each process's index replays the log since the position it last saw
  (:meth:`IndexFile.sync`, run before every search), so an erasure made by any process is
  honoured by every other process's next search, and a server picks up faces that a CLI
  ingest added while it serves;
* **disk**: :meth:`IndexFile.save` brings the segment files (:mod:`.segments`) up to the
  log's head: new faces become a new encrypted segment; a segment holding a deleted face is
  written again without it, and the old file is overwritten and unlinked. The files are
  always written from the catalog, never from a process's memory, so no process can write
  an erased vector back, however stale its memory.

Cost is proportional to the change: a save writes the new faces and rewrites only the
segments that lost one (at most ``SEGMENT_MAX`` faces each). Small segments are merged by
:meth:`IndexFile.compact` (run at the end of an ingest, not on the erasure path).

For IVF-PQ the index in memory holds only codes; re-ranking reads the exact vectors of a
query's shortlist from the catalog (encrypted per face there) and decrypts only those.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import numpy as np

from ..errors import IntegrityError, StoreError
from .catalog import Catalog
from .index_kinds import choose_index_kind, index_class
from .records import CheckReport
from .segments import Manifest, Segment, SegmentFiles
from .templates import Cipher
from .vector_index import VectorIndex

#: bytes per segment at most (ids and codes): the most an erasure ever rewrites
#: (4 MiB is ~4,000 faces of an exact index, ~100,000 of IVF-PQ)
SEGMENT_BYTES = 4 << 20
#: segments below this size are merged by ``compact``
SMALL_BYTES = 1 << 20
#: log entries kept behind the files' position, so a process that lags replays the log
#: instead of reloading the segments
COMPACT_AFTER = 8  # small segments that make a compaction due (see compaction_due)
LOG_KEEP = 200_000
TRAIN_SAMPLE = 65_536
GENERATION_META = "index_generation"


#: below these many vectors a search / an add runs on one OpenMP thread (one_omp_thread)
SMALL_SEARCH = 16
SMALL_ADD = 1024  # an ingest batch adds ~40; a catch-up at open adds thousands


@contextlib.contextmanager
def one_omp_thread(rows: int, small: int = SMALL_SEARCH) -> Iterator[None]:
    """Run a FAISS call on fewer than ``small`` vectors on one OpenMP thread. Spread over
    threads, a few vectors cost more than they save, and each parallel call leaves OpenMP's threads
    spinning for their next task: on a busy machine (model threads, other requests) that
    costs a lot (measured: search p50 41 ms with 2 threads, 0.7 ms with 1, over 16k LFW
    faces; an ingest adding ~40 faces per batch spent 3.5 % of its CPU in OpenMP's spin)."""
    if rows >= small:
        yield
        return
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def segment_faces(index: VectorIndex) -> int:
    """How many faces of this index's codes fit in ``SEGMENT_BYTES``."""
    code_bytes = index.encode(np.zeros((1, index.dim), np.float32)).shape[1] if (
        index.is_trained) else index.dim * 4
    return max(1, SEGMENT_BYTES // (code_bytes + 8))


class IndexFile:
    def __init__(
        self, directory: Path, pack: str, dim: int, kind: str, catalog: Catalog, cipher: Cipher
    ) -> None:
        self.root = Path(directory)
        self.directory = self.root / pack
        self.pack = pack
        self.dim = dim
        self.requested_kind = kind  # a kind, or "auto": chosen by gallery size at a build
        self.catalog = catalog
        self.files = SegmentFiles(self.directory, cipher)
        self.kind = "flat" if kind == "auto" else kind
        self.index: VectorIndex = index_class(self.kind)(dim)
        self.generation: str | None = None
        self.applied = 0  # the log position this process's memory reflects
        # FAISS may reallocate on add while a search reads: every use of the index holds this
        self._lock = threading.RLock()

    @property
    def cipher(self) -> Cipher:
        return self.files.cipher

    @cipher.setter
    def cipher(self, value: Cipher) -> None:
        self.files.cipher = value

    @property
    def path(self) -> Path:
        return self.directory

    # -- open -----------------------------------------------------------------------------
    def open(self) -> None:
        """Load the segments (or build them from the catalog), then replay the log."""
        with self._lock:
            self._remove_legacy_files()
            try:
                with self.files.locked(exclusive=False):
                    manifest = self.files.read_manifest()
                    if manifest is not None and self._wants_other_kind(manifest):
                        manifest = None
                    if manifest is not None:
                        self._load(manifest)
            except (IntegrityError, StoreError):
                manifest = None
            if manifest is None:
                self.rebuild()
                return
            self.sync()

    def _wants_other_kind(self, manifest: Manifest) -> bool:
        if self.requested_kind == "auto":  # by the size the gallery has now
            faces = manifest.faces + self.catalog.log_net(manifest.applied_seq)
            return choose_index_kind(faces) != manifest.kind
        return manifest.kind != self.requested_kind

    def _load(self, manifest: Manifest) -> None:
        """Memory := the segments of ``manifest`` (the caller holds the file lock)."""
        cls = index_class(manifest.kind)
        if manifest.codec is not None:
            index = cls.from_codec(self.files.read_codec(manifest.codec), self.dim)
        else:
            index = cls(self.dim)
        self._attach(index)
        # one add for all segments: each inverted list is then filled in one piece, not
        # appended to once per segment (at 10 M faces, 100 segments x 1,680 lists)
        parts = [self.files.read_segment(segment) for segment in manifest.segments]
        if parts:
            ids = np.concatenate([p[0] for p in parts])
            codes = np.concatenate([p[1] for p in parts])
            del parts
            index.add_codes(ids, codes)
        self.index = index
        self.kind = manifest.kind
        self.generation = manifest.generation
        self.applied = manifest.applied_seq

    def _attach(self, index: VectorIndex) -> None:
        if hasattr(index, "reranker"):
            index.keep_vectors = False  # type: ignore[attr-defined]
            index.reranker = self._exact_vectors  # type: ignore[attr-defined]

    def _reload(self) -> None:
        with self.files.locked(exclusive=False):
            manifest = self.files.read_manifest()
            if manifest is None:
                raise IntegrityError(f"the index manifest in {self.directory} is gone")
            self._load(manifest)

    # -- memory: replay the log -----------------------------------------------------------
    def sync(self, known: dict[int, np.ndarray] | None = None) -> tuple[int, int]:
        """Apply every change committed since this process last looked; returns (faces
        added, faces removed). ``known`` may give vectors the caller has at hand."""
        with self._lock:
            head, generation = self.catalog.log_state()
            if generation is not None and generation != self.generation:
                self._reload()  # another process rebuilt the index
            if head == self.applied:
                return 0, 0
            if self.catalog.log_floor() > self.applied + 1:
                self._reload()  # the log was pruned past us: start from the files
                if head == self.applied:
                    return 0, 0
            adds, dels = self.catalog.log_changes(self.applied, head)
            removed = self.index.remove(dels) if dels.size else 0
            added = 0
            for ids, vectors in self._vectors_of(adds, known or {}):
                if not self.index.is_trained:
                    self._adopt_codec(vectors)
                with one_omp_thread(ids.size, SMALL_ADD):
                    self.index.add(ids, vectors)
                added += ids.size
            self.applied = head
            return added, removed

    def _adopt_codec(self, vectors: np.ndarray) -> None:
        """Train an untrained index: use the codec on disk if a process made one already,
        otherwise train one (on the catalog) and publish it for every process."""
        with self.files.locked():
            manifest = self.files.read_manifest()
            if manifest is not None and manifest.codec is not None:
                codec = self.files.read_codec(manifest.codec)
            else:
                codec = self._train(self.kind, self.catalog, self.catalog.count_faces(self.pack))
                if manifest is None:
                    manifest = Manifest(uuid.uuid4().hex, self.kind, None, 0, [])
                name = self.files.write_codec(codec)
                self.files.write_manifest(Manifest(manifest.generation, manifest.kind, name,
                                                   manifest.applied_seq, manifest.segments))
        fresh = index_class(self.kind).from_codec(codec, self.dim)
        self._attach(fresh)
        self.index = fresh

    def _vectors_of(
        self, ids: np.ndarray, known: dict[int, np.ndarray], batch: int = 16_384
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of those faces still in the catalog, in batches."""
        for start in range(0, ids.size, batch):
            chunk = ids[start:start + batch]
            have = [int(i) for i in chunk if int(i) in known]
            rows = self.catalog.embeddings([i for i in chunk if int(i) not in known], self.pack)
            got_ids, got = self._decode(rows)
            out_ids = np.concatenate([np.asarray(have, np.int64), got_ids])
            if not out_ids.size:
                continue
            parts = [np.stack([known[i] for i in have]).astype(np.float32)] if have else []
            yield out_ids, np.concatenate(parts + [got]) if parts else got

    def _exact_vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Re-ranking: the float32 vectors of a shortlist, decrypted from the catalog."""
        return self._decode(self.catalog.embeddings(ids, self.pack))

    # -- disk: bring the files to the log's head ------------------------------------------
    def save(self, compact: bool = False) -> None:
        """Write the changes since the files' position, read from the catalog."""
        with self.files.locked():
            manifest = self.files.read_manifest()
            if manifest is None:
                self._build(self.requested_kind)
                return
            head = self.catalog.log_head()
            if self.catalog.log_floor() > manifest.applied_seq + 1:
                self._build(manifest.kind)  # cannot happen unless the log was cut by hand
                return
            adds, dels = self.catalog.log_changes(manifest.applied_seq, head)
            segments = list(manifest.segments)
            gone: set[str] = set()
            codec = manifest.codec
            if dels.size:
                segments = self._without(segments, dels, gone)
            if adds.size:
                if codec is None and index_class(manifest.kind).needs_training:
                    codec = self.files.write_codec(
                        self._train(manifest.kind, self.catalog, self.catalog.count_faces(
                            self.pack)))
                encoder = self._encoder(manifest.kind, codec)
                segments += self._write_segments(encoder, self._vectors_of(adds, {}))
            if compact and segments:
                code_bytes = self.files.read_segment(segments[0])[1].shape[1]
                segments = self._merge_small(segments, gone, code_bytes)
            self.files.write_manifest(
                Manifest(manifest.generation, manifest.kind, codec, head, segments))
            self.files.discard(gone)
            self._prune_log(head)

    def compact(self) -> None:
        """Save, merging small segments into larger ones."""
        self.save(compact=True)

    def compaction_due(self) -> bool:
        """Are there enough small segments (each ingest batch and each erasure leaves
        some) that merging them is worth a rewrite? Read from the manifest alone."""
        with self.files.locked(exclusive=False):
            manifest = self.files.read_manifest()
        if manifest is None or len(manifest.segments) < COMPACT_AFTER:
            return False
        largest = max(s.n for s in manifest.segments)
        small = [s for s in manifest.segments if s.n * 4 < largest or s.n < 1024]
        return len(small) >= COMPACT_AFTER

    def _without(self, segments: list[Segment], dels: np.ndarray, gone: set[str]
                 ) -> list[Segment]:
        out = []
        for segment in segments:
            if not segment.may_hold(dels):
                out.append(segment)
                continue
            ids, codes = self.files.read_segment(segment)
            keep = ~np.isin(ids, dels)
            if keep.all():
                out.append(segment)
                continue
            if keep.any():
                out.append(self.files.write_segment(ids[keep], codes[keep]))
            gone.add(segment.file)
        return out

    def _merge_small(self, segments: list[Segment], gone: set[str], code_bytes: int
                     ) -> list[Segment]:
        SEGMENT_MAX = max(1, SEGMENT_BYTES // (code_bytes + 8))  # noqa: N806
        small_n = max(1, SMALL_BYTES // (code_bytes + 8))
        small = [s for s in segments if s.n < small_n]
        if len(small) < 2:
            return segments
        out = [s for s in segments if s.n >= small_n]
        def coded():
            for segment in small:
                gone.add(segment.file)
                yield self.files.read_segment(segment)

        return out + self._pack_segments(coded(), SEGMENT_MAX)

    def _encoder(self, kind: str, codec: str | None) -> VectorIndex:
        cls = index_class(kind)
        if codec is None:
            return cls(self.dim)
        return cls.from_codec(self.files.read_codec(codec), self.dim)

    def _write_segments(
        self, encoder: VectorIndex, batches: Iterator[tuple[np.ndarray, np.ndarray]]
    ) -> list[Segment]:
        """Encode the batches into segments of at most ``SEGMENT_BYTES``."""
        coded = ((ids, encoder.encode(vectors)) for ids, vectors in batches)
        return self._pack_segments(coded, segment_faces(encoder))

    def _pack_segments(self, coded: Iterator[tuple[np.ndarray, np.ndarray]], most: int
                       ) -> list[Segment]:
        """Write (ids, codes) batches as segments of ``most`` faces (the last one fewer)."""
        out: list[Segment] = []
        ids_parts: list[np.ndarray] = []
        code_parts: list[np.ndarray] = []
        held = 0
        for ids, codes in coded:
            while ids.size:
                take = most - held
                ids_parts.append(ids[:take])
                code_parts.append(codes[:take])
                held += min(take, ids.size)
                ids, codes = ids[take:], codes[take:]
                if held >= most:
                    out.append(self.files.write_segment(np.concatenate(ids_parts),
                                                        np.concatenate(code_parts)))
                    ids_parts, code_parts, held = [], [], 0
        if ids_parts:
            out.append(self.files.write_segment(np.concatenate(ids_parts),
                                                np.concatenate(code_parts)))
        return out

    # -- a full build ---------------------------------------------------------------------
    def rebuild(self, kind: str | None = None) -> None:
        """Build fresh segments from the catalog (training a kind that needs it on a uniform
        sample of all faces): the way to retrain after drift, and to switch kind;
        ``kind=None`` keeps the requested kind ("auto" re-chooses by size). Every process
        reloads it at its next search."""
        requested = kind or self.requested_kind
        if requested != "auto":
            index_class(requested)  # an unknown kind is refused before anything changes
        with self._lock:
            with self.files.locked():
                self._build(requested)
            self._reload()
            self.sync()

    def _build(self, requested: str) -> None:
        """(Caller holds the file lock.) Segments of every face in one catalog snapshot."""
        old = self._read_manifest_or_none()
        with self.catalog.snapshot() as snap:
            head = snap.log_head()
            n = snap.count_faces(self.pack)
            kind = choose_index_kind(n) if requested == "auto" else requested
            codec_name = None
            if n and index_class(kind).needs_training:
                codec_name = self.files.write_codec(self._train(kind, snap, n))
            encoder = self._encoder(kind, codec_name)
            segments = self._write_segments(encoder, self._all_vectors(snap))
        generation = uuid.uuid4().hex
        manifest = Manifest(generation, kind, codec_name, head, segments)
        self.files.write_manifest(manifest)
        self.files.discard(self.files.strays(manifest) | (old.files() if old else set()))
        self.catalog.set_meta(GENERATION_META, generation)
        # the files now reflect the log up to ``head``: forget what lies LOG_KEEP behind it
        # here, so a store built from a large catalog (a first open, a retrain) does not
        # leave millions of log rows for its next ingest's save to delete
        self._prune_log(head)

    def _prune_log(self, head: int) -> None:
        """(Caller holds the file lock; the files reflect the log up to ``head``.) Forget
        the log entries more than ``LOG_KEEP`` behind ``head``."""
        if head - LOG_KEEP > 0 and self.catalog.log_floor() <= head - LOG_KEEP:
            self.catalog.prune_log(head - LOG_KEEP)

    def _read_manifest_or_none(self) -> Manifest | None:
        try:
            return self.files.read_manifest()
        except IntegrityError:
            return None

    def _train(self, kind: str, catalog: Catalog, n: int) -> bytes:
        cls = index_class(kind)
        index = cls(self.dim)
        if getattr(index, "expected_n", "absent") is None:
            index.expected_n = n  # type: ignore[attr-defined]
        ids = np.asarray(catalog.face_ids(self.pack), dtype=np.int64)
        if ids.size > TRAIN_SAMPLE:  # a uniform sample, read by id: no full decrypting scan
            ids = np.sort(np.random.default_rng(0).choice(ids, TRAIN_SAMPLE, replace=False))
        _, sample = self._decode(catalog.embeddings(ids, self.pack))
        if not sample.size:
            raise StoreError("cannot train a vector index on a store with no faces")
        index.train(sample)
        return index.codec()

    def _all_vectors(self, catalog: Catalog) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for rows in catalog.iter_embeddings(self.pack, batch=16_384):
            yield self._decode(rows)

    def _remove_legacy_files(self) -> None:
        """Index files of the layout before segments (one whole file per kind)."""
        if not self.root.is_dir():
            return
        legacy = [p for p in self.root.glob(f"{self.pack}.*") if p.is_file()]
        if legacy:
            SegmentFiles(self.root, self.cipher).discard([p.name for p in legacy])

    # -- reading --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.sync()
        with self._lock, one_omp_thread(len(queries)):  # a probe has a few faces
            return self.index.search(queries, k)

    def graph_search(self, queries: np.ndarray, k: int, wide: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The index's search for its faces' neighbours of the same person (clustering)."""
        self.sync()
        with self._lock:
            return self.index.graph_search(queries, k, wide)

    def remove(self, ids: list[int] | np.ndarray) -> int:
        """Drop deleted faces from memory now (the caller has deleted their rows, so the
        log names them); returns how many vectors left this process's memory."""
        return self.sync()[1]

    def __len__(self) -> int:
        self.sync()
        with self._lock:
            return len(self.index)

    def disk_ids(self) -> np.ndarray:
        with self.files.locked(exclusive=False):
            manifest = self.files.read_manifest()
            if manifest is None:
                return np.zeros(0, np.int64)
            parts = [self.files.read_segment(s)[0] for s in manifest.segments]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def check(self) -> CheckReport:
        """Do the catalog, this process's index and the files hold the same faces?"""
        self.save()
        self.sync()
        with self._lock:
            index_ids = self.index.ids()
        catalog_ids = np.asarray(self.catalog.face_ids(self.pack), dtype=np.int64)
        disk_ids = self.disk_ids()
        missing = np.setdiff1d(catalog_ids, index_ids)
        extra = np.setdiff1d(index_ids, catalog_ids)
        disk_missing = np.setdiff1d(catalog_ids, disk_ids)
        disk_extra = np.setdiff1d(disk_ids, catalog_ids)
        ok = (not missing.size and not extra.size and catalog_ids.size == index_ids.size
              and not disk_missing.size and not disk_extra.size
              and disk_ids.size == catalog_ids.size)
        return CheckReport(
            ok=ok,
            catalog_faces=int(catalog_ids.size),
            index_faces=int(index_ids.size),
            missing_in_index=[int(i) for i in missing[:1000]],
            extra_in_index=[int(i) for i in extra[:1000]],
            disk_faces=int(disk_ids.size),
            missing_on_disk=[int(i) for i in disk_missing[:1000]],
            extra_on_disk=[int(i) for i in disk_extra[:1000]],
        )

    def reencrypt(self, new_cipher: Cipher) -> None:
        """Write every index file again under ``new_cipher`` (key rotation)."""
        with self.files.locked():
            manifest = self.files.read_manifest()
            if manifest is not None:
                for name in sorted(manifest.files()):
                    self.files.reencrypt(name, new_cipher)
            self.files.cipher = new_cipher

    def disk_bytes(self) -> int:
        return self.files.disk_bytes()

    def _decode(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, self.dim), np.float32)
        decrypt: Callable[[bytes], np.ndarray] = self.cipher.decrypt_vector
        vectors = np.stack([decrypt(r[1]) for r in rows]).astype(np.float32)
        return ids, vectors
