"""People at site scale: many devices x many people, the operator's side and one device's page.

    .venv/bin/python bench/bench_people_scale.py                          # 500 devices, 20,000 people
    .venv/bin/python bench/bench_people_scale.py --devices 100 --people 4000 --json

Measured in one run, on one database in a temporary directory:

- **add**: `save_many(mode="add")` of every person (the path of `people add` and `people
  import`), photo-less so the figure is the delivery bookkeeping, not JPEG hashing; every
  device approved beforehand, so each person is wanted by every device.
- **status**: `people status` for every device (Status.status()), while every device has
  every person pending, and again after each device had its first page delivered.
- **page**: one DownloadPeopleList page of `--page` people taken by the store
  (take_add_page) and confirmed (add_result), medians over the first devices.
- **needs_add**: the AddPeople check a keepalive makes, for a device with work and for one in
  sync, the latter beside a primary-key lookup of its `devices` row (the floor).
- **full sync**: the last device takes every page and confirms it (the rows written there).
- **update**: one person changed (a new version for every device), and `people rm` of one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any

from facectl.store import Store
from facectl.store.people import PersonInput


def median_ms(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"devices": args.devices, "people": args.people, "page": args.page}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        store = Store(os.path.join(tmp, "scale.db"))
        sns = [f"FC-{i:012d}" for i in range(args.devices)]
        for sn in sns:
            store.devices.add(sn)
        items = [PersonInput(uid, {"Name": f"员工{uid:05d}", "Code": f"E{uid}", "Department": "研发部",
                                   "CardNum": str(3_000_000_000 + uid)}) for uid in range(1, args.people + 1)]
        started, cpu = time.perf_counter(), time.process_time()
        store.people.save_many(items, mode="add")
        out["add_s"] = time.perf_counter() - started
        out["add_cpu_s"] = time.process_time() - cpu
        started = time.perf_counter()
        rows = store.people.status()
        out["status_all_pending_s"] = time.perf_counter() - started
        assert len(rows) == args.devices and rows[0]["pending"] == args.people, rows[0]
        pages, results = [], []
        for sn in sns[:args.pages]:
            started = time.perf_counter()
            page = store.people.take_add_page(sn, args.page)
            pages.append(time.perf_counter() - started)
            assert len(page.people) == min(args.page, args.people)
            started = time.perf_counter()
            store.people.add_result(sn, [])
            results.append(time.perf_counter() - started)
        out["page_ms"] = statistics.median(pages) * 1000
        out["result_ms"] = statistics.median(results) * 1000
        started = time.perf_counter()
        rows = store.people.status()
        out["status_some_delivered_s"] = time.perf_counter() - started
        assert rows[0]["delivered"] == min(args.page, args.people), rows[0]
        one = sns[-1]
        started = time.perf_counter()
        while store.people.take_add_page(one, args.page).people:  # the last device takes everyone
            store.people.add_result(one, [])
        out["full_sync_one_s"] = time.perf_counter() - started
        out["needs_add_pending_ms"] = median_ms(lambda: store.people.needs_add(sns[0]), 200)
        out["needs_add_in_sync_ms"] = median_ms(lambda: store.people.needs_add(one), 200)
        assert not store.people.needs_add(one)
        out["device_row_ms"] = median_ms(lambda: store.db.execute(
            "SELECT * FROM devices WHERE sn = ?", [one]).fetchone(), 200)
        out["status_one_ms"] = median_ms(lambda: store.people.status(one), 20)
        started = time.perf_counter()
        store.people.update(PersonInput(1, {"Name": "renamed"}))
        out["update_one_ms"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        store.people.remove([2])
        out["remove_one_ms"] = (time.perf_counter() - started) * 1000
        out["db_mb"] = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)) / 1e6
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=500, help="approved devices (default 500)")
    parser.add_argument("--people", type=int, default=20_000, help="people, each for every device (default 20000)")
    parser.add_argument("--page", type=int, default=1000, help="people per page (default 1000)")
    parser.add_argument("--pages", type=int, default=20, help="devices that take one page each (default 20)")
    parser.add_argument("--tmp", default=None, help="directory for the temporary database (default: system)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.devices} devices x {args.people} people, pages of {args.page}, database {figures['db_mb']:.0f} MB")
    print(f"add every person              {figures['add_s']:8.2f} s    (goal < 30 s at 500 x 20,000; "
          f"CPU {figures['add_cpu_s']:.1f} s)")
    print(f"people status, all pending    {figures['status_all_pending_s']:8.3f} s    (goal < 1 s)")
    print(f"people status, after 1 page   {figures['status_some_delivered_s']:8.3f} s")
    print(f"people status SN              {figures['status_one_ms']:8.2f} ms")
    print(f"page of {args.page} (store)         {figures['page_ms']:8.2f} ms   (goal < 50 ms)")
    print(f"its result                    {figures['result_ms']:8.2f} ms")
    print(f"AddPeople check, pending      {figures['needs_add_pending_ms']:8.3f} ms")
    print(f"AddPeople check, in sync      {figures['needs_add_in_sync_ms']:8.3f} ms   "
          f"(devices row by key {figures['device_row_ms']:.3f} ms)")
    print(f"full sync of one device       {figures['full_sync_one_s']:8.2f} s    (every page and its result)")
    print(f"update one person             {figures['update_one_ms']:8.1f} ms")
    print(f"remove one person             {figures['remove_one_ms']:8.1f} ms")


if __name__ == "__main__":
    main()
