"""Events out: delivery rate to a local receiver, and the drain of a backlog built while it was down.

    .venv/bin/python bench/bench_events.py                         # 20,000 events; 100 devices, 60 s down + 30 s
    .venv/bin/python bench/bench_events.py --json bench/results/events.json

Part 1, delivery rate: a database holding --events record events (stored through the
store, as the server stores them), then `facectl serve --event-webhook URL` in its own
process delivers them to a receiver on 127.0.0.1 (an aiohttp app in this process that
counts ids and answers 200). Figure: events per second from the first batch to the
last. Baseline, same run: this process POSTing the same events, pre-encoded, in
batches of the same size to the same receiver (what the receiver and loopback allow).

Part 2, backlog drain: `facectl serve --open-enrollment --event-webhook URL` on a fresh
database while the receiver is *down* (nothing listens on its port); --devices
simulated terminals (facectl.sim, one bench/fleet_worker.py process) keep polling and
uploading records with 4 KB photos (20 a minute each) for --down seconds, then the receiver comes up and the
fleet carries on for --after seconds more. Figures: the backlog when the receiver came
up, how long until it was delivered (the cursor passed the last event stored at that
moment), the keepalive p99 during each phase, and, once the fleet has stopped and the
outbox is empty, whether every event in the database reached the receiver exactly once.

The goal is stated for 100 devices over 10 minutes; the default here is 100 devices for
60 s down and 30 s after, so it runs in under two minutes on two shared cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet_worker  # noqa: E402
from harness import ServerProcess, dump_json, free_port, log_problems, machine, note, print_table  # noqa: E402

from facectl.protocol.records import identify_record  # noqa: E402
from facectl.store import Store  # noqa: E402

BATCH = 100  # facectl's default batch (ServerConfig.event_batch)


class Receiver:
    """Counts event ids; `reached(n)` waits until n distinct ids arrived, `reached_id(i)` until id i."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/events"
        self.ids: list[int] = []
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.max_id = 0
        self.changed = asyncio.Event()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        events = json.loads(await request.read())["events"]
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now
        for e in events:
            self.ids.append(e["id"])
            self.max_id = max(self.max_id, e["id"])
        self.changed.set()
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/events", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def until(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass
        return True


def seed(db: Path, n: int) -> None:
    store = Store(str(db))
    store.devices.add("EV-8190H000001")
    t = int(time.time()) - n
    for start in range(0, n, 1000):
        store.records.add_many("EV-8190H000001", [identify_record(
            {"RecordID": i, "RecordType": 3, "RecordDate": t + i, "UserID": str(i % 500), "Name": f"p{i % 500}"})
            for i in range(start + 1, min(n, start + 1000) + 1)])
    store.close()


