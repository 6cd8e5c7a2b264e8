"""Request counters and latency histograms, rendered in the Prometheus text format."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sums: dict[tuple[str, str], float] = defaultdict(float)
        self._counts: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route)
        with self._lock:
            self._requests[(method, route, status)] += 1
            buckets = self._buckets.setdefault(key, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._sums[key] += seconds
            self._counts[key] += 1

    def render(self, gauges: dict[str, float] | None = None) -> str:
        lines = [
            "# HELP faceledger_http_requests_total HTTP requests by route and status.",
            "# TYPE faceledger_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(
                    f'faceledger_http_requests_total{{method="{method}",route="{route}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP faceledger_http_request_seconds HTTP request latency.",
                "# TYPE faceledger_http_request_seconds histogram",
            ]
            for (method, route), buckets in sorted(self._buckets.items()):
                labels = f'method="{method}",route="{route}"'
                name = "faceledger_http_request_seconds"
                for bound, n in zip(BUCKETS, buckets, strict=True):
                    lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {n}')
                lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {self._counts[(method, route)]}')
                lines.append(f"{name}_sum{{{labels}}} {self._sums[(method, route)]:.6f}")
                lines.append(f"{name}_count{{{labels}}} {self._counts[(method, route)]}")
        for name, value in sorted((gauges or {}).items()):
            lines += [f"# TYPE faceledger_{name} gauge", f"faceledger_{name} {value}"]
        return "\n".join(lines) + "\n"
