"""The simulator against the real server (tests/conftest.py runs it on a loopback port).

The simulated device is the client; the server and its store are the real ones.
State is checked through the test's own Store on the same database, as the CLI
does. Flows whose server handlers do not exist yet are skipped, not faked, so
these tests tighten by themselves as the server grows.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from facectl.protocol.endpoints import ENDPOINTS
from facectl.server.registry import HANDLERS
from facectl.sim.check import run_check
from facectl.sim.config import Faults, SimConfig
from facectl.sim.device import KIND_DOOR, SimDevice
from facectl.sim.fleet import run_fleet, serials
from facectl.store import Store

pytestmark = pytest.mark.timeout(60)

SN = "FC-8190H24052799"


def run_device(url: str, seconds: float, sn: str = SN, **options: Any) -> SimDevice:
    options.setdefault("seed", 11)
    options.setdefault("record_retry_pause", 0.1)

    async def main() -> SimDevice:
        dev = SimDevice(sn, SimConfig(server=url, **options))
        await dev.run(None, asyncio.get_running_loop().time() + seconds)
        return dev

    return asyncio.run(asyncio.wait_for(main(), seconds + 30))


def _kind(rec) -> str:
    if rec.kind is None:
        return "identify"
    return "door" if rec.kind == KIND_DOOR else "system"


def test_device_boots_and_its_records_are_stored_once(open_server, store: Store) -> None:
    dev = run_device(open_server.url, 2.5, interval=0.5, records_per_min=300, photo_bytes=3000,
                     faults=Faults(duplicate_records=0.5, timeout=0.1, quirky_json=0.3))
    assert dev.stats.missed_keepalives == 0
    assert dev.stats.endpoint("Keepalive").ok >= 4
    doc = store.settings.document(SN)
    # (the server keeps the document as sent: a padded DeviceSN from the quirky-json fault stays)
    assert doc is not None and doc["DeviceSN"].strip() == SN and "FirmwareVerson" in doc
    row = store.devices.get(SN)
    assert row is not None and row["state"] == "approved"
    acknowledged = list(dev.history)
    assert len(acknowledged) >= 5
    for rec in acknowledged:
        assert store.records.get(SN, rec.detail["RecordID"], _kind(rec)) is not None, rec.detail
    # retries and injected duplicates were acknowledged without a second row
    assert store.records.count(SN) <= len(acknowledged) + len(dev.identify_backlog) + sum(
        len(q) for q in dev.system_backlog.values())
    assert dev.stats.events.get("fault: duplicate-records", 0) > 0


def test_unapproved_device_stays_quiet_until_approved(server, store: Store) -> None:
    dev = run_device(server.url, 1.3, interval=0.4, records_per_min=600)
    assert set(dev.stats.endpoints) == {"Keepalive"}  # 401: nothing but keepalives
    assert dev.stats.endpoint("Keepalive").calls >= 3
    assert store.devices.get(SN)["state"] == "pending"
    assert store.records.count(SN) == 0
    store.devices.set_state(SN, "approved")
    dev = run_device(server.url, 1.0, interval=0.4, records_per_min=600)
    assert dev.calls[0] == "Keepalive" and dev.calls[1] == "UploadWorkSetting"
    assert store.settings.document(SN) is not None
    assert store.records.count(SN) > 0


@pytest.mark.skipif("RemoteCommand" not in HANDLERS, reason="server has no RemoteCommand yet")
def test_door_command_and_snapshot_reach_the_server(open_server, store: Store) -> None:
    store.devices.add(SN)
    store.commands.enqueue(SN, "Opendoor", 2)
    store.commands.enqueue(SN, "Snapshoot", 1)
    dev = run_device(open_server.url, 1.6, interval=0.5)
    assert "RemoteCommand" in dev.calls and "UploadSnapshoot" in dev.calls
    assert dev.keep_open == 1
    assert store.devices.get(SN)["keep_open_status"] == 1  # shown in the next keepalive
    assert store.snapshots.latest(SN) is not None
    states = {c["field"]: c["state"] for c in store.commands.list(SN)}
    assert states["Snapshoot"] == "done" and states["Opendoor"] in ("sent", "done")


def test_conformance_check_passes_what_the_server_implements(open_server) -> None:
    report = asyncio.run(asyncio.wait_for(run_check(open_server.url, SN), 50))
    missing = [name for name in ENDPOINTS if name not in HANDLERS]
    failed = [c for c in report.checks if c.passed is False]
    unexplained = [(c.name, c.detail) for c in failed
                   if not any(name in c.name or name in c.detail for name in missing)]
    assert not unexplained, unexplained
    assert sum(1 for c in report.checks if c.passed) >= 25


def test_fleet_against_the_real_server(open_server, store: Store) -> None:
    sns = serials(40, "FC-8190H")
    config = SimConfig(server=open_server.url, interval=0.5, records_per_min=60, photo_bytes=2000,
                       seed=5, record_retry_pause=0.1)
    run = asyncio.run(asyncio.wait_for(run_fleet(config, sns, 2.0), 40))
    report = run.report()
    assert report["missed_keepalive_deadlines"] == 0
    assert report["errors"] == 0, report["endpoints"]
    assert report["endpoints"]["Keepalive"]["calls"] >= 40 * 3
    assert report["endpoints"]["Keepalive"]["p99_ms"] < ENDPOINTS["Keepalive"].device_timeout * 1000
    assert {d["sn"] for d in store.devices.list()} >= set(sns)


needs_people = pytest.mark.skipif(
    not {"DownloadPeopleList", "DeletePeopleList", "DownloadPeopleListResult"} <= set(HANDLERS),
    reason="server has no people endpoints yet")


def _add_people(store: Store, uids: range, photo_bytes: int = 3000) -> None:
    from facectl.sim.jpeg import make_jpeg
    from facectl.store.people import PersonInput

    store.people.save_many([PersonInput(uid, {"Name": f"Person {uid}", "CardNum": str(10_000 + uid)},
                                        photo=make_jpeg(photo_bytes, uid)) for uid in uids])


@needs_people
def test_people_sync_converges_on_the_device(open_server, store: Store) -> None:
    store.devices.add(SN)
    _add_people(store, range(1, 151))
    dev = run_device(open_server.url, 2.0, interval=0.5, people_limit=40)
    assert dev.people.ids() == list(range(1, 151))
    assert all(p.photo is not None for p in dev.people.people.values())  # fetched, MD5 checked
    assert dev.stats.events.get("people imported") == 150
    (status,) = store.people.status(SN)
    assert status["delivered"] == 150 and status["failed"] == 0 and status["pending"] == 0
    # deletes: the device learns on its next keepalive
    store.people.remove(range(1, 21))
    dev2 = run_device(open_server.url, 1.2, interval=0.4, people_limit=40)
    assert "DeletePeopleList" in dev2.calls
    (status,) = store.people.status(SN)
    assert status["to_delete"] == 0


@needs_people
def test_lost_results_and_restarts_mid_sync_still_converge(open_server, store: Store) -> None:
    from facectl.server.app import STORE

    # people handed out and never confirmed go out again after the server's redelivery
    # timeout (120 s); shortened here instead of waiting for it
    open_server.runner.app[STORE].people.redelivery_timeout = 0.3
    store.devices.add(SN)
    _add_people(store, range(1, 61), photo_bytes=1000)
    dev = run_device(open_server.url, 2.5, interval=0.5, people_limit=20,
                     faults=Faults(drop_result=0.3, restart_mid_sync=0.2))
    assert dev.stats.events.get("fault: drop-result", 0) + dev.stats.events.get(
        "fault: restart-mid-sync", 0) > 0
    # a clean device session afterwards: everything handed out again is confirmed
    run_device(open_server.url, 2.0, interval=0.5, people_limit=20)
    (status,) = store.people.status(SN)
    assert status["delivered"] == 60, status


@needs_people
@pytest.mark.skipif("RegisterIdentifyTicketResult" not in HANDLERS, reason="no enrolment endpoint yet")
def test_enrolled_face_survives_an_operator_update(open_server, store: Store) -> None:
    """Errata 6.5: the device wipes biometrics missing from an update; the server resends them."""
    from facectl.store.people import PersonInput

    store.devices.add(SN)
    _add_people(store, range(5, 6))
    store.commands.enqueue(SN, "RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 5})

    async def main() -> SimDevice:
        dev = SimDevice(SN, SimConfig(server=open_server.url, interval=0.5, seed=3))
        loop = asyncio.get_running_loop()
        await dev.run(None, loop.time() + 1.5)
        assert dev.people.get(5).face_feature, "enrolment did not happen"
        store.people.update(PersonInput(5, {"Name": "Renamed"}))
        await dev.run(None, loop.time() + 1.5)
        return dev

    dev = asyncio.run(asyncio.wait_for(main(), 30))
    person = dev.people.get(5)
    assert person.detail.get("Name") == "Renamed"
    assert person.face_feature, "the update erased the face enrolled at the device (errata 6.5)"
