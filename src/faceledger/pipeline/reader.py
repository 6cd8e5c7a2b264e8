"""The one way photo bytes are read from a source: by ingest, by the photo route, by crops.

A source reads only regular files inside itself, and every read checks it again (a file may
have been swapped for a link after it was listed or ingested):

- folder and URL-list sources have a root directory (the folder; the root a URL list
  declares). A photo's path is resolved (links followed) and must stay inside the root; it
  is then opened one path component at a time from a descriptor on the root, each with
  ``O_NOFOLLOW``, so a component swapped for a link between the check and the open is
  refused rather than followed. The entry must be a regular file (see
  :mod:`faceledger.images.files`: FIFOs and devices are never read), its size is checked on
  the open descriptor before reading, and reading stops past the byte limit.
- URL-list entries are absolute ``file://`` URIs inside the declared root, or ``http(s)``
  URLs on a host the source declares, fetched by :mod:`.http_fetch` (no link followed,
  redirects kept to the declared hosts, size, time and content-type limits); anything else
  is refused per photo.
- S3 objects are read by :mod:`.s3_source`, under the source's bucket prefix, with the
  same byte limit.
- archive members are refused when encrypted, compressed with a method this does not
  read, declared larger than the byte limit or with a zip-bomb compression ratio, or when
  the archive holds two members of that name; they are read in chunks and reading stops
  past the limit whatever the header said.

Every refusal is a :class:`~faceledger.errors.FaceLedgerError` naming the photo and the
reason, which ingest records as that photo's error.
"""

from __future__ import annotations

import lzma
import os
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..errors import (
    FaceLedgerError,
    ImageDecodeError,
    ImageTooLargeError,
    NotFoundError,
    PhotoRefusedError,
    SourceError,
)
from ..images import DecodedImage, ImageLimits, decode_image, sha256_bytes
from ..images.files import CHUNK, DIR_FLAGS, open_regular, read_fd
from ..parts import HasModels, HasSources
from ..privacy.declared_hosts import DeclaredHost, is_web_url, parse_declared_hosts
from ..store.records import PhotoRecord
from ..types import SourceInfo
from . import s3_source
from .http_fetch import HttpLimits, fetch_url

ZIP_METHODS = {
    zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma",
}
MAX_ZIP_RATIO = 100  # uncompressed / compressed, for members over RATIO_FLOOR bytes
RATIO_FLOOR = 1 << 20
MAX_PATH = 4096
MEDIA_TYPES = {
    "JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
    "GIF": "image/gif", "BMP": "image/bmp", "TIFF": "image/tiff", "HEIF": "image/heif",
    "AVIF": "image/avif",
}
# what zipfile and its decompressors raise on hostile members (bz2's errors are OSError)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
               RuntimeError, NotImplementedError, ValueError, KeyError)


@dataclass(frozen=True)
class SourceAccess:
    """What the reader must know about a photo's source to keep inside it."""

    name: str
    kind: str  # folder | archive | urls | s3
    location: str  # the folder, the archive file, the URL-list file, or s3://bucket/prefix
    root: str  # the directory every local photo must be inside ("" for an archive, S3)
    hosts: tuple[DeclaredHost, ...] = ()  # a URL list's declared web hosts
    endpoint: str = ""  # an S3 source's endpoint URL
    profile: str = ""  # an S3 source's credentials profile name
    http: HttpLimits = HttpLimits()

    @classmethod
    def of(cls, info: SourceInfo) -> SourceAccess:
        hosts: tuple[DeclaredHost, ...] = ()
        if info.kind == "folder":
            root = info.location
        elif info.kind == "urls":
            root = info.root
            hosts = parse_declared_hosts(info.hosts)
            if not root and not hosts:
                raise SourceError(
                    f"source {info.name!r} is a URL list without a declared root or hosts: "
                    "register it again with a root directory (faceledger source add --kind "
                    "urls --root DIR) or its web hosts (--host URL); no photo is read from it "
                    "until then"
                )
        else:
            root = ""
        return cls(info.name, info.kind, info.location, root, hosts, info.endpoint,
                   info.profile)

    @property
    def archive_prefix(self) -> str:
        """What every member's URI starts with, in an archive source."""
        return Path(self.location).as_uri() + "!/"


