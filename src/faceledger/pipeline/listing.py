"""What photos a source holds: a folder walked recursively, a zip archive, an explicit
list of ``file://`` URIs under a root the source declares and of ``http(s)`` URLs on hosts it
declares, or the objects under an S3 prefix.

Every file a source holds that is not listed as a photo (its name does not end in a format
that is decoded) is counted, by suffix, in the listing's ``unsupported``: ingest reports it,
so nothing a source holds is skipped in silence. A URL list's entries are all photos to it
(each one read is decoded or recorded as an error).

Listing only names photos; reading them, and every check on what is read (containment,
regular files, sizes, archive members), is :mod:`faceledger.pipeline.reader`'s. A folder is
walked without following links to directories; a link to a file is listed under its own
name inside the folder, and the reader decides whether it may be followed.

A listing streams: its photos come from an iterator, in bounded memory whatever the size of
the collection (a folder is walked a directory at a time, in the sorted order of the URIs; a
URL list is read a line at a time; S3 a page at a time), and its ``unsupported`` counts grow
as it is consumed. Folders, archives and S3 prefixes name each photo once by construction; a
URL list may name one twice, which ingest drops (:mod:`.todo`). Only an archive's listing is
held whole, since zipfile reads the central directory at once.
"""

from __future__ import annotations

import itertools
import os
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FaceLedgerError, NotFoundError, SourceError
from ..images.decode import IMAGE_SUFFIXES
from ..images.files import open_regular
from ..privacy.declared_hosts import is_web_url
from ..privacy.s3_location import parse_s3_location
from ..types import SourceInfo
from . import s3_source
from .reader import PhotoRef, SourceAccess

MAX_LISTING_BYTES = 256 * 1024 * 1024  # a URL list this long holds millions of photos
MAX_LINE_BYTES = 64 * 1024  # one entry of a URL list

__all__ = ["Listing", "PhotoRef", "SourceAccess", "canonical_uri", "list_photos", "list_source"]


@dataclass
class Listing:
    """The photos a source holds (an iterator: consumed once, lazily), and the files it
    holds that are not decoded, by suffix (counted as ``refs`` is consumed, complete once
    it is exhausted)."""

    refs: Iterator[PhotoRef]
    unsupported: Counter[str] = field(default_factory=Counter)

    @property
    def unsupported_count(self) -> int:
        return sum(self.unsupported.values())

    def unsupported_by_suffix(self) -> dict[str, int]:
        return dict(sorted(self.unsupported.items()))


def list_source(source: SourceInfo) -> Listing:
    access = SourceAccess.of(source)
    if source.kind == "folder":
        return _list_folder(access)
    if source.kind == "urls":
        return Listing(_list_urls(access))
    if source.kind == "archive":
        return _list_archive(access)
    if source.kind == "s3":
        return _list_s3(access)
    raise NotFoundError(f"source {source.name!r}: kind {source.kind!r} cannot be listed")


def list_photos(source: SourceInfo) -> list[PhotoRef]:
    """Every photo of a source at once (small sources, tests); ingest streams instead."""
    return list(list_source(source).refs)


def _is_photo_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _suffix(name: str) -> str:
    return Path(name).suffix.lower() or "(no suffix)"


def _split_names(names: Iterable[str], make) -> Listing:
    """A listing of ``names``, lazily: photo names through ``make``, the others counted."""
    unsupported: Counter[str] = Counter()

    def refs() -> Iterator[PhotoRef]:
        for name in names:
            if _is_photo_name(name):
                yield make(name)
            else:
                unsupported[_suffix(name)] += 1

    return Listing(refs(), unsupported)


def _list_folder(access: SourceAccess) -> Listing:
    root = Path(access.location).absolute()
    if not root.is_dir():
        raise NotFoundError(f"source {access.name!r}: folder {root} does not exist")
    return _split_names((str(p) for p in _walk_sorted(root)),
                        lambda p: PhotoRef(Path(p).as_uri(), access))


