"""The simulator against the real server (tests/conftest.py runs it on a loopback port).

The simulated device is the client; the server and its store are the real ones.
State is checked through the test's own Store on the same database, as the CLI
does. Flows whose server handlers do not exist yet are skipped, not faked, so
these tests tighten by themselves as the server grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import pytest
from conftest import timed

from facectl.protocol.endpoints import ENDPOINTS
from facectl.sim.check import run_check
from facectl.sim.codes import AUTH_DENY, KIND_DOOR
from facectl.sim.config import GZIP_MODES, RECORD_JSON_PARTS, RECORD_PHOTO_PARTS, Faults, SimConfig, Variants
from facectl.sim.device import SimDevice
from facectl.sim.fleet import run_fleet, serials
from facectl.sim.records import PendingRecord
from facectl.store import Store

pytestmark = pytest.mark.timeout(60)

SN = "FC-8190H24052799"

# --------------------------------------------------------------------------- helpers


def run_device(url: str, seconds: float, sn: str = SN, **options: Any) -> SimDevice:
    """`SimDevice.run` for `seconds`: the real run loop, with its wall-clock keepalive schedule."""
    options.setdefault("seed", 11)
    options.setdefault("record_retry_pause", 0.1)

    async def main() -> SimDevice:
        dev = SimDevice(sn, SimConfig(server=url, **options))
        await dev.run(None, asyncio.get_running_loop().time() + seconds)
        return dev

    return asyncio.run(asyncio.wait_for(main(), seconds + 30))


def make_device(url: str, sn: str = SN, **options: Any) -> SimDevice:
    options.setdefault("seed", 11)
    options.setdefault("record_retry_pause", 0.1)
    options.setdefault("photo_bytes", 3000)
    return SimDevice(sn, SimConfig(server=url, **options))


@contextlib.asynccontextmanager
async def powered(*devices: SimDevice) -> AsyncIterator[None]:
    """The devices' connections open and the devices booted; closed on the way out."""
    for dev in devices:
        await dev.start()
    try:
        yield
    finally:
        for dev in devices:
            await dev.close()


