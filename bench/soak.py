"""Soak: a simulated fleet against a real `facectl serve` for a bounded time; the server's memory and files sampled.

    .venv/bin/python bench/soak.py                                  # short run: 1 min, 100 devices
    flock /tmp/facectl-bench.lock .venv/bin/python bench/soak.py --minutes 10 --devices 1000 \\
        --people 20 --report soak.json                                   # the real one (docs/reliability.md)

The server runs in its own process (`python -m facectl serve`, open enrollment, a fresh
database in a temporary directory) on a free loopback port; the fleet (facectl.sim)
runs in this process. Every --sample seconds the server's /proc/PID/status (VmRSS,
VmHWM, Threads), its open file descriptors (len(os.listdir(/proc/PID/fd))), its CPU
time and the database and WAL sizes are sampled. At the end a table of the samples is
printed, with the growth per minute of each figure: the least-squares slope over the
samples after the warm-up (the first keepalive interval, the first minute at most,
when every device connects, uploads its settings and, with --people, syncs people),
and the plain difference first-to-last over the whole run. The fleet's own report
(latency per endpoint, missed keepalive deadlines, errors) follows. With --report the
whole thing is also written as JSON.

A leak shows as a steady slope after the warm-up: memory that grows with requests
served, or descriptors that grow with connections opened and closed. The database
grows by design (records and their photos are kept); its slope is the storage an
operator needs per minute for this fleet.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ServerProcess,
    dump_json,
    proc_cpu_seconds,
    proc_fds,
    proc_hwm_bytes,
    proc_rss_bytes,
    proc_threads,
    seed_people,
)

from facectl.sim.config import SimConfig  # noqa: E402
from facectl.sim.fleet import render, run_fleet, serials


@dataclass
class Sample:
    t: float  # seconds since the fleet started
    rss_mb: float
    hwm_mb: float
    threads: int
    fds: int
    cpu_s: float
    db_mb: float
    wal_mb: float


def sample(server: ServerProcess, db: Path, t: float) -> Sample:
    """The server's memory, threads, descriptors and CPU, and the database's size, at `t`."""
    pid = server.pid

    def mb(path: Path) -> float:
        try:
            return path.stat().st_size / 1e6
        except FileNotFoundError:
            return 0.0

    return Sample(round(t, 1), round(proc_rss_bytes(pid) / 2**20, 1), round(proc_hwm_bytes(pid) / 2**20, 1),
                  proc_threads(pid), proc_fds(pid), round(proc_cpu_seconds(pid), 1), round(mb(db), 1),
                  round(mb(Path(f"{db}-wal")), 1))


def slope_per_minute(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per minute."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx * 60


FIGURES = ("rss_mb", "hwm_mb", "threads", "fds", "cpu_s", "db_mb", "wal_mb")


def growth(samples: list[Sample], warmup: float) -> dict[str, dict[str, float | None]]:
    steady = [s for s in samples if s.t >= warmup]
    minutes = (samples[-1].t - samples[0].t) / 60 if len(samples) > 1 else 0
    out = {}
    for name in FIGURES:
        first, last = getattr(samples[0], name), getattr(samples[-1], name)
        slope = slope_per_minute([(s.t, getattr(s, name)) for s in steady])
        out[name] = {
            "first": first, "last": last, "max": max(getattr(s, name) for s in samples),
            "per_min_after_warmup": None if slope is None else round(slope, 3),
            "per_min_first_to_last": round((last - first) / minutes, 3) if minutes else None,
        }
    return out


async def soak(config: SimConfig, sns: list[str], seconds: float, server: ServerProcess, db: Path, every: float,
               console: Console) -> tuple[Any, list[Sample], Sample]:
    """Samples while the fleet runs (the last one half a period before its end), and one after it stopped."""
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []
    started = loop.time()

    async def sampler() -> None:
        n = 0
        while n * every <= seconds - every / 2:
            await asyncio.sleep(max(0.0, started + n * every - loop.time()))
            s = sample(server, db, loop.time() - started)
            samples.append(s)
            console.print(f"[dim]t={s.t:7.1f}s rss={s.rss_mb:7.1f} MB fds={s.fds:5d} threads={s.threads:3d} "
                          f"cpu={s.cpu_s:7.1f}s db={s.db_mb:7.1f} MB wal={s.wal_mb:6.1f} MB[/]")
            n += 1

    task = asyncio.create_task(sampler())
    run = await run_fleet(config, sns, seconds)
    await task
    after = sample(server, db, loop.time() - started)  # every device has closed its connection
    return run, samples, after


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0, help="how long the fleet runs (default 1)")
    ap.add_argument("--devices", type=int, default=100, help="simulated terminals (default 100)")
    ap.add_argument("--interval", type=float, default=15.0, help="keepalive interval, s (default 15)")
    ap.add_argument("--records-per-min", type=float, default=1.0, help="access records per device per minute")
    ap.add_argument("--photo-bytes", type=int, default=10 * 1024, help="record photo size")
    ap.add_argument("--people", type=int, default=0, help="people (with photos) every device syncs at the start")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", type=Path, help="write the JSON report here")
    args = ap.parse_args()

    console = Console(stderr=True)
    seconds = args.minutes * 60
    warmup = min(60.0, args.interval, seconds / 2)
    with tempfile.TemporaryDirectory(prefix="facectl-soak-") as tmp:
        workdir = Path(tmp)
        if args.people:
            t0 = time.monotonic()
            seed_people(workdir / "soak.db", args.people, 8 * 1024, Password=100000)
            console.print(f"{args.people} people stored in {time.monotonic() - t0:.1f} s")
        db = workdir / "soak.db"
        server = ServerProcess.start_facectl(db, workdir)
        console.print(f"server pid {server.pid} at {server.url}; {args.devices} devices for "
                      f"{args.minutes:g} min, a sample every {args.sample:g} s")
        config = SimConfig(server=server.url, interval=args.interval, records_per_min=args.records_per_min,
                           photo_bytes=args.photo_bytes, seed=args.seed, people_limit=100)
        try:
            run, samples, after = asyncio.run(soak(config, serials(args.devices), seconds, server, db,
                                                   args.sample, console))
        finally:
            code = server.stop()
        log_text = server.log.read_text(errors="replace")
        report = run.report()
        result = {
            "config": {**vars(args), "report": str(args.report) if args.report else None, "cpus": os.cpu_count(),
                       "warmup_s": warmup},
            "growth": growth(samples, warmup),
            "samples": [asdict(s) for s in samples],
            "after_fleet_stopped": asdict(after),
            "server_exit": code,
            "server_log_lines": len(log_text.splitlines()),
            "server_log_errors": sum(1 for line in log_text.splitlines() if " ERROR " in line
                                     or "Traceback" in line),
            "fleet": {k: report[k] for k in ("devices", "seconds", "keepalives", "missed_keepalive_deadlines",
                                             "max_keepalive_lateness_ms", "sim_loop_lag_p99_ms", "requests",
                                             "requests_per_second", "retries", "timeouts", "errors")},
            "endpoints": report["endpoints"],
            "events": report["events"],
        }
    table = Table(title="Server samples", header_style="bold")
    for col in ("t (s)", "RSS MB", "HWM MB", "threads", "fds", "CPU s", "DB MB", "WAL MB"):
        table.add_column(col, justify="right")
    for s in samples:
        table.add_row(*(str(v) for v in (s.t, s.rss_mb, s.hwm_mb, s.threads, s.fds, s.cpu_s, s.db_mb, s.wal_mb)))
    table.add_row(*(f"[italic]{v}[/]" for v in (f"{after.t} (stopped)", after.rss_mb, after.hwm_mb, after.threads,
                                                after.fds, after.cpu_s, after.db_mb, after.wal_mb)))
    console.print(table)
    trend = Table(title=f"Growth per minute (slope after the {warmup:g} s warm-up; first-to-last)",
                  header_style="bold")
    for col in ("figure", "first", "last", "max", "/min after warm-up", "/min first-to-last"):
        trend.add_column(col, justify="right")
    for name, g in result["growth"].items():
        trend.add_row(name, *(str(g[k]) for k in ("first", "last", "max", "per_min_after_warmup",
                                                  "per_min_first_to_last")))
    console.print(trend)
    for t in render(report):
        console.print(t)
    console.print(f"server exit code {code}; {result['server_log_errors']} error lines in its log")
    dump_json(result, str(args.report) if args.report else None)


if __name__ == "__main__":
    main()
