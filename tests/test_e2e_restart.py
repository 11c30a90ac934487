"""A server restart in the middle of a fleet's people sync and record uploads: nothing lost, nothing twice.

Six simulated devices work against the server: three receive 250 people each
(with photos), three upload backlogs of records with photos, and all of them
upload a few records of their own. As soon as the store shows both jobs partly
done, the server goes away — stopped cleanly (the in-process server of the
other tests), or killed with SIGKILL (`facectl serve`'s runner in a child
process) — and a new one starts on the same database and port. The devices
notice the outage, keep their work, and carry on when the server is back:

- every record a device saw acknowledged is stored exactly once, and nothing
  else is stored (the device's backlog is empty, so acknowledged = everything);
- every device ends up holding exactly its people, confirmed in the store, without
  an operator: a photo a device could not fetch while the server was down is a
  transient failure, which a server started with `--retry-failed` (as here) retries
  by itself. (Without it, protocol.md 5.3: the failure waits for `facectl people sync`;
  test_people_delivery.py checks that default.)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer
from test_sim_e2e import backlog, drive, make_device, people_status, powered, run_async, stored_rows

from facectl.protocol.device_rules import ERR_PHOTO_DOWNLOAD
from facectl.server.app import STORE
from facectl.server.config import ServerConfig
from facectl.sim.device import SimDevice
from facectl.sim.fleet import serials
from facectl.sim.people_sync import PeopleSync
from facectl.store import Store
from facectl.store.people import PersonInput

pytestmark = [
    pytest.mark.timeout(90),
]

PEOPLE = 250
#: People handed out and never confirmed (the answer died with the server) go out
#: again after this long; the server's own default is 120 s.
REDELIVERY_SECONDS = 0.5
#: A transient failure (a photo download cut by the outage) is first retried after this
#: long; the server's own default is 60 s. Long enough to see the failure in the store.
RETRY_SECONDS = 1.0

#: `facectl serve --retry-failed 5`.
RETRY_FAILED = 5

#: `facectl serve`'s runner in a child process, with the shortened redelivery timeout.
CHILD = f"""
import asyncio, sys
from facectl.server.config import ServerConfig
from facectl.server.run import start
from facectl.store import Store

