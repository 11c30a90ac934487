"""The event outbox: each cause stored once makes one event, in the same transaction, read by `facectl events`.

Devices talk to the real server on a loopback port as terminals do; events are
checked through the store (the same database file) and through the CLI.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

from click.testing import CliRunner
from conftest import SN, DeviceClient, LiveServer
from test_server_records import PHOTO, upload

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.store import Store
from facectl.store.events import TYPES
from facectl.store.people import PersonInput


def events(store: Store, event_type: str | None = None) -> list[dict[str, Any]]:
    """The stored events, each checked against the one schema (TYPES): exactly its type's fields."""
    found = store.events.after(0, 10_000, [event_type] if event_type else ())
    for event in found:
        assert set(event) - {"id", "type", "sn", "time"} == set(TYPES[event["type"]]), event
    return found


def test_a_record_sent_three_times_makes_one_event_with_name_outcome_and_photo(
        approved: DeviceClient, store: Store) -> None:
    for _ in range(3):
        assert upload(approved, record_id=7).json == {"Success": 1}
    found = events(store, "record")
    assert len(found) == 1
    event = found[0]
    assert event["type"] == "record.identify" and event["sn"] == SN
    assert event["record_id"] == 7 and event["record_type"] == 3 and event["record_date"] == 1718616771
    assert event["user_id"] == "1" and event["name"] == "张三" and event["outcome"] == "granted"
    photo = store.records.get(SN, 7)["photo"]
    assert event["photo_sha256"] == photo and store.files.get(photo)[1] == PHOTO
    assert event["time"].endswith("Z")


def test_refused_record_and_name_from_the_people_list(approved: DeviceClient, store: Store) -> None:
    """A record without a Name gets the person's name from the store; type 19 (unregistered) is refused."""
    store.people.save_many([PersonInput(42, {"Name": "Ada"})], mode="add")
    body = json.dumps({"RecordID": 8, "RecordType": 17, "RecordDate": 1718616800, "UserID": "42"})
    assert upload(approved, record_id=8, body=body).json == {"Success": 1}
    body = json.dumps({"RecordID": 9, "RecordType": 19, "RecordDate": 1718616801, "UserID": "0"})
    assert upload(approved, record_id=9, body=body).json == {"Success": 1}
    first, second = events(store, "record.identify")
    assert (first["name"], first["outcome"]) == ("Ada", "refused")
    assert (second["name"], second["outcome"]) == (None, "refused")


def test_door_and_system_records_are_events(approved: DeviceClient, store: Store) -> None:
    doc = {"RecordType": 1, "Records": [{"RecordID": 1, "RecordType": 1, "RecordDate": 1718616771},
                                        {"RecordID": 2, "RecordType": 2, "RecordDate": 1718616772}]}
    for _ in range(2):  # the retry stores nothing and makes no event
        assert approved.post_json("/Record/UploadSystemRecord", doc).json == {"Success": 1}
    system = {"RecordType": 2, "Records": [{"RecordID": 1, "RecordType": 1, "RecordDate": 1718616773}]}
    assert approved.post_json("/Record/UploadSystemRecord", system).json == {"Success": 1}
    assert [(e["type"], e["record_id"]) for e in events(store, "record")] == [
        ("record.door", 1), ("record.door", 2), ("record.system", 1)]


def test_authorization_decision_is_an_event(approved: DeviceClient, store: Store) -> None:
    detail = {"RecordID": 30, "RecordType": 3, "RecordDate": int(time.time()), "UserID": "999", "CardNum": "0",
              "IsEntry": 1, "PhotoLen": 0}
    parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", json.dumps(detail))]
    assert approved.post_parts("/Device/RequestAuthorization", parts).json["Success"] == 0
    (event,) = events(store, "record.auth")
    assert event["record_id"] == 30 and event["decision"] == 0 and event["outcome"] == "refused"
    assert event["decision_label"] == "deny" and event["reason"]


def test_online_once_alarms_raised_and_cleared_offline_by_the_sweep(approved: DeviceClient, store: Store) -> None:
    approved.keepalive()
    approved.keepalive()
    assert [e["type"] for e in events(store)] == ["device.online"]
    approved.keepalive(AlarmStatus="fire,anti")
    approved.keepalive(AlarmStatus="anti")
    approved.keepalive(AlarmStatus="anti")
    approved.keepalive(AlarmStatus="")
    assert [(e["type"], e["alarm"]) for e in events(store, "alarm")] == [
        ("alarm.raised", "anti"), ("alarm.raised", "fire"), ("alarm.cleared", "fire"), ("alarm.cleared", "anti")]
    assert events(store, "alarm.raised")[1]["label"] == "fire alarm"

    assert store.events.sweep() == 0  # it just called: still online
    last_seen = store.devices.get(SN)["last_seen"]
    assert store.events.sweep(at=last_seen + 2 * 30 + 6) == 1  # two intervals plus slack: offline
    assert store.events.sweep(at=last_seen + 1000) == 0  # once
    (offline,) = events(store, "device.offline")
    assert offline["keepalive_interval"] is None and offline["last_seen"].endswith("Z")
    approved.keepalive()
    assert [e["type"] for e in events(store, "device")] == ["device.online", "device.offline", "device.online"]


