"""A steady keepalive writes nothing; what matters is still written at once (store/live.py).

The first tests drive `LiveDevices` on a real database and count the connection's own
writes (`total_changes`); the others go through the real server, with a second
connection playing the CLI in another process.
"""

from __future__ import annotations

from conftest import SN, DeviceClient, LiveServer, _serve

from facectl.protocol import responses
from facectl.store import Store
from facectl.store.live import LiveDevices

STEADY = {"RelayStatus": 0, "KeepOpenStatus": 0, "DoorSensorStatus": 0, "LockDoorStatus": 0, "AlarmStatus": ""}


def _live(store: Store) -> LiveDevices:
    store.devices.add(SN)
    store.settings.upload(SN, {"DeviceSN": SN})  # settings held: no UploadWorkParameter flag
    return LiveDevices(store)


def _beat(live: LiveDevices, **status: object) -> dict[str, int]:
    assert live.contact(SN, "127.0.0.1", "Keepalive", False).state == "approved"
    return live.keepalive(SN, {**STEADY, **status})


def test_steady_keepalive_writes_nothing_until_the_flush(store: Store) -> None:
    live = _live(store)
    assert _beat(live) == {}  # first contact: online, door state stored
    before = store.db.conn.total_changes
    seen = store.devices.get(SN)["last_seen"]
    for _ in range(5):
        assert _beat(live) == {}
    assert store.db.conn.total_changes == before
    assert store.devices.get(SN)["last_seen"] == seen
    assert live.flush() == 2  # the contact and the keepalive time, one transaction
    assert store.devices.get(SN)["last_seen"] > seen
    assert live.flush() == 0


def test_a_changed_door_state_is_written_at_once_with_its_alarm_event_once(store: Store) -> None:
    live = _live(store)
    _beat(live)
    _beat(live, DoorSensorStatus=1, AlarmStatus="fire")
    _beat(live, DoorSensorStatus=1, AlarmStatus="fire")
    row = store.devices.get(SN)
    assert (row["door_sensor_status"], row["alarm_status"]) == (1, "fire")
    assert [e["type"] for e in store.events.after(types=["alarm"])] == ["alarm.raised"]
    _beat(live, DoorSensorStatus=1)
    assert [e["type"] for e in store.events.after(types=["alarm"])] == ["alarm.raised", "alarm.cleared"]


def test_work_queued_by_another_process_is_seen_at_the_next_keepalive(store: Store, db_path: str) -> None:
    live = _live(store)
    assert _beat(live) == {}
    cli = Store(db_path)
    try:
        cli.commands.enqueue(SN, "RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1})
        assert _beat(live) == {"Remote": 1}
        cli.devices.set_state(SN, "blocked")
        assert live.contact(SN, None, "Keepalive", False).state == "blocked"
    finally:
        cli.close()


def test_a_device_back_after_the_offline_sweep_is_online_again(store: Store) -> None:
    live = _live(store)
    _beat(live)
    assert store.events.sweep(at=store.devices.get(SN)["last_seen"] + 10_000) == 1
    _beat(live)
    assert [e["type"] for e in store.events.after(types=["device"])] == [
        "device.online", "device.offline", "device.online"]


def test_unknown_device_is_stored_pending_at_first_contact(server: LiveServer, store: Store) -> None:
    client = DeviceClient(server.port, sn="FC-NEW0000000001")
    try:
        assert client.keepalive().json["Success"] == responses.NOT_ACTIVATED
        assert store.devices.get("FC-NEW0000000001")["state"] == "pending"
        store.devices.set_state("FC-NEW0000000001", "approved")  # the CLI, another connection
        assert client.keepalive().json["Success"] == 1
        store.devices.set_state("FC-NEW0000000001", "blocked")
        assert client.keepalive().json["Success"] == responses.BLOCKED
    finally:
        client.close()


def test_last_contact_is_written_when_the_server_stops(db_path: str, store: Store) -> None:
    store.devices.add(SN)
    serving = _serve(db_path)
    server = next(serving)
    client = DeviceClient(server.port)
    try:
        client.keepalive()
        first = store.devices.get(SN)["last_seen"]
        client.keepalive()
        assert client.post_json("/Device/UploadWorkSetting", {"DeviceSN": SN}).json["Success"] == 1
    finally:
        client.close()
        serving.close()  # stops the server
    row = store.devices.get(SN)
    assert row["last_seen"] >= first and row["last_endpoint"] == "UploadWorkSetting"