@dataclass(frozen=True)
class PhotoRef:
    """One photo of a source: its URI, the source it must stay inside, the archive member
    (in an archive source), and a reason it is refused without reading, if listing found
    one (an archive member name that occurs twice)."""

    uri: str
    source: SourceAccess
    member: str | None = None
    problem: str | None = None


def ref_for_uri(source: SourceAccess, uri: str) -> PhotoRef:
    """The reference behind a URI stored for ``source`` (crops and the photo route)."""
    if source.kind == "archive":
        prefix = source.archive_prefix
        if not uri.startswith(prefix):
            raise PhotoRefusedError(f"{uri}: is not a member of the archive {source.location}")
        return PhotoRef(uri, source, member=uri[len(prefix):])
    return PhotoRef(uri, source)


def read_photo(ref: PhotoRef, limits: ImageLimits) -> bytes:
    """The photo's bytes, under every rule above, or an error naming what was refused."""
    if ref.problem is not None:
        raise PhotoRefusedError(f"{ref.uri}: {ref.problem}")
    if ref.source.kind == "archive":
        if ref.member is None:
            raise PhotoRefusedError(f"{ref.uri}: names no member of the archive")
        return read_member(Path(ref.source.location), ref.member, limits, label=ref.uri)
    if ref.source.kind == "s3":
        return s3_source.read_object(ref.uri, ref.source.location, ref.source.endpoint,
                                     ref.source.profile, limits.max_bytes)
    if ref.source.kind == "urls" and is_web_url(ref.uri):
        return fetch_url(ref.uri, ref.source.hosts, limits.max_bytes, ref.source.http)
    path = uri_path(ref.uri)  # refuses every other scheme
    if not ref.source.root:
        raise PhotoRefusedError(
            f"{ref.uri}: only http(s) URLs on the declared hosts are read from this URL list "
            "(it declares no root directory for file:// URIs)"
        )
    return read_inside(Path(ref.source.root), path, limits.max_bytes, ref.uri)


