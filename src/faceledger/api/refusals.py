"""Refused requests go into the audit log aggregated, so a flood cannot flood the log.

Per client address and actor, the first refusal in a window (a minute by default) is
written at once, with its route and reason (``api_key_refused``). Further refusals in the
same window are only counted; when the window ends, one ``api_key_refused_summary`` entry
gives their number, their routes and reasons. So a client costs the log at most two
entries a minute however many bogus keys it sends, and nothing goes unrecorded: the sum of
the first entries and the summaries' counts is the number of refusals.

Windows are closed lazily (on the next refusal or request) and all at shutdown.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Append = Callable[[str, str, dict, dict], None]  # (action, actor, inputs, outputs)
MAX_DISTINCT = 20  # routes / reasons listed per summary; the rest are counted as "other"


@dataclass
class _Window:
    started: float
    client: str
    actor: str
    extra: int = 0
    routes: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _bump(counter: Counter, key: str) -> None:
    counter[key if key in counter or len(counter) < MAX_DISTINCT else "other"] += 1


class RefusalAudit:
    def __init__(self, append: Append, window_s: float = 60.0, max_windows: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.append = append
        self.window_s = window_s
        self.max_windows = max_windows
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._next_due = float("inf")

    def record(self, client: str, actor: str, method: str, route: str, code: str,
               role: str | None = None) -> None:
        now = self.clock()
        self.flush_due(now)
        key = (client, actor)
        with self._lock:
            window = self._windows.get(key)
            if window is not None:
                window.extra += 1
                _bump(window.routes, f"{method} {route}")
                _bump(window.codes, code)
                return
            if len(self._windows) >= self.max_windows:
                oldest = min(self._windows.values(), key=lambda w: w.started)
                self._close([self._windows.pop((oldest.client, oldest.actor))])
            self._windows[key] = _Window(now, client, actor)
            self._next_due = min(self._next_due, now + self.window_s)
        inputs = {"method": method, "route": route, "client": client}
        if role is not None:
            inputs["role"] = role
        self.append("api_key_refused", actor, inputs,
                    {"allowed": False, "code": code, "window_s": self.window_s})

    def flush_due(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        if now < self._next_due:
            return
        with self._lock:
            due = [k for k, w in self._windows.items() if w.started + self.window_s <= now]
            closed = [self._windows.pop(k) for k in due]
            self._next_due = min((w.started + self.window_s for w in self._windows.values()),
                                 default=float("inf"))
        self._close(closed)

    def flush_all(self) -> None:
        with self._lock:
            closed = list(self._windows.values())
            self._windows.clear()
            self._next_due = float("inf")
        self._close(closed)

    def _close(self, windows: list[_Window]) -> None:
        for w in windows:
            if w.extra == 0:
                continue
            self.append(
                "api_key_refused_summary", w.actor,
                {"client": w.client, "window_start": _iso(w.started), "window_s": self.window_s,
                 "routes": dict(w.routes)},
                {"allowed": False, "refused": w.extra, "codes": dict(w.codes)},
            )
