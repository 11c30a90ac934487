"""The operator's side: device, records and quarantine commands on a live server's database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import EXAMPLES, SN, DeviceClient, settings_document

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.protocol.codes import AUTH_RESULTS, DOOR_EVENT_TYPES
from facectl.store import Store


def run(db_path: str, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, [*args, "--db", db_path], input=input, catch_exceptions=False)


def test_newcomer_flow_pending_approve_settings_change_delivered(device: DeviceClient, db_path: str) -> None:
    """The README walkthrough: device pending, approve, read settings, queue a change, delivered."""
    assert device.keepalive().json["Success"] == 401
    listed = json.loads(run(db_path, "device", "list", "--json").output)
    assert [(d["sn"], d["state"], d["online"]) for d in listed] == [(SN, "pending", True)]

    assert run(db_path, "device", "approve", SN).exit_code == 0
    assert device.keepalive().json == {"Success": 1, "UploadWorkParameter": 1}
    device.post("/Device/UploadWorkSetting", (EXAMPLES / "UploadWorkSetting.json").read_bytes())

    got = json.loads(run(db_path, "device", "get", SN, "Volume", "FirmwareVerson", "--json").output)
    assert got == {"Volume": 6, "FirmwareVerson": "8.46"}

    result = run(db_path, "device", "set", SN, "Volume=3", "DeviceName=Lobby")
    assert result.exit_code == 0, result.output
    assert device.keepalive().json == {"Success": 1, "SyncParameter": 1}
    answer = device.post_json("/Device/DownloadWorkSetting").json
    assert (answer["Volume"], answer["DeviceName"]) == (3, "Lobby")
    shown = json.loads(run(db_path, "device", "show", SN, "--json").output)
    assert {c["key"]: c["state"] for c in shown["setting_changes"]} == {"Volume": "delivered",
                                                                         "DeviceName": "delivered"}
    assert shown["firmware"] == "8.46" and shown["settings"]["Volume"] == 6


def test_set_refuses_read_only_unknown_and_mistyped_keys(approved: DeviceClient, db_path: str) -> None:
    approved.post_json("/Device/UploadWorkSetting", settings_document())
    for assignment, expected in (("FirmwareVerson=9", "read-only"), ("Nope=1", "not a setting"),
                                 ("Volume=loud", "takes int"), ("Volume", "KEY=VALUE")):
        result = run(db_path, "device", "set", SN, assignment)
        assert result.exit_code != 0
        assert expected in result.output
        assert "Traceback" not in result.output


def test_set_before_settings_upload_says_what_to_do(approved: DeviceClient, db_path: str) -> None:
    approved.keepalive()
    result = run(db_path, "device", "set", SN, "Volume=3")
    assert result.exit_code == 1 and "device refresh" in result.output


def test_block_and_forget(approved: DeviceClient, db_path: str, store: Store) -> None:
    approved.keepalive()
    assert run(db_path, "device", "block", SN).exit_code == 0
    assert approved.keepalive().json["Success"] == 403
    assert run(db_path, "device", "forget", SN, "--yes").exit_code == 0
    assert store.devices.get(SN) is None
    assert approved.keepalive().json["Success"] == 401


def test_unknown_device_and_missing_database_are_one_line_errors(tmp_path: Path, db_path: str) -> None:
    missing = run(str(tmp_path / "nope.db"), "device", "list")
    assert missing.exit_code == 3 and "facectl serve" in missing.output
    Store(db_path).close()
    unknown = run(db_path, "device", "approve", "FC-0000X00000000")
    assert unknown.exit_code == 1 and "unknown device" in unknown.output


def test_device_list_table_says_when_a_device_speaks_v1(approved: DeviceClient, db_path: str) -> None:
    approved.post("/devicePass/selectPassInfo", json.dumps({"DeviceID": SN}).encode())
    result = run(db_path, "device", "list")
    assert "HTTPv1" in result.output and "200" in result.output


def test_records_list_filters_names_events_and_exports(approved: DeviceClient, db_path: str, tmp_path: Path) -> None:
    ctype = (EXAMPLES / "UploadIdentifyRecord.content-type").read_text().strip()
    approved.post("/Record/UploadIdentifyRecord", (EXAMPLES / "UploadIdentifyRecord.body").read_bytes(), ctype)
    approved.post("/Record/UploadSystemRecord", (EXAMPLES / "UploadSystemRecord.json").read_bytes())

    rows = json.loads(run(db_path, "records", "list", "--json").output)
    assert {(r["kind"], r["event"]) for r in rows} == {("identify", "face verification"),
                                                        ("door", DOOR_EVENT_TYPES.label(1))}
    only = json.loads(run(db_path, "records", "list", "--kind", "identify", "--user", "1", "--json").output)
    assert [r["record_id"] for r in only] == [120]
    none = json.loads(run(db_path, "records", "list", "--until", "2000-01-01", "--json").output)
    assert none == []
    csv_out = run(db_path, "records", "list", "--csv").output
    assert csv_out.splitlines()[0].startswith("sn,kind,record_id")

    out = tmp_path / "face.jpg"
    assert run(db_path, "records", "photo", SN, "120", "-o", str(out)).exit_code == 0
    assert out.read_bytes() == (EXAMPLES / "photo.jpg").read_bytes()
    bad_date = run(db_path, "records", "list", "--since", "yesterday")
    assert bad_date.exit_code == 2 and "2026-11-29" in bad_date.output


def test_quarantine_list_and_show(approved: DeviceClient, db_path: str, tmp_path: Path) -> None:
    approved.post_parts("/Record/UploadIdentifyRecord",
                        [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", '{"RecordType": 3}')])
    items = json.loads(run(db_path, "quarantine", "list", "--json").output)
    assert len(items) == 1 and "RecordID is missing" in items[0]["reason"]
    body_file = tmp_path / "body.bin"
    shown = run(db_path, "quarantine", "show", str(items[0]["id"]), "--body-to", str(body_file))
    assert shown.exit_code == 0 and "RecordID is missing" in shown.output
    assert b'"RecordType": 3' in body_file.read_bytes()



def test_records_table_shows_authorization_decisions_with_reasons(approved: DeviceClient, db_path: str) -> None:
    ctype = (EXAMPLES / "RequestAuthorization.content-type").read_text().strip()
    reply = approved.post("/Device/RequestAuthorization", (EXAMPLES / "RequestAuthorization.body").read_bytes(), ctype)
    assert reply.json["Success"] == 0  # nobody is registered: denied
    out = CliRunner(env={"COLUMNS": "240"}).invoke(cli, ["records", "list", "--db", db_path]).output
    assert "Decision" in out and AUTH_RESULTS.label(0) in out
    plain = run(db_path, "records", "list", "--kind", "identify")
    assert "Decision" not in plain.output
