"""Ingest holds a bounded part of its source at a time: the listing is an iterator read as
the analysis asks for photos, the catalog is asked about a block of URIs at a time, and a
URI listed twice is read once whether its first copy is in flight or committed. (Memory and
speed are measured by ``faceledger bench ingest``; these tests count what is consumed.)"""

from __future__ import annotations

import concurrent.futures as cf
import os
from pathlib import Path

from faceledger.pipeline import ingest
from faceledger.pipeline.listing import list_source
from faceledger.pipeline.reader import PhotoRef, SourceAccess
from faceledger.pipeline.todo import TodoStream
from faceledger.types import SourceInfo

ACCESS = SourceAccess("s", "urls", "/nowhere/list.txt", "/photos")
MANY = 1_000_000  # a listing read whole would be taken to its end: the counts below say so


class CountingListing:
    """A lazy listing of ``MANY`` photos that counts how many were taken from it."""

    def __init__(self, repeat_every: int = 0) -> None:
        self.taken = 0
        self.repeat_every = repeat_every

    def __iter__(self):
        for i in range(MANY):
            self.taken += 1
            n = i - 1 if self.repeat_every and i % self.repeat_every == 0 and i else i
            yield PhotoRef(f"file:///photos/{n:08d}.jpg", ACCESS)


def test_the_todo_stream_reads_the_listing_a_block_at_a_time():
    listing = CountingListing()
    asked: list[int] = []
    known = {"file:///photos/00000003.jpg"}
    erased = {"file:///photos/00000005.jpg"}

    def in_catalog(uris):
        asked.append(len(uris))
        return known & set(uris)

    todo = TodoStream(listing, in_catalog, lambda uris: erased & set(uris), block=64)
    it = iter(todo)
    first = [next(it) for _ in range(10)]
    assert listing.taken == 64  # one block, not the listing
    assert asked == [64]  # one catalog query for the block
    uris = [r.uri for r in first]
    assert "file:///photos/00000003.jpg" not in uris  # already ingested
    assert "file:///photos/00000005.jpg" not in uris  # erased: never collected again
    assert uris[:3] == [f"file:///photos/{n:08d}.jpg" for n in (0, 1, 2)]
    assert (todo.listed, todo.skipped, todo.handed_out) == (64, 2, 62)
    assert todo.in_flight == 62 and not todo.exhausted
    for _ in range(60):
        next(it)
    assert listing.taken == 128  # the next block only when the first is used up


def test_a_uri_listed_twice_is_read_once_in_flight_or_committed():
    listing = CountingListing(repeat_every=10)  # 10 repeats 9, 20 repeats 19, ...
    committed: set[str] = set()
    todo = TodoStream(listing, lambda uris: committed & set(uris), lambda uris: set(), block=5)
    it = iter(todo)
    uri = "file:///photos/{:08d}.jpg".format
    got = [next(it).uri for _ in range(12)]  # 0-9, then 9 again while in flight: dropped
    assert got == [uri(n) for n in (*range(10), 11, 12)]
    got += [next(it).uri for _ in range(16)]  # 13 ... 29 (20, a repeat of 19, dropped)
    assert got[-1] == uri(29) and len(got) == len(set(got))
    todo.committed(got)  # the writer committed them: no longer in flight, in the catalog
    committed.update(got)
    assert todo.in_flight == 0
    rest = [next(it).uri for _ in range(4)]  # 30 repeats 29, committed: dropped
    assert rest == [uri(n) for n in (31, 32, 33, 34)]
    assert todo.skipped == 1 and todo.handed_out == len(got) + len(rest)


def test_the_analysis_pulls_chunks_only_as_lanes_have_room():
    """``_in_order`` (lanes in threads or processes) keeps ``workers * IN_FLIGHT`` chunks
    queued, and takes the next chunk from the listing only as a result is taken."""
    listing = CountingListing()
    chunks = ingest._chunks(iter(listing))
    pool = cf.ThreadPoolExecutor(2)
    try:
        results = ingest._in_order(lambda chunk: pool.submit(list, chunk), chunks, 2, None)
        taken = [next(results) for _ in range(3 * ingest.CHUNK)]
    finally:
        pool.shutdown()
    assert [r.uri for r in taken][:2] == ["file:///photos/00000000.jpg",
                                          "file:///photos/00000001.jpg"]
    # the 3 chunks taken, plus workers * IN_FLIGHT queued behind them
    assert listing.taken <= (3 + 2 * ingest.IN_FLIGHT) * ingest.CHUNK