async def drive(devices: Sequence[SimDevice], until: Callable[[], Any], what: str, timeout: float = 20.0, *,
                pace: float = 0.05, budget: float = 10.0, describe: Callable[[], Any] | None = None) -> None:
    """Run the devices' keepalive periods until `until()` is true, failing after `timeout` seconds.

    Each device runs `step()` periods back to back, `pace` seconds apart (its keepalive
    interval), each with `budget` seconds before its next keepalive: ample for the
    work, so deadlines never cut it short. `until` is polled every few milliseconds,
    also while periods run; when it holds, each device finishes the period it is in.
    """
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    async def device_loop(dev: SimDevice) -> None:
        while not done.is_set():
            await dev.step(loop.time() + budget)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), pace)

    async def watch() -> None:
        while not until():
            await asyncio.sleep(0.01)  # polling the condition

    tasks = [asyncio.create_task(device_loop(dev)) for dev in devices]
    watcher = asyncio.create_task(watch())
    try:
        finished, _ = await asyncio.wait([watcher, *tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            if task is not watcher:
                task.result()  # a device loop only ends early by raising
        if watcher not in finished:
            state = describe() if describe is not None else ""
            raise AssertionError(f"not reached within {timeout:g} s: {what}. {state}")
    finally:
        done.set()
        watcher.cancel()
        _, late = await asyncio.wait(tasks, timeout=budget + 5)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_async(main: Callable[[], Any], timeout: float = 50.0) -> Any:
    return asyncio.run(asyncio.wait_for(main(), timeout))


def _kind(rec: PendingRecord) -> str:
    if rec.kind is None:
        return "identify"
    return "door" if rec.kind == KIND_DOOR else "system"


def md5(data: bytes | None) -> str | None:
    return hashlib.md5(data).hexdigest() if data is not None else None


def stored_rows(store: Store, sn: str, rec: PendingRecord, kind: str | None = None) -> int:
    """How many rows hold this record (by the store's own key: sn, kind, RecordID, RecordDate)."""
    return store.db.execute(
        "SELECT count(*) FROM records WHERE sn = ? AND kind = ? AND record_id = ? AND record_date = ?",
        [sn, kind or _kind(rec), rec.detail["RecordID"], rec.detail["RecordDate"]]).fetchone()[0]


def backlog(dev: SimDevice) -> int:
    log = dev.log
    return len(log.identify_backlog) + sum(len(q) for q in log.system_backlog.values()) + len(dev.access.auth_queue)


def people_status(store: Store, sn: str) -> dict[str, Any]:
    rows = store.people.status(sn)
    return rows[0] if rows else {}


def add_people(store: Store, uids: Iterable[int], photo_bytes: int = 3000) -> None:
    from facectl.sim.jpeg import make_jpeg
    from facectl.store.people import PersonInput

    store.people.save_many([PersonInput(uid, {"Name": f"Person {uid}", "CardNum": str(10_000 + uid)},
                                        photo=make_jpeg(photo_bytes, uid)) for uid in uids])


def test_device_boots_and_its_records_are_stored_once(open_server, store: Store) -> None:
    """Retries (timeouts), duplicates and quirky JSON: each acknowledged record is stored once."""
    dev = make_device(open_server.url, faults=Faults(duplicate_records=0.5, timeout=0.1, quirky_json=0.3))

    async def main() -> None:
        async with powered(dev):
            for _ in range(12):
                dev.records.identify_event(None)
            await drive([dev], lambda: backlog(dev) == 0 and dev.ctx.stats.events.get("fault: duplicate-records"),
                        "backlog uploaded, duplicates sent", describe=lambda: dev.ctx.stats.events)

    run_async(main)
    assert dev.ctx.calls[0] == "Keepalive" and dev.ctx.calls[1] == "UploadWorkSetting"
    doc = store.settings.document(SN)
    assert doc is not None and doc["DeviceSN"] == SN and "FirmwareVerson" in doc
    assert store.devices.get(SN)["state"] == "approved"
    acknowledged = list(dev.log.history)
    assert len(acknowledged) == 13  # 12 identify records and the power-on record
    for rec in acknowledged:
        assert stored_rows(store, SN, rec) == 1, rec.detail
    # retries and injected duplicates were acknowledged without a second row
    assert store.records.count(SN) == len(acknowledged)
    assert store.quarantine.count() == 0


def test_unapproved_device_stays_quiet_until_approved(server, store: Store) -> None:
    dev = make_device(server.url)

    async def main() -> None:
        async with powered(dev):
            dev.records.identify_event(None)
            await drive([dev], lambda: dev.ctx.stats.endpoint("Keepalive").calls >= 3, "three keepalives")
            assert set(dev.ctx.stats.endpoints) == {"Keepalive"}  # 401: nothing but keepalives
            assert store.devices.get(SN)["state"] == "pending"
            assert store.records.count(SN) == 0
            store.devices.set_state(SN, "approved")
            await drive([dev], lambda: backlog(dev) == 0, "records uploaded after approval")

    run_async(main)
    calls = list(dev.ctx.calls)
    first = calls.index("UploadWorkSetting")
    assert calls[first - 1] == "Keepalive" and set(calls[:first]) == {"Keepalive"}
    assert store.settings.document(SN) is not None
    assert store.records.count(SN) == 2  # the stranger and the power-on record


def test_conformance_check_passes_against_facectl(open_server) -> None:
    report = asyncio.run(asyncio.wait_for(run_check(open_server.url, SN), 50))
    failed = [(c.name, c.detail) for c in report.checks if c.passed is False]
    assert not failed, failed
    assert sum(1 for c in report.checks if c.passed) >= 25


@timed
def test_fleet_against_the_real_server(open_server, store: Store, timed: bool) -> None:
    """Fleet mode: the real run loop, keepalives on the wall clock, 40 devices for 2 s."""
    sns = serials(40, "FC-8190H")
    config = SimConfig(server=open_server.url, interval=0.5, records_per_min=60, photo_bytes=2000,
                       seed=5, record_retry_pause=0.1)
    run = asyncio.run(asyncio.wait_for(run_fleet(config, sns, 2.0), 40))
    report = run.report()
    assert report["errors"] == 0, report["endpoints"]
    assert report["endpoints"]["Keepalive"]["calls"] >= 40 * 2
    assert not timed or report["endpoints"]["Keepalive"]["p99_ms"] < ENDPOINTS["Keepalive"].device_timeout * 1000
    assert {d["sn"] for d in store.devices.list()} >= set(sns)
    for dev in run.devices:
        for rec in dev.log.history:
            assert stored_rows(store, dev.ctx.sn, rec) == 1


# ------------------------------------------------------------------ settings


def test_settings_round_trip(open_server, store: Store, db_path: str) -> None:
    """`facectl device set` -> SyncParameter -> DownloadWorkSetting -> applied -> uploaded -> `applied`."""
    from click.testing import CliRunner

    from facectl.cli.main import cli

    dev = make_device(open_server.url, interval=15)

    async def main() -> None:
        async with powered(dev):
            await drive([dev], lambda: store.settings.document(SN) is not None, "settings uploaded at boot")
            result = CliRunner().invoke(cli, ["device", "set", SN, "ReleaseTime=7", "ShortMessage=Welcome home",
                                              "HTTPClient_KeepaliveTime=20", "--db", db_path])
            assert result.exit_code == 0, result.output
            store.settings.request_change(SN, {"AlarmClocks": [{"Num": 1, "Clock": "07:30", "Times": 2}]})
            await drive([dev], lambda: {c["state"] for c in store.settings.changes(SN)} == {"applied"},
                        "every change applied", describe=lambda: store.settings.changes(SN))

    run_async(main)
    calls = list(dev.ctx.calls)
    sync = calls.index("DownloadWorkSetting")
    assert calls[sync + 1] == "UploadWorkSetting"  # applied, then uploaded again
    assert dev.ctx.stats.events.get("settings applied") == 4
    assert dev.ctx.settings["ReleaseTime"] == 7 and dev.ctx.settings["ShortMessage"] == "Welcome home"
    assert dev.ctx.interval == 20.0  # the device took its new keepalive interval
    doc = store.settings.document(SN)
    assert doc["ReleaseTime"] == 7 and doc["ShortMessage"] == "Welcome home"
    assert doc["AlarmClocks"] == [{"Num": 1, "Clock": "07:30", "Times": 2}]
    assert store.devices.get(SN)["keepalive_interval"] == 20
    changes = {c["key"]: c for c in store.settings.changes(SN)}
    assert set(changes) == {"ReleaseTime", "ShortMessage", "HTTPClient_KeepaliveTime", "AlarmClocks"}
    assert all(c["device_value"] == c["value"] for c in changes.values())
    assert not store.settings.has_pending(SN)
    assert store.settings.history(SN)[0]["changes"].keys() >= {"ReleaseTime", "ShortMessage"}


# ------------------------------------------------------------------- records


RECORD_VARIANTS = [
    Variants(gzip=g, record_json_part=j, record_photo_part=p, sn_leading_space=space, json_part_as_file=space)
    for g in GZIP_MODES for j in RECORD_JSON_PARTS for p in RECORD_PHOTO_PARTS for space in (False, True)
]


def test_records_with_photos_in_every_wire_variant(open_server, store: Store) -> None:
    """gzip none/parts/body x RecordDetail/recordJson x Photo/pic x SN with a leading space (and JSON
    parts as file parts): each record stored once, under the clean SN, with the photo bytes intact."""
    sns = serials(len(RECORD_VARIANTS), "FC-8190R")
    devices = [make_device(open_server.url, sn, variants=v, faults=Faults(duplicate_records=1.0), seed=i)
               for i, (sn, v) in enumerate(zip(sns, RECORD_VARIANTS, strict=True))]

    async def main() -> None:
        async with powered(*devices):
            for i, dev in enumerate(devices):
                dev.ctx.config.photo_bytes = 2000 + 1500 * i  # a different size per variant, up to ~37 KB
                for _ in range(3):
                    dev.records.identify_event(None)
                dev.records.identify_event(None).photo_seed = None  # and one without a photo
                dev.log.identify_backlog[-1].detail["PhotoLen"] = 0
            await drive(devices, lambda: all(backlog(d) == 0 for d in devices), "every backlog uploaded",
                        describe=lambda: {d.ctx.sn: backlog(d) for d in devices})

    run_async(main)
    assert {d["sn"] for d in store.devices.list()} == set(sns)  # no " FC-..." device
    for dev, variant in zip(devices, RECORD_VARIANTS, strict=True):
        identify = [r for r in dev.log.history if r.kind is None]
        assert len(identify) == 4, variant
        assert store.records.count(dev.ctx.sn) == len(dev.log.history), variant  # duplicates not stored
        for rec in identify:
            assert stored_rows(store, dev.ctx.sn, rec) == 1, (variant, rec.detail)
            row = store.records.get(dev.ctx.sn, rec.detail["RecordID"], "identify")
            sent = rec.photo()
            if sent is None:
                assert row["photo"] is None, variant
                continue
            assert row["photo"] is not None, variant
            _, data = store.files.get(row["photo"])
            assert md5(data) == md5(sent), variant
        assert dev.ctx.stats.events.get("fault: duplicate-records", 0) >= 4
    assert store.quarantine.count() == 0


# ------------------------------------------------------------- authorization


def test_online_authorization_allows_the_registered_and_denies_strangers(open_server, store: Store) -> None:
    """Online-auth mode (在线鉴权): each identify event asks the server first; the door opens only if allowed."""
    store.devices.add(SN)
    add_people(store, range(1, 4))
    dev = make_device(open_server.url, online_auth=True)

    async def main() -> None:
        async with powered(dev):
            await drive([dev], lambda: people_status(store, SN).get("delivered") == 3, "people delivered")
            dev.records.identify_event(2)
            dev.records.identify_event(None)
            dev.records.identify_event(None, card="77777777")
            await drive([dev], lambda: len(dev.access.auth_log) == 3 and backlog(dev) == 0, "three decisions, uploaded")

    run_async(main)
    member, stranger, card = dev.access.auth_log
    assert member.success == 1 and member.opened and member.message == "Welcome, Person 2"
    assert stranger.success == AUTH_DENY and not stranger.opened and stranger.message
    assert card.success == AUTH_DENY and not card.opened
    assert dev.ctx.calls.count("RequestAuthorization") == 3
    # stored as auth records with the decision and its reason, photo intact
    for decision, expected, words in ((member, 1, "user 2: allowed"), (stranger, 0, "unknown person"),
                                      (card, 0, "CardNum 77777777")):
        row = store.records.get(SN, decision.record.detail["RecordID"], "auth")
        assert row is not None and row["decision"] == expected, row
        assert words in row["reason"], row["reason"]
        assert md5(store.files.get(row["photo"])[1]) == md5(decision.record.photo())
        # and the event itself is logged like any other, once
        assert stored_rows(store, SN, decision.record, "identify") == 1
    # the door opened for the member only: one open/close pair of door-sensor records
    assert len(store.records.list(sn=SN, kind="door")) == 2


# -------------------------------------------------------------------- people



def test_people_sync_converges_on_the_device(open_server, store: Store) -> None:
    store.devices.add(SN)
    add_people(store, range(1, 151))
    dev = make_device(open_server.url, people_limit=40)

    async def main() -> None:
        async with powered(dev):
            await drive([dev], lambda: people_status(store, SN).get("delivered") == 150, "150 people delivered",
                        describe=lambda: people_status(store, SN))
            # deletes: the device learns on its next keepalive
            store.people.remove(range(1, 21))
            await drive([dev], lambda: people_status(store, SN).get("to_delete") == 0, "20 people deleted")

    run_async(main)
    assert dev.ctx.people.ids() == list(range(21, 151))
    assert all(p.photo is not None for p in dev.ctx.people.people.values())  # fetched, MD5 checked
    assert dev.ctx.stats.events.get("people imported") == 150
    assert "DeletePeopleList" in dev.ctx.calls
    status = people_status(store, SN)
    assert status["delivered"] == 130 and status["failed"] == 0 and status["pending"] == 0


def test_lost_results_and_restarts_mid_sync_still_converge(open_server, store: Store) -> None:
    """Every page result lost, then a restart before every report, then both at random: still converges.

    Driven step by step: each phase runs until its condition holds (bounded), so a
    slow machine makes it slower, never different.
    """
    from facectl.server.app import STORE

    # people handed out and never confirmed go out again after the server's redelivery
    # timeout (120 s); shortened here instead of waiting for it
    open_server.runner.app[STORE].people.redelivery_timeout = 0.3
    store.devices.add(SN)
    add_people(store, range(1, 61), photo_bytes=1000)
    dev = make_device(open_server.url, people_limit=20)

    def status() -> dict[str, Any]:
        return people_status(store, SN)

    async def main() -> None:
        async with powered(dev):
            # 1. every result lost: the device holds everyone, the server has no confirmation
            dev.ctx.faults = Faults(drop_result=1.0)
            await drive([dev], lambda: len(dev.ctx.people) == 60, "all 60 imported", describe=status)
            assert status()["delivered"] == 0
            # 2. redelivered (after the timeout); the device restarts before each report
            dev.ctx.faults = Faults(restart_mid_sync=1.0)
            boots = dev.boots
            await drive([dev], lambda: dev.boots >= boots + 3, "three restarts mid-sync", describe=status)
            assert status()["delivered"] == 0
            # 3. both faults at random (seeded) until everything is confirmed
            dev.ctx.faults = Faults(drop_result=0.3, restart_mid_sync=0.2)
            await drive([dev], lambda: status()["delivered"] == 60, "all 60 confirmed", timeout=30,
                        describe=lambda: (status(), dev.ctx.stats.events))

    run_async(main)
    final = status()
    assert final["delivered"] == 60 and final["failed"] == 0 and final["pending"] == 0, final
    assert dev.ctx.people.ids() == list(range(1, 61))
    assert dev.ctx.stats.events["fault: drop-result"] >= 3 and dev.ctx.stats.events["fault: restart-mid-sync"] >= 3


def test_enrolled_face_survives_an_operator_update(open_server, store: Store) -> None:
    """protocol.md 6.5: the device wipes biometrics missing from an update; the server resends them."""
    from facectl.store.people import PersonInput

    store.devices.add(SN)
    add_people(store, range(5, 6))
    command = store.commands.enqueue(SN, "RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 5})
    dev = make_device(open_server.url)

    async def main() -> None:
        async with powered(dev):
            await drive([dev], lambda: store.commands.get(command["id"])["state"] == "done"
                        and people_status(store, SN).get("delivered") == 1 and not dev.ctx.push_queue,
                        "enrolled and reported")
            person = dev.ctx.people.get(5)
            assert person is not None and person.face_feature, "enrolment did not happen"
            store.people.update(PersonInput(5, {"Name": "Renamed"}))
            await drive([dev], lambda: dev.ctx.people.get(5).detail.get("Name") == "Renamed"
                        and people_status(store, SN).get("delivered") == 1, "update delivered")

    run_async(main)
    person = dev.ctx.people.get(5)
    assert person.detail.get("Name") == "Renamed"
    assert person.face_feature, "the update erased the face enrolled at the device (protocol.md 6.5)"
