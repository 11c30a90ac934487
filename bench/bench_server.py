"""Server throughput and latency beside a bare aiohttp handler: keepalives and records.

    .venv/bin/python bench/bench_server.py                      # both, defaults (~2.5 min)
    .venv/bin/python bench/bench_server.py keepalive --connections 50 --seconds 20 --rounds 3
    .venv/bin/python bench/bench_server.py records --photo-bytes 40960 --seconds 20 --json
    flock /tmp/facectl-bench.lock .venv/bin/python bench/bench_server.py --json > server.json

Both servers run as separate processes (the load generator never shares their event
loop): `facectl serve --open-enrollment` on a fresh database, and the bare baseline
(`bench/harness.py bare`: reads the body, parses it when JSON, answers {"Success":1},
with the same aiohttp runner settings). The same load generator, in this process,
measures both in the same run; figures are reported beside each other and as a ratio
(facectl / bare), because on a noisy shared machine ratios are what count.

keepalive   N devices (--connections, default 50), each with its own keep-alive
            connection (an aiohttp session with limit=1, as the simulator's devices),
            POST /Device/Keepalive with the simulator's body. Before timing, every
            device is enrolled and uploads its settings, so answers are the steady
            state {"Success":1} without flags.
            * saturated: every device sends its next keepalive as soon as it has the
              answer: throughput (requests/s) and latency (queueing included).
              Goal: facectl >= 60% of the bare handler's throughput.
            * paced: --rate keepalives/s in total (default 1000/s, 1.5x the 667/s of
              10,000 devices at 15 s), each device on its own schedule; latency is
              counted from the scheduled send time, so a late answer also delays
              (and is charged to) the next one. Goal: p99 < 10 ms.
            Note: with 50 connections always busy, Little's law makes the mean
            saturated latency 50 / throughput (10 ms needs 5,000/s), so the 10 ms
            goal is judged on the paced run and the saturated p99 is shown for
            information.
records     N devices each POST /Device/UploadIdentifyRecord back to back: multipart
            with the RecordDetail JSON and a distinct --photo-bytes JPEG (default
            40 KB), a new RecordID each. Figure: records stored per second. After the
            run the facectl server is killed with SIGKILL and the database is
            counted: every acknowledged record (and its photo) must be there, so the
            figure is records that survive a server crash. The bare handler reads the
            same bodies and stores nothing: the ratio is the cost of storing.

Server CPU (% of one core) and RSS are sampled from /proc/PID; the load generator's
own CPU is shown too: when it nears 100%, the client, not the server, is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    RawConnection,
    Sampler,
    ServerProcess,
    dump_json,
    machine,
    ms,
    note,
    own_cpu_seconds,
    percentile,
    print_table,
    ratio,
    raw_request,
)

from facectl.protocol import multipart  # noqa: E402
from facectl.protocol.endpoints import ENDPOINTS  # noqa: E402
from facectl.sim import wire  # noqa: E402
from facectl.sim.config import SimConfig, Variants  # noqa: E402
from facectl.sim.device import SimDevice  # noqa: E402
from facectl.sim.jpeg import make_jpeg  # noqa: E402

KEEPALIVE = ENDPOINTS["Keepalive"].path
SETTINGS = ENDPOINTS["UploadWorkSetting"].path
RECORD = ENDPOINTS["UploadIdentifyRecord"].path
OK = re.compile(rb'"Success":\s*1\s*[,}]')
BOUNDARY = "--------------------------" + "506873351428002157394455"
#: Keepalive goal: facectl throughput / bare throughput, and paced p99.
GOAL_THROUGHPUT_RATIO = 0.60
GOAL_P99_MS = 10.0

BodyFn = Callable[[int, int], tuple[bytes, dict[str, str]]]  # (device, sequence) -> body, headers


def device_serials(count: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(1, count + 1)]


class AiohttpDevice:
    """One device: at most one connection, kept alive (as facectl.sim.transport.make_session)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=60),
            headers={"User-Agent": "facectl-bench", "Accept-Encoding": "gzip, deflate"},
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def post(self, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self.session.post(self.url, data=data, headers=headers) as resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        await self.session.close()


class RawDevice:
    """One device over harness.RawConnection (the cheaper load generator, --client raw)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.conn: RawConnection | None = None

    async def post(self, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.conn is None or self.conn.closed:
            self.conn = await RawConnection.open(self.host, self.port)
        return await self.conn.request(raw_request(self.host, self.port, self.path, data, headers))

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


CLIENTS = {"aiohttp": AiohttpDevice, "raw": RawDevice}


# ------------------------------------------------------------------- load


async def drive(url: str, bodies: BodyFn, devices: int, seconds: float, warmup: float,
                rate: float | None, sampler: Sampler, client: str = "aiohttp") -> dict[str, Any]:
    """Every device posts `bodies(i, seq)` to `url`, back to back (rate None) or paced.

    Latency is per answered request; paced latency starts at the scheduled time.
    Only requests that *finish* inside the measured window [warmup, warmup+seconds] count.
    """
    sessions = [CLIENTS[client](url) for _ in range(devices)]
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0, "errors": 0, "late_sends": 0, "bytes_out": 0}
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    w0, w1 = t0 + warmup, t0 + warmup + seconds
    period = devices / rate if rate else 0.0

    async def device(i: int) -> None:
        s = sessions[i]
        seq = 0
        due = t0 + (period * i / devices if period else 0.0)
        while True:
            now = loop.time()
            if period:
                if due > now:
                    await asyncio.sleep(due - now)
                elif now - due > 0.001:
                    counts["late_sends"] += 1
                start = due
                due += period
            else:
                start = now
            if start >= w1:
                return
            data, headers = bodies(i, seq)
            seq += 1
            try:
                status, raw = await s.post(data, headers)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                if w0 <= loop.time() <= w1:
                    counts["errors"] += 1
                continue
            end = loop.time()
            if not (w0 <= end <= w1):
                continue
            latencies.append(end - (start if period else now))
            counts["bytes_out"] += len(data)
            if status == 200 and OK.search(raw):
                counts["ok"] += 1
            else:
                counts["failed"] += 1

    cpu_box: dict[str, float] = {}

    async def mark() -> None:
        await asyncio.sleep(max(0.0, w0 - loop.time()))
        cpu_box["start"] = own_cpu_seconds()
        await asyncio.sleep(max(0.0, w1 - loop.time()))
        cpu_box["end"] = own_cpu_seconds()

    marker = asyncio.create_task(mark())
    try:
        await asyncio.gather(*(device(i) for i in range(devices)))
        await marker
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    answered = len(latencies)
    offset = time.monotonic() - loop.time()  # the sampler's clock; 0 with the default loop
    server = sampler.window(w0 + offset, w1 + offset)
    return {
        "mode": "paced" if rate else "saturated",
        "client": client,
        "offered_per_s": rate,
        "seconds": seconds,
        "answered": answered,
        **counts,
        "throughput_per_s": round(answered / seconds, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p90_ms": ms(percentile(latencies, 90)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies) if latencies else None),
        "mean_ms": ms(statistics.fmean(latencies) if latencies else None),
        "server_cpu_pct": server["cpu_pct"],
        "server_cpu_us_per_request": (round(server["cpu_s"] / answered * 1e6, 1)
                                      if answered and server["cpu_s"] is not None else None),
        "server_rss_mb": server["rss_mb_max"],
        "client_cpu_pct": round(100 * (cpu_box["end"] - cpu_box["start"]) / seconds, 1),
    }


async def post_all(base: str, path: str, bodies: list[tuple[bytes, dict[str, str]]]) -> list[bytes]:
    """Setup requests, a few at a time, answers returned (not timed)."""
    sem = asyncio.Semaphore(20)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=20)) as s:
        async def one(data: bytes, headers: dict[str, str]) -> bytes:
            async with sem, s.post(base + path, data=data, headers=headers) as resp:
                return await resp.read()
        return await asyncio.gather(*(one(d, h) for d, h in bodies))


# ------------------------------------------------------------- keepalive


def keepalive_bodies(sns: list[str]) -> tuple[BodyFn, list[SimDevice]]:
    variants = Variants()
    devices = [SimDevice(sn, SimConfig(seed=1)) for sn in sns]
    bodies = []
    for d in devices:
        b = wire.json_body(d.keepalive_doc(), variants)
        bodies.append((b.data, b.headers))
    return (lambda i, _seq: bodies[i]), devices


async def keepalive_target(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    sns = device_serials(args.connections, args.sn_prefix)
    bodies, devices = keepalive_bodies(sns)
    base = server.url
    setup = {}
    if server.name == "facectl":
        # Enrol every device and upload its settings: the timed keepalives are the steady state.
        first = await post_all(base, KEEPALIVE, [bodies(i, 0) for i in range(len(sns))])
        settings = []
        for d in devices:
            b = wire.json_body(d.work_settings.settings_doc(), Variants())
            settings.append((b.data, b.headers))
        uploaded = await post_all(base, SETTINGS, settings)
        answers = await post_all(base, KEEPALIVE, [bodies(i, 0) for i in range(len(sns))])
        setup = {"first_answer": first[0].decode(errors="replace")[:200],
                 "settings_ok": sum(bool(OK.search(a)) for a in uploaded),
                 "steady_answer": answers[0].decode(errors="replace")[:200]}
    sampler = Sampler(server.pid, period=0.25).start()
    try:
        saturated = await drive(base + KEEPALIVE, bodies, args.connections, args.seconds, args.warmup,
                                None, sampler, args.client)
        paced = await drive(base + KEEPALIVE, bodies, args.connections, args.seconds, args.warmup,
                            args.rate, sampler, args.client)
    finally:
        await sampler.stop()
    return {"setup": setup, "saturated": saturated, "paced": paced}


# --------------------------------------------------------------- records


class RecordBodies:
    """UploadIdentifyRecord bodies as the simulator builds them, a new RecordID and photo each."""

    def __init__(self, sns: list[str], photo_bytes: int) -> None:
        self.sns = sns
        config = SimConfig(seed=1, photo_bytes=photo_bytes)
        self.details = [SimDevice(sn, config).records.make_identify_record(time.time()).detail for sn in sns]
        self.photo = bytearray(make_jpeg(photo_bytes, 1)) if photo_bytes else None
        self.counter = 0
        self.headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        self.base_id = int(time.time()) * 1000

    def __call__(self, i: int, seq: int) -> tuple[bytes, dict[str, str]]:
        self.counter += 1
        detail = dict(self.details[i], RecordID=self.base_id + seq, RecordDate=int(time.time()))
        parts = [multipart.text_part("SN", self.sns[i]),
                 multipart.text_part("RecordDetail", wire.dumps(detail).encode())]
        if self.photo is not None:
            # Bytes 24..36 are inside the first COM segment: a valid JPEG with its own hash.
            self.photo[24:36] = struct.pack(">IQ", i, self.counter)
            parts.append(multipart.file_part("Photo", "Photo.jpg", bytes(self.photo), "image/jpeg"))
        return multipart.build(parts, BOUNDARY), self.headers


def count_stored(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(str(db))
    try:
        return {"records": conn.execute("SELECT count(*) FROM records").fetchone()[0],
                "records_with_photo": conn.execute(
                    "SELECT count(*) FROM records WHERE photo IS NOT NULL").fetchone()[0],
                "files": conn.execute("SELECT count(*) FROM files").fetchone()[0],
                "file_bytes": conn.execute("SELECT coalesce(sum(size), 0) FROM files").fetchone()[0]}
    finally:
        conn.close()


async def records_target(server: ServerProcess, args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    sns = device_serials(args.connections, prefix)
    bodies = RecordBodies(sns, args.photo_bytes)
    if server.name == "facectl":
        kbodies, _ = keepalive_bodies(sns)
        await post_all(server.url, KEEPALIVE, [kbodies(i, 0) for i in range(len(sns))])
    sampler = Sampler(server.pid, period=0.25).start()
    try:
        result = await drive(server.url + RECORD, bodies, args.connections, args.seconds, args.warmup,
                             None, sampler, args.client)
    finally:
        await sampler.stop()
    result["requests_sent"] = bodies.counter
    result["mb_per_s_in"] = round(result["bytes_out"] / args.seconds / 2**20, 1)
    return result


# ------------------------------------------------------------------ runs


def run_keepalive(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    for r in range(args.rounds):
        order = ("bare", "facectl") if r % 2 == 0 else ("facectl", "bare")  # ABBA against drift
        results: dict[str, Any] = {}
        for name in order:
            note(f"keepalive round {r + 1}/{args.rounds}: {name}")
            server = (ServerProcess.start_bare(tmp) if name == "bare"
                      else ServerProcess.start_facectl(tmp / f"keepalive-{r}.db", tmp))
            try:
                results[name] = asyncio.run(keepalive_target(server, args))
            finally:
                server.stop()
        rounds.append(results)
    return summarize_keepalive(rounds, args)


def median_of(rounds: list[dict[str, Any]], *keys: str) -> float | None:
    values = []
    for r in rounds:
        v: Any = r
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            values.append(v)
    return statistics.median(values) if values else None


def summarize_keepalive(rounds: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"connections": args.connections, "seconds": args.seconds, "rate": args.rate,
                           "rounds": rounds}
    figures = {}
    for target in ("bare", "facectl"):
        figures[target] = {f"{mode}_{k}": median_of([r[target] for r in rounds], mode, k)
                           for mode in ("saturated", "paced")
                           for k in ("throughput_per_s", "p50_ms", "p99_ms", "max_ms", "server_cpu_pct",
                                     "server_cpu_us_per_request", "server_rss_mb", "client_cpu_pct",
                                     "failed", "errors")}
    per_round = [ratio(r["facectl"]["saturated"]["throughput_per_s"], r["bare"]["saturated"]["throughput_per_s"])
                 for r in rounds]
    f, b = figures["facectl"], figures["bare"]
    out["figures"] = figures
    out["ratios"] = {
        "throughput": statistics.median(per_round),
        "throughput_per_round": per_round,
        "saturated_p99": ratio(f["saturated_p99_ms"], b["saturated_p99_ms"]),
        "paced_p99": ratio(f["paced_p99_ms"], b["paced_p99_ms"]),
        "cpu_per_request": ratio(f["saturated_server_cpu_us_per_request"], b["saturated_server_cpu_us_per_request"]),
    }
    out["goals"] = {
        "throughput_ratio_ge_goal": out["ratios"]["throughput"] >= GOAL_THROUGHPUT_RATIO,
        "paced_p99_lt_10ms": f["paced_p99_ms"] is not None and f["paced_p99_ms"] < GOAL_P99_MS,
    }
    return out


def run_records(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rounds = []
    for r in range(args.rounds):
        order = ("bare", "facectl") if r % 2 == 0 else ("facectl", "bare")
        results: dict[str, Any] = {}
        for name in order:
            note(f"records round {r + 1}/{args.rounds}: {name}")
            db = tmp / f"records-{r}.db"
            server = (ServerProcess.start_bare(tmp) if name == "bare"
                      else ServerProcess.start_facectl(db, tmp))
            try:
                results[name] = asyncio.run(records_target(server, args, args.sn_prefix))
            finally:
                server.stop(crash=name == "facectl")  # SIGKILL: what was acknowledged must be stored
            if name == "facectl":
                stored = count_stored(db)
                stored["acknowledged_in_window"] = results[name]["ok"]
                results[name]["stored_after_sigkill"] = stored
        rounds.append(results)
    figures = {t: {k: median_of([r[t] for r in rounds], k)
                   for k in ("throughput_per_s", "p50_ms", "p99_ms", "max_ms", "mb_per_s_in", "server_cpu_pct",
                             "server_cpu_us_per_request", "server_rss_mb", "client_cpu_pct", "failed", "errors")}
               for t in ("bare", "facectl")}
    per_round = [ratio(r["facectl"]["throughput_per_s"], r["bare"]["throughput_per_s"]) for r in rounds]
    lost = [max(0, r["facectl"]["requests_sent"] - r["facectl"]["stored_after_sigkill"]["records"]
                - r["facectl"]["errors"] - r["facectl"]["failed"]) for r in rounds]
    return {"connections": args.connections, "seconds": args.seconds, "photo_bytes": args.photo_bytes,
            "rounds": rounds, "figures": figures,
            "ratios": {"throughput": statistics.median(per_round), "throughput_per_round": per_round,
                       "p99": ratio(figures["facectl"]["p99_ms"], figures["bare"]["p99_ms"])},
            "durability": {"acknowledged_but_missing_after_sigkill_upper_bound": lost}}


# ------------------------------------------------------------------ output


def print_keepalive(k: dict[str, Any]) -> None:
    f, b, r = k["figures"]["facectl"], k["figures"]["bare"], k["ratios"]
    rows = []
    for label, key in (("saturated throughput /s", "saturated_throughput_per_s"),
                       ("saturated p50 ms", "saturated_p50_ms"), ("saturated p99 ms", "saturated_p99_ms"),
                       (f"paced {k['rate']:g}/s p50 ms", "paced_p50_ms"),
                       (f"paced {k['rate']:g}/s p99 ms", "paced_p99_ms"),
                       (f"paced {k['rate']:g}/s max ms", "paced_max_ms"),
                       ("server CPU % (saturated)", "saturated_server_cpu_pct"),
                       ("server CPU µs / request", "saturated_server_cpu_us_per_request"),
                       ("server CPU % (paced)", "paced_server_cpu_pct"),
                       ("server RSS MB", "saturated_server_rss_mb"),
                       ("load generator CPU % (saturated)", "saturated_client_cpu_pct"),
                       ("failed / errors (saturated)", None)):
        if key is None:
            rows.append([label, f"{b['saturated_failed']:.0f}/{b['saturated_errors']:.0f}",
                         f"{f['saturated_failed']:.0f}/{f['saturated_errors']:.0f}", ""])
            continue
        rows.append([label, b[key], f[key], ratio(f[key], b[key], 2)])
    print_table(f"Keepalive, {k['connections']} keep-alive connections, {k['seconds']:g} s per run, "
                f"median of {len(k['rounds'])} round(s)", ["figure", "bare", "facectl", "facectl/bare"], rows)
    g = k["goals"]
    note(f"throughput ratio {r['throughput']:.2f} (per round {r['throughput_per_round']}), "
         f"goal >= {GOAL_THROUGHPUT_RATIO:.2f}: {'met' if g['throughput_ratio_ge_goal'] else 'NOT met'}; "
         f"paced p99 {f['paced_p99_ms']} ms, "
         f"goal < 10 ms: {'met' if g['paced_p99_lt_10ms'] else 'NOT met'}")


def print_records(rec: dict[str, Any]) -> None:
    f, b = rec["figures"]["facectl"], rec["figures"]["bare"]
    rows = [[label, b[key], f[key], ratio(f[key], b[key], 2)] for label, key in (
        ("records/s (bare: bodies read)", "throughput_per_s"), ("MB/s received", "mb_per_s_in"),
        ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"), ("max ms", "max_ms"),
        ("server CPU %", "server_cpu_pct"), ("server CPU µs / record", "server_cpu_us_per_request"),
        ("server RSS MB", "server_rss_mb"), ("load generator CPU %", "client_cpu_pct"),
        ("failed", "failed"), ("errors", "errors"))]
    print_table(f"UploadIdentifyRecord with {rec['photo_bytes'] // 1024} KB photos, {rec['connections']} "
                f"devices back to back, {rec['seconds']:g} s, median of {len(rec['rounds'])} round(s)",
                ["figure", "bare", "facectl", "facectl/bare"], rows)
    stored = [r["facectl"]["stored_after_sigkill"] for r in rec["rounds"]]
    note(f"stored after SIGKILL: {stored}; acknowledged-but-missing (upper bound): "
         f"{rec['durability']['acknowledged_but_missing_after_sigkill_upper_bound']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="?", choices=("all", "keepalive", "records"), default="all")
    ap.add_argument("--connections", type=int, default=50, help="devices, one keep-alive connection each (50)")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run (8)")
    ap.add_argument("--warmup", type=float, default=1.5, help="unmeasured seconds before each run (1.5)")
    ap.add_argument("--rate", type=float, default=1000.0, help="paced keepalives/s in total (1000)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds per target, bare/facectl order alternating (ABBA); medians reported (2)")
    ap.add_argument("--photo-bytes", type=int, default=40 * 1024, help="record photo size (40960)")
    ap.add_argument("--client", choices=tuple(CLIENTS), default="raw",
                    help="load generator: aiohttp (one ClientSession per device, as the simulator) or raw "
                         "(prepared bytes over asyncio, ~5x cheaper: use it when the load generator's CPU "
                         "nears 100%% and limits the bare figure) (raw)")
    ap.add_argument("--sn-prefix", default="BS-5000")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="print the results as JSON (or write them to FILE)")
    args = ap.parse_args()

    out: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory(prefix="facectl-bench-server-") as tmp:
        if args.which in ("all", "keepalive"):
            out["keepalive"] = run_keepalive(args, Path(tmp))
            print_keepalive(out["keepalive"])
        if args.which in ("all", "records"):
            out["records"] = run_records(args, Path(tmp))
            print_records(out["records"])
    if args.json:
        dump_json(out, args.json)


if __name__ == "__main__":
    main()
