"""Approximate search for large galleries: FAISS IVF-PQ codes plus exact re-ranking.

Each face costs, in RAM, one product-quantisation code (``m * bits / 8`` bytes: 32 by
default, 64 sub-vectors of 4 bits scanned with SIMD "fast scan") and its
id (8 bytes) in an inverted list, so ten million faces fit in ~0.4 GB. A query visits
``nprobe`` of ``nlist`` lists, ranks their codes approximately, and re-ranks the best
``rerank`` candidates exactly against their float16 vectors. The float16 vectors live in
one of two places:

* in memory, inside this index (the default; 512 bytes per face more, serialised by
  ``to_bytes`` so the store can encrypt them with the rest);
* in a :class:`Float16VectorFile`, a memory-mapped file on disk whose row ``i`` is the
  vector of face id ``i`` (face ids are dense integers from the catalog), attached with
  :meth:`IVFPQIndex.attach_vectors`. Then RAM holds only the codes; re-ranking reads
  ``rerank`` rows from the page cache or the disk.

Erasure is real: :meth:`remove` deletes the code and id from the inverted list (FAISS moves
the list's last entry into the hole, so the bytes are overwritten) and deletes the float16
vector (or zeroes its row in the vector file). A removed face is never returned again and
is absent from the next ``save``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable

import faiss
import numpy as np

from ..errors import StoreError
from .vector_index import VectorIndex

_MAGIC = b"FLIVFPQ1"


def default_nlist(n: int) -> int:
    """About sqrt(n) inverted lists, rounded to a power of two, between 16 and 16384.

    Fewer lists than the usual 4 sqrt(n): face embeddings need half of the lists
    probed whatever their number (``default_nprobe``), so more lists buy little recall
    and cost k-means training time and coarse-search time."""
    if n <= 0:
        return 16
    target = math.sqrt(n)
    return int(min(16384, max(16, 2 ** round(math.log2(target)))))


def default_nprobe(nlist: int) -> int:
    """Lists visited per query: half of them.

    Face embeddings are nearly isotropic: the ten nearest faces of a probe (beyond its
    mates) lie in almost random lists. Measured at 10 M faces (2,048 lists, re-ranking
    1,024): half the lists give recall@10 0.957 against exact search at 32 ms p50 on one
    core, and find the real mate as often as exact search (0.898 vs 0.900 at rank 1); a
    quarter gives 0.91 at 17 ms. Set ``nprobe`` lower when only the mate matters."""
    return int(max(1, min(nlist, nlist // 2)))


#: lists visited and exact re-ranks per face when a k-NN graph of the gallery is built
#: (``graph_search``): measured with ``faceledger bench cluster`` at 1 M faces
GRAPH_NPROBE = 32
GRAPH_RERANK = 128


def _jitter(sample: np.ndarray, size: int, scale: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = sample[rng.integers(0, sample.shape[0], size)]
    rows = rows + rng.normal(0, scale / np.sqrt(sample.shape[1]), rows.shape).astype(np.float32)
    return np.ascontiguousarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), np.float32)


_NIBBLE_ORDERS: dict[tuple[int, int, int], np.ndarray | None] = {}


def _nibble_order(packer) -> np.ndarray | None:
    """For each 4-bit position of a packed block, the 4-bit position of the flat codes it
    comes from (the flat block's nibble count where none does), read off ``pack_all`` by
    packing one set nibble at a time; ``None`` if the packing is not such a permutation."""
    key = (int(packer.nvec), int(packer.code_size), int(packer.block_size))
    if key not in _NIBBLE_ORDERS:
        nvec, code_size, block = key
        inputs = nvec * code_size * 2
        source = np.full(block * 2, inputs, np.int64)
        flat = np.zeros(nvec * code_size, np.uint8)
        out = np.zeros(block, np.uint8)
        ok = True
        for nib in range(inputs):
            flat[:] = 0
            flat[nib // 2] = 0x0F << (4 * (nib % 2))
            out[:] = 0
            packer.pack_all(faiss.swig_ptr(flat), faiss.swig_ptr(out))
            spread = np.stack([out & 15, out >> 4], axis=1).reshape(-1)
            hit = np.flatnonzero(spread)
            if hit.size != 1 or spread[hit[0]] != 15 or source[hit[0]] != inputs:
                ok = False
                break
            source[hit[0]] = nib
        _NIBBLE_ORDERS[key] = source if ok else None
    return _NIBBLE_ORDERS[key]


class IVFPQIndex(VectorIndex):
    """IVF with product-quantised codes and exact float16 re-ranking of a shortlist."""

    kind = "ivfpq"
    needs_training = True
    MAGIC = _MAGIC

    def __init__(self, dim: int, m: int = 64, nlist: int | None = None,
                 nprobe: int | None = None, rerank: int = 1024, keep_vectors: bool = True,
                 expected_n: int | None = None, bits: int = 4) -> None:
        super().__init__(dim)
        if dim % m:
            raise StoreError(f"PQ with m={m} needs a dimension divisible by m, got {dim}")
        if bits not in (4, 8):
            raise StoreError(f"PQ codes of {bits} bits per sub-vector are not supported (4 or 8)")
        self.m = m
        self.bits = bits
        self.nlist = nlist
        self.nprobe = nprobe
        self.rerank = rerank
        self.keep_vectors = keep_vectors
        self.expected_n = expected_n
        self._index: faiss.IndexIVF | None = None
        # float16 copies for re-ranking, kept in memory unless a vector file is attached
        # grown by doubling (an ingest chunk appends a few faces: copying every float16
        # vector held for each chunk cost 0.5 GB of copying per chunk at 1 M faces)
        self._id_buf = np.zeros(0, np.int64)
        self._vec_buf = np.zeros((0, dim), np.float16)
        self._held = 0
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        #: the trained, empty FAISS index, serialised (what ``codec()`` hands out)
        self._codec_faiss: bytes | None = None
        #: where re-ranking reads exact vectors from when this index keeps none: a callable
        #: ids -> (ids still held, their float32 vectors); the store reads the catalog
        self.reranker: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None

    # -- training -----------------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        return self._index is not None and bool(self._index.is_trained)

    def train(self, sample: np.ndarray) -> None:
        sample = np.ascontiguousarray(np.asarray(sample, np.float32))
        if sample.ndim != 2 or sample.shape[1] != self.dim:
            raise StoreError(f"training sample must be N x {self.dim}, got {sample.shape}")
        if self._index is not None and self._index.ntotal:
            raise StoreError("index already holds vectors; use retrain() to rebuild it")
        if sample.shape[0] == 0:
            raise StoreError("cannot train an IVF-PQ index on an empty sample")
        nlist = self.nlist or default_nlist(self.expected_n or sample.shape[0])
        # FAISS wants >= 39 points per list; fewer lists for a small sample
        nlist = int(max(1, min(nlist, sample.shape[0] // 39)))
        if sample.shape[0] < 2 ** self.bits * 4:
            # a first ingest of a few faces: train a coarse model on jittered copies (search
            # stays exact through the re-ranking); retrain() once the gallery has grown
            sample = _jitter(sample, 2 ** self.bits * 4)
        quantizer = faiss.IndexFlatIP(self.dim)
        if self.bits == 4:  # SIMD "fast scan": 4-bit codes scanned from registers
            index = faiss.IndexIVFPQFastScan(quantizer, self.dim, nlist, self.m, 4,
                                             faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFPQ(quantizer, self.dim, nlist, self.m, 8,
                                     faiss.METRIC_INNER_PRODUCT)
        index.cp.max_points_per_centroid = 64  # bound k-means cost on large samples
        index.pq.cp.min_points_per_centroid = 1  # small samples: fine, just less precise
        index.train(sample)
        self.nlist = nlist
        self._index = index
        self._codec_faiss = faiss.serialize_index(index).tobytes()

    # -- vectors ------------------------------------------------------------------------
    def _need_index(self) -> faiss.IndexIVF:
        if self._index is None:
            raise StoreError("the IVF-PQ index is not trained; call train(sample) first")
        return self._index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = self._check(ids, vectors)
        if not ids.size:
            return
        index = self._need_index()
        index.add_with_ids(vectors, ids)
        if self.keep_vectors:
            self._append_vectors(ids, vectors.astype(np.float16))

    # the float16 copies: ``_vecs[i]`` is the vector of face ``_vec_ids[i]``
    @property
    def _vecs(self) -> np.ndarray:
        return self._vec_buf[: self._held]

    @_vecs.setter
    def _vecs(self, value: np.ndarray) -> None:
        self._vec_buf = value
        self._held = int(value.shape[0])

    @property
    def _vec_ids(self) -> np.ndarray:
        return self._id_buf[: self._held]

    @_vec_ids.setter
    def _vec_ids(self, value: np.ndarray) -> None:
        self._id_buf = value  # always set together with _vecs (same length)

    def _append_vectors(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        start, end = self._held, self._held + ids.size
        if end > self._vec_buf.shape[0]:
            cap = max(end, 2 * self._vec_buf.shape[0], 1024)
            vec_buf = np.zeros((cap, self.dim), np.float16)
            id_buf = np.zeros(cap, np.int64)
            vec_buf[:start], id_buf[:start] = self._vecs, self._vec_ids
            self._vec_buf, self._id_buf = vec_buf, id_buf
        self._vec_buf[start:end] = vecs
        self._id_buf[start:end] = ids
        self._held = end
        if self._sorted is not None and start and ids.size:
            keys, order = self._sorted
            if np.all(np.diff(ids) > 0) and ids[0] > keys[-1]:  # the usual case: new ids
                self._sorted = (np.concatenate([keys, ids]),
                                np.concatenate([order, np.arange(start, end)]))
                return
        self._sorted = None

    def _flush_pending(self) -> None:
        """Nothing waits any more (kept for the callers that flushed before reading)."""

    def _lookup(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ``ids`` in the in-memory vectors (-1 when absent)."""
        self._flush_pending()
        if self._sorted is None:
            order = np.argsort(self._vec_ids, kind="stable")
            self._sorted = (self._vec_ids[order], order)
        keys, order = self._sorted
        if keys.size == 0:
            return np.full(ids.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(keys, ids), keys.size - 1)
        return np.where(keys[pos] == ids, order[pos], -1).astype(np.int64)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not ids.size or self._index is None:
            return 0
        sizes = self._list_sizes() if self.bits == 4 else None
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        if sizes is not None and removed:
            after = self._list_sizes()
            for lst in np.flatnonzero(after != sizes):
                self._scrub_tail(int(lst), int(sizes[lst]))
        if self.keep_vectors:
            rows = self._lookup(ids)
            rows = rows[rows >= 0]
            if rows.size:
                self._vec_ids = np.delete(self._vec_ids, rows)
                self._vecs = np.delete(self._vecs, rows, axis=0)
                self._sorted = None
        return removed

    def _list_sizes(self) -> np.ndarray:
        invlists = self._need_index().invlists
        return np.fromiter((invlists.list_size(lst) for lst in range(self._index.nlist)),
                           dtype=np.int64, count=self._index.nlist)

    def _scrub_tail(self, lst: int, old_size: int) -> None:
        """Zero the code slots past the end of a fast-scan list.

        Fast-scan lists are packed in blocks of 32 codes; FAISS removal moves the last code
        into the hole and shrinks the count, but leaves the old last slot's nibbles in the
        block, where a save would write them. A removed face's code must not survive, so
        every slot past the new end of the list's last block is overwritten with zeros."""
        index = self._need_index()
        invlists = index.invlists
        packer = index.get_CodePacker()
        try:
            size = invlists.list_size(lst)
            end = min(old_size, -(-size // packer.nvec) * packer.nvec)
            if end <= size:
                return
            zero = np.zeros(packer.code_size, np.uint8)
            codes = invlists.get_codes(lst)
            for slot in range(size, end):
                packer.pack_1_c(faiss.swig_ptr(zero), slot, codes)
        finally:
            del packer

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nlist = self._index.nlist if self._index is not None else 1
        return self._search(queries, k, self.nprobe or default_nprobe(nlist), self.rerank)

    def graph_search(self, queries: np.ndarray, k: int, wide: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The search for a face's neighbours of the same person (clustering), with
        :data:`GRAPH_RERANK` exact re-ranks: more than enough for neighbours that alike,
        where the query-time 1,024 re-ranks are for a probe's every near face and cost
        most of a query. A k-NN graph of the whole gallery visits :data:`GRAPH_NPROBE`
        lists per face (an edge is kept when either of its two faces finds the other);
        ``wide`` (one new face looking for its person: one direction only) visits a
        quarter of the lists."""
        nlist = self._index.nlist if self._index is not None else 1
        nprobe = max(GRAPH_NPROBE, nlist // 4) if wide else GRAPH_NPROBE
        return self._search(queries, k, nprobe, GRAPH_RERANK)

    def _search(self, queries: np.ndarray, k: int, nprobe: int, rerank: int
                ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.asarray(queries, np.float32).reshape(-1, self.dim))
        nq = queries.shape[0]
        if self._index is None or self._index.ntotal == 0 or k <= 0:
            return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
        k = min(k, int(self._index.ntotal))
        self._index.nprobe = int(min(nprobe, self._index.nlist))
        can_rerank = self.keep_vectors or self.reranker is not None
        shortlist = max(k, rerank) if can_rerank else k
        sims, ids = self._index.search(queries, shortlist)
        if not can_rerank or rerank <= 0:
            return sims[:, :k], ids[:, :k]
        out_s = np.full((nq, k), -np.inf, np.float32)
        out_i = np.full((nq, k), -1, np.int64)
        if self.reranker is None:
            self._rerank_held(queries, ids, k, out_s, out_i)
            return out_s, out_i
        for q in range(nq):
            cand = ids[q][ids[q] >= 0]
            if not cand.size:
                continue
            cand, vecs = self.reranker(cand)
            if not cand.size:
                continue
            exact = vecs @ queries[q]
            top = np.argsort(-exact, kind="stable")[:k]
            out_s[q, : top.size] = exact[top]
            out_i[q, : top.size] = cand[top]
        return out_s, out_i

    def _rerank_held(self, queries: np.ndarray, ids: np.ndarray, k: int, out_s: np.ndarray,
                     out_i: np.ndarray, chunk_bytes: int = 64 << 20) -> None:
        """Exact re-ranking against the in-memory float16 vectors, a block of queries at a
        time (one gather and one batched product per block, not a Python step per query:
        a k-NN graph over a whole gallery searches every face)."""
        rows = self._lookup(ids.reshape(-1)).reshape(ids.shape)
        rows[ids < 0] = -1
        step = max(1, chunk_bytes // max(1, ids.shape[1] * self.dim * 4))
        for s in range(0, ids.shape[0], step):
            r = rows[s:s + step]
            held = r >= 0
            vecs = self._vecs[np.where(held, r, 0)].astype(np.float32)
            exact = np.matmul(vecs, queries[s:s + step, :, None])[:, :, 0]
            exact[~held] = -np.inf
            top = np.argsort(-exact, axis=1, kind="stable")[:, :k]
            got = np.take_along_axis(exact, top, axis=1)
            cand = np.take_along_axis(ids[s:s + step], top, axis=1)
            ok = np.isfinite(got)
            out_s[s:s + step, :top.shape[1]] = np.where(ok, got, -np.inf)
            out_i[s:s + step, :top.shape[1]] = np.where(ok, cand, -1)

    def ids(self) -> np.ndarray:
        if self._index is None:
            return np.zeros(0, np.int64)
        invlists = self._index.invlists
        parts = []
        for lst in range(self._index.nlist):
            size = invlists.list_size(lst)
            if size:
                parts.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def compact(self) -> None:
        """Removal is already physical in memory; this only releases spare capacity."""
        self._vec_ids = self._vec_ids.copy()  # drops the spare capacity
        self._vecs = self._vecs.copy()

    def iter_vectors(self, batch: int = 65536):
        """The float16 copies (as float32) of every face held; raises without them."""
        if not self.keep_vectors:
            return super().iter_vectors(batch)
        ids = self.ids()
        return self._iter(ids, batch)

    def _iter(self, ids: np.ndarray, batch: int):
        for s in range(0, ids.size, batch):
            chunk = ids[s:s + batch]
            yield chunk, self._vecs[self._lookup(chunk)].astype(np.float32)

    def memory_bytes(self) -> int:
        """Bytes held in RAM by codes, ids, centroids and in-memory float16 vectors."""
        if self._index is None:
            return 0
        ntotal = int(self._index.ntotal)
        tables = self._index.nlist * self.dim * 4 + self.dim * 256 * 4  # centroids + PQ
        codes = ntotal * (self.m * self.bits // 8 + 8)
        self._flush_pending()
        return codes + tables + int(self._vecs.nbytes + self._vec_ids.nbytes)

    # -- codes (segments on disk) -------------------------------------------------------
    def codec(self) -> bytes:
        """The trained, empty index: the coarse centroids and PQ tables, no face."""
        if self._codec_faiss is None:
            raise StoreError("the IVF-PQ index is not trained; it has no codec yet")
        return self._serialise(np.frombuffer(self._codec_faiss, np.uint8), with_vectors=False)

    @classmethod
    def from_codec(cls, data: bytes, dim: int) -> IVFPQIndex:
        index = cls.from_bytes(data, dim)
        if index._index is not None and index._index.ntotal:
            raise StoreError("an IVF-PQ codec must hold no faces")
        index.keep_vectors = False
        return index

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Each vector's list number and PQ code (FAISS's standalone code)."""
        vectors = np.ascontiguousarray(np.asarray(vectors, np.float32).reshape(-1, self.dim))
        return self._need_index().sa_encode(vectors)

    def add_codes(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Put coded faces straight into their inverted lists (no re-encoding).

        A fast-scan list stores codes packed in blocks of 32; they are packed here with
        FAISS's own packer, so the lists are byte for byte what ``add`` would have built."""
        index = self._need_index()
        ids = np.ascontiguousarray(np.asarray(ids, np.int64).reshape(-1))
        codes = np.ascontiguousarray(np.asarray(codes, np.uint8))
        if not ids.size:
            return
        if codes.shape != (ids.size, index.sa_code_size()):
            raise StoreError(f"{codes.shape} codes for {ids.size} faces of "
                             f"{index.sa_code_size()} bytes")
        coarse = index.coarse_code_size()
        lists = np.zeros(ids.size, np.int64)
        for b in range(coarse):
            lists |= codes[:, b].astype(np.int64) << (8 * b)
        if lists.max() >= index.nlist:
            raise StoreError("a code names an inverted list the index does not have")
        flat = codes[:, coarse:]
        order = np.argsort(lists, kind="stable")
        sorted_lists = lists[order]
        cuts = np.flatnonzero(np.diff(sorted_lists)) + 1
        packer = index.get_CodePacker() if self.bits == 4 else None
        try:
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, ids.size]):
                rows = order[lo:hi]
                lst = int(sorted_lists[lo])
                part_ids = np.ascontiguousarray(ids[rows])
                part = np.ascontiguousarray(flat[rows])
                if packer is not None:
                    part_ids, part = self._off_block_boundary(packer, lst, part_ids, part)
                    part = self._pack(packer, part)
                index.invlists.add_entries(lst, int(part_ids.size), faiss.swig_ptr(part_ids),
                                           faiss.swig_ptr(part))
                index.ntotal += int(hi - lo)
        finally:
            del packer

    def _off_block_boundary(self, packer, lst: int, part_ids: np.ndarray, part: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Make an append to a fast-scan list start off a block boundary.

        FAISS's ``BlockInvertedLists::add_entries`` (1.15.1) takes a whole-block ``memcpy``
        branch when the list already holds a multiple of ``block_size`` codes (1,024 for 64
        sub-vectors), and that branch copies as many bytes as the whole grown list holds,
        from the new codes' offset: it writes past the end of the list's buffer (and reads
        past ours), corrupting the heap. A store opened from many segments appends to every
        list once per segment, so at 10 M faces (lists of ~6,000) some append always starts
        at 1,024, 2,048, ... and the process aborts. So when the list is non-empty and its
        size is a multiple of the block's code count, its last code is taken out and
        re-added in front of the new ones: the append then starts at ``size - 1`` and FAISS
        packs it code by code (the path that is right). Only a non-empty list's first append
        (size 0) takes the whole-block copy, which is right there."""
        invlists = self._need_index().invlists
        size = int(invlists.list_size(lst))
        if size == 0 or size % packer.nvec:
            return part_ids, part
        last_id = int(faiss.rev_swig_ptr(invlists.get_ids(lst), size)[size - 1])
        last = np.zeros(packer.code_size, np.uint8)
        packer.unpack_1_c(invlists.get_codes(lst), size - 1, faiss.swig_ptr(last))
        invlists.resize(lst, size - 1)
        return np.r_[np.int64(last_id), part_ids], np.vstack([last[None, :], part])

    @staticmethod
    def _pack(packer, flat: np.ndarray) -> np.ndarray:
        """Flat codes -> FAISS fast-scan blocks, as ``packer.pack_all`` packs them.

        The packing only moves 4-bit values, so it is applied as one gather with the
        permutation :func:`_nibble_order` reads off the packer (one ``pack_all`` call per
        block cost ~10 us each, seconds for the 300,000 blocks of a 10 M-face open)."""
        nvec, block = packer.nvec, packer.block_size
        blocks = -(-flat.shape[0] // nvec)
        padded = np.zeros((blocks * nvec, flat.shape[1]), np.uint8)
        padded[: flat.shape[0]] = flat
        source = _nibble_order(packer)
        if source is None:  # not a nibble permutation: FAISS packs each block
            out = np.zeros(blocks * block, np.uint8)
            for b in range(blocks):
                packer.pack_all(faiss.swig_ptr(padded[b * nvec:]),
                                faiss.swig_ptr(out[b * block:]))
            return out
        nibbles = np.empty((blocks, nvec * flat.shape[1] * 2 + 1), np.uint8)
        nibbles[:, -1] = 0  # what output nibbles that no input fills read
        codes = padded.reshape(blocks, -1)
        nibbles[:, 0:-1:2] = codes & 15
        nibbles[:, 1:-1:2] = codes >> 4
        packed = nibbles[:, source]
        return (packed[:, 0::2] | (packed[:, 1::2] << 4)).reshape(-1)

    # -- persistence --------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        self._flush_pending()
        faiss_bytes = faiss.serialize_index(self._index) if self._index is not None else None
        return self._serialise(faiss_bytes, with_vectors=True)

    def _serialise(self, faiss_bytes: np.ndarray | None, with_vectors: bool) -> bytes:
        header = {
            "dim": self.dim,
            "m": self.m,
            "bits": self.bits,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "rerank": self.rerank,
            "keep_vectors": self.keep_vectors,
            "trained": faiss_bytes is not None,
        }
        buf = io.BytesIO()
        arrays = {"header": np.frombuffer(json.dumps(header).encode(), np.uint8)}
        if faiss_bytes is not None:
            arrays["faiss"] = faiss_bytes
        if with_vectors and self.keep_vectors:
            arrays["vec_ids"] = self._vec_ids
            arrays["vecs"] = self._vecs
        np.savez(buf, **arrays)
        return _MAGIC + buf.getvalue()

    @staticmethod
    def dim_of(data: bytes) -> int:
        with np.load(io.BytesIO(data[len(_MAGIC) :]), allow_pickle=False) as z:
            return int(json.loads(z["header"].tobytes())["dim"])

    @classmethod
    def from_bytes(cls, data: bytes, dim: int) -> IVFPQIndex:
        if not data.startswith(_MAGIC):
            raise StoreError("not an IVF-PQ index file")
        with np.load(io.BytesIO(data[len(_MAGIC) :]), allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes())
            if header["dim"] != dim:
                raise StoreError(f"index file holds {header['dim']}-d vectors, expected {dim}")
            self = cls(
                dim,
                m=header["m"],
                bits=header["bits"],
                nlist=header["nlist"],
                nprobe=header["nprobe"],
                rerank=header["rerank"],
                keep_vectors=header["keep_vectors"],
            )
            if header["trained"]:
                self._index = faiss.deserialize_index(z["faiss"])
                if self._index.ntotal == 0:
                    self._codec_faiss = z["faiss"].tobytes()
            if "vec_ids" in z:
                self._vec_ids = z["vec_ids"].astype(np.int64)
                self._vecs = z["vecs"].astype(np.float16)
        return self
