"""The vector index's files: encrypted, append-only segments under one manifest.

A segment holds the codes of some faces (``ids`` and ``codes``, as the index kind's
``encode`` makes them), encrypted with the store cipher as one blob; the codec (the trained,
empty index) is a blob of its own. ``manifest.json`` names the codec, the live segments and
the position in the catalog's vector log that they reflect. Nothing in a segment is ever
changed in place: a change writes new files, then a new manifest (an atomic rename), then
overwrites and unlinks the files it replaced.

Writers take an exclusive ``flock`` on ``.lock`` (and a thread lock, since ``flock`` does
not order threads of one process); readers take it shared while they read the files a
manifest names, so a segment is never deleted under a reader. This module only reads and
writes files; what goes into them is decided by :mod:`faceledger.store.index_file`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import IntegrityError, StoreError
from .templates import Cipher

MANIFEST = "manifest.json"
LOCK = ".lock"
FORMAT = 1
SEGMENT_MAGIC = b"FLSEG001"  # then n (u64), code bytes (u32), n ids (i64), n codes


@dataclass(frozen=True)
class Segment:
    file: str
    n: int
    min_id: int
    max_id: int

    def may_hold(self, ids: np.ndarray) -> bool:
        return bool(np.any((ids >= self.min_id) & (ids <= self.max_id)))


@dataclass(frozen=True)
class Manifest:
    generation: str
    kind: str
    codec: str | None
    applied_seq: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def faces(self) -> int:
        return sum(s.n for s in self.segments)

    def files(self) -> set[str]:
        names = {s.file for s in self.segments}
        return names | ({self.codec} if self.codec else set())


class SegmentFiles:
    def __init__(self, directory: Path, cipher: Cipher) -> None:
        self.directory = Path(directory)
        self.cipher = cipher
        self._thread_lock = threading.RLock()

    # -- locking --------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, exclusive: bool = True) -> Iterator[None]:
        """Hold the index's file lock (exclusive for writers, shared for readers)."""
        self._ensure_dir()
        with self._thread_lock:
            fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                yield
            finally:
                os.close(fd)  # releases the lock

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- manifest -------------------------------------------------------------------------
    def read_manifest(self) -> Manifest | None:
        path = self.directory / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{path}: unreadable index manifest ({exc})") from exc
        if data.get("format") != FORMAT:
            raise IntegrityError(f"{path}: index manifest format {data.get('format')!r}")
        try:
            return Manifest(
                generation=str(data["generation"]), kind=str(data["kind"]),
                codec=data["codec"], applied_seq=int(data["applied_seq"]),
                segments=[Segment(str(s["file"]), int(s["n"]), int(s["min_id"]),
                                  int(s["max_id"])) for s in data["segments"]],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{path}: malformed index manifest ({exc})") from exc

    def write_manifest(self, manifest: Manifest) -> None:
        body = {"format": FORMAT, **asdict(manifest)}
        self._write_file(MANIFEST, json.dumps(body, indent=1).encode())

    # -- blobs ----------------------------------------------------------------------------
    def write_codec(self, codec: bytes) -> str:
        name = f"codec-{uuid.uuid4().hex}.bin"
        self._write_file(name, self.cipher.encrypt_blob(codec))
        return name

    def read_codec(self, name: str) -> bytes:
        return self.cipher.decrypt_blob(self._read_file(name))

    def write_segment(self, ids: np.ndarray, codes: np.ndarray) -> Segment:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.shape[0] != ids.size or not ids.size:
            raise StoreError(f"a segment needs one code per id ({ids.size} ids, "
                             f"{codes.shape[0]} codes) and at least one face")
        codes = codes.reshape(ids.size, -1)
        header = SEGMENT_MAGIC + struct.pack("<QI", ids.size, codes.shape[1])
        name = f"seg-{uuid.uuid4().hex}.bin"
        self._write_file(name, self.cipher.encrypt_blob(header + ids.astype("<i8").tobytes()
                                                        + codes.tobytes()))
        return Segment(name, int(ids.size), int(ids.min()), int(ids.max()))

    def read_segment(self, segment: Segment) -> tuple[np.ndarray, np.ndarray]:
        data = self.cipher.decrypt_blob(self._read_file(segment.file))
        head = len(SEGMENT_MAGIC) + 12
        if not data.startswith(SEGMENT_MAGIC) or len(data) < head:
            raise IntegrityError(f"index segment {segment.file} is malformed")
        n, code_size = struct.unpack("<QI", data[len(SEGMENT_MAGIC):head])
        if len(data) != head + n * (8 + code_size):
            raise IntegrityError(f"index segment {segment.file} is truncated or padded")
        ids = np.frombuffer(data, "<i8", count=n, offset=head).astype(np.int64)
        codes = np.frombuffer(data, np.uint8, count=n * code_size,
                              offset=head + 8 * n).reshape(n, code_size)
        if ids.size != segment.n:
            raise IntegrityError(f"index segment {segment.file} holds {ids.size} faces, "
                                 f"its manifest says {segment.n}")
        return ids, codes

    def reencrypt(self, name: str, new_cipher: Cipher) -> None:
        """Write file ``name`` again under ``new_cipher`` (key rotation)."""
        plain = self.cipher.decrypt_blob(self._read_file(name))
        self._write_file(name, new_cipher.encrypt_blob(plain))

    # -- housekeeping ---------------------------------------------------------------------
    def discard(self, names: set[str] | list[str]) -> None:
        """Overwrite these files with zeros, then unlink them."""
        for name in names:
            path = self.directory / name
            try:
                size = path.stat().st_size
                with open(path, "r+b") as f:
                    f.write(b"\0" * size)
                    f.flush()
                    os.fsync(f.fileno())
                path.unlink()
            except FileNotFoundError:
                continue

    def strays(self, manifest: Manifest | None) -> set[str]:
        """Files that no manifest names (left by a writer that died mid-change)."""
        if not self.directory.is_dir():
            return set()
        keep = (manifest.files() if manifest else set()) | {MANIFEST, LOCK}
        return {p.name for p in self.directory.iterdir() if p.is_file() and p.name not in keep}

    def disk_bytes(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())

    # -- files ----------------------------------------------------------------------------
    def _read_file(self, name: str) -> bytes:
        try:
            return (self.directory / name).read_bytes()
        except OSError as exc:
            raise IntegrityError(f"index file {name} cannot be read ({exc})") from exc

    def _write_file(self, name: str, data: bytes) -> None:
        """Write atomically (a private temporary file, fsync, rename). The directory is
        fsynced with the manifest, whose rename comes after those of the files it names."""
        self._ensure_dir()
        tmp = self.directory / f".{name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if name == MANIFEST:
            self._fsync_dir()

    def _fsync_dir(self) -> None:
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
