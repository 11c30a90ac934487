"""A hostile client against a running site: what one approved device feels, what the disk keeps.

Starts `facectl serve` (approval required, as on a real site) in its own process on a
fresh database with one approved device, which sends a keepalive every 50 ms on its
own keep-alive connection, as the fleet's canary. Then:

1. *baseline*: the device alone, `--seconds` long;
2. *attack*, one phase per worst case (bench/hostile_cases.py: the bodies that once held
   the event loop for seconds, and the two that got past identity): a client without an
   approved SN sends that request 10 times a second (`--rate`), each on a new connection,
   while the device keeps polling. The device's keepalive p50/p99/max per phase, against
   the baseline of the same run, is the figure (goal: p99 under 50 ms);
3. *stored*: what the attacker left on the server: quarantine bytes, also as bytes per
   hour at the attack rate (goal 0), and the sample table (bounded: at most 4 KB per
   source address);
4. *fuzz* (`--fuzz N`, default 10,000): N seeded random hostile requests (whitespace
   padding and truncation at each endpoint's limit, huge digit strings, non-ASCII
   Content-Type bytes, no SN / an unknown SN / the approved SN forged), 4 at a time; the
   server log's ERROR lines are counted (goal 0), and no answer may be a 5xx.

    .venv/bin/python bench/bench_hostile.py                       # about a minute
    .venv/bin/python bench/bench_hostile.py --seconds 5 --fuzz 2000 --json bench/results/hostile.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    RawConnection,
    ServerProcess,
    dump_json,
    free_port,
    machine,
    ms,
    note,
    percentile,
    print_table,
    ratio,
)
from hostile_cases import fuzz_case, worst_cases  # noqa: E402

from facectl.store import Store  # noqa: E402

DEVICE = "FC-8190H24052799"
ATTACKER = "FC-8190H66666666"
HOST = "127.0.0.1"


def _request(port: int, path: str, body: bytes, headers: dict[str, str], raw_header: bytes = b"") -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(head) + "\r\n").encode("latin-1") + raw_header + b"\r\n" + body


class Canary:
    """The approved device: a keepalive every `period` s on one connection; latencies by time."""

    def __init__(self, port: int, period: float = 0.05) -> None:
        body = json.dumps({"SN": DEVICE, "RelayStatus": 0, "KeepOpenStatus": 0, "DoorSensorStatus": 0,
                           "LockDoorStatus": 0, "AlarmStatus": ""}).encode()
        self.raw = _request(port, "/Device/Keepalive", body, {"Content-Type": "application/json"})
        self.port, self.period = port, period
        self.samples: list[tuple[float, float]] = []
        self.failures = 0
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        conn: RawConnection | None = None
        while True:
            start = loop.time()
            try:
                if conn is None or conn.closed:
                    conn = await RawConnection.open(HOST, self.port)
                status, answer = await asyncio.wait_for(conn.request(self.raw), 10)
                if status != 200 or json.loads(answer)["Success"] != 1:
                    self.failures += 1
                self.samples.append((time.monotonic(), loop.time() - start))
            except (OSError, ValueError, TimeoutError):
                self.failures += 1
                conn = None
            await asyncio.sleep(max(0.0, start + self.period - loop.time()))

    def window(self, start: float, end: float) -> dict[str, Any]:
        lat = [x for t, x in self.samples if start <= t <= end]
        return {"keepalives": len(lat), "p50_ms": ms(percentile(lat, 50)), "p99_ms": ms(percentile(lat, 99)),
                "max_ms": ms(max(lat) if lat else None)}


async def _send(port: int, raw: bytes, timeout: float = 30.0) -> tuple[int, Any, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    conn = await RawConnection.open(HOST, port)
    try:
        status, body = await asyncio.wait_for(conn.request(raw), timeout)
    finally:
        conn.close()
    try:
        success = json.loads(body).get("Success")
    except ValueError:
        success = None
    return status, success, loop.time() - start


async def attack(port: int, raw: bytes, seconds: float, rate: float) -> dict[str, Any]:
    """Send `raw` `rate` times a second for `seconds`, each on its own connection, without waiting."""
    loop = asyncio.get_running_loop()
    tasks = []
    start = loop.time()
    for i in range(int(seconds * rate)):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.create_task(_send(port, raw)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    answered = [r for r in results if isinstance(r, tuple)]
    answers = sorted({f"{s}/{ok}" for s, ok, _ in answered})
    lat = [x for _, _, x in answered]
    return {"sent": len(results), "answered": len(answered), "answers": answers,
            "attack_p50_ms": ms(percentile(lat, 50)), "attack_max_ms": ms(max(lat) if lat else None)}


async def fuzz(port: int, count: int, seed: int, concurrency: int = 4) -> dict[str, Any]:
    rng = random.Random(seed)
    sns = [None, ATTACKER, DEVICE, "FC-8190H2405279\u00ff"]  # none, unknown, forged, broken
    cases = [fuzz_case(rng, rng.choice(sns)) for _ in range(count)]
    statuses: dict[str, int] = {}
    errors = 0
    queue = iter(cases)

    async def worker() -> None:
        nonlocal errors
        for case, raw_header in queue:
            raw = _request(port, case.path, case.body, case.headers, raw_header)
            try:
                status, success, _ = await _send(port, raw, 30)
                key = f"{status}/{success}"
                statuses[key] = statuses.get(key, 0) + 1
                if status >= 500 or not isinstance(success, int):
                    errors += 1
            except (OSError, ValueError, TimeoutError):
                errors += 1

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"requests": count, "seconds": round(time.monotonic() - start, 1), "bad_answers": errors,
            "answers": dict(sorted(statuses.items(), key=lambda kv: -kv[1]))}


def _stored(db: Path, attack_seconds: float) -> dict[str, Any]:
    """What the attacker left: quarantine items and bytes not from the approved device, and samples."""
    store = Store(str(db))
    try:
        items, size = store.db.execute(
            "SELECT count(*), COALESCE(SUM(length(body)), 0) FROM quarantine WHERE sn IS NOT ?", [DEVICE]).fetchone()
        tables = set(store.db.table_names())
        samples = (store.db.execute("SELECT count(*), COALESCE(SUM(length(sample)), 0) FROM refused_samples")
                   .fetchone() if "refused_samples" in tables else (0, 0))
    finally:
        store.close()
    return {"attack_seconds": round(attack_seconds, 1), "quarantine_items": items, "quarantine_bytes": size,
            "quarantine_bytes_per_hour": round(size * 3600 / attack_seconds), "sample_sources": samples[0],
            "sample_bytes": samples[1]}


def _log_levels(log: Path) -> dict[str, int]:
    text = log.read_text(errors="replace")
    return {"ERROR": text.count(" ERROR "), "Traceback": text.count("Traceback"), "WARNING": text.count(" WARNING ")}


async def main_async(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    db = workdir / "hostile.db"
    store = Store(str(db))
    store.devices.add(DEVICE)
    store.close()
    port = free_port()
    cmd = [sys.executable, "-m", "facectl", "serve", "--db", str(db), "--host", HOST, "--port", str(port)]
    server = ServerProcess._start("facectl", cmd, workdir / "serve.log", port, 30.0)
    canary = Canary(port)
    canary.task = asyncio.create_task(canary.run())
    result: dict[str, Any] = {"machine": machine(), "rate_per_s": args.rate, "seconds_per_phase": args.seconds}
    try:
        await asyncio.sleep(1.0)  # warm up
        t0 = time.monotonic()
        await asyncio.sleep(args.seconds)
        phases = [{"phase": "baseline (device alone)", **canary.window(t0, time.monotonic())}]
        attack_seconds = 0.0
        for case in worst_cases(ATTACKER):
            raw = _request(port, case.path, case.body, {"Content-Type": "application/json", **case.headers})
            note(f"attack: {case.name}")
            t0 = time.monotonic()
            sent = await attack(port, raw, args.seconds, args.rate)
            attack_seconds += time.monotonic() - t0
            phases.append({"phase": case.name, **canary.window(t0, time.monotonic()), **sent})
        base = phases[0]["p99_ms"]
        for p in phases[1:]:
            p["p99_vs_baseline"] = ratio(p["p99_ms"], base)
        result["phases"] = phases
        result["stored"] = _stored(db, attack_seconds)
        if args.fuzz:
            note(f"fuzz: {args.fuzz} requests")
            t0 = time.monotonic()
            result["fuzz"] = await fuzz(port, args.fuzz, args.seed)
            result["fuzz"]["device_during_fuzz"] = canary.window(t0, time.monotonic())
        result["canary_failures"] = canary.failures
    finally:
        canary.task.cancel()
        server.stop()
    result["log"] = _log_levels(workdir / "serve.log")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the baseline and of each attack phase")
    parser.add_argument("--rate", type=float, default=10.0, help="attack requests per second")
    parser.add_argument("--fuzz", type=int, default=10_000, help="fuzz requests (0: none)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", metavar="PATH", help="write the figures here ('-' for stdout)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facectl-hostile-") as tmp:
        result = asyncio.run(main_async(args, Path(tmp)))
    print_table(f"Approved device's keepalive while a client sends the worst requests at {args.rate:g}/s",
                ["phase", "keepalives", "p50 ms", "p99 ms", "max ms", "p99/base", "attack answers"],
                [[p["phase"], p["keepalives"], p["p50_ms"], p["p99_ms"], p["max_ms"], p.get("p99_vs_baseline"),
                  " ".join(p.get("answers", []))] for p in result["phases"]])
    s = result["stored"]
    print_table("Kept from the client without an approved SN", list(s), [list(s.values())])
    if "fuzz" in result:
        f = result["fuzz"]
        print_table("Fuzz", ["requests", "seconds", "bad answers", "ERROR lines", "tracebacks", "device p99 ms"],
                    [[f["requests"], f["seconds"], f["bad_answers"], result["log"]["ERROR"],
                      result["log"]["Traceback"], f["device_during_fuzz"]["p99_ms"]]])
    if args.json:
        dump_json(result, args.json)


if __name__ == "__main__":
    main()