def test_with_several_lanes_the_last_photos_come_in_smaller_chunks():
    """Whole chunks to the end left a lane idle while another analysed the last one: the
    tail is cut finer and finer, every photo once, in order, with a bounded look-ahead."""
    n = 10 * ingest.CHUNK + 7
    refs = [PhotoRef(f"file:///photos/{i:08d}.jpg", ACCESS) for i in range(n)]
    pulled = 0

    def listing():
        nonlocal pulled
        for ref in refs:
            pulled += 1
            yield ref

    sizes, out = [], []
    for chunk in ingest._chunks(listing(), lanes=2):
        # listed ahead of what is handed out: a chunk per lane, no more
        assert pulled - sum(sizes) <= 3 * ingest.CHUNK + 1
        sizes.append(len(chunk))
        out += chunk
    assert out == refs  # each photo once, in the listing's order
    whole = sizes.index(next(s for s in sizes if s < ingest.CHUNK))
    assert set(sizes[:whole]) == {ingest.CHUNK}  # whole chunks until the tail
    tail = sizes[whole:]
    assert tail == sorted(tail, reverse=True) and tail[-1] == 1  # then ever smaller
    assert sum(tail) > 2 * ingest.CHUNK  # the tail is what the two lanes share at the end
    one_lane = [len(c) for c in ingest._chunks(iter(refs))]
    assert one_lane == [ingest.CHUNK] * 10 + [7]  # one lane: nothing to balance


def test_a_folder_is_listed_lazily_in_the_order_of_its_uris(tmp_path):
    root = tmp_path / "photos"
    names = ["a.jpg", "a b.jpg", "a-b/c.jpg", "a/z.jpg", "a/b/c.jpg", "a0.jpg", "b/%.jpg",
             "ü/x.png", "A.JPG", "notes.txt", "a/b/readme"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "out.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", root / "linked")  # a link to a folder: not walked
    info = SourceInfo(name="s", location=str(root), kind="folder", controller="c",
                      lawful_basis="consent", special_category_condition="explicit-consent",
                      purpose="p", retention_days=1, minors_policy="none-expected")
    listing = list_source(info)
    assert listing.unsupported_count == 0  # nothing walked before it is asked for
    uris = [r.uri for r in listing.refs]
    photos = [n for n in names if Path(n).suffix.lower() in (".jpg", ".png")]
    assert uris == sorted((root / n).as_uri() for n in photos)  # as the old global sort
    assert listing.unsupported_by_suffix() == {"(no suffix)": 1, ".txt": 1}


def test_a_url_list_is_read_a_line_at_a_time(tmp_path):
    """The first entries of a URL list come before the rest of the file is read: a bad line
    further down fails the listing only when it is reached."""
    import pytest

    from faceledger.errors import SourceError

    (tmp_path / "photos").mkdir()
    lines = [(tmp_path / "photos" / f"{i}.jpg").as_uri() for i in range(3)]
    listed = tmp_path / "list.txt"
    listed.write_bytes(("\n".join(["# a comment", *lines, lines[0]]) + "\n").encode()
                       + b"\xff\xfe not UTF-8\n")
    info = SourceInfo(name="s", location=str(listed), kind="urls", controller="c",
                      lawful_basis="consent", special_category_condition="explicit-consent",
                      purpose="p", retention_days=1, minors_policy="none-expected",
                      root=str(tmp_path / "photos"))
    refs = list_source(info).refs
    assert [next(refs).uri for _ in range(4)] == [*lines, lines[0]]  # a repeat: ingest drops it
    with pytest.raises(SourceError, match="line 6"):
        next(refs)
