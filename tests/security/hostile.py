"""Hostile files, made in the test that uses them (never stored in the repository).

Each one is small on disk and claims, or expands to, far more than it holds.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def small_jpeg(size: tuple[int, int] = (16, 16)) -> bytes:
    arr = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes of baseline JPEG whose SOF0 header claims ``width`` x ``height``."""
    data = bytearray(small_jpeg())
    sof = data.find(b"\xff\xc0")
    assert sof > 0, "baseline JPEG expected"
    # FFC0, segment length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF
    )


def png_of_zeros(width: int, height: int, bit_depth: int = 16, colour_type: int = 0) -> bytes:
    """A valid PNG of ``width`` x ``height`` black pixels, compressed row by row (the test
    never holds the raw pixels). Colour type 0 is grey, 2 RGB, 6 RGBA."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + width * channels * bit_depth // 8)  # filter byte + samples
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


def zip_bomb(path: Path, member: str = "bomb.jpg", expanded: int = 1 << 30) -> Path:
    """A zip of about 1 MB whose one member inflates to ``expanded`` bytes of zeros."""
    zero = b"\x00" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(member, "w", force_zip64=expanded > (1 << 31)) as out:
            for _ in range(expanded // len(zero)):
                out.write(zero)
    return path


def patch_member_header(path: Path, member: str, *, flag_bits: int | None = None,
                        method: int | None = None, file_size: int | None = None) -> None:
    """Rewrite fields of one member's local and central headers in place (both, so that
    zipfile's consistency checks still pass and only the field under test is hostile)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    local = info.header_offset
    assert data[local : local + 4] == b"PK\x03\x04"
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len].decode() == member:
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert central >= 0
    if flag_bits is not None:
        struct.pack_into("<H", data, local + 6, flag_bits)
        struct.pack_into("<H", data, central + 8, flag_bits)
    if method is not None:
        struct.pack_into("<H", data, local + 8, method)
        struct.pack_into("<H", data, central + 10, method)
    if file_size is not None:
        struct.pack_into("<I", data, local + 22, file_size)
        struct.pack_into("<I", data, central + 24, file_size)
    path.write_bytes(bytes(data))


def corrupt_member_data(path: Path, member: str) -> None:
    """Overwrite the middle of one member's compressed bytes with garbage."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    local = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_len + extra_len
    middle = start + info.compress_size // 2
    data[middle : middle + 16] = b"\xde\xad\xbe\xef" * 4
    path.write_bytes(bytes(data))
