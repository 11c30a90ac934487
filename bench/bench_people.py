"""Server-side cost of people delivery, against a bare aiohttp handler measured in the same run.

    .venv/bin/python bench/bench_people.py            # 20,000 people, pages of 1,000
    .venv/bin/python bench/bench_people.py --people 5000 --repeat 10 --json

Measured, each as the median of several runs on one keep-alive connection over loopback:

- **bare**: a POST with a small JSON body to a plain aiohttp handler that parses it and
  answers {"Success":1}: the floor any request pays (HTTP, JSON, event loop).
- **page**: one DownloadPeopleList of 1,000 people (photo URL, fingerprint URL for half of
  them) through the real server: identity check, page selection, marking in flight,
  signed URLs, encoding (plain, and gzip as for a device that accepts it, protocol.md 3.4).
- **page (in-process)**: the same page built by calling the store and the encoder
  directly, without HTTP: the server's own work.
- **result**: the DownloadPeopleListResult that confirms that page.
- **full sync**: Keepalive, then DownloadPeopleList/Result pages until the list is empty,
  delivering every person to one device, plus the final Keepalive that shows no work.

The client reads answers as bytes and looks only at the PeopleCount prefix, so client-side
JSON parsing does not inflate the server figures. Everything runs in one process (server
in its own thread and event loop), so figures are comparable within a run, not across
machines; the ratios are the point.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import aiohttp
from aiohttp import web

from facectl.protocol import people as people_rules
from facectl.protocol import responses
from facectl.server.config import ServerConfig
from facectl.server.run import start
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store
from facectl.store.people import PersonInput

SN = "FC-8190H24052799"


class Loop:
    """An event loop in its own thread, for the servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def bare_handler(request: web.Request) -> web.Response:
    doc = json.loads(await request.read())
    return web.Response(body=responses.encode({"Success": 1, "SN": doc.get("SN")}), content_type="application/json")


async def start_bare() -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", bare_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # noqa: SLF001


def populate(store: Store, count: int) -> None:
    store.devices.add(SN)
    finger = people_rules.feature_text(b"fingerprint template " * 20)
    items = []
    for uid in range(1, count + 1):
        items.append(PersonInput(uid, {"Name": f"员工{uid:05d}", "Code": f"E{uid}", "Department": "研发部",
                                       "CardNum": str(3_000_000_000 + uid), "Elevators": "1,2,3"},
                                 photo=make_jpeg(1500, seed=uid)))
    store.people.save_many(items, mode="add")
    for uid in range(1, count + 1, 2):
        store.people.parts.biometrics.put(uid, people_rules.FINGERPRINT, 1, finger + str(uid % 10) * 4, SN, time.time())


def reset(store: Store) -> None:
    """Make every person pending again for the device (not timed).

    With cursors (store/people/implicit.py) the device's rows go and its cursor returns to
    the start, so each page writes its rows as a device's first pages do; a database with
    a row per (device, person) (an older facectl, for the baseline) has its rows reset.
    """
    cursors = "through" in {r[1] for r in store.db.execute("PRAGMA table_info(people_sync)")}
    with store.db.conn:
        if cursors:
            store.db.execute("DELETE FROM device_people WHERE sn = ?", [SN])
            store.db.execute("UPDATE people_sync SET through = 0 WHERE sn = ?", [SN])
        else:
            store.db.execute("UPDATE device_people SET have = NULL, inflight = NULL, inflight_at = 0 WHERE sn = ?",
                             [SN])


async def post(session: aiohttp.ClientSession, url: str, doc: dict[str, Any],
               encoding: str = "identity") -> tuple[float, bytes]:
    body = json.dumps(doc).encode()
    headers = {"Content-Type": "application/json", "Accept-Encoding": encoding}
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as resp:
        data = await resp.read()
    return time.perf_counter() - started, data


def count_of(answer: bytes) -> int:
    head = answer[:80].decode("utf-8", "replace")
    marker = '"PeopleCount":'
    return int(head[head.index(marker) + len(marker):].split(",", 1)[0])


