"""Private files: everything under the data dir is readable by its owner only.

The data dir and its sub-directories are ``0700``; every file in them (SQLite databases and
their ``-wal`` / ``-shm`` files, index files, lock files) is ``0600``. A SQLite database is
created here, empty, with mode ``0600`` before SQLite opens it: SQLite gives the ``-wal``
and ``-shm`` files it creates later the mode of the database file. Nothing here changes the
process umask (that is process-wide state; the CLI sets it at its entry point).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path | str) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; tighten it if it exists."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path | str) -> Path:
    """Make sure ``path`` exists as a regular file with mode 0600 (created empty if it is
    missing, which is how SQLite expects a new database), and tighten SQLite's side files."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        _chmod(path, PRIVATE_FILE)
    else:
        os.close(fd)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _chmod(side, PRIVATE_FILE)
    return path


def write_private(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (the file is replaced if it exists)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def secure_tree(root: Path | str) -> None:
    """Tighten a store made by an older version: directories 0700, files 0600. Symlinks are
    left alone (never followed)."""
    root = Path(root)
    _chmod(root, PRIVATE_DIR)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            _chmod(Path(dirpath) / name, PRIVATE_DIR)
        for name in filenames:
            _chmod(Path(dirpath) / name, PRIVATE_FILE)


def _chmod(path: Path, mode: int) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
        return
    try:
        os.chmod(path, mode)
    except PermissionError:
        pass  # not ours (a shared mount): nothing we can do, and not worth failing over
