"""Every benchmark in bench/, small, in one command, with one table: figure, baseline, ratio, goal, met.

    python -m bench --quick                    # all of them, a few minutes on 2 cores
    python -m bench --quick --only server,cli  # some of them (names as in --list)
    python -m bench --quick --json bench.json  # the table as JSON too (for CI); - = stdout
    python -m bench --quick --keep /tmp/raw    # and each script's own JSON and log
    python -m bench --list                     # what runs, with which arguments

Each benchmark is its own script (see its docstring and docs/benchmarks.md); this driver
runs each in its own process with small parameters, one at a time under the machine-wide
lock /tmp/facectl-bench.lock, reads the JSON it writes, and reports the figures the goals
are about. Ratios are facectl against the baseline measured in the same run (the bare
aiohttp handler, `sqlite-utils --version`, mitmproxy's reader), the figures to trust on
a shared machine. Quick figures are small runs: a regression shows, the goal figures
of docs/benchmarks.md come from the full runs of each script.

Exit status: 0 every goal met, 1 a goal not met or a benchmark failed, 2 usage.

Adding a benchmark is one entry in BENCHMARKS: its script, its quick arguments, how its
JSON is read ("{out}" in the arguments is a file to write it to; without it, stdout is
the JSON) and the rows it gives.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOCK = Path("/tmp/facectl-bench.lock")
#: Scripts in bench/ that are helpers, not benchmarks.
HELPERS = {"__main__.py", "harness.py", "fleet_worker.py", "hostile_cases.py"}


@dataclass
class Row:
    """One line of the table. `met` is None when the figure is shown for information."""

    figure: str
    value: Any
    baseline: Any = None
    goal: str = "-"
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if isinstance(self.value, (int, float)) and isinstance(self.baseline, (int, float)) and self.baseline:
            return round(self.value / self.baseline, 2)
        return None


@dataclass
class Benchmark:
    name: str
    script: str
    quick: list[str]
    rows: Callable[[dict[str, Any]], list[Row]]
    timeout: float = 300.0
    #: Exit codes that still mean "ran and reported" (bench_auth exits 1 when its goal is missed).
    ok_codes: tuple[int, ...] = (0,)


def dig(data: Any, path: str) -> Any:
    """data["a"]["b"]... for "a.b...", None when any step is missing (a script's JSON may change)."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def at_most(limit: float) -> Callable[[Any], bool | None]:
    return lambda v: None if not isinstance(v, (int, float)) else v <= limit


def below(limit: float) -> Callable[[Any], bool | None]:
    return lambda v: None if not isinstance(v, (int, float)) else v < limit


def at_least(limit: float) -> Callable[[Any], bool | None]:
    return lambda v: None if not isinstance(v, (int, float)) else v >= limit


# ------------------------------------------------------------------ what each script reports


def cli_rows(d: dict[str, Any]) -> list[Row]:
    base = dig(d, "cases.sqlite-utils --version.median_ms")
    rows = []
    for case in ("facectl --version", "facectl --help", "facectl <Tab> (complete 'd')"):
        row = Row(f"start: {case}, median ms (vs sqlite-utils --version)",
                  dig(d, f"cases.{case}.median_ms"), base, "<= 1.5x")
        row.met = at_most(1.5)(row.ratio)
        rows.append(row)
    rows.append(Row("start: facectl device list --help, median ms",
                    dig(d, "cases.facectl device list --help.median_ms"), base))
    return rows


def server_rows(d: dict[str, Any]) -> list[Row]:
    ka = "keepalive.figures"
    thr = Row("keepalive, saturated, requests/s (baseline bare handler)",
              dig(d, f"{ka}.facectl.saturated_throughput_per_s"), dig(d, f"{ka}.bare.saturated_throughput_per_s"),
              ">= 0.60x")
    thr.met = at_least(0.60)(thr.ratio)
    p99 = dig(d, f"{ka}.facectl.paced_p99_ms")
    lost = dig(d, "records.durability.acknowledged_but_missing_after_sigkill_upper_bound")
    rec = Row("identify records, 40 KB photo, committed/s (baseline bare reads)",
              dig(d, "records.figures.facectl.throughput_per_s"), dig(d, "records.figures.bare.throughput_per_s"),
              ">= 0.30x")
    rec.met = at_least(0.30)(rec.ratio)
    return [thr,
            Row("keepalive, paced 1,000/s, p99 ms", p99, dig(d, f"{ka}.bare.paced_p99_ms"), "< 10 ms", below(10)(p99)),
            rec,
            Row("records acknowledged but missing after SIGKILL", None if lost is None else sum(lost), None, "0",
                None if lost is None else sum(lost) == 0)]


def people_rows(d: dict[str, Any]) -> list[Row]:
    page = dig(d, "page_ms")
    return [Row(f"DownloadPeopleList page of {d.get('page')}, ms (baseline bare request)", page, dig(d, "bare_ms"),
                "< 50 ms", below(50)(page)),
            Row("Keepalive while in sync, ms (baseline bare request)", dig(d, "keepalive_in_sync_ms"),
                dig(d, "bare_ms")),
            Row(f"full sync of {d.get('people')} people to one device, s", dig(d, "sync_s"))]


def people_scale_rows(d: dict[str, Any]) -> list[Row]:
    size = f"{d.get('devices')} devices x {d.get('people')} people"
    status = dig(d, "status_all_pending_s")
    add, people = dig(d, "add_s"), d.get("people")
    # Adding writes the people, not a row per device and person: its time grows with the people only.
    add_20k = add * 20_000 / people if add is not None and people else None
    return [Row(f"add every person, {size}, s", add),
            Row(f"the same scaled to 20,000 people, {d.get('devices')} devices, s", add_20k, None, "< 30 s",
                below(30)(add_20k)),
            Row(f"people status, {size}, s", status, None, "< 1 s", below(1)(status)),
            Row("AddPeople check, device in sync, ms (baseline devices row by key)", dig(d, "needs_add_in_sync_ms"),
                dig(d, "device_row_ms"))]


def auth_rows(d: dict[str, Any]) -> list[Row]:
    p99 = dig(d, "paced.p99_ms")
    return [Row(f"RequestAuthorization, paced {d.get('rate_per_s')}/s, p99 ms", p99, None, "< 20 ms", below(20)(p99)),
            Row("RequestAuthorization, saturated, answered/s", dig(d, "saturated.throughput_per_s"))]


def inspect_rows(d: dict[str, Any]) -> list[Row]:
    return [Row("inspect FILE, exchanges/s (baseline mitmproxy's reader alone)", dig(d, "pipeline_per_s"),
                dig(d, "read_per_s"))]


def fleet_rows(d: dict[str, Any]) -> list[Row]:
    size = str(dig(d, "config.devices"))
    trial = dig(d, f"trials.{size}") or {}
    missed = trial.get("missed_keepalive_deadlines")
    interval = dig(d, "config.interval")
    return [Row(f"fleet of {size} at {interval:g} s keepalives: missed deadlines" if interval else "fleet: missed",
                missed, None, "0", None if missed is None else missed == 0 and bool(trial.get("passed"))),
            Row("  its keepalive p99 ms", dig(trial, "endpoints.Keepalive.p99_ms")),
            Row("  server / simulator CPU % of a core", _cpu(trial)),
            _sim_share(trial)]


def _sim_share(trial: dict[str, Any]) -> Row:
    """Simulator CPU against the server's CPU after the boot, same run (the load tool must out-run it)."""
    server, sims = dig(trial, "server.after_boot.cpu_pct"), dig(trial, "simulator.cpu_pct_after_boot")
    sim = sum(c for c in sims if c is not None) if sims else None
    ratio = round(sim / server, 2) if sim is not None and server else None
    return Row("  simulator CPU, % of a core (baseline: the server's)", sim, server, "≤ 0.33×",
               None if ratio is None else ratio <= 0.33)


def _cpu(trial: dict[str, Any]) -> str | None:
    server, sims = dig(trial, "server.after_boot.cpu_pct"), dig(trial, "simulator.cpu_pct_after_boot")
    if server is None or sims is None:
        return None
    return f"{server:.0f} / " + " + ".join(f"{c:.0f}" for c in sims if c is not None)


def storm_rows(d: dict[str, Any]) -> list[Row]:
    f = d.get("figures", {})
    missed = dig(d, "during.missed_deadlines")
    return [Row(f"storm {dig(d, 'config.devices')} x {dig(d, 'config.backlog')} records: stored exactly once",
                "yes" if f.get("exactly_once") else "NO", None, "yes", bool(f.get("exactly_once"))),
            Row("  records stored/s while draining", f.get("records_per_s")),
            Row("  missed keepalive deadlines during the drain", missed, None, "0",
                None if missed is None else missed == 0)]


def sim_fleet_rows(d: dict[str, Any]) -> list[Row]:
    missed, errors = d.get("missed_keepalive_deadlines"), d.get("errors")
    return [Row(f"people sync storm: {d.get('devices')} devices x {dig(d, 'config.people')} people, missed deadlines",
                missed, None, "0", None if missed is None else missed == 0),
            Row("  request errors", errors, None, "0", None if errors is None else errors == 0),
            Row("  keepalive p99 ms", dig(d, "endpoints.Keepalive.p99_ms"))]


def soak_rows(d: dict[str, Any]) -> list[Row]:
    errors = d.get("server_log_errors")
    return [Row("soak: server RSS growth MB/min (no leak: judged on the 10-min run)",
                dig(d, "growth.rss_mb.per_min_first_to_last")),
            Row("  server log error lines", errors, None, "0", None if errors is None else errors == 0)]


def events_rows(d: dict[str, Any]) -> list[Row]:
    lost, repeated = dig(d, "drain.lost"), dig(d, "drain.repeated")
    return [Row("events delivered/s to a local receiver", dig(d, "rate.events_per_s"),
                dig(d, "rate.baseline_events_per_s")),
            Row("  backlog after the receiver was down: lost + repeated", None if lost is None else lost + repeated,
                None, "0", None if lost is None else lost + repeated == 0),
            Row("  keepalive p99 ms while the backlog drains", dig(d, "drain.after.keepalive_p99_ms"), None,
                "< 2000 (device timeout)", _below(dig(d, "drain.after.keepalive_p99_ms"), 2000))]


def retention_rows(d: dict[str, Any]) -> list[Row]:
    during, before = dig(d, "during_prune.p99_ms"), dig(d, "baseline.p99_ms")
    return [Row("retention: keepalive p99 ms while pruning", during, before, "< 2000 (device timeout)",
                _below(during, 2000)),
            Row("  prune records/s", dig(d, "prune.records_per_s")),
            Row("  backup MB/s", dig(d, "backup_before_prune.mb_per_s"))]


def hostile_rows(d: dict[str, Any]) -> list[Row]:
    phases = d.get("phases") or []
    baseline = phases[0]["p99_ms"] if phases else None
    worst = max((p["p99_ms"] for p in phases[1:]), default=None)
    errors = dig(d, "log.ERROR")
    kept = dig(d, "stored.quarantine_bytes_per_hour")
    return [Row("hostile: keepalive p99 ms, worst request at 10/s", worst, baseline, "< 50 ms", _below(worst, 50)),
            Row("  bytes kept per hour from senders without an approved SN", kept, None, "0",
                None if kept is None else kept == 0),
            Row("  ERROR lines over the fuzz", errors, None, "0", None if errors is None else errors == 0)]


def _below(value: Any, limit: float) -> bool | None:
    return None if not isinstance(value, (int, float)) else value < limit


BENCHMARKS: list[Benchmark] = [
    Benchmark("cli", "bench_cli.py", ["--runs", "20", "--json", "{out}"], cli_rows),
    Benchmark("server", "bench_server.py", ["--connections", "20", "--seconds", "3", "--warmup", "0.5",
                                            "--rounds", "1", "--json", "{out}"], server_rows),
    Benchmark("people", "bench_people.py", ["--people", "2000", "--page", "1000", "--repeat", "3", "--json"],
              people_rows),
    Benchmark("people_scale", "bench_people_scale.py", ["--devices", "500", "--people", "2000", "--pages", "5",
                                                        "--json"], people_scale_rows),
    Benchmark("auth", "bench_auth.py", ["--people", "1000", "--devices", "10", "--requests", "600", "--rate", "100",
                                        "--json"], auth_rows, ok_codes=(0, 1)),
    Benchmark("inspect", "bench_inspect.py", ["--devices", "20", "--repeat", "1", "--json"], inspect_rows),
    Benchmark("fleet", "bench_fleet_size.py", ["--devices", "300", "--interval", "5", "--duration", "15",
                                               "--sim-procs", "1", "--json", "{out}"], fleet_rows),
    Benchmark("storm", "bench_storm.py", ["--devices", "50", "--backlog", "40", "--interval", "5",
                                          "--max-seconds", "60", "--sim-procs", "1", "--json", "{out}"], storm_rows),
    Benchmark("sim_fleet", "sim_fleet.py", ["--devices", "20", "--people", "200", "--interval", "5",
                                            "--duration", "15", "--report", "{out}"], sim_fleet_rows),
    Benchmark("events", "bench_events.py", ["--events", "2000", "--devices", "20", "--down", "10", "--after", "10",
                                            "--interval", "5", "--json", "{out}"], events_rows),
    Benchmark("retention", "bench_retention.py", ["--records", "20000", "--devices", "10", "--seconds", "5",
                                                  "--json", "{out}"], retention_rows),
    Benchmark("hostile", "bench_hostile.py", ["--seconds", "2", "--fuzz", "500", "--json", "{out}"], hostile_rows),
    Benchmark("soak", "soak.py", ["--minutes", "0.5", "--devices", "50", "--interval", "5", "--sample", "5",
                                  "--report", "{out}"], soak_rows),
]


# ------------------------------------------------------------------ running


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_one(bench: Benchmark, tmp: Path) -> tuple[list[Row], float, str | None]:
    """(rows, seconds, error) of one benchmark run in its own process, under the machine-wide lock."""
    out = tmp / f"{bench.name}.json"
    log = tmp / f"{bench.name}.log"
    argv = [sys.executable, str(BENCH / bench.script), *(str(out) if a == "{out}" else a for a in bench.quick)]
    with open(LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"  waiting for {LOCK} (another benchmark is running)")
            fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        try:
            with open(log, "wb") as err:
                done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, timeout=bench.timeout,
                                      check=False)
        except subprocess.TimeoutExpired:
            return [], time.monotonic() - started, f"did not finish within {bench.timeout:g} s"
        seconds = time.monotonic() - started
    if "{out}" not in bench.quick:  # the script printed its JSON: keep it where the others write theirs
        out.write_bytes(done.stdout)
    text = out.read_text() if out.exists() else ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if done.returncode not in bench.ok_codes or not isinstance(data, dict):
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        return [], seconds, f"exit {done.returncode}: " + " | ".join(tail)
    return bench.rows(data), seconds, None


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(results: list[dict[str, Any]], stderr: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="python -m bench --quick (small runs; ratios against a baseline of the same run)",
                  header_style="bold", title_justify="left")
    for col in ("benchmark", "figure", "baseline", "facectl", "ratio", "goal", "met?"):
        table.add_column(col, justify="left" if col in ("benchmark", "figure", "goal", "met?") else "right")
    for r in results:
        met = {True: "[green]met[/green]", False: "[red]NOT met[/red]", None: ""}[r["met"]]
        table.add_row(r["benchmark"], r["figure"], fmt(r["baseline"]), fmt(r["value"]), fmt(r["ratio"]),
                      r["goal"], met)
    Console(width=160, stderr=stderr).print(table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="run every benchmark small (a few minutes)")
    ap.add_argument("--only", metavar="NAMES", help="comma-separated benchmark names (see --list)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and their quick arguments")
    ap.add_argument("--json", metavar="FILE", help="also write the table as JSON to FILE (- = stdout)")
    ap.add_argument("--keep", metavar="DIR", type=Path,
                    help="keep each script's own JSON and log (its stderr) in DIR, to look into a figure")
    args = ap.parse_args(argv)
    names = {b.name for b in BENCHMARKS}
    chosen = BENCHMARKS
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - names)
        if unknown:
            ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        chosen = [b for b in BENCHMARKS if b.name in wanted]
    unlisted = sorted(p.name for p in BENCH.glob("*.py") if p.name not in HELPERS
                      and p.name not in {b.script for b in BENCHMARKS})
    if unlisted:
        note(f"not run (add them to BENCHMARKS in bench/__main__.py): {', '.join(unlisted)}")
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.name:<10} python bench/{b.script} {' '.join(b.quick)}")
        return 0
    if not args.quick:
        ap.error("give --quick (the only mode: every benchmark small); full runs are one script each, "
                 "see docs/benchmarks.md")

    results: list[dict[str, Any]] = []
    failed = False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="facectl-bench-quick-") as tmp:
        workdir = Path(tmp)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            workdir = args.keep
        for i, bench in enumerate(chosen, 1):
            note(f"[{i}/{len(chosen)}] {bench.name}: python bench/{bench.script} ...")
            rows, seconds, error = run_one(bench, workdir)
            note(f"  {seconds:.0f} s" + (f"; FAILED: {error}" if error else ""))
            if error:
                failed = True
                rows = [Row(f"failed: {error[:100]}", None, None, "runs", False)]
            for row in rows:
                results.append({"benchmark": bench.name, "figure": row.figure, "baseline": row.baseline,
                                "value": row.value, "ratio": row.ratio, "goal": row.goal, "met": row.met,
                                "seconds": round(seconds, 1)})
    print_table(results, stderr=args.json == "-")  # stdout stays the JSON's
    not_met = [r for r in results if r["met"] is False]
    note(f"{len(chosen)} benchmarks in {time.monotonic() - started:.0f} s; "
         f"{sum(r['met'] is True for r in results)} goals met, {len(not_met)} not met")
    if args.json:
        doc = {"command": "python -m bench --quick", "loadavg": os.getloadavg(), "rows": results}
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 1 if failed or not_met else 0


if __name__ == "__main__":
    sys.exit(main())