async def main():
    config = ServerConfig(db=sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]), open_enrollment=True,
                          retry_failed={RETRY_FAILED})
    store = Store(config.db)
    store.people.redelivery_timeout = {REDELIVERY_SECONDS}
    store.people.retry_delay = {RETRY_SECONDS}
    runner, port = await start(config, store)
    print(port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class ThreadServer:
    """The in-process LiveServer; `stop()` is a clean shutdown (in-flight requests are answered)."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.port = 0
        self.server: LiveServer | None = None

    def start(self) -> None:
        self.server = LiveServer(ServerConfig(db=self.db_path, host="127.0.0.1", port=self.port,
                                              open_enrollment=True, retry_failed=RETRY_FAILED))
        self.server.runner.app[STORE].people.redelivery_timeout = REDELIVERY_SECONDS
        self.server.runner.app[STORE].people.retry_delay = RETRY_SECONDS
        self.port = self.server.port

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class KilledServer:
    """The server in a child process; `stop()` is SIGKILL, mid-request or not."""

    def __init__(self, db_path: str, log: Path) -> None:
        self.db_path = db_path
        self.log = log
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", CHILD, self.db_path, str(self.port)],
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the port, once it listens (EOF if it died)
        if not line.strip().isdigit():
            self.stop()
            raise AssertionError(f"server did not start: {self.log.read_text()[-2000:]}")
        self.port = int(line)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc.stdout.close()  # type: ignore[union-attr]
            self.proc = None


def fleet(url: str, store: Store) -> tuple[list[SimDevice], list[SimDevice]]:
    syncing = [make_device(url, sn, people_limit=25, photo_bytes=8000) for sn in serials(3, "FC-8190S")]
    uploading = [make_device(url, sn, photo_bytes=20000) for sn in serials(3, "FC-8190U")]
    for dev in syncing + uploading:
        store.devices.add(dev.ctx.sn)
    from facectl.sim.jpeg import make_jpeg

    store.people.save_many([PersonInput(uid, {"Name": f"Person {uid}", "CardNum": str(50_000 + uid)},
                                        photo=make_jpeg(3000, uid), scope=[d.ctx.sn for d in syncing])
                            for uid in range(1, PEOPLE + 1)])
    for dev in syncing:
        for _ in range(10):
            dev.records.identify_event(None)
    for dev in uploading:
        for _ in range(60):
            dev.records.identify_event(None)
    return syncing, uploading


def restart_mid_sync(server: Any, store: Store, syncing: list[SimDevice], uploading: list[SimDevice],
                     seen: dict[str, Any]) -> Callable[[], Any]:
    devices = syncing + uploading
    records = sum(len(d.log.identify_backlog) for d in devices)

    def progress() -> tuple[int, int]:
        delivered = sum(people_status(store, d.ctx.sn).get("delivered", 0) for d in syncing)
        stored = store.db.execute("SELECT count(*) FROM records WHERE kind = 'identify'").fetchone()[0]
        return delivered, stored

    def failures() -> int:
        return sum(e.net_errors + e.timeouts for d in devices for e in d.ctx.stats.endpoints.values())

    async def main() -> None:
        while True:
            delivered, stored = progress()
            if 0 < delivered and 0 < stored:
                break
            await asyncio.sleep(0.005)  # polling the store
        before = failures()
        await asyncio.to_thread(server.stop)
        seen["at restart"] = progress()
        # the devices find the server gone before it comes back
        await asyncio.wait_for(_until(lambda: failures() > before), 20)
        await asyncio.to_thread(server.start)
        seen["failures"] = failures() - before

    task = asyncio.ensure_future(main())
    seen["records"] = records

    def restarted() -> bool:
        if task.done():
            task.result()  # raises what went wrong
            return True
        return False

    return restarted


async def _until(condition: Callable[[], Any]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def everything_done(store: Store, syncing: list[SimDevice], uploading: list[SimDevice]) -> bool:
    for dev in syncing:
        status = people_status(store, dev.ctx.sn)
        if len(dev.ctx.people) != PEOPLE or status.get("delivered") != PEOPLE or status.get("in_flight"):
            return False
    return all(backlog(d) == 0 for d in syncing + uploading)


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_server_restart_mid_sync_loses_nothing_and_stores_nothing_twice(
        how: str, db_path: str, store: Store, tmp_path: Path) -> None:
    server = ThreadServer(db_path) if how == "stopped" else KilledServer(db_path, tmp_path / "server.log")
    server.start()
    try:
        syncing, uploading = fleet(f"http://127.0.0.1:{server.port}", store)
        devices = syncing + uploading
        seen: dict[str, Any] = {"failure codes": set()}

        def describe() -> Any:
            return seen, {d.ctx.sn: (len(d.ctx.people), backlog(d), people_status(store, d.ctx.sn)) for d in devices}

        async def main() -> None:
            async with powered(*devices):
                restarted = restart_mid_sync(server, store, syncing, uploading, seen)

                def done() -> bool:
                    # A photo a device could not fetch while the server was down is reported failed
                    # (error 2) and retried by the server itself; note every failure seen on the way.
                    for dev in syncing:
                        seen["failure codes"] |= {f["code"] for f in people_status(store, dev.ctx.sn)["failures"]}
                    return restarted() and everything_done(store, syncing, uploading)

                await drive(devices, done, "the restart, then every record uploaded and every person "
                            "delivered, without an operator", timeout=60, describe=describe)

        run_async(main, 80)
    finally:
        server.stop()

    delivered, stored = seen["at restart"]
    assert delivered < PEOPLE * len(syncing) and stored < seen["records"], seen  # it was mid-way
    assert seen["failures"] > 0
    assert seen["failure codes"] <= {ERR_PHOTO_DOWNLOAD}, seen  # only downloads cut by the outage
    for dev in devices:
        acknowledged = list(dev.log.history)
        assert len(acknowledged) == (10 if dev in syncing else 60) + 1  # and the power-on record
        for rec in acknowledged:
            assert stored_rows(store, dev.ctx.sn, rec) == 1, (dev.ctx.sn, rec.detail)
        assert store.records.count(dev.ctx.sn) == len(acknowledged), dev.ctx.sn
    for dev in syncing:
        assert dev.ctx.people.ids() == list(range(1, PEOPLE + 1))
        status = people_status(store, dev.ctx.sn)
        assert status["delivered"] == PEOPLE and status["failed"] == 0 and status["pending"] == 0, status
    for dev in uploading:
        assert len(dev.ctx.people) == 0 and people_status(store, dev.ctx.sn).get("wanted", 0) == 0
    assert store.quarantine.count() == 0


def test_photo_download_failed_by_an_outage_is_retried(db_path: str, store: Store) -> None:
    """The server goes down after handing out a page and is back before the device reports it.

    Every photo download of that page failed (error 2, a transient cause): the people
    are failed, with a retry scheduled, and go out again by themselves after the
    (shortened) retry delay, without an operator's `people sync`.
    """
    server = ThreadServer(db_path)
    server.start()

    class OutageDuringImport(PeopleSync):
        outage = True

        async def import_page(self, people: list[Any], deadline: float) -> Any:
            if not self.outage:
                return await super().import_page(people, deadline)
            self.outage = False
            await asyncio.to_thread(server.stop)
            try:
                return await super().import_page(people, deadline)
            finally:
                await asyncio.to_thread(server.start)

    from facectl.sim.config import SimConfig
    from facectl.sim.jpeg import make_jpeg

    sn = "FC-8190H24052799"
    store.devices.add(sn)
    store.people.save_many([PersonInput(uid, {"Name": f"Person {uid}"}, photo=make_jpeg(2000, uid))
                            for uid in range(1, 11)])
    dev = SimDevice(sn, SimConfig(server=f"http://127.0.0.1:{server.port}", seed=3))
    dev.people_sync = sync = OutageDuringImport(dev.ctx)

    def status() -> dict[str, Any]:
        return people_status(store, sn)

    async def main() -> None:
        async with powered(dev):
            await drive([dev], lambda: not sync.outage and not status().get("pending") and not status().get(
                "in_flight") and status().get("delivered", 0) + status().get("failed", 0) == 10,
                "the page reported", describe=status)
            failed = status()
            assert failed["failed"] == 10, failed  # all ten photos failed: the server was down
            assert [(f["code"], f["count"], f["retrying"]) for f in failed["failures"]] == [
                (ERR_PHOTO_DOWNLOAD, 10, 10)], failed
            assert failed["retrying"] == 10 and failed["next_retry_at"] is not None
            await drive([dev], lambda: status()["delivered"] == 10, "delivered without an operator", timeout=5,
                        describe=status)

    try:
        run_async(main)
    finally:
        server.stop()
    assert dev.ctx.people.ids() == list(range(1, 11))
    final = status()
    assert final["failed"] == final["retrying"] == 0 and final["failures"] == [], final
