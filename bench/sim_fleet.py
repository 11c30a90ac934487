"""Fleet benchmark: a real `facectl serve` in its own process, N simulated devices in this one.

    .venv/bin/python bench/sim_fleet.py --devices 2000 --interval 15 --duration 60
    .venv/bin/python bench/sim_fleet.py --devices 200 --people 1000 --duration 60
    .venv/bin/python bench/sim_fleet.py --server http://10.0.0.5:8080 --devices 500

Without --server, a server is started on a free loopback port with a fresh
database in a temporary directory and open enrollment, and stopped at the end;
with --people N that database first gets N people with photos for every device,
so the run starts with a people-sync storm (protocol.md 1.2: keepalives must stay on
time while thousands of devices page through DownloadPeopleList).
The report (JSON) has per-endpoint latency p50/p99, missed keepalive deadlines,
retries, errors, and the simulator's own event-loop lag: when that lag is high,
the simulator, not the server, is the bottleneck, and the run should be split
over more processes (`--sn-prefix` keeps their serials apart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ServerProcess, seed_people  # noqa: E402

from facectl.sim.config import Faults, SimConfig  # noqa: E402
from facectl.sim.fleet import DEFAULT_SN_PREFIX, render, run_fleet, serials  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", help="use this server instead of starting one")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--sn-prefix", default=DEFAULT_SN_PREFIX)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--records-per-min", type=float, default=2.0)
    ap.add_argument("--photo-bytes", type=int, default=30 * 1024)
    ap.add_argument("--people", type=int, default=0, help="people to sync to every device (own server)")
    ap.add_argument("--person-photo-bytes", type=int, default=20 * 1024)
    ap.add_argument("--limit", type=int, default=100, help="DownloadPeopleList page size")
    ap.add_argument("--fault", action="append", default=[], metavar="NAME[=P]")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", type=Path, help="write the JSON report here")
    args = ap.parse_args()

    console = Console(stderr=True)
    server = None
    with tempfile.TemporaryDirectory(prefix="facectl-bench-") as tmp:
        url = args.server
        if url is None:
            if args.people:
                started = time.monotonic()
                seed_people(Path(tmp) / "bench.db", args.people, args.person_photo_bytes)
                console.print(f"{args.people} people stored in {time.monotonic() - started:.1f} s")
            server = ServerProcess.start_facectl(Path(tmp) / "bench.db", Path(tmp))
            url = server.url
            console.print(f"server pid {server.pid} at {url} (db in {tmp})")
        config = SimConfig(server=url, interval=args.interval, records_per_min=args.records_per_min,
                           photo_bytes=args.photo_bytes, faults=Faults.parse(args.fault), seed=args.seed,
                           people_limit=args.limit)
        try:
            run = asyncio.run(run_fleet(config, serials(args.devices, args.sn_prefix), args.duration))
        finally:
            if server is not None:
                server.stop()
        report = run.report()
        report["config"] = {**vars(args), "report": str(args.report) if args.report else None,
                            "server": url, "cpus": os.cpu_count()}
        for table in render(report):
            console.print(table)
        text = json.dumps(report, indent=2, ensure_ascii=False)
        if args.report:
            args.report.write_text(text + "\n")
        else:
            print(text)


if __name__ == "__main__":
    main()