def uri_path(uri: str) -> Path:
    """The local path of an absolute ``file://`` URI; anything else is refused."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "file":
        raise PhotoRefusedError(
            f"{uri}: only absolute file:// URIs inside the declared root and http(s) URLs on "
            "the declared hosts are read (no plain or relative paths, no other schemes)"
        )
    if parsed.netloc not in ("", "localhost"):
        raise PhotoRefusedError(f"{uri}: names another host; only local files are read")
    path = urllib.parse.unquote(parsed.path)
    if not path.startswith("/") or "\x00" in path or len(path) > MAX_PATH:
        raise PhotoRefusedError(f"{uri}: is not an absolute local path")
    return Path(path)


def _inside(path: str, root: str) -> bool:
    return path != root and os.path.commonpath([path, root]) == root


def read_inside(root: Path, path: Path, max_bytes: int, label: str) -> bytes:
    """A regular file at ``path``, which must resolve to somewhere inside ``root``."""
    root_real = os.path.realpath(root)
    if not os.path.isdir(root_real):
        raise SourceError(f"{label}: the source's root {root} is not a readable directory")
    lexical = os.path.normpath(path)
    real = os.path.realpath(lexical)
    if not _inside(real, root_real):
        if _inside(lexical, os.path.normpath(root)) or _inside(lexical, root_real):
            raise PhotoRefusedError(
                f"{label}: is a link that leads outside the source ({root}); refused"
            )
        raise PhotoRefusedError(f"{label}: is outside the source's root {root}; refused")
    parts = Path(os.path.relpath(real, root_real)).parts
    try:
        dir_fd = os.open(root_real, DIR_FLAGS)
    except OSError as exc:
        raise SourceError(
            f"{label}: cannot open the source's root {root} ({exc.strerror or exc})"
        ) from exc
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, DIR_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                raise PhotoRefusedError(
                    f"{label}: a folder on its path changed while it was being opened "
                    f"({exc.strerror or exc}); refused"
                ) from exc
            os.close(dir_fd)
            dir_fd = next_fd
        fd = open_regular(parts[-1], label, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        return read_fd(fd, max_bytes, label)
    finally:
        os.close(fd)


def check_member(info: zipfile.ZipInfo, limits: ImageLimits, label: str) -> None:
    """Refuse an archive member on its headers, before any of it is inflated."""
    if info.flag_bits & 0x1:
        raise PhotoRefusedError(f"{label}: the archive member is encrypted; refused")
    if info.compress_type not in ZIP_METHODS:
        raise PhotoRefusedError(
            f"{label}: the archive member uses compression method {info.compress_type}, "
            f"which is not read (only {', '.join(ZIP_METHODS.values())})"
        )
    if info.file_size > limits.max_bytes:
        raise ImageTooLargeError(
            f"{label}: the archive member declares {info.file_size} bytes, over the limit of "
            f"{limits.max_bytes} bytes"
        )
    ratio = info.file_size / max(1, info.compress_size)
    if info.file_size > RATIO_FLOOR and ratio > MAX_ZIP_RATIO:
        raise ImageTooLargeError(
            f"{label}: the archive member would inflate {ratio:.0f} times (over "
            f"{MAX_ZIP_RATIO}); refused as a zip bomb"
        )


def read_member(archive: Path, member: str, limits: ImageLimits, label: str) -> bytes:
    """One member of a zip archive, checked on its headers and read with a cap."""
    fd = open_regular(archive, f"{label}: the archive")
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh, zipfile.ZipFile(fh) as zf:
            infos = [i for i in zf.infolist() if i.filename == member]
            if not infos:
                raise NotFoundError(f"{label}: the archive holds no member {member!r}")
            if len(infos) > 1:
                raise PhotoRefusedError(
                    f"{label}: the archive holds {len(infos)} members of this name; refused as "
                    "ambiguous"
                )
            check_member(infos[0], limits, label)
            return _read_capped(zf, infos[0], limits.max_bytes, label)
    except FaceLedgerError:
        raise
    except _ZIP_ERRORS as exc:
        raise ImageDecodeError(
            f"{label}: cannot read the archive member ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        os.close(fd)


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int,
                 label: str) -> bytes:
    cap = min(max_bytes, info.file_size)
    chunks: list[bytes] = []
    total = 0
    with zf.open(info) as member:
        while True:
            chunk = member.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise ImageTooLargeError(
                    f"{label}: the archive member inflates past {cap} bytes (its header "
                    f"declared {info.file_size}); refused"
                )
            chunks.append(chunk)
    return b"".join(chunks)


# -- photos already in the catalog: the photo route and face crops ---------------------------
@runtime_checkable
class StoredPhotoParts(HasSources, HasModels, Protocol):
    """Reading a catalogued photo again: its record (the root's ``photo`` verb), its source
    and the image limits."""

    def photo(self, photo_id: int) -> PhotoRecord: ...


@dataclass(frozen=True)
class StoredPhoto:
    record: PhotoRecord
    data: bytes
    media_type: str  # from the decoded format, never from the file name
    image: DecodedImage


def stored_photo(store: StoredPhotoParts, photo_id: int) -> StoredPhoto:
    """A catalogued photo read again from its source: only a photo stored with status ok,
    through the same checks as ingest, with the bytes that were ingested (same SHA-256),
    decoding as an image of a known format."""
    record = store.photo(photo_id)
    if record.status != "ok":
        raise NotFoundError(
            f"photo {photo_id} was recorded as {record.status!r}, not as a readable photo; "
            "its bytes are not served"
        )
    source = SourceAccess.of(store.source(record.source))
    limits = store.limits
    data = read_photo(ref_for_uri(source, record.uri), limits)
    if record.sha256 and sha256_bytes(data) != record.sha256:
        raise NotFoundError(
            f"photo {photo_id} has changed at its source since it was ingested; not served"
        )
    image = decode_image(data, limits, name=f"photo {photo_id}")
    media_type = MEDIA_TYPES.get(image.format)
    if media_type is None:
        raise PhotoRefusedError(f"photo {photo_id}: format {image.format} is not served")
    return StoredPhoto(record, data, media_type, image)
