"""Counters of a simulated device or a whole fleet: latency per endpoint, deadlines, retries, errors.

One `Stats` may be shared by many devices in one event loop (no locking needed).
Latencies are kept as plain float arrays; a million samples is 8 MB.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class EndpointStats:
    calls: int = 0  # logical calls (a call may take several tries)
    tries: int = 0  # HTTP requests sent
    ok: int = 0  # calls answered HTTP 200 with Success 1
    retries: int = 0  # tries after the first within a call
    timeouts: int = 0  # tries with no answer in time
    net_errors: int = 0  # tries that could not connect or lost the connection
    http_errors: int = 0  # answers with an HTTP status other than 200
    refused: int = 0  # answers with Success other than 1
    injected: int = 0  # answers thrown away by the timeout fault
    bytes_out: int = 0
    bytes_in: int = 0
    latencies: array = field(default_factory=lambda: array("d"))

    @property
    def errors(self) -> int:
        return self.calls - self.ok

    def percentile(self, q: float) -> float | None:
        return _percentile(self.latencies, q)


@dataclass(slots=True)
class Stats:
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)
    keepalives: int = 0
    missed_keepalives: int = 0
    max_keepalive_lateness: float = 0.0
    events: Counter = field(default_factory=Counter)
    devices: int = 0
    #: How late the simulator's own event loop woke up (seconds), sampled by the fleet.
    loop_lag: array = field(default_factory=lambda: array("d"))
    started: float = 0.0
    finished: float = 0.0

    def endpoint(self, name: str) -> EndpointStats:
        entry = self.endpoints.get(name)
        if entry is None:
            entry = self.endpoints[name] = EndpointStats()
        return entry

    def keepalive_sent(self, lateness: float, slack: float) -> None:
        """A keepalive left `lateness` seconds after it was due (negative: early)."""
        self.keepalives += 1
        if lateness > self.max_keepalive_lateness:
            self.max_keepalive_lateness = lateness
        if lateness > slack:
            self.missed_keepalives += 1

    def count(self, event: str, n: int = 1) -> None:
        self.events[event] += n

    def totals(self) -> dict[str, int]:
        out = Counter()
        for e in self.endpoints.values():
            out["calls"] += e.calls
            out["tries"] += e.tries
            out["ok"] += e.ok
            out["retries"] += e.retries
            out["timeouts"] += e.timeouts
            out["errors"] += e.errors
        return dict(out)

    def report(self) -> dict[str, Any]:
        """The JSON report: per endpoint, then the fleet figures."""
        elapsed = max(0.0, self.finished - self.started)
        rows = {}
        for name in sorted(self.endpoints):
            e = self.endpoints[name]
            rows[name] = {
                "calls": e.calls, "tries": e.tries, "ok": e.ok, "errors": e.errors,
                "retries": e.retries, "timeouts": e.timeouts, "net_errors": e.net_errors,
                "http_errors": e.http_errors, "refused": e.refused, "injected_timeouts": e.injected,
                "p50_ms": _ms(e.percentile(50)), "p99_ms": _ms(e.percentile(99)),
                "max_ms": _ms(max(e.latencies) if e.latencies else None),
                "bytes_out": e.bytes_out, "bytes_in": e.bytes_in,
            }
        totals = self.totals()
        return {
            "devices": self.devices,
            "seconds": round(elapsed, 3),
            "keepalives": self.keepalives,
            "missed_keepalive_deadlines": self.missed_keepalives,
            "max_keepalive_lateness_ms": _ms(self.max_keepalive_lateness),
            "sim_loop_lag_p99_ms": _ms(_percentile(self.loop_lag, 99)),
            "sim_loop_lag_max_ms": _ms(max(self.loop_lag) if self.loop_lag else None),
            "requests": totals.get("tries", 0),
            "requests_per_second": round(totals.get("tries", 0) / elapsed, 1) if elapsed else None,
            "retries": totals.get("retries", 0),
            "timeouts": totals.get("timeouts", 0),
            "errors": totals.get("errors", 0),
            "events": dict(sorted(self.events.items())),
            "endpoints": rows,
        }


def _percentile(values: array, q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    data = sorted(values)
    k = max(0, min(len(data) - 1, math.ceil(q / 100.0 * len(data)) - 1))
    return data[k]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)
