"""Networks OpenVINO has compiled, kept on disk so that the next process imports them.

Compiling the 0095 recognizer for one shape costs about 0.4 s of CPU here, importing the
compiled network 0.13 s (docs/benchmarks.md): every CLI command, ingest lane, worker process
and Ray actor compiles at least one network, so each of them starts faster. The imported
network gives bit-identical outputs (a test checks it).

The setting (``FACELEDGER_COMPILED_CACHE``): ``auto`` (``$XDG_CACHE_HOME/faceledger/compiled``,
else ``~/.cache/faceledger/compiled``, on the machine that loads the models), ``off``, or a
directory.

A compiled network is the model the engine runs, so the cache is trusted no more than it is
protected:

* the directory is made with mode 0700 and used only while it is a real directory (not a
  link) owned by this user that neither group nor others may write; otherwise the network is
  compiled and nothing is written (a slower start, never a failed one);
* an entry's name is the SHA-256 of everything the compiled network depends on: the model
  files' bytes, the input shape, the compile settings, the OpenVINO version and the CPU
  (its name and instruction-set flags), so a changed model or a copied cache never matches;
* an entry is read only if it is a regular file owned by this user, under a size limit; one
  that does not import is compiled again and replaced;
* entries are written to a temporary file and renamed into place (another process never
  reads half of one), and the oldest beyond ``MAX_ENTRIES`` are removed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import FaceLedgerError
from ..images.files import open_regular, read_fd
from .files import file_sha256

log = logging.getLogger("faceledger.models")

FORMAT = 1  # bump when what goes into a key changes
MAX_ENTRIES = 64
MAX_ENTRY_BYTES = 512 << 20
STALE_PART_SECONDS = 3600


def cache_for(setting: str, env: Mapping[str, str] | None = None) -> CompiledCache | None:
    """The cache a setting names (``auto``, ``off`` or a directory), or None for ``off``."""
    value = (setting or "auto").strip()
    if value.lower() in ("off", "0", "no", "false", "none"):
        return None
    if value.lower() == "auto":
        env = os.environ if env is None else env
        base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else (
            Path.home() / ".cache")
        return CompiledCache(base / "faceledger" / "compiled")
    return CompiledCache(Path(value).expanduser())


def files_digest(paths: list[Path]) -> str:
    """One digest for a model's files: the SHA-256 of their SHA-256s, in order."""
    return hashlib.sha256("\n".join(file_sha256(p) for p in paths).encode()).hexdigest()


@functools.cache
def cpu_signature() -> str:
    """The CPU's model name and instruction-set flags (from /proc/cpuinfo where there is
    one): a network compiled for one CPU is not imported on another."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ""
    keep = [line for line in lines if line.split(":")[0].strip() in ("model name", "flags")]
    return "\n".join(sorted(set(keep)))


class CompiledCache:
    def __init__(self, directory: Path, max_entries: int = MAX_ENTRIES) -> None:
        self.directory = Path(directory)
        self.max_entries = max_entries
        self.imported = 0  # networks this cache object served from disk
        self.compiled_here = 0  # networks it had to compile
        self._warned = False

    def key(self, model_digest: str, shape: tuple[int, ...], config: Mapping[str, str],
            runtime: str, device: str) -> str:
        parts = {"format": FORMAT, "model": model_digest, "shape": list(shape),
                 "config": dict(sorted(config.items())), "runtime": runtime,
                 "device": device, "cpu": cpu_signature()}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def compiled(self, key: str, compile_: Callable[[], Any],
                 import_: Callable[[io.BytesIO], Any]) -> Any:
        """The network stored under ``key``, imported; or compiled with ``compile_`` (and
        stored, when the directory can be trusted). ``import_`` reads an exported network;
        whatever it raises on a damaged entry means: compile again."""
        directory = self._usable_directory()
        if directory is None:
            self.compiled_here += 1
            return compile_()
        path = directory / f"{key}.blob"
        data = self._read(path)
        if data is not None:
            try:
                network = import_(io.BytesIO(data))
                _touch(path)  # the oldest entries are pruned: mark this one used
                self.imported += 1
                return network
            except Exception as exc:  # a damaged or foreign entry: compile it again
                log.info("compiled network %s does not import (%s); compiling it again",
                         path, exc)
        network = compile_()
        self.compiled_here += 1
        self._write(directory, path, network)
        return network

    def _usable_directory(self) -> Path | None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(self.directory)
        except OSError as exc:
            return self._refuse(f"cannot be made ({exc.strerror or exc})")
        if not stat.S_ISDIR(info.st_mode):
            return self._refuse("is not a directory (a link or a file)")
        if info.st_uid != os.getuid():
            return self._refuse("belongs to another user")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return self._refuse("may be written by its group or by others")
        return self.directory

    def _refuse(self, why: str) -> None:
        if not self._warned:
            log.warning("compiled-network cache %s %s: networks are compiled in each "
                        "process and not stored", self.directory, why)
            self._warned = True
        return None

    def _read(self, path: Path) -> bytes | None:
        """The entry's bytes, or None when it is absent or not to be trusted: not a regular
        file (a link is not followed), not this user's, or over ``MAX_ENTRY_BYTES``."""
        if not path.exists() and not path.is_symlink():
            return None
        try:
            fd = open_regular(path, f"compiled network {path}")
        except FaceLedgerError as exc:
            log.info("%s; not read", exc.message)
            return None
        try:
            if os.fstat(fd).st_uid != os.getuid():
                log.info("compiled network %s belongs to another user; not read", path)
                return None
            return read_fd(fd, MAX_ENTRY_BYTES, f"compiled network {path}")
        except (FaceLedgerError, OSError) as exc:
            log.info("compiled network %s not read (%s)", path, exc)
            return None
        finally:
            os.close(fd)

    def _write(self, directory: Path, path: Path, network: Any) -> None:
        tmp = None
        try:
            data = network.export_model()
            data = data.getvalue() if isinstance(data, io.BytesIO) else bytes(data)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
            tmp = None
            self._prune(directory)
        except Exception as exc:  # a full or read-only disk: the network is still usable
            log.info("compiled network not stored in %s (%s)", directory, exc)
        finally:
            if tmp is not None:
                _unlink(tmp)

    def _prune(self, directory: Path) -> None:
        """Remove the least recently used entries beyond ``max_entries``, and temporary
        files an interrupted writer left (older than an hour)."""
        entries = []
        now = time.time()
        for entry in os.scandir(directory):
            if not entry.is_file(follow_symlinks=False):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime
            if entry.name.endswith(".blob"):
                entries.append((mtime, entry.path))
            elif entry.name.endswith(".part") and now - mtime > STALE_PART_SECONDS:
                _unlink(entry.path)
        for _, old in sorted(entries)[: max(0, len(entries) - self.max_entries)]:
            _unlink(old)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass
