"""Many simulated devices in one event loop, and the report of what they saw.

Devices start staggered over one keepalive interval (as a real fleet does after
a power cut, not all in the same millisecond), each with its own single
connection, and all stop by themselves at the end of the run. The report gives
per-endpoint latency (p50/p99), missed keepalive deadlines, retries and errors.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from .config import DEFAULT_SN_PREFIX, SN_DIGITS, SimConfig
from .device import SimDevice
from .stats import Stats
from .transport import SessionFactory


def serials(count: int, prefix: str = DEFAULT_SN_PREFIX) -> list[str]:
    return [f"{prefix}{i:0{SN_DIGITS}d}" for i in range(1, count + 1)]


def raise_fd_limit(wanted: int) -> int:
    """Make room for one socket per device (and the server's, when it runs here too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@dataclass(slots=True)
class FleetRun:
    devices: list[SimDevice]
    stats: Stats

    def report(self) -> dict[str, Any]:
        out = self.stats.report()
        out["people_held"] = sum(len(d.ctx.people) for d in self.devices)
        out["records_pending"] = sum(
            len(d.log.identify_backlog) + sum(len(q) for q in d.log.system_backlog.values())
            for d in self.devices)
        out["pushes_pending"] = sum(len(d.ctx.push_queue) for d in self.devices)
        out["boots"] = sum(d.boots for d in self.devices)
        return out


async def run_fleet(
    config: SimConfig, sns: list[str], duration: float, *,
    session_factory: SessionFactory | None = None,
    on_start: Callable[[list[SimDevice]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> FleetRun:
    """Run every device for `duration` seconds, or until `stop` is set (Ctrl-C: the run so far
    is still reported); returns the devices and the shared stats."""
    loop = asyncio.get_running_loop()
    stats = Stats(devices=len(sns))
    devices = [SimDevice(sn, config, stats) for sn in sns]
    if on_start is not None:
        on_start(devices)
    raise_fd_limit(2 * len(devices) + 256)
    start = loop.time()
    until = start + duration
    spread = min(config.interval, duration / 2) if len(devices) > 1 else 0.0
    tasks = [
        asyncio.create_task(d.run(session_factory, until, start_at=start + spread * i / len(devices)),
                            name=f"sim {d.ctx.sn}")
        for i, d in enumerate(devices)
    ]
    stats.started = start
    monitor = asyncio.create_task(_watch_loop_lag(stats, until))
    # Devices stop by themselves at `until`; the margin only guards against a hung socket.
    finished = asyncio.ensure_future(asyncio.wait(tasks, timeout=duration + 5.0))
    stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
    await asyncio.wait([f for f in (finished, stopped) if f is not None], return_when=asyncio.FIRST_COMPLETED)
    for waiter in (finished, stopped):
        if waiter is not None and not waiter.done():
            waiter.cancel()
    done = [t for t in tasks if t.done()]
    pending = [t for t in tasks if not t.done()]
    monitor.cancel()
    await asyncio.gather(monitor, return_exceptions=True)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
        stats.count("devices stopped by Ctrl-C" if stop is not None and stop.is_set()
                    else "devices cancelled at the end", len(pending))
    for task in done:
        if task.exception() is not None:
            stats.count(f"device crashed: {task.exception()!r}")
    stats.finished = loop.time()
    return FleetRun(devices, stats)


async def _watch_loop_lag(stats: Stats, until: float, period: float = 0.1) -> None:
    """How late this process's own event loop wakes up: if the simulator is the bottleneck,
    latencies and missed deadlines say more about it than about the server."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        expected = loop.time() + period
        await asyncio.sleep(period)
        stats.loop_lag.append(max(0.0, loop.time() - expected))


def render(report: dict[str, Any]) -> list[Table]:
    """The report as rich tables: one row per endpoint, then the fleet figures."""
    endpoints = Table(title="Per endpoint (latency in ms)", header_style="bold")
    endpoints.add_column("endpoint", no_wrap=True)
    for col in ("calls", "ok", "err", "retry", "t/o", "p50", "p99", "max"):
        endpoints.add_column(col, justify="right", no_wrap=True)
    for name, row in report["endpoints"].items():
        endpoints.add_row(name, *(_cell(row[k]) for k in
                                  ("calls", "ok", "errors", "retries", "timeouts", "p50_ms", "p99_ms",
                                   "max_ms")))
    summary = Table(title="Fleet", header_style="bold", show_header=False)
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    for key in ("devices", "seconds", "keepalives", "missed_keepalive_deadlines",
                "max_keepalive_lateness_ms", "sim_loop_lag_p99_ms", "sim_loop_lag_max_ms",
                "requests", "requests_per_second", "retries", "timeouts", "errors", "people_held",
                "records_pending", "pushes_pending", "boots"):
        if key in report:
            summary.add_row(key.replace("_", " "), _cell(report[key]))
    tables = [endpoints, summary]
    if report.get("events"):
        events = Table(title="Events", header_style="bold", show_header=False)
        events.add_column("event")
        events.add_column("count", justify="right")
        for name, count in report["events"].items():
            events.add_row(name, str(count))
        tables.append(events)
    return tables


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