def _walk_sorted(folder: Path) -> Iterator[Path]:
    """Every entry below ``folder`` that is not a directory, in the sorted order of their
    ``file://`` URIs, holding one directory's entries at a time. A directory's entries are
    sorted by their URI (a subdirectory's with a trailing slash, the prefix of everything
    in it), and a subdirectory is walked where it sorts, so the whole walk comes out in
    URI order. Links to directories are not followed (nor listed); unreadable directories
    are passed over, as ``os.walk`` does."""
    try:
        with os.scandir(folder) as it:
            entries = []
            for e in it:
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                    if not is_dir and e.is_symlink() and e.is_dir():
                        continue  # a link to a directory: neither followed nor listed
                except OSError:
                    is_dir = False
                path = Path(e.path)
                entries.append((path.as_uri() + ("/" if is_dir else ""), is_dir, path))
    except OSError:
        return
    entries.sort()
    for _, is_dir, path in entries:
        if is_dir:
            yield from _walk_sorted(path)
        else:
            yield path


def _list_s3(access: SourceAccess) -> Listing:
    bucket, _prefix = parse_s3_location(access.location)
    keys = s3_source.list_keys(access.location, access.endpoint, access.profile,
                               f"source {access.name!r}")
    first = list(itertools.islice(keys, 1))  # the first page now: a refusal fails at once
    return _split_names(
        itertools.chain(first, keys),
        lambda key: PhotoRef(s3_source.object_uri(bucket, key), access),
    )


def canonical_uri(line: str) -> str:
    """One spelling per local file (``file://localhost/a/./b.jpg`` -> ``file:///a/b.jpg``)
    so a file listed twice is recorded once; anything that is not an absolute ``file://``
    URI (an http(s) URL, stored as written) is kept as written, for the reader to fetch or
    refuse with its reason."""
    if is_web_url(line):
        return line
    parsed = urllib.parse.urlparse(line)
    path = urllib.parse.unquote(parsed.path)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return line
    if not path.startswith("/") or "\x00" in path:
        return line
    return Path(os.path.normpath(path)).as_uri()


def _list_urls(access: SourceAccess) -> Iterator[PhotoRef]:
    """The list's entries a line at a time, canonical, in the order written (a URI listed
    twice comes twice: ingest keeps the first). The file is opened now (a missing or
    refused list fails at once) and read to at most ``MAX_LISTING_BYTES``; a line that is
    not UTF-8 fails the listing where it is met."""
    label = f"source {access.name!r}: URL list {access.location}"
    try:
        fd = open_regular(access.location, label)
    except FaceLedgerError as exc:
        raise SourceError(exc.message) from exc
    return _url_lines(fd, access, label)


def _url_lines(fd: int, access: SourceAccess, label: str) -> Iterator[PhotoRef]:
    total = 0
    try:
        with open(fd, "rb", closefd=False) as fh:
            number = 0
            while raw := fh.readline(MAX_LINE_BYTES + 1):
                number += 1
                total += len(raw)
                if total > MAX_LISTING_BYTES:
                    raise SourceError(f"{label}: is longer than {MAX_LISTING_BYTES} bytes")
                if len(raw) > MAX_LINE_BYTES:
                    raise SourceError(f"{label}: line {number} is longer than "
                                      f"{MAX_LINE_BYTES} bytes")
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    raise SourceError(
                        f"{label} is not UTF-8 text (line {number}: {exc})") from exc
                if line and not line.startswith("#"):
                    yield PhotoRef(canonical_uri(line), access)
    finally:
        os.close(fd)


def _list_archive(access: SourceAccess) -> Listing:
    label = f"source {access.name!r}: archive {access.location}"
    try:
        fd = open_regular(access.location, label)
    except FaceLedgerError as exc:
        raise SourceError(exc.message) from exc
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh, zipfile.ZipFile(fh) as zf:
            members = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SourceError(f"{label} is not a readable zip archive ({exc})") from exc
    finally:
        os.close(fd)
    prefix = access.archive_prefix
    names = Counter(m for m in members if _is_photo_name(m))
    unsupported = Counter(_suffix(m) for m in members if not _is_photo_name(m))
    return Listing(iter([
        PhotoRef(
            prefix + name, access, member=name,
            problem=None if count == 1 else (
                f"the archive holds {count} members of this name; refused as ambiguous"
            ),
        )
        for name, count in sorted(names.items())
    ]), unsupported)
