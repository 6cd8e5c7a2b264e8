"""Reading photo files without trusting them.

Only regular files are read. An entry is looked at with ``lstat`` before it is opened, so a
device is never even opened and a FIFO never blocks; it is opened with ``O_NONBLOCK`` and
``O_NOFOLLOW``, and the opened descriptor is checked again with ``fstat`` (a swap between the
two looks is refused). The size is checked on the descriptor before a byte is read, and
reading stops past the limit even if the file grows meanwhile.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..errors import ImageDecodeError, ImageTooLargeError, PhotoRefusedError

CHUNK = 1 << 20
OPEN_FLAGS = (
    os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def describe_mode(mode: int) -> str:
    """What kind of entry a ``st_mode`` is, in words."""
    for test, words in (
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def open_regular(name: str | Path, label: str, dir_fd: int | None = None) -> int:
    """A read-only descriptor on ``name`` (relative to ``dir_fd`` when given), which must be
    a regular file and not a link. The caller closes it."""
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise ImageDecodeError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(before.st_mode):
        raise PhotoRefusedError(
            f"{label}: is {describe_mode(before.st_mode)}, not a photo file; "
            "only regular files are read"
        )
    try:
        fd = os.open(name, OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PhotoRefusedError(
                f"{label}: became a symbolic link while it was being opened; refused"
            ) from exc
        raise ImageDecodeError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    after = os.fstat(fd)
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (
        before.st_dev, before.st_ino
    ):
        os.close(fd)
        raise PhotoRefusedError(f"{label}: was replaced while it was being opened; refused")
    return fd


def read_fd(fd: int, max_bytes: int, label: str) -> bytes:
    """Every byte of an open regular file, refused before reading when it is over
    ``max_bytes``, and refused as soon as it grows past it while being read."""
    size = os.fstat(fd).st_size
    if size > max_bytes:
        raise ImageTooLargeError(f"{label}: {size} bytes is over the limit of {max_bytes} bytes")
    return read_capped(lambda n: _read_fd(fd, n, label), max_bytes, f"{label}: grew past the "
                       f"limit of {max_bytes} bytes while it was being read")


def _read_fd(fd: int, n: int, label: str) -> bytes:
    try:
        return os.read(fd, n)
    except OSError as exc:
        raise ImageDecodeError(f"{label}: cannot read file ({exc.strerror or exc})") from exc


def read_capped(read: Callable[[int], bytes], max_bytes: int, too_large: str,
                chunk: int = CHUNK) -> bytes:
    """Read a stream to its end with ``read(n)``, never more than ``max_bytes + 1`` bytes in
    all: one byte past the limit raises ImageTooLargeError(``too_large``), before the rest
    is read. Files, HTTP bodies and S3 objects are all read through this."""
    chunks: list[bytes] = []
    total = 0
    while True:
        data = read(min(chunk, max_bytes + 1 - total))
        if not data:
            return b"".join(chunks)
        total += len(data)
        if total > max_bytes:
            raise ImageTooLargeError(too_large)
        chunks.append(data)


def read_regular_file(path: str | Path, max_bytes: int, label: str | None = None) -> bytes:
    """The bytes of a file named by the user (a probe, a benchmark photo): links are followed
    to their target, which must be a regular file no larger than ``max_bytes``."""
    label = label or str(path)
    fd = open_regular(os.path.realpath(path), label)
    try:
        return read_fd(fd, max_bytes, label)
    finally:
        os.close(fd)
