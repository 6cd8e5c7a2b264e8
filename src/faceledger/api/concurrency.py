"""Make one open store safe for the server's threads.

The server runs searches in the thread pool while an ingest run writes in its own thread.
Two things in the engine are not safe to share between threads as they are:

* the face analyzer (OpenCV's YuNet keeps its input size on the network object, and an
  OpenVINO compiled model called directly shares one infer request), and
* the FAISS index (``add`` may reallocate the vectors that a concurrent ``search`` reads).

:func:`guard_store` wraps both behind locks, once, when the app is built. Searches still run
concurrently with everything else they do (decoding, catalog reads, audit writes); only the
model call and the index call are serialised. This belongs in the library eventually
(``Store`` owning its locks); until then the server installs it.
"""

from __future__ import annotations

import threading
from typing import Any


class _Locked:
    """Delegates every attribute; the named methods run under the lock."""

    _guarded: frozenset[str] = frozenset()

    def __init__(self, inner: Any, lock: threading.RLock) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_lock", lock)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in self._guarded and callable(value):
            lock = self._lock

            def locked(*args: Any, **kwargs: Any) -> Any:
                with lock:
                    return value(*args, **kwargs)

            return locked
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __len__(self) -> int:
        with self._lock:
            return len(self._inner)


class LockedIndex(_Locked):
    _guarded = frozenset({"add", "remove", "search", "ids", "train", "compact", "to_bytes",
                          "save", "memory_bytes"})


class LockedAnalyzer(_Locked):
    _guarded = frozenset({"analyze", "detect", "embed"})


def guard_store(store: Any, load_models: bool = True) -> Any:
    """Install the locks on ``store`` (idempotent) and return it. With ``load_models``
    false the analyzer is neither loaded nor guarded (for tests that never analyse)."""
    index_file = getattr(store, "index_file", None)
    if index_file is not None and not isinstance(index_file.index, LockedIndex):
        index_file.index = LockedIndex(index_file.index, threading.RLock())
    analyzer_slot = hasattr(store, "_analyzer")
    if load_models and analyzer_slot and not isinstance(store._analyzer, LockedAnalyzer):
        analyzer = store.analyzer  # loads the models now, not on the first request
        store._analyzer = LockedAnalyzer(analyzer, threading.RLock())
    return store