def db_ids(db: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
    finally:
        conn.close()


async def rate(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    db = tmp / "rate.db"
    seed(db, args.events)
    ids = db_ids(db)
    receiver = Receiver(free_port())
    await receiver.start()
    try:
        # Baseline: the same events, already encoded, posted in batches by this process.
        conn = sqlite3.connect(str(db))
        rows = [{"id": i, "type": t, "sn": sn, "at": at, **json.loads(d)}
                for i, t, sn, at, d in conn.execute("SELECT id, type, sn, at, data FROM events ORDER BY id")]
        conn.close()
        bodies = [json.dumps({"events": rows[k:k + BATCH]}, ensure_ascii=False).encode()
                  for k in range(0, len(rows), BATCH)]
        async with ClientSession() as session:
            began = time.monotonic()
            for body in bodies:
                async with session.post(receiver.url, data=body) as resp:
                    await resp.read()
            baseline_s = time.monotonic() - began
        receiver.ids.clear()
        receiver.first_at = receiver.last_at = None
        server = ServerProcess.start_facectl(db, tmp, extra=["--event-webhook", receiver.url])
        try:
            done = await receiver.until(lambda: len(set(receiver.ids)) >= len(ids), args.max_seconds)
        finally:
            server.stop()
        span = (receiver.last_at or 0) - (receiver.first_at or 0)
        distinct = len(set(receiver.ids))
        return {"events": len(ids), "delivered": distinct, "repeated": len(receiver.ids) - distinct,
                "all_delivered": done, "seconds": round(span, 2),
                "events_per_s": round(len(ids) / span, 0) if done and span > 0 else None,
                "baseline_events_per_s": round(len(ids) / baseline_s, 0),
                "server_log": log_problems(server.log)}
    finally:
        await receiver.stop()


async def drain(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    db = tmp / "drain.db"
    receiver = Receiver(free_port())
    server = ServerProcess.start_facectl(db, tmp, extra=["--event-webhook", receiver.url])
    try:
        common = ["--server", server.url, "--interval", str(args.interval), "--duration",
                  str(args.down + args.after), "--spread", str(args.interval), "--records-per-min",
                  str(args.records_per_min), "--photo-bytes", str(args.photo_bytes), "--seed", "1"]
        procs, outs, start_at = fleet_worker.spawn(1, args.devices, "EV-8190H", tmp, common)
        up: dict[str, Any] = {}

        async def bring_up() -> None:
            await asyncio.sleep(max(0.0, start_at + args.down - time.time()))
            ids = db_ids(db)
            up.update(backlog=len(ids), last_id=ids[-1] if ids else 0, at=time.monotonic())
            await receiver.start()
            if await receiver.until(lambda: receiver.max_id >= up["last_id"], args.max_seconds):
                up["drain_s"] = round(time.monotonic() - up["at"], 2)

        upper = asyncio.create_task(bring_up())
        watched = await fleet_worker.watch(procs, outs, server.pid, server.url, sample_period=0.5, probe_period=0.1)
        await upper
        # The fleet has stopped: wait for the outbox to empty, then compare.
        final = db_ids(db)
        await receiver.until(lambda: set(final) <= set(receiver.ids), args.max_seconds)
        final = db_ids(db)
        received = receiver.ids
        report = fleet_worker.merge(watched.results)
        return {
            "backlog_when_up": up.get("backlog"), "drain_s": up.get("drain_s"),
            "drain_events_per_s": round(up["backlog"] / up["drain_s"], 0) if up.get("drain_s") else None,
            "events_stored": len(final), "received": len(received), "distinct_received": len(set(received)),
            "lost": len(set(final) - set(received)), "repeated": len(received) - len(set(received)),
            "in_order": received == sorted(received),
            "records_acknowledged": report["events"].get("identify records uploaded", 0),
            "down": fleet_worker.phase(watched.results, 0.0, args.down),
            "after": fleet_worker.phase(watched.results, args.down, None),
            "probe": watched.probe.window(),
            "server_log": log_problems(server.log),
        }
    finally:
        server.stop()
        await receiver.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000, help="events delivered in part 1 (20,000)")
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--down", type=float, default=60.0, help="seconds the receiver is down in part 2 (60)")
    ap.add_argument("--after", type=float, default=30.0, help="seconds the fleet goes on once it is up (30)")
    ap.add_argument("--interval", type=float, default=15.0, help="keepalive interval, s (15)")
    ap.add_argument("--records-per-min", type=float, default=20.0, help="records per device per minute (20)")
    ap.add_argument("--photo-bytes", type=int, default=4096)
    ap.add_argument("--max-seconds", type=float, default=120.0, help="give up waiting after this long (120)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE", help="results as JSON (stdout or FILE)")
    args = ap.parse_args()
    out: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv), "config": vars(args)}
    with tempfile.TemporaryDirectory(prefix="facectl-bench-events-") as tmp:
        note(f"part 1: {args.events:,} events to a local receiver")
        out["rate"] = r = asyncio.run(rate(args, Path(tmp)))
        note(f"part 2: {args.devices} devices, receiver down {args.down:g} s, then {args.after:g} s more")
        out["drain"] = d = asyncio.run(drain(args, Path(tmp)))
    print_table("Events out (loopback, 2 shared cores)", ["figure", "value"], [
        ["part 1: events delivered / repeated", f"{r['delivered']:,} / {r['repeated']}"],
        ["part 1: facectl delivery, events/s", r["events_per_s"]],
        ["part 1: baseline (pre-encoded POSTs, same receiver), events/s", r["baseline_events_per_s"]],
        ["part 2: backlog when the receiver came up, events", d["backlog_when_up"]],
        ["part 2: time to deliver that backlog, s", d["drain_s"]],
        ["part 2: events stored / lost / repeated / in order", f"{d['events_stored']:,} / {d['lost']} / "
                                                              f"{d['repeated']} / {d['in_order']}"],
        ["part 2: records acknowledged to devices", d["records_acknowledged"]],
        ["part 2: keepalive p99 ms, receiver down / draining+after",
         f"{d['down']['keepalive_p99_ms']} / {d['after']['keepalive_p99_ms']}"],
        ["part 2: missed keepalive deadlines, down / after",
         f"{d['down']['missed_deadlines']} / {d['after']['missed_deadlines']}"],
        ["server log warnings/errors (part 2)", d["server_log"]["count"]],
    ])
    if args.json:
        dump_json(out, args.json)


if __name__ == "__main__":
    main()
