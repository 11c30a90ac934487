"""One simulator process of a multi-process fleet run, and the merging of their reports.

The simulator's own CPU, not the server's, is what limits a one-process fleet on a
small machine (a 10,000-device fleet needs more than one core of Python to *send* its
requests), so bench_fleet_size.py and bench_storm.py split the fleet over several of
these processes (--sim-procs), each with its own serial prefix. They all start at
the same wall-clock instant (--start-at), so their devices' schedules interleave as
one fleet's would. Each writes a pickle: the facectl.sim report, the raw latencies
per endpoint (so percentiles of the whole fleet are exact, not a max of p99s), the
event-loop lag samples and, for a storm, when its backlog was drained.

    python bench/fleet_worker.py --server URL --devices 5000 --sn-prefix FA-8190H --out w0.pkl

(normally started by the benchmarks, not by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facectl.sim.config import SimConfig
from facectl.sim.device import SimDevice
from facectl.sim.fleet import FleetRun, raise_fd_limit, serials
from facectl.sim.stats import Stats, _percentile

SLACK_MS = 500.0


async def _loop_lag(stats: Stats, stop: asyncio.Event, period: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + period
        await asyncio.sleep(period)
        stats.loop_lag.append(max(0.0, loop.time() - expected))


class TimedStats(Stats):
    """Stats that also note when keepalives were late (loop time, lateness in s)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.late: list[tuple[float, float]] = []

    def keepalive_sent(self, lateness: float, slack: float) -> None:
        super().keepalive_sent(lateness, slack)
        if lateness > slack:
            self.late.append((asyncio.get_running_loop().time(), lateness))


async def _marks(stats: Stats, marks: list[tuple[float, int]], start: float, stop: asyncio.Event) -> None:
    """Every second: how many keepalive latencies so far (to slice the array by time later)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        ka = stats.endpoints.get("Keepalive")
        marks.append((loop.time() - start, len(ka.latencies) if ka else 0))
        await asyncio.sleep(1.0)


def backlog_left(devices: list[SimDevice]) -> int:
    return sum(len(d.log.identify_backlog) + sum(len(q) for q in d.log.system_backlog.values()) for d in devices)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    config = SimConfig(server=args.server, interval=args.interval, records_per_min=args.records_per_min,
                       photo_bytes=args.photo_bytes, seed=args.seed)
    sns = serials(args.devices, args.sn_prefix)
    stats = TimedStats(devices=len(sns))
    devices = [SimDevice(sn, config, stats) for sn in sns]
    now = time.time()
    for d in devices:  # a backlog built up during the outage, oldest first
        for k in range(args.backlog):
            d.log.identify_backlog.append(d.records.make_identify_record(now - args.backlog + k))
    raise_fd_limit(2 * len(devices) + 256)
    loop = asyncio.get_running_loop()
    wait = args.start_at - time.time()
    if wait > 0:
        await asyncio.sleep(wait)
    start = loop.time()
    wall_start = time.time()
    until = start + args.duration
    n = len(devices)
    tasks = [asyncio.create_task(d.run(None, until, start_at=start + args.spread * i / n))
             for i, d in enumerate(devices)]
    stats.started = start
    stop = asyncio.Event()
    lag = asyncio.create_task(_loop_lag(stats, stop))
    marks: list[tuple[float, int]] = []
    marker = asyncio.create_task(_marks(stats, marks, start, stop))
    drained_at = None
    timeline: list[tuple[float, int]] = []  # (seconds since start, records left)
    if args.backlog:
        total = backlog_left(devices)
        timeline.append((0.0, total))
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.25)
            left = backlog_left(devices)
            t = loop.time() - start
            if not timeline or t - timeline[-1][0] >= 1.0:
                timeline.append((round(t, 2), left))
            if left == 0 and drained_at is None:
                drained_at = t
                timeline.append((round(t, 2), 0))
                # keep the fleet running a little (keepalives go on) then stop everyone
                await asyncio.sleep(args.linger)
                break
    if args.backlog:
        # drained (or out of time): stop the devices still running
        pending = [t for t in tasks if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    else:
        # devices stop by themselves at `until`; the margin only guards against a hung socket
        _, pending = await asyncio.wait(tasks, timeout=args.duration + 5.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            stats.count("devices cancelled at the end", len(pending))
    stop.set()
    await asyncio.gather(lag, marker, return_exceptions=True)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            stats.count(f"device crashed: {task.exception()!r}")
    stats.finished = loop.time()
    report = FleetRun(devices, stats).report()
    return {
        "report": report,
        "latencies": {name: e.latencies for name, e in stats.endpoints.items()},
        "loop_lag": stats.loop_lag,
        "max_lateness": stats.max_keepalive_lateness,
        "wall_start": wall_start,
        "drained_at": drained_at,
        "backlog_total": args.devices * args.backlog,
        "timeline": timeline,
        "late": [(round(t - start, 3), round(late, 3)) for t, late in stats.late],
        "keepalive_marks": marks,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True)
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--sn-prefix", required=True)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds (the storm's upper bound)")
    ap.add_argument("--spread", type=float, default=None,
                    help="stagger device starts over this many seconds (default: the interval; 0: all at once)")
    ap.add_argument("--records-per-min", type=float, default=1.0)
    ap.add_argument("--photo-bytes", type=int, default=30 * 1024)
    ap.add_argument("--backlog", type=int, default=0, help="identify records queued on each device at start")
    ap.add_argument("--linger", type=float, default=2.0, help="seconds to keep running once drained")
    ap.add_argument("--start-at", type=float, default=0.0, help="wall-clock time to start (time.time())")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    if args.spread is None:
        args.spread = min(args.interval, args.duration / 2)
    result = asyncio.run(run(args))
    args.out.write_bytes(pickle.dumps(result))


# ------------------------------------------------------------- for the parent


def spawn(n_procs: int, devices: int, prefix: str, out_dir: Path, common: list[str],
          start_in: float = 3.0) -> tuple[list[subprocess.Popen], list[Path], float]:
    """Start `n_procs` workers sharing `devices`; returns them, their output files and the start time."""
    start_at = time.time() + start_in
    procs, outs = [], []
    per = [devices // n_procs + (1 if i < devices % n_procs else 0) for i in range(n_procs)]
    for i, count in enumerate(per):
        if not count:
            continue
        out = out_dir / f"worker-{i}-{os.getpid()}-{int(start_at)}.pkl"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--devices", str(count),
               "--sn-prefix", f"{prefix}{i}", "--start-at", f"{start_at:.3f}", "--out", str(out), *common]
        procs.append(subprocess.Popen(cmd))
        outs.append(out)
    return procs, outs, start_at


@dataclass
class Watched:
    """What the parent saw while the workers ran: their results, and the samplers' series."""

    results: list[dict[str, Any]]
    server: Any  # harness.Sampler of the server process
    sims: list[Any]  # harness.Sampler of each worker
    probe: Any  # harness.Probe of the server


