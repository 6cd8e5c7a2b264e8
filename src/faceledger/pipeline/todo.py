"""What an ingest run still has to read: the source's listing, streamed, in bounded memory.

The listing is consumed a block at a time, and only as fast as the analysis asks for photos
(ingest pulls from this iterator when a lane has room). Each block is checked against the
catalog (photos of this source already ingested: one query per block, not a set of every
URI ever ingested) and against the erasure tombstones (an erased photo is never collected
again). A URI listed twice (a URL list may name one twice) is read once: it is dropped if
it is still in flight in this run (handed to the analysis, not yet committed) or already in
the catalog. The two checks are made in that order, and a URI leaves the in-flight set only
after its transaction commits, so a repeat is caught by one or the other whatever the timing.

Memory: one block of the listing, plus the URIs in flight, which the pipeline bounds (lanes x
queued chunks, the batch being filled, the writer's queue).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator

from .reader import PhotoRef

BLOCK = 512  # listed photos checked against the catalog in one query

UriFilter = Callable[[list[str]], set[str]]  # the subset of these URIs to leave out


class TodoStream:
    """An iterator over the photos to read, with counts of what it has seen so far."""

    def __init__(self, refs: Iterable[PhotoRef], known: UriFilter, erased: UriFilter,
                 block: int = BLOCK) -> None:
        self._refs = iter(refs)
        self._known = known
        self._erased = erased
        self._block = max(1, block)
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self.listed = 0  # photos the listing named so far (a repeat in flight not counted)
        self.skipped = 0  # of those, already in the catalog (a committed repeat too) or erased
        self.handed_out = 0  # photos to read, so far
        self.exhausted = False  # the listing has been read to its end

    def __iter__(self) -> Iterator[PhotoRef]:
        while True:
            block = list(itertools.islice(self._refs, self._block))
            if not block:
                self.exhausted = True
                return
            yield from self._fresh(block)

    def _fresh(self, block: list[PhotoRef]) -> list[PhotoRef]:
        with self._lock:  # in flight first, then the catalog (see the module docstring)
            in_flight = {r.uri for r in block if r.uri in self._in_flight}
        unique: dict[str, PhotoRef] = {}
        for ref in block:
            if ref.uri not in in_flight:
                unique.setdefault(ref.uri, ref)
        self.listed += len(unique)
        uris = list(unique)
        left_out = self._known(uris) if uris else set()
        rest = [u for u in uris if u not in left_out]
        left_out |= self._erased(rest) if rest else set()
        fresh = [unique[u] for u in uris if u not in left_out]
        self.skipped += len(uris) - len(fresh)
        with self._lock:
            self._in_flight.update(r.uri for r in fresh)
        self.handed_out += len(fresh)
        return fresh

    def committed(self, uris: Iterable[str]) -> None:
        """These URIs are in the catalog now (called by the writer after each commit)."""
        with self._lock:
            self._in_flight.difference_update(uris)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)