def test_a_pending_device_makes_no_online_event(server: LiveServer, store: Store) -> None:
    client = DeviceClient(server.port, "FC-1234567")
    assert client.keepalive().json["Success"] == 401
    client.close()
    assert events(store) == []


def test_a_person_the_device_could_not_take_is_one_event(approved: DeviceClient, store: Store) -> None:
    store.people.save_many([PersonInput(5, {"Name": "Bo"}), PersonInput(6, {"Name": "Cy"})], mode="add")
    assert approved.keepalive().json["AddPeople"] == 1
    page = approved.post_json("/People/DownloadPeopleList", {"Limit": 100}).json["PeopleList"]
    assert [int(p["UserID"]) for p in page] == [5, 6]
    result = {"SuccessCount": 1, "FailCount": 1,
              "FailList": [{"UserID": 6, "ErrorCode": 3, "RepeatID": "", "ErrMsg": "no face"}]}
    for _ in range(2):  # the device's retry of the same result makes no second event
        assert approved.post_json("/People/DownloadPeopleListResult", result).json["Success"] == 1
    (event,) = events(store, "person")
    assert event["type"] == "person.refused" and event["user_id"] == 6 and event["name"] == "Cy"
    assert event["code"] == 3 and event["error"] and event["message"] == "no face"


def cli_json(db_path: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", db_path, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_events_list_filters_and_status_without_a_receiver(approved: DeviceClient, db_path: str) -> None:
    approved.keepalive(AlarmStatus="fire")
    for rid in (1, 2, 3):
        upload(approved, record_id=rid)
    listed = cli_json(db_path, "events", "list")
    assert [e["type"] for e in listed] == ["device.online", "alarm.raised"] + ["record.identify"] * 3
    assert [e["id"] for e in listed] == sorted(e["id"] for e in listed)
    assert [e["record_id"] for e in cli_json(db_path, "events", "list", "--type", "record", "--since-id",
                                              str(listed[2]["id"]))] == [2, 3]
    assert len(cli_json(db_path, "events", "list", "--limit", "2")) == 2
    assert cli_json(db_path, "events", "list", "--sn", "FC-OTHER1") == []
    assert cli_json(db_path, "events", "list", "--sn", SN.lower(), "--type", "alarm")[0]["alarm"] == "fire"
    status = cli_json(db_path, "events", "status")
    assert status["receiver"] is None and status["last_event"] == listed[-1]["id"]
    bad = CliRunner().invoke(cli, ["events", "list", "--type", "bogus", "--db", db_path])
    assert bad.exit_code == 2 and "not an event type" in bad.output
    table = CliRunner().invoke(cli, ["events", "list", "--db", db_path])
    assert table.exit_code == 0 and "record.identify" in table.output and "granted" in table.output


def test_prune_keeps_what_the_receiver_has_not_taken(approved: DeviceClient, store: Store, db_path: str) -> None:
    for rid in (1, 2, 3):
        upload(approved, record_id=rid)
    ids = [e["id"] for e in events(store)]
    store.events.set_receiver("http://127.0.0.1:9/events")
    store.events.delivered(ids[1])
    result = CliRunner().invoke(cli, ["events", "prune", "--older-than", "0", "--db", db_path])
    assert result.exit_code == 0 and "deleted 2 events" in result.output
    assert [e["id"] for e in events(store)] == ids[2:]
    upload(approved, record_id=4)  # ids never go back, even when the newest were pruned
    assert events(store)[-1]["id"] > ids[-1]
    result = CliRunner().invoke(cli, ["events", "prune", "--older-than", "0", "--include-undelivered",
                                      "--db", db_path])
    assert result.exit_code == 0 and events(store) == []


def test_follow_prints_json_lines_resumes_by_id_and_exits_0_on_ctrl_c(
        approved: DeviceClient, store: Store, db_path: str) -> None:
    upload(approved, record_id=1)
    first = events(store, "record")[0]["id"]
    proc = subprocess.Popen([sys.executable, "-m", "facectl", "events", "follow", "--json", "--since-id", str(first),
                             "--db", db_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        upload(approved, record_id=2)
        upload(approved, record_id=3)
        assert proc.stdout is not None
        lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert [e["record_id"] for e in lines] == [2, 3]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_refuses_a_secret_without_a_webhook_and_a_webhook_that_is_not_a_url(db_path: str) -> None:
    for args, message in ((["--event-secret", "s"], "give the webhook URL too"),
                          (["--event-webhook", "receiver:9100"], "takes an http:// or https:// URL")):
        result = CliRunner().invoke(cli, ["serve", "--db", db_path, *args])
        assert result.exit_code == 2 and message in result.output, result.output
