"""Refused authentication is rate-limited per client address (a token bucket each).

Every refused credential (an unknown, malformed, revoked or expired key, token or session,
or a failed sign-in) takes a token from its client's bucket. While a bucket is empty that
client's credentials are not even checked: it gets 429 with ``Retry-After`` until the
bucket refills. Credentials that work cost nothing, so a client that signs in correctly is
never slowed down by its own traffic.

The state lives on this object (one per app), in memory, for at most ``max_clients``
addresses: the least recently refused ones are dropped first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class AuthRateLimiter:
    def __init__(self, burst: int = 20, per_second: float = 1 / 3, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("burst must be >= 1 and per_second > 0")
        self.burst = float(burst)
        self.per_second = float(per_second)
        self.max_clients = max_clients
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refill(self, client: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(client)
        if bucket is not None:
            refill = (now - bucket.updated) * self.per_second
            bucket.tokens = min(self.burst, bucket.tokens + refill)
            bucket.updated = now
            if bucket.tokens >= self.burst:  # full again: forget the client
                del self._buckets[client]
                return None
        return bucket

    def retry_after(self, client: str) -> int:
        """0 if the client may present a credential now, else the seconds to wait."""
        with self._lock:
            bucket = self._refill(client, self.clock())
            if bucket is None or bucket.tokens >= 1.0:
                return 0
            return max(1, math.ceil((1.0 - bucket.tokens) / self.per_second))

    def refused(self, client: str) -> None:
        """Count one refused credential against the client."""
        with self._lock:
            now = self.clock()
            bucket = self._refill(client, now)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(self.burst, now)
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
