"""The largest fleet one machine serves at a keepalive interval with no missed deadline.

    .venv/bin/python bench/bench_fleet_size.py                     # one trial: 2,000 devices, 60 s
    .venv/bin/python bench/bench_fleet_size.py --devices 10000 --duration 75 --search
    .venv/bin/python bench/bench_fleet_size.py --devices 4000 --records-per-min 0 --json out.json
    # 10,000 devices: boots spread over 80 s (a site's terminals do not all boot in the same
    # 15 s; at 667 boots/s the server alone is saturated), then 60 s of steady state
    .venv/bin/python bench/bench_fleet_size.py --devices 10000 --duration 140 --boot-spread 80

Each trial starts `facectl serve --open-enrollment` in its own process on a fresh
database and runs the simulated fleet (facectl.sim.fleet.run_fleet, the engine of
`facectl sim --devices N`) in this process: both share this machine's cores, as the
issue asks. Devices boot staggered over one interval (keepalive, UploadWorkSetting),
then send a keepalive every --interval seconds and upload their records
(--records-per-min identify records with a --photo-bytes JPEG, and the door-sensor
records that go with them) over one keep-alive connection each.

A trial *passes* when, over the whole run, no keepalive left more than 0.5 s after
it was due (the simulator's missed deadline), and every keepalive, and every other
call, was answered Success 1 within the device's timeout (2 s for keepalives, no
retries). The server's CPU (% of one core) and RSS are sampled from /proc/PID; the
simulator's own CPU and event-loop lag are reported too: if the simulator, not the
server, saturates a core, a failing trial says more about the simulator.

With --search, a failing --devices is followed by a binary search down to the largest
passing size (to --resolution devices, at most --max-trials trials); a passing
--devices ends the search at once (it is the answer asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet_worker  # noqa: E402
from harness import ServerProcess, dump_json, log_problems, machine, note, print_table  # noqa: E402


def verdict(report: dict[str, Any]) -> tuple[bool, list[str]]:
    """(passed, reasons it did not)."""
    reasons = []
    if report["missed_keepalive_deadlines"]:
        reasons.append(f"{report['missed_keepalive_deadlines']} keepalives sent > 0.5 s late "
                       f"(max {report['max_keepalive_lateness_ms']:.0f} ms)")
    ka = report["endpoints"].get("Keepalive", {})
    if ka.get("errors") or ka.get("timeouts") or ka.get("retries"):
        reasons.append(f"keepalives: {ka.get('errors', 0)} failed, {ka.get('timeouts', 0)} timed out, "
                       f"{ka.get('retries', 0)} retried (p99 {ka.get('p99_ms')} ms, max {ka.get('max_ms')} ms)")
    others = {name: row for name, row in report["endpoints"].items()
              if name != "Keepalive" and (row["errors"] or row["timeouts"])}
    for name, row in others.items():
        reasons.append(f"{name}: {row['errors']} failed, {row['timeouts']} timed out (max {row['max_ms']} ms)")
    if report.get("events", {}).get("devices cancelled at the end"):
        reasons.append("devices hung at the end")
    return not reasons, reasons


def boot_spread(args: argparse.Namespace) -> float:
    """Seconds over which the devices' first keepalives are spread (as `facectl sim`: one interval)."""
    return args.boot_spread if args.boot_spread is not None else min(args.interval, args.duration / 2)


async def trial_async(args: argparse.Namespace, devices: int, server: ServerProcess, tmp: Path) -> dict[str, Any]:
    common = ["--server", server.url, "--interval", str(args.interval), "--duration", str(args.duration),
              "--spread", str(boot_spread(args)),
              "--records-per-min", str(args.records_per_min), "--photo-bytes", str(args.photo_bytes),
              "--seed", str(args.seed)]
    procs, outs, start_at = fleet_worker.spawn(args.sim_procs, devices, args.sn_prefix, tmp, common,
                                               start_in=3.0 + devices / 5000)
    watched = await fleet_worker.watch(procs, outs, server.pid, server.url, sample_period=1.0, probe_period=0.05)
    results, srv, sims, probe = watched.results, watched.server, watched.sims, watched.probe
    report = fleet_worker.merge(results)
    boot = boot_spread(args)
    report["phases"] = {"boot": fleet_worker.phase(results, 0.0, boot + 2.0),
                        "steady": fleet_worker.phase(results, boot + 2.0)}
    begin = time.monotonic() - (time.time() - start_at)  # the fleet's start on the monotonic clock
    steady = begin + boot  # after every device has booted
    report["server"] = {"whole_run": srv.window(begin, None), "after_boot": srv.window(steady, None),
                        "probe": probe.window(begin, None), "log": log_problems(server.log)}
    sim_windows = [s.window(steady, None) for s in sims]
    report["simulator"] = {
        "processes": len(procs),
        "cpu_pct_after_boot": [w["cpu_pct"] for w in sim_windows],
        "cpu_peak_1s_pct": [s.window(begin, None)["cpu_peak_1s_pct"] for s in sims],
        "rss_mb_max": [w["rss_mb_max"] for w in sim_windows],
    }
    return report


