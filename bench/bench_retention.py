"""Retention on a site-shaped database: growth, keepalive p99 while the server prunes, prune speed, backup time.

    .venv/bin/python bench/bench_retention.py                         # 200,000 records (~1 min to build)
    .venv/bin/python bench/bench_retention.py --records 1000000 --json bench/results/retention-1m.json
    .venv/bin/python bench/bench_retention.py --backup-only --records 1000000 --photo-every 20   # ~2 GB

1. Build: a database made by facectl (schema, incremental auto-vacuum) filled with --records
   identify records received over the last --span-days (365: three quarters older than 90
   days), one in --photo-every with its own --photo-bytes photo (2 %, 30 KB: the site the
   growth figures come from), for --devices approved devices. Rows are written with the
   same columns the server writes, in bulk, so building takes seconds instead of hours.
   Growth: bytes per record row (records table and its indexes, from dbstat) and per photo.
2. Baseline: `facectl serve` without retention, --devices devices sending keepalives
   paced at --rate per second in total for --seconds; latency of each.
3. Prune: the same server command with `--keep-records 90 --keep-photos 30`: its upkeep pass
   starts at once; the same load runs until the server logs the pass's end ("upkeep:"),
   giving keepalive latency *while* it prunes, the pass's duration and rows deleted per s.
4. Backup: `facectl backup` of the database after the prune and of the one before it
   (a copy made in step 1), seconds and MB/s.

Both server runs are separate processes started the same way, in the same run, so the
keepalive figures are compared as a ratio (prune / baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, ServerProcess, dump_json, machine, ms, percentile, print_table, ratio  # noqa: E402

sys.path.insert(0, str(ROOT))
from facectl.sim.jpeg import make_jpeg  # noqa: E402
from facectl.store import Store  # noqa: E402

DAY = 86400.0


def build(path: Path, records: int, photo_every: int, photo_bytes: int, devices: int, span_days: float) -> dict:
    Store(str(path)).close()  # the schema as facectl makes it
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sns = [f"FC-BENCH{i:08d}" for i in range(devices)]
    now = time.time()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO devices (sn, state, first_seen, approved_at) VALUES (?, 'approved', ?, ?)",
                     [(sn, now, now) for sn in sns])
    conn.execute("COMMIT")
    rng = random.Random(1)
    base = make_jpeg(photo_bytes, seed=1)
    start = time.monotonic()
    batch = 20_000
    for first in range(0, records, batch):
        rows, files = [], []
        for i in range(first, min(records, first + batch)):
            received = now - rng.random() * span_days * DAY
            photo = None
            if i % photo_every == 0:
                data = base[:-6] + i.to_bytes(4, "big") + base[-2:]  # unique content, still a JPEG's shape
                photo = hashlib.sha256(data).hexdigest()
                files.append((photo, hashlib.md5(data).hexdigest().upper(), len(data), "image/jpeg", received, data))
            detail = json.dumps({"RecordID": i, "RecordType": 3, "RecordDate": int(received), "UserID": str(i % 20000),
                                 "Name": f"person {i % 20000}", "CardNum": "0", "IsEntry": 1, "BodyTemp": 365,
                                 "PhotoLen": photo_bytes if photo else 0})
            rows.append((sns[i % devices], "identify", i, 3, int(received), str(i % 20000), f"person {i % 20000}",
                         "0", 1, 365, photo_bytes if photo else 0, photo, detail, received))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO files (sha256, md5, size, content_type, created_at, data) VALUES "
                         "(?, ?, ?, ?, ?, ?)", files)
        conn.executemany("INSERT INTO records (sn, kind, record_id, record_type, record_date, user_id, name, "
                         "card_num, is_entry, body_temp, photo_len, photo, detail, received_at) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master").fetchall())
    per_table: dict[str, int] = {}
    for name, size in sizes.items():
        per_table[owner.get(name, name)] = per_table.get(owner.get(name, name), 0) + size
    photos = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    old = conn.execute("SELECT count(*) FROM records WHERE received_at < ?", [now - 90 * DAY]).fetchone()[0]
    conn.close()
    return {"records": records, "photos": photos, "older_than_90d": old, "build_s": round(time.monotonic() - start, 1),
            "file_bytes": path.stat().st_size,
            "bytes_per_record_row": round(per_table.get("records", 0) / records),
            "bytes_per_photo": round(per_table.get("files", 0) / max(photos, 1)),
            "sns": sns}


async def keepalives(url: str, sns: list[str], rate: float, until: Any, limit_s: float) -> list[float]:
    """Paced keepalives from every device on its own connection; latency counted from the scheduled send."""
    lat: list[float] = []
    period = len(sns) / rate
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    body = {"RelayStatus": 0, "KeepOpenStatus": 0, "DoorSensorStatus": 0, "LockDoorStatus": 0, "AlarmStatus": ""}

    async def device(k: int, sn: str) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
            due = t0 + k * period / len(sns)
            while not until() and loop.time() - t0 < limit_s:
                await asyncio.sleep(max(0.0, due - loop.time()))
                async with s.post(url + "/Device/Keepalive", json={"SN": sn, **body}) as r:
                    await r.read()
                lat.append(loop.time() - due)
                due += period

    await asyncio.gather(*(device(k, sn) for k, sn in enumerate(sns)))
    return lat


def summary(lat: list[float]) -> dict[str, Any]:
    return {"keepalives": len(lat), "p50_ms": ms(percentile(lat, 50)), "p99_ms": ms(percentile(lat, 99)),
            "max_ms": ms(max(lat) if lat else None)}


def timed_backup(db: Path, dest: Path) -> dict[str, Any]:
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "facectl", "backup", str(dest), "--db", str(db), "--json"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    seconds = time.monotonic() - t
    report = json.loads(out.stdout)
    return {"bytes": report["bytes"], "seconds": round(seconds, 2),
            "mb_per_s": round(report["bytes"] / 1e6 / max(seconds, 1e-9), 1)}


def backup_only(args: argparse.Namespace) -> None:
    """Build, then `facectl backup` it: the backup time of a database of a given size."""
    tmp = Path(tempfile.mkdtemp(prefix="facectl-backup-"))
    try:
        db = tmp / "site.db"
        built = build(db, args.records, args.photo_every, args.photo_bytes, args.devices, args.span_days)
        built.pop("sns")
        backup = timed_backup(db, tmp / "copy.db")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table("Backup", ["records", "photos", "MB", "s", "MB/s"],
                [[built["records"], built["photos"], round(backup["bytes"] / 1e6, 1), backup["seconds"],
                  backup["mb_per_s"]]])
    dump_json({"machine": machine(), "args": vars(args), "build": built, "backup": backup}, args.json)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--photo-every", type=int, default=50)
    ap.add_argument("--photo-bytes", type=int, default=30_000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--span-days", type=float, default=365)
    ap.add_argument("--rate", type=float, default=200, help="keepalives per second, all devices together")
    ap.add_argument("--seconds", type=float, default=15, help="length of the baseline run")
    ap.add_argument("--limit", type=float, default=900, help="give up on the prune pass after this many s")
    ap.add_argument("--backup-only", action="store_true",
                    help="build the database and time its backup, no server runs (the 2 GB figure)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if args.backup_only:
        backup_only(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="facectl-retention-"))
    try:
        db = tmp / "site.db"
        built = build(db, args.records, args.photo_every, args.photo_bytes, args.devices, args.span_days)
        sns = built.pop("sns")
        before = tmp / "before.db"
        backup_before = timed_backup(db, before)
        server = ServerProcess.start_facectl(db, tmp)
        try:
            base = summary(asyncio.run(keepalives(server.url, sns, args.rate, lambda: False, args.seconds)))
        finally:
            server.stop()
        records_before = sqlite3.connect(db).execute("SELECT count(*) FROM records").fetchone()[0]
        server = ServerProcess.start_facectl(db, tmp, extra=["--keep-records", "90", "--keep-photos", "30"])
        t = time.monotonic()
        finished: list[float] = []

        def done() -> bool:
            if not finished and b"upkeep:" in server.log.read_bytes():
                finished.append(time.monotonic() - t)
            return bool(finished)
        try:
            during = summary(asyncio.run(keepalives(server.url, sns, args.rate, done, args.limit)))
        finally:
            server.stop()
        conn = sqlite3.connect(db)
        records_after = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        conn.close()
        pass_s = finished[0] if finished else None
        deleted = records_before - records_after
        prune = {"pass_s": round(pass_s, 1) if pass_s else None, "records_deleted": deleted,
                 "records_per_s": round(deleted / pass_s) if pass_s else None,
                 "file_bytes_after": db.stat().st_size}
        backup_after = timed_backup(db, tmp / "after.db")
        result = {"machine": machine(), "args": vars(args), "build": built, "baseline": base, "during_prune": during,
                  "p99_ratio": ratio(during["p99_ms"], base["p99_ms"]), "prune": prune,
                  "backup_before_prune": backup_before, "backup_after_prune": backup_after}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table("Growth", ["records", "photos", "file MB", "B/record row", "B/photo"],
                [[built["records"], built["photos"], round(built["file_bytes"] / 1e6, 1),
                  built["bytes_per_record_row"], built["bytes_per_photo"]]])
    print_table("Keepalive latency", ["run", "keepalives", "p50 ms", "p99 ms", "max ms"],
                [["no prune", base["keepalives"], base["p50_ms"], base["p99_ms"], base["max_ms"]],
                 ["during prune", during["keepalives"], during["p50_ms"], during["p99_ms"], during["max_ms"]]])
    print_table("Prune pass", ["s", "records deleted", "records/s", "file MB after"],
                [[prune["pass_s"], deleted, prune["records_per_s"], round(prune["file_bytes_after"] / 1e6, 1)]])
    print_table("Backup", ["database", "MB", "s", "MB/s"],
                [["before prune", round(backup_before["bytes"] / 1e6, 1), backup_before["seconds"],
                  backup_before["mb_per_s"]],
                 ["after prune", round(backup_after["bytes"] / 1e6, 1), backup_after["seconds"],
                  backup_after["mb_per_s"]]])
    dump_json(result, args.json)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
