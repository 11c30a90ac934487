"""Reconnect storm: N devices come back at once after an outage, each with a record backlog.

    .venv/bin/python bench/bench_storm.py                                  # 1,000 x 1,000, no photos
    .venv/bin/python bench/bench_storm.py --devices 1000 --backlog 20 --photo-bytes 40960
    flock /tmp/facectl-bench.lock .venv/bin/python bench/bench_storm.py --json bench/results/storm.json

`facectl serve --open-enrollment` runs in its own process on a fresh database. The
fleet (facectl.sim devices, spread over --sim-procs bench/fleet_worker.py processes)
starts with --backlog identify records queued on every device, dated over the
outage, and every device starts in the same instant (no stagger: the power came
back). Each device does what a terminal does: keepalive, its settings upload, then
records one by one until its next keepalive is due, a keepalive every --interval s.
No new records are made during the run, so "drained" has one meaning.

Figures: time until the last device's backlog is empty, records stored per second,
keepalive latency (p50/p99/max) and missed keepalive deadlines *during* the drain,
the server's CPU and RSS peak (VmHWM), the simulator processes' CPU. Then the
database is counted: every queued record must be stored exactly once (the
UNIQUE (sn, kind, RecordID, RecordDate) key makes a second copy impossible, so a
short count means a record lost, and acknowledged-but-missing is checked too).
The run is bounded by --max-seconds: a storm that has not drained by then is
reported as such, with how many records were left.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet_worker  # noqa: E402
from harness import (  # noqa: E402
    ServerProcess,
    dump_json,
    log_problems,
    machine,
    note,
    print_table,
    proc_hwm_bytes,
)


def count_db(db: Path, prefix: str) -> dict[str, int]:
    conn = sqlite3.connect(str(db))
    try:
        q = ("SELECT count(*), count(DISTINCT sn || ':' || record_id || ':' || record_date) FROM records "
             "WHERE kind = 'identify' AND sn LIKE ?")
        rows, distinct = conn.execute(q, [prefix + "%"]).fetchone()
        devices = conn.execute("SELECT count(DISTINCT sn) FROM records WHERE kind = 'identify' AND sn LIKE ?",
                               [prefix + "%"]).fetchone()[0]
        return {"identify_rows": rows, "distinct_keys": distinct, "devices_with_records": devices}
    finally:
        conn.close()


async def storm(args: argparse.Namespace, server: ServerProcess, tmp: Path) -> dict[str, Any]:
    common = ["--server", server.url, "--interval", str(args.interval), "--duration", str(args.max_seconds),
              "--spread", "0", "--records-per-min", "0", "--photo-bytes", str(args.photo_bytes),
              "--backlog", str(args.backlog), "--linger", "1", "--seed", "1"]
    # The workers build their backlogs before the common start instant: give them time for it.
    start_in = 3.0 + args.devices * args.backlog / 150_000
    procs, outs, start_at = fleet_worker.spawn(args.sim_procs, args.devices, args.sn_prefix, tmp, common,
                                               start_in=start_in)
    watched = await fleet_worker.watch(procs, outs, server.pid, server.url, sample_period=0.5, probe_period=0.1)
    results, srv, sims, probe = watched.results, watched.server, watched.sims, watched.probe
    drained = [r["drained_at"] for r in results]
    drain_s = max(drained) if all(d is not None for d in drained) else None
    end = drain_s if drain_s is not None else max(r["report"]["seconds"] for r in results)
    begin = time.monotonic() - (time.time() - start_at)
    return {
        "results": results,
        "drain_s": drain_s,
        "during": fleet_worker.phase(results, 0.0, end),
        "server": srv.window(begin, begin + end),
        "simulator_cpu_pct": [s.window(begin, begin + end)["cpu_pct"] for s in sims],
        "simulator_rss_mb_max": [s.window()["rss_mb_max"] for s in sims],
        "server_hwm_mb": round(proc_hwm_bytes(server.pid) / 2**20, 1),
        "probe": probe.window(begin, begin + end),
        "server_log": log_problems(server.log),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--backlog", type=int, default=1000, help="identify records queued on each device (1000)")
    ap.add_argument("--photo-bytes", type=int, default=0,
                    help="photo per record (0: 1,000,000 photos of 40 KB would be 40 GB and an hour here)")
    ap.add_argument("--interval", type=float, default=15.0, help="keepalive interval, s (15)")
    ap.add_argument("--max-seconds", type=float, default=1200.0, help="give up after this long (1200)")
    ap.add_argument("--sim-procs", type=int, default=2)
    ap.add_argument("--sn-prefix", default="ST-8190H")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE", help="results as JSON (stdout or FILE)")
    args = ap.parse_args()

    out: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv), "config": vars(args)}
    note(f"storm: {args.devices} devices x {args.backlog} records, at most {args.max_seconds:g} s")
    with tempfile.TemporaryDirectory(prefix="facectl-bench-storm-") as tmp:
        db = Path(tmp) / "storm.db"
        server = ServerProcess.start_facectl(db, Path(tmp))
        try:
            run = asyncio.run(storm(args, server, Path(tmp)))
        finally:
            server.stop()
        counted = count_db(db, args.sn_prefix)
    results = run.pop("results")
    report = fleet_worker.merge(results)
    queued = args.devices * args.backlog
    uploaded = report["events"].get("identify records uploaded", 0)
    drain = run["drain_s"]
    during = run["during"]
    out.update(run)
    out["fleet"] = report
    out["db"] = counted
    out["figures"] = {
        "queued": queued, "acknowledged": uploaded, "stored": counted["identify_rows"],
        "exactly_once": counted["identify_rows"] == counted["distinct_keys"] == queued == uploaded,
        "drain_s": drain, "records_per_s": round(queued / drain, 1) if drain else None,
        "left_when_stopped": report["records_pending"],
    }
    f = out["figures"]
    print_table(f"Reconnect storm: {args.devices:,} devices at once, {args.backlog:,} records each "
                f"({args.photo_bytes // 1024} KB photos), {args.interval:g} s keepalives, "
                f"{args.sim_procs} simulator process(es)", ["figure", "value"], [
                    ["records queued / acknowledged / stored", f"{queued:,} / {uploaded:,} / {f['stored']:,}"],
                    ["stored exactly once", "yes" if f["exactly_once"] else "NO"],
                    ["time to drain, s", drain],
                    ["records stored / s", f["records_per_s"]],
                    ["keepalives during the drain", during["keepalives_answered"]],
                    ["keepalive p50 / p99 / max ms", f"{during['keepalive_p50_ms']} / {during['keepalive_p99_ms']}"
                                                      f" / {during['keepalive_max_ms']}"],
                    ["missed keepalive deadlines", during["missed_deadlines"]],
                    ["server probe (GET / every 0.1 s) p50 / p99 / max ms",
                     f"{run['probe']['p50_ms']} / {run['probe']['p99_ms']} / {run['probe']['max_ms']}"],
                    ["server log warnings / errors", run["server_log"]["count"]],
                    ["request errors / timeouts / retries", f"{report['errors']} / {report['timeouts']} / "
                                                            f"{report['retries']}"],
                    ["server CPU % (of one core)", run["server"]["cpu_pct"]],
                    ["server RSS max sampled / VmHWM MB", f"{run['server']['rss_mb_max']} / {run['server_hwm_mb']}"],
                    ["simulator CPU % per process", " + ".join(str(c) for c in run["simulator_cpu_pct"])],
                    ["simulator loop lag p99 ms", report["sim_loop_lag_p99_ms"]],
                ])
    if args.json:
        dump_json(out, args.json)


if __name__ == "__main__":
    main()