def trial(args: argparse.Namespace, devices: int, tmp: Path) -> dict[str, Any]:
    note(f"trial: {devices} devices, {args.interval:g} s interval, {args.duration:g} s, "
         f"{args.records_per_min:g} records/min of {args.photo_bytes} B photos, {args.sim_procs} simulator process(es)")
    db = tmp / f"fleet-{devices}.db"
    server = ServerProcess.start_facectl(db, tmp)
    try:
        report = asyncio.run(trial_async(args, devices, server, tmp))
    finally:
        server.stop()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    passed, reasons = verdict(report)
    report["passed"], report["reasons"] = passed, reasons
    ka = report["endpoints"].get("Keepalive", {})
    s, m = report["server"], report["simulator"]
    note(f"  {'PASS' if passed else 'FAIL'}: keepalive p50 {ka.get('p50_ms')} p99 {ka.get('p99_ms')} max "
         f"{ka.get('max_ms')} ms; missed {report['missed_keepalive_deadlines']}; server CPU "
         f"{s['after_boot']['cpu_pct']}% (peak {s['whole_run']['cpu_peak_1s_pct']}%), RSS "
         f"{s['whole_run']['rss_mb_max']} MB; simulator CPU {m['cpu_pct_after_boot']}% "
         f"(peak {m['cpu_peak_1s_pct']}%), loop lag p99 {report['sim_loop_lag_p99_ms']} ms; server probe "
         f"p99 {s['probe']['p99_ms']} max {s['probe']['max_ms']} ms, slow at {s['probe']['over_100ms_at_s'][:8]}; "
         f"server log: {s['log']['count']} warnings/errors {s['log']['first'][:2]}; phases "
         + "; ".join(f"{k}: missed {v['missed_deadlines']}, ka p99 {v['keepalive_p99_ms']} ms"
                     for k, v in report["phases"].items())
         + ("" if passed else f"; {'; '.join(reasons)}"))
    return report


def summary_row(devices: int, r: dict[str, Any]) -> list[Any]:
    ka = r["endpoints"].get("Keepalive", {})
    rec = r["endpoints"].get("UploadIdentifyRecord", {})
    return [devices, "pass" if r["passed"] else "FAIL", r["keepalives"], r["missed_keepalive_deadlines"],
            ka.get("p50_ms"), ka.get("p99_ms"), ka.get("max_ms"), rec.get("calls", 0), rec.get("p99_ms"),
            r["requests_per_second"], r["server"]["after_boot"]["cpu_pct"], r["server"]["whole_run"]["cpu_peak_1s_pct"],
            r["server"]["whole_run"]["rss_mb_max"],
            "+".join(f"{c:.0f}" for c in r["simulator"]["cpu_pct_after_boot"] if c is not None),
            r["sim_loop_lag_p99_ms"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=2000, help="fleet size to try first (2000)")
    ap.add_argument("--interval", type=float, default=15.0, help="keepalive interval, s (15)")
    ap.add_argument("--boot-spread", type=float, default=None,
                    help="spread the devices' boots over this many seconds (default: one interval, as "
                         "`facectl sim`; longer separates the boot wave from the steady state)")
    ap.add_argument("--duration", type=float, default=60.0,
                    help="seconds per trial, the first interval being the staggered boot (60)")
    ap.add_argument("--records-per-min", type=float, default=1.0,
                    help="identify records per device per minute, as `facectl sim` (1)")
    ap.add_argument("--photo-bytes", type=int, default=30 * 1024, help="record photo size (30720)")
    ap.add_argument("--search", action="store_true", help="binary-search down when --devices fails")
    ap.add_argument("--min-devices", type=int, default=250, help="smallest size the search tries (250)")
    ap.add_argument("--resolution", type=int, default=500, help="stop when pass and fail are this close (500)")
    ap.add_argument("--max-trials", type=int, default=6, help="at most this many trials (6)")
    ap.add_argument("--sim-procs", type=int, default=2,
                    help="simulator processes sharing the fleet (2: one Python process cannot send "
                         "10,000 devices' requests on time by itself)")
    ap.add_argument("--sn-prefix", default="FS-8190H", help="serials: PREFIX + process digit + 8 digits")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE", help="results as JSON (stdout or FILE)")
    args = ap.parse_args()

    out: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv), "config": vars(args),
                           "trials": {}}
    with tempfile.TemporaryDirectory(prefix="facectl-bench-fleet-") as tmp:
        lo, hi = 0, None  # largest pass, smallest fail
        size = args.devices
        for _ in range(args.max_trials):
            report = trial(args, size, Path(tmp))
            out["trials"][str(size)] = report
            if report["passed"]:
                lo = max(lo, size)
            else:
                hi = size if hi is None else min(hi, size)
            if not args.search or hi is None or (hi - lo) <= args.resolution:
                break
            nxt = (lo + hi) // 2 if lo else max(args.min_devices, hi // 2)
            nxt = max(args.min_devices, round(nxt / 50) * 50)
            if nxt in (lo, hi) or str(nxt) in out["trials"]:
                break
            size = nxt
    out["largest_passing"] = lo or None
    out["smallest_failing"] = hi
    passing = out["trials"].get(str(lo)) if lo else None
    if passing is not None:
        out["server_rss_mb_at_largest"] = passing["server"]["whole_run"]["rss_mb_max"]
    rows = [summary_row(int(n), r) for n, r in sorted(out["trials"].items(), key=lambda kv: int(kv[0]))]
    print_table(f"Fleet at a {args.interval:g} s keepalive interval, {args.duration:g} s per trial, "
                f"{args.records_per_min:g} records/min/device ({args.photo_bytes // 1024} KB photos), "
                f"{args.sim_procs} simulator process(es); latencies in ms, CPU in % of one core",
                ["devices", "result", "keepalives", "missed", "ka p50", "ka p99", "ka max", "records",
                 "rec p99", "req/s", "srv CPU%", "srv peak%", "srv RSS MB", "sim CPU%", "sim lag p99"],
                rows)
    note(f"largest passing: {out['largest_passing']}; smallest failing: {out['smallest_failing']}")
    if args.json:
        dump_json(out, args.json)


if __name__ == "__main__":
    main()
