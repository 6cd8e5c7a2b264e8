"""Compaction in the background: a thread that merges the vector store's small segments
when enough have piled up, so that neither an ingest batch nor an erasure waits for it.

Deleted faces do not wait for compaction: a save rewrites the segments that held them at
once (see ``IndexFile.save``). What is merged here is the many small segments that ingest
batches and erasures leave, which slow a cold open and waste disk. The vector store's file
lock orders a compaction with every other process's saves.
"""

from __future__ import annotations

import logging
import threading

from ..errors import FaceLedgerError

log = logging.getLogger("faceledger.store.compactor")

DEFAULT_INTERVAL_S = 60.0


class BackgroundCompactor:
    """``start()`` a daemon thread that, every ``interval_s``, compacts ``vectors`` if its
    ``compaction_due()`` says so; ``stop()`` ends it (waiting for a compaction under way)."""

    def __init__(self, vectors, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.vectors = vectors
        self.interval_s = float(interval_s)
        self.compactions = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundCompactor:
        if self._thread is None and hasattr(self.vectors, "compaction_due"):
            self._thread = threading.Thread(target=self._run, name="faceledger-compactor",
                                            daemon=True)
            self._thread.start()
        return self

    def run_once(self) -> bool:
        """Compact now if it is due; whether it did."""
        if not self.vectors.compaction_due():
            return False
        self.vectors.compact()
        self.compactions += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except FaceLedgerError as exc:  # the next round tries again; searches go on
                log.warning("background compaction failed: %s", exc.message)
            except Exception:  # a bug must not kill the server's thread silently
                log.exception("background compaction failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
