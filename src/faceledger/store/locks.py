"""Named locks: who is doing something right now. One interface (:class:`Lock`, made by a
store's :class:`Locks`), two implementations: OS locks under ``<data dir>/locks`` for the
embedded store (:class:`FileLock`, here) and PostgreSQL advisory locks for a cluster store,
whose writers run on many machines (:class:`~faceledger.store.pg_locks.PgLock`).

A long action (an ingest run of one source, an erasure) holds ``fcntl.flock`` on its lock
file for its whole life. The kernel drops the lock when the process dies, however it dies
(kill -9 included), so a lock that can be taken means nobody is doing that action: a run
still marked "running" whose lock is free was left by a dead process.

``flock`` locks belong to an open file description, so two threads of one process that each
open the lock file exclude each other as two processes do.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from pathlib import Path
from typing import Protocol, Self

from ..errors import BusyError, StoreError
from .files import PRIVATE_FILE, private_dir

LOCK_DIR = "locks"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Lock(Protocol):
    """An exclusive named lock, held until :meth:`release` or until its holder dies.

    Implementations subclass it for :meth:`require` and the context manager, which are the
    same for every kind of lock."""

    name: str

    @property
    def held(self) -> bool: ...

    def acquire(self, timeout: float | None = 0.0, *, note_pid: bool = True) -> bool:
        """Take the lock; wait up to ``timeout`` seconds (``None``: forever). False if it
        is still held by someone else after that."""
        ...

    def require(self, what: str, timeout: float = 0.0) -> Self:
        """:meth:`acquire` or raise :class:`BusyError` naming ``what`` is in progress."""
        if not self.acquire(timeout):
            raise busy(what, self.holder())
        return self

    def holder(self) -> str | None:
        """Who holds it (a process, and where), for the operator; None if unknown."""
        ...

    def release(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Locks(Protocol):
    """Where a store's named locks live; ``lock(name)`` makes a lock object (not taken)."""

    def lock(self, name: str) -> Lock: ...


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise StoreError(f"bad lock name {name!r}")
    return name


def busy(what: str, holder: str | None) -> BusyError:
    by = f" by {holder}" if holder else ""
    return BusyError(f"{what} is in progress{by}; wait for it to finish")


class FileLocks:
    """The embedded store's locks: files under ``<data dir>/locks`` (one machine)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)

    def lock(self, name: str) -> FileLock:
        return FileLock(self.data_dir, name)

    def __repr__(self) -> str:
        return f"FileLocks({str(self.data_dir)!r})"


class FileLock(Lock):
    """An exclusive lock held on ``<data dir>/locks/<name>.lock`` until :meth:`release`."""

    def __init__(self, data_dir: Path | str, name: str) -> None:
        self.name = check_name(name)
        self.path = Path(data_dir) / LOCK_DIR / f"{name}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float | None = 0.0, *, note_pid: bool = True) -> bool:
        """Take the lock; wait up to ``timeout`` seconds (``None``: forever). False if it
        is still held by someone else after that."""
        if self._fd is not None:
            raise StoreError(f"lock {self.name} is already held by this object")
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if timeout is None else fcntl.LOCK_NB))
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        os.close(fd)
                        return False
                    time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise
        if note_pid:  # who holds it, for the operator (the lock is the flock, not this)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str | None:
        pid = self.holder_pid()
        return f"process {pid}" if pid else None

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def is_free(where: Path | str | Locks, name: str) -> bool:
    """True when nobody holds the lock (checked by taking and dropping it at once);
    ``where``: a store's :class:`Locks`, or a data dir (its file locks)."""
    locks = FileLocks(where) if isinstance(where, (str, Path)) else where
    lock = locks.lock(name)
    if lock.acquire(0.0, note_pid=False):
        lock.release()
        return True
    return False