async def watch(procs: list[subprocess.Popen], outs: list[Path], server_pid: int, server_url: str,
                sample_period: float, probe_period: float) -> Watched:
    """Sample the server and the workers and probe the server until every worker exits; read their results."""
    from harness import Probe, Sampler

    srv = Sampler(server_pid, period=sample_period).start()
    sims = [Sampler(p.pid, period=sample_period).start() for p in procs]
    probe = Probe(server_url, period=probe_period).start()
    try:
        while any(p.poll() is None for p in procs):
            await asyncio.sleep(0.5)
    finally:
        await probe.stop()
        for s in (srv, *sims):
            await s.stop()
    if any(p.returncode for p in procs):
        raise SystemExit(f"a simulator process failed: {[p.returncode for p in procs]}")
    results = [pickle.loads(o.read_bytes()) for o in outs]
    for o in outs:
        o.unlink()
    return Watched(results, srv, sims, probe)


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One fleet report (the shape of facectl.sim.stats.Stats.report) from the workers' results."""
    from facectl.sim.stats import _ms

    reports = [r["report"] for r in results]
    out: dict[str, Any] = {}
    for key in ("devices", "keepalives", "missed_keepalive_deadlines", "requests", "retries", "timeouts",
                "errors", "people_held", "records_pending", "pushes_pending", "boots"):
        out[key] = sum(r.get(key, 0) for r in reports)
    out["seconds"] = max(r["seconds"] for r in reports)
    out["requests_per_second"] = round(out["requests"] / out["seconds"], 1) if out["seconds"] else None
    out["max_keepalive_lateness_ms"] = max(r["max_keepalive_lateness_ms"] or 0 for r in reports)
    lag = array("d")
    for r in results:
        lag.extend(r["loop_lag"])
    out["sim_loop_lag_p99_ms"] = _ms(_percentile(lag, 99))
    out["sim_loop_lag_max_ms"] = _ms(max(lag) if lag else None)
    events: dict[str, int] = {}
    for r in reports:
        for k, v in r.get("events", {}).items():
            events[k] = events.get(k, 0) + v
    out["events"] = dict(sorted(events.items()))
    endpoints: dict[str, Any] = {}
    names = sorted({n for r in reports for n in r["endpoints"]})
    for name in names:
        rows = [r["endpoints"][name] for r in reports if name in r["endpoints"]]
        row = {k: sum(x[k] for x in rows) for k in rows[0] if not k.endswith("_ms")}
        lat = array("d")
        for r in results:
            lat.extend(r["latencies"].get(name, array("d")))
        row["p50_ms"] = _ms(_percentile(lat, 50))
        row["p99_ms"] = _ms(_percentile(lat, 99))
        row["max_ms"] = _ms(max(lat) if lat else None)
        endpoints[name] = row
    out["endpoints"] = endpoints
    return out


def phase(results: list[dict[str, Any]], since: float, until: float | None = None) -> dict[str, Any]:
    """Keepalive figures of one phase of the run (seconds from the start): missed deadlines and latency."""
    from facectl.sim.stats import _ms

    late = [x for r in results for x in r["late"] if x[0] >= since and (until is None or x[0] < until)]
    lat = array("d")
    for r in results:
        marks = r["keepalive_marks"]
        lo = next((n for t, n in marks if t >= since), None)
        hi = next((n for t, n in marks if until is not None and t >= until), None)
        if lo is not None:
            lat.extend(r["latencies"].get("Keepalive", array("d"))[lo:hi])
    return {"from_s": since, "to_s": until, "keepalives_answered": len(lat), "missed_deadlines": len(late),
            "max_lateness_ms": _ms(max((x[1] for x in late), default=None)),
            "late_at_s": sorted({round(x[0]) for x in late})[:50],
            "keepalive_p50_ms": _ms(_percentile(lat, 50)), "keepalive_p99_ms": _ms(_percentile(lat, 99)),
            "keepalive_max_ms": _ms(max(lat) if lat else None)}


if __name__ == "__main__":
    main()