async def measure(args: argparse.Namespace, store: Store, facectl_url: str, bare_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"people": args.people, "page": args.page, "repeat": args.repeat}
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        for _ in range(20):  # warm up both servers and the connection
            await post(session, bare_url + "/x", {"SN": SN})
        bare = [(await post(session, bare_url + "/People/DownloadPeopleList", {"SN": SN, "Limit": args.page}))[0]
                for _ in range(max(200, args.repeat))]
        out["bare_ms"] = statistics.median(bare) * 1000

        pages, results = [], []
        for _ in range(args.repeat):
            reset(store)
            seconds, answer = await post(session, facectl_url + "/People/DownloadPeopleList",
                                         {"SN": SN, "Limit": args.page})
            assert count_of(answer) == min(args.page, args.people), answer[:200]
            pages.append(seconds)
            seconds, _ = await post(session, facectl_url + "/People/DownloadPeopleListResult",
                                    {"SN": SN, "SuccessCount": args.page, "FailCount": 0, "FailList": []})
            results.append(seconds)
        out["page_ms"] = statistics.median(pages) * 1000
        out["page_max_ms"] = max(pages) * 1000
        out["page_bytes"] = len(answer)
        out["result_ms"] = statistics.median(results) * 1000

        gzipped = []
        for _ in range(args.repeat):  # a device that sends Accept-Encoding: gzip (protocol.md 3.4)
            reset(store)
            seconds, answer = await post(session, facectl_url + "/People/DownloadPeopleList",
                                         {"SN": SN, "Limit": args.page}, "gzip")
            gzipped.append(seconds)
            await post(session, facectl_url + "/People/DownloadPeopleListResult",
                       {"SN": SN, "SuccessCount": args.page, "FailCount": 0, "FailList": []})
        out["page_gzip_ms"] = statistics.median(gzipped) * 1000
        out["page_gzip_bytes"] = len(answer)

        reset(store)
        started = time.perf_counter()
        _, flags = await post(session, facectl_url + "/Device/Keepalive", {"SN": SN})
        assert b'"AddPeople":1' in flags, flags
        page_count, delivered, slowest = 0, 0, 0.0
        while True:
            seconds, answer = await post(session, facectl_url + "/People/DownloadPeopleList",
                                         {"SN": SN, "Limit": args.page})
            slowest = max(slowest, seconds)
            n = count_of(answer)
            if n == 0:
                break
            page_count += 1
            delivered += n
            await post(session, facectl_url + "/People/DownloadPeopleListResult",
                       {"SN": SN, "SuccessCount": n, "FailCount": 0, "FailList": []})
        _, flags = await post(session, facectl_url + "/Device/Keepalive", {"SN": SN})
        out["sync_s"] = time.perf_counter() - started
        assert delivered == args.people and b"AddPeople" not in flags, (delivered, flags)
        out["sync_pages"] = page_count
        out["sync_slowest_request_ms"] = slowest * 1000

        keepalives = [(await post(session, facectl_url + "/Device/Keepalive", {"SN": SN}))[0]
                      for _ in range(max(200, args.repeat))]
        out["keepalive_in_sync_ms"] = statistics.median(keepalives) * 1000
    return out


def in_process_page(store: Store, args: argparse.Namespace) -> float:
    """The page built by the store and the encoder, no HTTP (URLs built as the handler does)."""
    from facectl.server.file_urls import file_url

    secret = store.meta.secret()
    times = []
    for _ in range(args.repeat):
        reset(store)
        started = time.perf_counter()
        page = store.people.take_add_page(SN, args.page)

        def ref(f: Any, ext: str) -> people_rules.FileRef | None:
            return None if f is None else people_rules.FileRef(file_url(None, secret, f.sha256, ext), f.md5, f.size)

        people = [people_rules.encode_person(p.user_id, p.fields, ref(p.photo, ".jpg"), ref(p.face, ".dat"),
                                      [(n, ref(f, ".dat")) for n, f in p.fingerprints],
                                      [(n, ref(f, ".dat")) for n, f in p.palmveins]) for p in page.people]
        responses.encode(responses.ok(**people_rules.download_answer(people)))
        times.append(time.perf_counter() - started)
        store.people.add_result(SN, [])
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000, help="people for the full sync (default 20000)")
    parser.add_argument("--page", type=int, default=1000, help="Limit per DownloadPeopleList (default 1000)")
    parser.add_argument("--repeat", type=int, default=15, help="runs per median (default 15)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.db")
        store = Store(db)
        started = time.perf_counter()
        populate(store, args.people)
        setup_s = time.perf_counter() - started
        loop = Loop()
        runner, port = loop.run(start(ServerConfig(db=db, host="127.0.0.1", port=0)))
        bare_runner, bare_port = loop.run(start_bare())
        try:
            figures = asyncio.run(measure(args, store, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"))
            figures["page_in_process_ms"] = in_process_page(store, args)
        finally:
            loop.run(runner.cleanup())
            loop.run(bare_runner.cleanup())
            loop.stop()
            store.close()
    figures["setup_s"] = setup_s
    bare = figures["bare_ms"]
    figures["ratios"] = {
        "page_vs_bare": figures["page_ms"] / bare,
        "page_in_process_vs_bare": figures["page_in_process_ms"] / bare,
        "page_gzip_vs_bare": figures["page_gzip_ms"] / bare,
        "result_vs_bare": figures["result_ms"] / bare,
        "keepalive_vs_bare": figures["keepalive_in_sync_ms"] / bare,
        "full_sync_vs_bare": figures["sync_s"] * 1000 / bare,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    r = figures["ratios"]
    print(f"python {sys.version.split()[0]}, {args.people} people ({setup_s:.1f}s to create), pages of {args.page}")
    print(f"bare aiohttp handler           {bare:8.3f} ms   (1x)")
    print(f"Keepalive, all in sync         {figures['keepalive_in_sync_ms']:8.3f} ms   ({r['keepalive_vs_bare']:.1f}x)")
    print(f"DownloadPeopleList, {args.page} people {figures['page_ms']:8.2f} ms   ({r['page_vs_bare']:.0f}x; "
          f"max {figures['page_max_ms']:.1f} ms, {figures['page_bytes'] // 1024} KB answer)")
    print(f"  same page, gzip answer       {figures['page_gzip_ms']:8.2f} ms   ({r['page_gzip_vs_bare']:.0f}x; "
          f"{figures['page_gzip_bytes'] // 1024} KB answer)")
    print(f"  same page, in-process        {figures['page_in_process_ms']:8.2f} ms   "
          f"({r['page_in_process_vs_bare']:.0f}x)")
    print(f"DownloadPeopleListResult       {figures['result_ms']:8.2f} ms   ({r['result_vs_bare']:.1f}x)")
    print(f"full sync, {args.people} people       {figures['sync_s'] * 1000:8.0f} ms   "
          f"({r['full_sync_vs_bare']:.0f}x; {figures['sync_pages']} pages, slowest request "
          f"{figures['sync_slowest_request_ms']:.1f} ms)")


if __name__ == "__main__":
    main()
