"""The operator's side of remote commands: door/alarm/elevator/device/commands CLI on the server's database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, SN, DeviceClient, timed

from facectl.cli.commands import parse_duration
from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.store import Store

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()


def run(db_path: str, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, [*args, "--db", db_path], input=input, catch_exceptions=False)


@contextmanager
def polling_device(port: int, answers: list[dict], snapshot: bool = False) -> Iterator[None]:
    """A device that keeps polling like firmware: keepalive, and RemoteCommand when Remote is set."""
    stop = threading.Event()

    def loop() -> None:
        client = DeviceClient(port)
        try:
            while not stop.is_set():
                if client.keepalive().json.get("Remote") != 1:
                    stop.wait(0.02)  # the device's keepalive interval, shortened
                    continue
                answer = client.post_json("/Device/RemoteCommand").json
                answers.append(answer)
                if snapshot and answer.get("Snapshoot") == 1:
                    client.post_parts("/Device/UploadSnapshoot", [
                        multipart.text_part("SN", SN), multipart.file_part("Photo", "s.jpg", PHOTO, "image/jpeg")])
        finally:
            client.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60), ("5m", 300), ("24h", 86400), ("1d", 86400),
                                               ("500ms", 0.5), ("90", 90), ("1.5s", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "0s", "-5s", "5 weeks"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_door_commands_queue_opendoor_1_to_5(db_path: str, store: Store) -> None:
    store.devices.add(SN)
    for n, action in enumerate(("open", "hold-open", "close", "lock", "unlock"), 1):
        result = run(db_path, "door", action, SN)
        assert result.exit_code == 0, result.output
        assert "queued" in result.output
        row = store.commands.list(SN, limit=1)[0]
        assert (row["field"], row["value"], row["expires_at"] - row["created_at"]) == ("Opendoor", n, 60)


def test_door_ttl_and_several_devices(db_path: str, store: Store) -> None:
    other = "FC-8190H25061293"
    store.devices.add(SN)
    store.devices.add(other)
    assert run(db_path, "door", "lock", SN, other, "--ttl", "5m").exit_code == 0
    rows = store.commands.list(state="queued")
    assert sorted(r["sn"] for r in rows) == sorted([SN, other])
    assert all(r["expires_at"] - r["created_at"] == 300 for r in rows)


def test_unknown_device_and_bad_ttl(db_path: str, store: Store) -> None:
    result = run(db_path, "door", "open", SN)
    assert result.exit_code == 1 and "no device" in result.output
    store.devices.add(SN)
    result = run(db_path, "door", "open", SN, "--ttl", "soon")
    assert result.exit_code == 2 and "duration" in result.output


def test_door_wait_reports_delivery_with_delay(server, store: Store, db_path: str) -> None:
    store.devices.add(SN)
    answers: list[dict] = []
    with polling_device(server.port, answers):
        result = run(db_path, "door", "open", SN, "--wait")
    assert result.exit_code == 0, result.output
    assert "delivered after" in result.output
    assert {"Success": 1, "Opendoor": 1} in answers
    assert store.commands.list(SN)[0]["state"] == "sent"


@timed
def test_door_wait_reports_expiry_when_the_device_does_not_poll(db_path: str, store: Store, timed: bool) -> None:
    store.devices.add(SN)
    started = time.monotonic()
    result = run(db_path, "door", "open", SN, "--ttl", "300ms", "--wait")
    assert result.exit_code == 1
    assert "expired after 0.3s without being delivered" in result.output
    assert not timed or time.monotonic() - started < 5  # bounded by the ttl
    row = store.commands.list(SN)[0]
    assert row["state"] == "expired" and row["sent_at"] is None


def test_alarm_and_elevator(db_path: str, store: Store) -> None:
    store.devices.add(SN)
    assert run(db_path, "alarm", "clear", SN).exit_code == 0
    assert run(db_path, "elevator", "open", SN, "3,1").exit_code == 0
    assert run(db_path, "elevator", "hold-open", SN, "2", "4").exit_code == 0
    for action in ("close", "lock", "unlock"):
        assert run(db_path, "elevator", action, SN, "5").exit_code == 0
    rows = sorted(store.commands.list(SN), key=lambda r: r["id"])
    assert [(r["field"], r["value"]) for r in rows] == [
        ("Closealarm", 1), ("OpenElevatorPort", "1,3"), ("KeepOpenElevatorPort", "2,4"),
        ("CloseElevatorPort", "5"), ("LockElevatorPort", "5"), ("UnlockElevatorPort", "5")]
    assert rows[0]["expires_at"] - rows[0]["created_at"] == 60
    bad = run(db_path, "elevator", "open", SN, "65")
    assert bad.exit_code == 2 and "1-64" in bad.output


@pytest.mark.parametrize(("command", "field"), [("restart", "Restart"), ("repost-records", "RepostRecord"),
                                                ("snapshot", "Snapshoot")])
def test_device_commands(db_path: str, store: Store, command: str, field: str) -> None:
    store.devices.add(SN)
    assert run(db_path, "device", command, SN).exit_code == 0
    row = store.commands.list(SN)[0]
    assert (row["field"], row["value"], row["expires_at"] - row["created_at"]) == (field, 1, 86400)


@pytest.mark.parametrize(("command", "field"), [("factory-reset", "Recover"), ("clear-records", "ClearRecord")])
def test_destructive_commands_ask_first(db_path: str, store: Store, command: str, field: str) -> None:
    store.devices.add(SN)
    refused = run(db_path, "device", command, SN, input="n\n")
    assert refused.exit_code == 1 and store.commands.list(SN) == []
    assert run(db_path, "device", command, SN, input="y\n").exit_code == 0
    assert run(db_path, "device", command, SN, "--yes").exit_code == 0
    assert [r["field"] for r in store.commands.list(SN)] == [field, field]


def test_snapshot_wait_saves_the_picture(server, store: Store, db_path: str, tmp_path: Path) -> None:
    store.devices.add(SN)
    out = tmp_path / "snap.jpg"
    with polling_device(server.port, [], snapshot=True):
        result = run(db_path, "device", "snapshot", SN, "--wait", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PHOTO
    assert "snapshot after" in result.output
    assert store.commands.list(SN)[0]["state"] == "done"


def test_snapshot_wait_gives_up_after_timeout(db_path: str, store: Store) -> None:
    store.devices.add(SN)
    result = run(db_path, "device", "snapshot", SN, "--wait", "--timeout", "200ms")
    assert result.exit_code == 1 and "no picture within" in result.output
    assert store.commands.list(SN)[0]["state"] == "queued"  # still valid: the picture may come later


def test_enroll(db_path: str, store: Store) -> None:
    store.devices.add(SN)
    assert run(db_path, "device", "enroll", SN, "12", "--credential", "fingerprint", "--index", "3").exit_code == 0
    assert run(db_path, "device", "enroll", SN, "12", "--credential", "face").exit_code == 0
    rows = sorted(store.commands.list(SN), key=lambda r: r["id"])
    assert [r["value"] for r in rows] == [{"RegisterType": 3, "UserID": 12, "RegisterIndex": 3},
                                          {"RegisterType": 4, "UserID": 12}]
    bad = run(db_path, "device", "enroll", SN, "12", "--credential", "palm", "--index", "3")
    assert bad.exit_code == 2 and "1-2" in bad.output


def test_upgrade_stores_the_firmware_by_content(db_path: str, store: Store, tmp_path: Path) -> None:
    store.devices.add(SN)
    fw = tmp_path / "fc8190_8.47.bin"
    fw.write_bytes(b"firmware" * 100)
    result = run(db_path, "device", "upgrade", SN, str(fw), "--version", "8.47")
    assert result.exit_code == 0, result.output
    row = store.commands.list(SN)[0]
    assert row["field"] == "PushSoftware" and row["value"]["SoftwareVer"] == "8.47"
    assert store.files.get(row["value"]["File"])[1] == fw.read_bytes()
    assert store.files.info(row["value"]["File"]).md5 in result.output


def test_screen(db_path: str, store: Store, tmp_path: Path) -> None:
    store.devices.add(SN)
    image = tmp_path / "lobby.jpg"
    image.write_bytes(PHOTO)
    assert run(db_path, "device", "screen", SN, "--standby", str(image), "--index", "2").exit_code == 0
    assert run(db_path, "device", "screen", SN, "--boot", str(image)).exit_code == 0
    assert run(db_path, "device", "screen", SN, "--delete", "2").exit_code == 0
    rows = sorted(store.commands.list(SN), key=lambda r: r["id"])
    assert [[(e["FileType"], e["FileIndex"], e["IsDelete"]) for e in r["value"]] for r in rows] == [
        [(1, 2, 0)], [(2, 1, 0)], [(1, 2, 1)]]
    assert run(db_path, "device", "screen", SN, "--standby", str(image)).exit_code == 2
    assert run(db_path, "device", "screen", SN, "--boot", str(image), "--delete", "1").exit_code == 2
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert run(db_path, "device", "screen", SN, "--boot", str(text)).exit_code == 1


def test_commands_list_show_and_cancel(approved: DeviceClient, store: Store, db_path: str) -> None:
    door = store.commands.enqueue(SN, "Opendoor", 2)
    snap = store.commands.enqueue(SN, "Snapshoot", 1)
    old = store.commands.enqueue(SN, "Opendoor", 1, at=time.time() - 3600)
    result = run(db_path, "commands", "list", "--json")
    rows = {r["id"]: r for r in json.loads(result.output)}
    assert rows[old["id"]]["state"] == "expired"
    assert rows[door["id"]]["command"] == "door: keep open"
    assert run(db_path, "commands", "cancel", str(door["id"])).exit_code == 0
    assert approved.post_json("/Device/RemoteCommand").json == {"Success": 1, "Snapshoot": 1}
    again = run(db_path, "commands", "cancel", str(snap["id"]))
    assert again.exit_code == 1 and "is sent" in again.output
    assert run(db_path, "commands", "cancel", "99999").exit_code == 1
    states = json.loads(run(db_path, "commands", "list", "--state", "cancelled", "--json").output)
    assert [r["id"] for r in states] == [door["id"]]
    assert json.loads(run(db_path, "commands", "list", "--sn", "FC-0000000000000", "--json").output) == []
    table = CliRunner().invoke(cli, ["commands", "list", "--db", db_path], env={"COLUMNS": "200"}).output
    assert "keep open" in table and "camera snapshot" in table
    shown = json.loads(run(db_path, "commands", "show", str(snap["id"]), "--json").output)
    assert shown["state"] == "sent" and shown["delay"] >= 0


def test_people_push(db_path: str, store: Store) -> None:
    """`facectl people push`: QueryPeople with ids, PushAllPeople without; a bad id is a usage error."""
    store.devices.add(SN)
    assert run(db_path, "people", "push", SN, "1", "2").exit_code == 0
    assert run(db_path, "people", "push", SN).exit_code == 0
    rows = sorted(store.commands.list(SN), key=lambda r: r["id"])
    assert [(r["field"], r["value"]) for r in rows] == [("QueryPeople", [1, 2]), ("PushAllPeople", 1)]
    assert run(db_path, "people", "push", SN, "x").exit_code == 2
    result = run(db_path, "people", "push", "FC-8190H00000000")
    assert result.exit_code == 1 and "no device FC-8190H00000000; `facectl device list`" in result.output
