"""Every remote command, queued in the store, through the real server to a simulated device and back.

Each command is queued as the CLI queues it (store.commands / protocol.commands),
the device is driven until the store shows the command's final state — *done*
for commands the device answers with a call of its own (Snapshoot,
RegisterIdentifyTicket, PushAllPeople, QueryPeople), *sent* for the others, for
which the protocol has no acknowledgement — and the device's effect is checked
where it shows: the next keepalive's door state in store.devices, the records it
uploads, the people it pushes, the settings it uploads after a firmware update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_sim_e2e import SN, add_people, backlog, drive, make_device, md5, people_status, powered, run_async

from facectl.protocol import commands as rules
from facectl.sim.codes import (
    ALARM_CLEARED,
    PUSH_QUERIED,
    PUSH_UPDATED,
    RESULT_NO_FINGERPRINT,
    RESULT_OK,
    SYS_CLOSE,
    SYS_FORMATTED,
    SYS_KEEP_OPEN,
    SYS_LOCK,
    SYS_OPEN,
    SYS_POWER_ON,
    SYS_RECORDS_DELETED,
    SYS_UNLOCK,
)
from facectl.sim.device import SimDevice
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store

pytestmark = [
    pytest.mark.timeout(60),
]


def system_events(store: Store, kind: str = "system") -> list[int]:
    """RecordType of the stored system (or door) records, oldest first."""
    return [r[0] for r in store.db.execute(
        "SELECT record_type FROM records WHERE sn = ? AND kind = ? ORDER BY record_date, record_id", [SN, kind])]


async def command(dev: SimDevice, store: Store, field: str, value: Any, until: Callable[[], Any] = lambda: True,
                  state: str = "sent", what: str = "") -> dict[str, Any]:
    """Queue one command and drive the device until the store shows `state` and `until()` holds."""
    row = store.commands.enqueue(SN, field, value)

    def current() -> dict[str, Any]:
        return store.commands.get(row["id"]) or {}

    await drive([dev], lambda: current().get("state") == state and until(),
                what or f"{field} {value!r} {state}", describe=lambda: (current(), dev.ctx.stats.events))
    return current()


def door(store: Store) -> dict[str, Any]:
    row = store.devices.get(SN) or {}
    return {k: row.get(k) for k in ("relay_status", "keep_open_status", "door_sensor_status", "lock_door_status",
                                    "alarm_status")}


def ready_device(url: str, store: Store, people: int = 0) -> SimDevice:
    store.devices.add(SN)
    if people:
        add_people(store, range(1, people + 1))
    dev = make_device(url)
    # a long relay pulse, so the next keepalive shows it however slow this machine is
    dev.ctx.settings["ReleaseTime"] = 600
    return dev


async def boot(dev: SimDevice, store: Store, people: int = 0) -> None:
    await drive([dev], lambda: store.settings.document(SN) is not None and backlog(dev) == 0
                and people_status(store, SN).get("delivered", 0) == people, "booted, people delivered")


def test_opendoor_1_to_5_show_in_the_next_keepalive(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store)
    seen: dict[str, dict[str, Any]] = {}

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store)
            assert door(store) == {"relay_status": 0, "keep_open_status": 0, "door_sensor_status": 0,
                                   "lock_door_status": 0, "alarm_status": ""}
            for action, expect in (
                ("open", {"relay_status": 1, "door_sensor_status": 1}),
                ("hold-open", {"keep_open_status": 1, "relay_status": 1}),
                ("close", {"keep_open_status": 0, "relay_status": 0, "door_sensor_status": 0}),
                ("lock", {"lock_door_status": 1}),
                ("unlock", {"lock_door_status": 0}),
            ):
                field, value = rules.opendoor(action)
                await command(dev, store, field, value,
                              lambda e=expect: all(door(store)[k] == v for k, v in e.items()) and backlog(dev) == 0,
                              what=f"Opendoor {value} ({action}) in the next keepalive")
                seen[action] = door(store)

    run_async(main)
    assert seen["unlock"] == {"relay_status": 0, "keep_open_status": 0, "door_sensor_status": 0,
                              "lock_door_status": 0, "alarm_status": ""}
    assert [c["state"] for c in store.commands.list(SN)] == ["sent"] * 5
    # the device logged each action as a system record, uploaded once
    assert system_events(store) == [SYS_POWER_ON, SYS_OPEN, SYS_KEEP_OPEN, SYS_CLOSE, SYS_LOCK, SYS_UNLOCK]
    assert len(system_events(store, "door")) == 2  # the pulse: door sensor open, then closed


def test_closealarm_clears_what_the_keepalive_reported(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store)

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store)
            dev.door.alarms[:] = ["fire", "doorSensor"]  # the building's fire alarm, a forced door
            await drive([dev], lambda: door(store)["alarm_status"] == "fire,doorSensor", "alarms reported")
            await command(dev, store, rules.CLOSEALARM, 1,
                          lambda: door(store)["alarm_status"] == "" and backlog(dev) == 0, what="alarms cleared")

    run_async(main)
    assert dev.door.alarms == []
    assert system_events(store)[-2:] == [ALARM_CLEARED["fire"], ALARM_CLEARED["doorSensor"]]


def test_repost_and_clear_records(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store)
    counts: dict[str, int] = {}

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store)
            for _ in range(5):
                dev.records.identify_event(None)
            await drive([dev], lambda: backlog(dev) == 0, "records uploaded")
            counts["before"] = store.records.count(SN)
            uploads = dev.ctx.stats.endpoint("UploadIdentifyRecord").calls
            # RepostRecord: everything uploaded again, nothing stored twice
            await command(dev, store, rules.REPOST_RECORD, 1,
                          lambda: backlog(dev) == 0 and dev.ctx.stats.events.get("remote: RepostRecord"))
            counts["reposted"] = dev.ctx.stats.endpoint("UploadIdentifyRecord").calls - uploads
            counts["after repost"] = store.records.count(SN)
            # ClearRecord: what the device had not uploaded yet is gone; the deletion is logged
            lost = [dev.records.identify_event(None) for _ in range(3)]
            await command(dev, store, rules.CLEAR_RECORD, 1,
                          lambda: backlog(dev) == 0 and SYS_RECORDS_DELETED in system_events(store))
            counts["lost"] = sum(store.records.get(SN, r.detail["RecordID"], "identify") is not None for r in lost)

    run_async(main)
    assert counts["reposted"] == 5
    assert counts["after repost"] == counts["before"] == 6  # five records and the power-on record
    assert counts["lost"] == 0
    assert store.records.count(SN) == 7


def test_people_commands_push_all_query_and_enrol(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store, people=3)
    rows: dict[str, dict[str, Any]] = {}

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store, people=3)
            rows["all"] = await command(dev, store, rules.PUSH_ALL_PEOPLE, 1,
                                        lambda: len(store.people.reports(SN)) == 3 and not dev.ctx.push_queue,
                                        state="done")
            rows["query"] = await command(dev, store, rules.QUERY_PEOPLE, [2, 999], state="done")
            field, ticket = rules.register_ticket("face", 3)
            rows["face"] = await command(dev, store, field, ticket, lambda: not dev.ctx.push_queue, state="done")
            field, ticket = rules.register_ticket("fingerprint", 1, 0)
            rows["finger"] = await command(dev, store, field, ticket, state="failed")

    run_async(main)
    assert [f["endpoint"] for f in store.commands.followups(rows["all"]["id"])] == ["PushPeople"] * 3
    assert rows["query"]["progress"] == [2, 999]
    reports = {r["user_id"]: r for r in store.people.reports(SN)}
    assert reports[999]["present"] == 0 and reports[999]["push_type"] == PUSH_QUERIED  # not on the device
    assert all(reports[uid]["present"] == 1 for uid in (1, 2, 3))
    # the face enrolled at the device: result linked, the enrolled person pushed, the face kept by the server
    (followup,) = store.commands.followups(rows["face"]["id"])
    assert followup["endpoint"] == "RegisterIdentifyTicketResult" and followup["detail"]["Result"] == RESULT_OK
    assert reports[3]["push_type"] == PUSH_UPDATED
    faces = [b for b in store.people.biometrics(3) if b["source_sn"] == SN]
    assert faces and dev.ctx.people.get(3).face_feature
    # no fingerprint reader on this model: the ticket fails with the device's reason
    assert rows["finger"]["note"].startswith("device: fingerprint not supported"), rows["finger"]
    enrolments = {e["user_id"]: e["result"] for e in store.people.enrolment_results(SN)}
    assert enrolments == {3: RESULT_OK, 1: RESULT_NO_FINGERPRINT}


def test_snapshot_arrives_byte_for_byte(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store)

    async def main() -> dict[str, Any]:
        async with powered(dev):
            await boot(dev, store)
            return await command(dev, store, rules.SNAPSHOT, 1, state="done")

    row = run_async(main)
    (followup,) = store.commands.followups(row["id"])
    _, data = store.files.get(followup["detail"]["photo"])
    assert md5(data) == md5(dev.remote.last_snapshot)
    assert store.snapshots.latest(SN)["photo"] == followup["detail"]["photo"]


def test_firmware_and_screen_images_are_downloaded_and_checked(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store)
    firmware = b"FCARD firmware image " * 4000
    image = make_jpeg(20000, 42)
    firmware_sha = store.files.put(firmware).sha256
    image_sha = store.files.put(image, "image/jpeg").sha256
    boots: list[int] = []

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store)
            boots.append(dev.boots)
            field, value = rules.system_file(rules.FILE_TYPE_STANDBY, 2, image_sha)
            await command(dev, store, field, value, lambda: (1, 2) in dev.remote.system_files)
            field, value = rules.system_file(rules.FILE_TYPE_STANDBY, 2, None)
            await command(dev, store, field, value, lambda: (1, 2) not in dev.remote.system_files)
            # the device takes the firmware (MD5 checked), restarts into it, and reports it
            field, value = rules.push_software(firmware_sha, "9.99")
            await command(dev, store, field, value,
                          lambda: (store.devices.get(SN) or {}).get("firmware") == "9.99")
            boots.append(dev.boots)

    run_async(main)
    assert dev.ctx.stats.events.get("firmware: updated") == 1
    assert "system file: download or MD5 failed" not in dev.ctx.stats.events
    assert boots[1] == boots[0] + 1
    assert store.settings.document(SN)["FirmwareVerson"] == "9.99"


def test_elevator_ports(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store)

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store)
            # three fields naming different ports: one answer
            for action, ports in (("open", "1,2"), ("hold-open", "3,4"), ("lock", "5")):
                store.commands.enqueue(SN, *rules.elevator(action, ports))
            await drive([dev], lambda: {c["state"] for c in store.commands.list(SN)} == {"sent"},
                        "three elevator commands sent")
            assert len({c["batch"] for c in store.commands.list(SN)}) == 1
            assert dev.door.elevator == {"keep_open": {3, 4}, "locked": {5}}
            await command(dev, store, *rules.elevator("close", "3"), lambda: dev.door.elevator["keep_open"] == {4})
            await command(dev, store, *rules.elevator("unlock", "5"), lambda: dev.door.elevator["locked"] == set())

    run_async(main)
    for field in rules.ELEVATOR_FIELDS:
        assert dev.ctx.stats.events.get(f"remote: {field}", 0) >= 1, field


def test_restart_and_factory_reset(open_server, store: Store) -> None:
    dev = ready_device(open_server.url, store, people=5)
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store, people=5)
            uploaded = store.settings.uploaded_at(SN)
            await command(dev, store, rules.RESTART, 1,
                          lambda: system_events(store).count(SYS_POWER_ON) == 2
                          and store.settings.uploaded_at(SN) > uploaded)
            seen["boots after restart"] = dev.boots
            seen["people after restart"] = len(dev.ctx.people)
            seen["imports before reset"] = dev.ctx.stats.events["people imported"]
            # the factory settings (ReleaseTime 3, not the 600 set above) reach the server
            await command(dev, store, rules.RECOVER, 1,
                          lambda: SYS_FORMATTED in system_events(store) and backlog(dev) == 0
                          and store.settings.document(SN)["ReleaseTime"] == 3)
            await drive([dev], lambda: len(dev.ctx.people) == 5 and people_status(store, SN)["delivered"] == 5,
                        "people back on the device")

    run_async(main)
    assert seen["boots after restart"] == 2 and dev.boots == 3
    # a restart keeps the people; the factory reset wiped them and the server sent them again
    assert seen["people after restart"] == 5 and seen["imports before reset"] == 5
    assert dev.ctx.stats.events["people imported"] == 10
    assert system_events(store).count(SYS_POWER_ON) == 3


def test_people_come_back_after_a_factory_reset(open_server, store: Store) -> None:
    """Recover wipes the device's people; the server counts them undelivered and sends them again by itself."""
    dev = ready_device(open_server.url, store, people=5)
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with powered(dev):
            await boot(dev, store, people=5)
            seen["imports before"] = dev.ctx.stats.events["people imported"]
            await command(dev, store, rules.RECOVER, 1, lambda: SYS_FORMATTED in system_events(store))
            # well inside the server's 120 s redelivery timeout: no operator, no timeout involved
            await drive([dev], lambda: len(dev.ctx.people) == 5 and people_status(store, SN)["delivered"] == 5,
                        "people resent without an operator", timeout=5, describe=lambda: people_status(store, SN))

    run_async(main)
    assert dev.ctx.people.ids() == [1, 2, 3, 4, 5]
    assert dev.ctx.stats.events["people imported"] - seen["imports before"] == 5  # each sent again, once
    status = people_status(store, SN)
    assert status["failed"] == 0 and status["pending"] == 0 and status["in_flight"] == 0, status
    # the device's factory settings reached the server after the reset (ReleaseTime was 600)
    assert store.settings.document(SN)["ReleaseTime"] == 3
