"""Uploads (probes, selfies, reference photos), read in memory and never written to disk.

Routes that take photos declare no FastAPI ``File``/``Form`` parameters, because FastAPI
reads and parses a declared body *before* the app-wide authentication dependency runs, and
Starlette's parser spools every part over 1 MiB to a temporary file. Instead the route,
which only runs once the caller is authenticated, calls :func:`read_form`:

- ``Content-Length`` is checked against the route's cap before a byte is read (413);
- the body is streamed chunk by chunk into python-multipart's streaming parser, and each
  part's bytes go into a ``bytearray`` in memory; a file part over the photo limit, a field
  over 8 KiB, a part not expected by the route, a repeated part or too many parts are
  refused as they arrive, so a chunked body without a length is cut off at the cap too.

:class:`~faceledger.api.limits.BodyLimitMiddleware` is the backstop for every route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import ImageDecodeError, ImageTooLargeError, InvalidRequestError

FIELD_LIMIT = 8 * 1024
OVERHEAD = 64 * 1024  # boundaries, part headers and the small fields around the photos
MAX_PARTS = 16


@dataclass
class UploadedForm:
    files: dict[str, bytes] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def file(self, name: str, what: str) -> bytes:
        data = self.files.get(name)
        if data is None:
            raise InvalidRequestError(f"{name}: the {what} is missing (a multipart file part "
                                      f"named {name!r})")
        if not data:
            raise ImageDecodeError(f"the {what} upload is empty")
        return data


def body_cap(file_parts: int, file_limit: int) -> int:
    """The most a multipart body with this many photos may hold."""
    return file_parts * file_limit + OVERHEAD


def content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise InvalidRequestError("Content-Length is not a number")
    return int(raw)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    limit: int = FIELD_LIMIT


class _Collector:
    """The parser's callbacks: route each part's bytes into memory, under its cap."""

    def __init__(self, files: Mapping[str, str], fields: set[str], file_limit: int) -> None:
        self.files, self.fields, self.file_limit = files, fields, file_limit
        self.form = UploadedForm()
        self.part: _Part | None = None
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.parts = 0
        self.ended = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end, "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRequestError(f"too many parts in the form (at most {MAX_PARTS})")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        assert self.part is not None
        name = bytes(self.header_field).decode("latin-1").strip().lower()
        self.part.headers[name] = bytes(self.header_value).decode("latin-1").strip()
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        part = self.part
        assert part is not None
        kind, options = parse_options_header(part.headers.get("content-disposition", ""))
        if kind != b"form-data" or b"name" not in options:
            raise InvalidRequestError("a form part has no 'Content-Disposition: form-data; "
                                      "name=...' header")
        part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            part.filename = options[b"filename"].decode("utf-8", "replace")
        if part.name in self.form.files or part.name in self.form.fields:
            raise InvalidRequestError(f"{part.name}: given twice")
        if part.name in self.files:
            part.limit = self.file_limit
        elif part.name not in self.fields:
            expected = ", ".join(sorted({*self.files, *self.fields}))
            raise InvalidRequestError(f"{part.name}: not a field of this form "
                                      f"(expected: {expected})")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        assert part is not None
        if len(part.data) + (end - start) > part.limit:
            if part.name in self.files:
                what = self.files[part.name]
                raise ImageTooLargeError(
                    f"the {what} is over the {self.file_limit // (1024 * 1024)} MiB limit")
            raise InvalidRequestError(f"{part.name}: over {FIELD_LIMIT // 1024} KiB")
        part.data += data[start:end]

    def on_part_end(self) -> None:
        part = self.part
        assert part is not None
        if part.name in self.files:
            self.form.files[part.name] = bytes(part.data)
            self.form.filenames[part.name] = part.filename or ""
        else:
            try:
                self.form.fields[part.name] = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequestError(f"{part.name}: not UTF-8 text") from None
        part.data.clear()
        self.part = None

    def on_end(self) -> None:
        self.ended = True


async def read_form(
    request: Request,
    files: Mapping[str, str],
    fields: set[str] | frozenset[str] = frozenset(),
    file_limit: int = 50 * 1024 * 1024,
) -> UploadedForm:
    """Read a ``multipart/form-data`` body into memory. ``files`` maps each file part's
    name to what it is (for messages: "probe", "selfie"); ``fields`` names the text parts."""
    cap = body_cap(len(files), file_limit)
    length = content_length(request)
    if length is not None and length > cap:
        raise ImageTooLargeError(
            f"the request body ({length} bytes) is over this route's limit ({cap} bytes)")
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        wanted = " and ".join(f"the {what} ({name!r})" for name, what in files.items())
        raise InvalidRequestError(f"send {wanted} as multipart/form-data (Content-Type: "
                                  "multipart/form-data; boundary=...)")
    collector = _Collector(files, set(fields), file_limit)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
    except FormParserError as exc:
        raise InvalidRequestError(f"bad multipart boundary: {exc}") from None
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > cap:
            raise ImageTooLargeError(f"the request body is over this route's limit "
                                     f"({cap} bytes)")
        if not chunk:
            continue
        try:
            parser.write(chunk)
        except FormParserError as exc:
            raise InvalidRequestError(f"malformed multipart body: {exc}") from None
    if not collector.ended:
        raise InvalidRequestError("the multipart body ended before its closing boundary")
    return collector.form


def multipart_openapi(files: Mapping[str, str], fields: Mapping[str, dict],
                      required: tuple[str, ...] = ()) -> dict:
    """``openapi_extra`` for a route that reads its form with :func:`read_form`, so /docs
    still shows (and can send) the photo and the fields."""
    properties: dict[str, dict] = {
        name: {"type": "string", "format": "binary", "description": what}
        for name, what in files.items()
    }
    properties.update(fields)
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties,
        "required": [*files, *required]}}}}}
