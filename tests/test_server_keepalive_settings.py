"""Keepalive flags and the settings round trip (protocol.md 1.1, 1.3, 3.1, 3.7, 3.8, 5.4, 6.1, 6.2)."""

from __future__ import annotations

import gzip
import json

from conftest import EXAMPLES, SN, DeviceClient, settings_document

from facectl.store import Store


def test_keepalive_example_with_trailing_comma_records_door_state(approved: DeviceClient, store: Store) -> None:
    body = (EXAMPLES / "Keepalive.json").read_bytes()
    assert b",}" in body.replace(b" ", b"").replace(b"\n", b"").replace(b"\t", b"")
    reply = approved.post("/Device/Keepalive", body)
    assert reply.json["Success"] == 1
    row = store.devices.get(SN)
    assert row["relay_status"] == 0 and row["door_sensor_status"] == 0
    assert row["alarm_status"] == ""


def test_keepalive_records_relay_keep_open_sensor_lock_and_alarms(approved: DeviceClient, store: Store) -> None:
    approved.keepalive(RelayStatus=1, KeepOpenStatus=1, DoorSensorStatus=1, LockDoorStatus=1,
                       AlarmStatus="fire, blacklist")
    row = store.devices.get(SN)
    assert (row["relay_status"], row["keep_open_status"], row["door_sensor_status"],
            row["lock_door_status"]) == (1, 1, 1, 1)
    assert row["alarm_status"] == "fire,blacklist"
    assert row["online"] is True


def test_device_without_settings_is_asked_to_upload_them(approved: DeviceClient) -> None:
    """protocol.md 1.3: boot sequence; the server has no settings -> UploadWorkParameter."""
    assert approved.keepalive().json == {"Success": 1, "UploadWorkParameter": 1}


def test_upload_settings_example_stores_document_and_derives_summary(approved: DeviceClient, store: Store) -> None:
    body = (EXAMPLES / "UploadWorkSetting.json").read_bytes()
    assert approved.post("/Device/UploadWorkSetting", body).json == {"Success": 1}
    doc = store.settings.document(SN)
    assert doc["DeviceSN"] == SN  # protocol.md 3.8: the last DeviceSN wins
    assert doc["AlarmStatus"] == ""  # protocol.md 3.7: '""' means empty
    row = store.devices.get(SN)
    assert (row["firmware"], row["face_version"], row["keepalive_interval"], row["protocol_type"],
            row["person_capacity"]) == ("8.46", "6.01", 30, 100, 20000)
    assert approved.keepalive().json == {"Success": 1}


def test_whole_body_gzip_upload(approved: DeviceClient, store: Store) -> None:
    """protocol.md 6.2: UploadWorkSetting with Content-Encoding: gzip, as mongoose 6.18 sends it."""
    body = (EXAMPLES / "UploadWorkSetting.json.gz").read_bytes()
    reply = approved.post("/Device/UploadWorkSetting", body,
                          headers={"Content-Encoding": "gzip", "User-Agent": "mongoose 6.18"})
    assert reply.json == {"Success": 1}
    assert store.settings.document(SN)["FirmwareVerson"] == "8.46"


def test_settings_history_records_what_changed(approved: DeviceClient, store: Store) -> None:
    doc = settings_document()
    approved.post_json("/Device/UploadWorkSetting", doc)
    doc["Volume"] = 2
    approved.post_json("/Device/UploadWorkSetting", doc)
    history = store.settings.history(SN)
    assert history[0]["changes"] == {"Volume": [6, 2]}


def test_refresh_asks_for_upload_until_it_arrives(approved: DeviceClient, store: Store) -> None:
    approved.post_json("/Device/UploadWorkSetting", settings_document())
    store.devices.request_settings(SN)
    assert approved.keepalive().json.get("UploadWorkParameter") == 1
    approved.post_json("/Device/UploadWorkSetting", settings_document())
    assert "UploadWorkParameter" not in approved.keepalive().json


def test_pending_change_is_flagged_delivered_once_and_verified(approved: DeviceClient, store: Store) -> None:
    approved.post_json("/Device/UploadWorkSetting", settings_document())
    store.settings.request_change(SN, {"Volume": 3, "DeviceName": "Lobby"})
    assert approved.keepalive().json == {"Success": 1, "SyncParameter": 1}

    answer = approved.post_json("/Device/DownloadWorkSetting").json
    assert answer["Success"] == 1
    assert answer["Volume"] == 3 and answer["DeviceName"] == "Lobby"
    assert answer["DeviceSN"] == SN
    for read_only in ("RunDays", "FirmwareVerson", "PeopleStorageInfo", "FunctionList", "AlarmStatus"):
        assert read_only not in answer  # protocol.md 5.4
    assert answer["TimeGroups"] == settings_document()["TimeGroups"]

    assert approved.keepalive().json == {"Success": 1}  # cleared once delivered
    applied = settings_document()
    applied["Volume"] = 3  # the device took Volume but not DeviceName
    approved.post_json("/Device/UploadWorkSetting", applied)
    states = {c["key"]: (c["state"], c["device_value"]) for c in store.settings.changes(SN)}
    assert states == {"Volume": ("applied", 3), "DeviceName": ("not_applied", "")}


def test_flags_follow_the_document_priority(approved: DeviceClient, store: Store) -> None:
    """protocol.md 1.1: UploadWorkParameter > Remote > SyncParameter > DeletePeople > AddPeople."""
    approved.post_json("/Device/UploadWorkSetting", settings_document())
    store.settings.request_change(SN, {"Volume": 1})
    store.devices.request_settings(SN)
    reply = approved.keepalive()
    keys = [k for k in json.loads(reply.body) if k != "Success"]
    assert keys[:2] == ["UploadWorkParameter", "SyncParameter"]


def test_large_answers_are_gzip_when_accepted(approved: DeviceClient) -> None:
    approved.post_json("/Device/UploadWorkSetting", settings_document())
    reply = approved.post("/Device/DownloadWorkSetting", json.dumps({"SN": SN}).encode(),
                          headers={"Accept-Encoding": "gzip"})
    assert reply.headers.get("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(reply.body))["Success"] == 1
