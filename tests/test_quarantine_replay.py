"""`facectl quarantine replay`: a kept request runs again through the server's own dispatcher.

Items are quarantined for real, by the running server: a record upload while the
records table is renamed away (the server fails on it, as in test_reliability_fuzz's
"last line of defence"), an unreadable record, an oversized photo, an authorization
the server failed on. The replay runs through the real CLI on the same database
while the server keeps running, and the store is checked afterwards.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from click.testing import CliRunner, Result
from conftest import EXAMPLES, SN, DeviceClient, LiveServer

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.store import Store
from facectl.store.devices import APPROVED, PENDING

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()


def run(db_path: str, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--db", db_path], catch_exceptions=False)


def replay_json(db_path: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run(db_path, "quarantine", "replay", *args, "--json")
    return result.exit_code, json.loads(result.output)


def record_parts(record_id: int, photo: bytes = PHOTO, record_date: int = 1718616771) -> list[multipart.Part]:
    detail = {"RecordID": record_id, "RecordType": 3, "RecordDate": record_date, "UserID": "1", "Name": "张三",
              "IsEntry": 1, "PhotoLen": len(photo)}
    return [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", json.dumps(detail, ensure_ascii=False)),
            multipart.file_part("Photo", "p.jpg", photo, "image/jpeg")]


@contextmanager
def records_table_gone(store: Store) -> Iterator[None]:
    """The server fails on every record while this lasts (not the input, not the disk: a bug)."""
    store.db.execute("ALTER TABLE records RENAME TO records_gone")
    try:
        yield
    finally:
        store.db.execute("ALTER TABLE records_gone RENAME TO records")


def quarantine_by_server_failure(device: DeviceClient, store: Store, record_id: int = 120) -> int:
    with records_table_gone(store):
        reply = device.post_parts("/Record/UploadIdentifyRecord", record_parts(record_id))
    assert reply.json["Success"] == 1 and "the server failed on it" in reply.json["Message"]
    assert store.records.count(SN) == 0
    return store.quarantine.list(SN)[0]["id"]


def test_a_record_the_server_failed_on_is_stored_once_by_replay(approved: DeviceClient, store: Store,
                                                                db_path: str) -> None:
    approved.keepalive()
    item = quarantine_by_server_failure(approved, store)
    seen = store.devices.get(SN)["last_seen"]

    code, out = replay_json(db_path, "--all")
    assert code == 0
    assert out["summary"] == {"replayed": 1, "already stored": 0, "failed again": 0, "skipped": 0}
    assert out["items"][0]["id"] == item and out["items"][0]["endpoint"] == "UploadIdentifyRecord"
    row = store.records.get(SN, 120)
    assert store.records.count(SN) == 1 and row["photo"] and store.files.get(row["photo"])[1] == PHOTO
    kept = store.quarantine.get(item)
    assert kept["replayed_at"] and kept["replay_result"] == "replayed" and kept["attempts"] == 1
    assert store.devices.get(SN)["last_seen"] == seen  # an old request does not make the device look online

    listed = json.loads(run(db_path, "quarantine", "list", "--json").output)
    assert listed == [] and store.quarantine.count() == 0
    listed_all = json.loads(run(db_path, "quarantine", "list", "--all", "--json").output)
    assert [r["id"] for r in listed_all] == [item] and listed_all[0]["replay_result"] == "replayed"

    # Twice changes nothing: --all finds nothing open, the ID by name is skipped.
    assert replay_json(db_path, "--all") == (0, {"dry_run": False, "items": [], "summary": {
        "replayed": 0, "already stored": 0, "failed again": 0, "skipped": 0}})
    code, out = replay_json(db_path, str(item))
    assert code == 0 and out["items"][0]["result"] == "skipped" and "already replayed" in out["items"][0]["detail"]
    assert store.records.count(SN) == 1 and store.quarantine.get(item)["attempts"] == 1


def test_a_record_stored_since_counts_as_already_stored(approved: DeviceClient, store: Store, db_path: str) -> None:
    item = quarantine_by_server_failure(approved, store)
    assert approved.post_parts("/Record/UploadIdentifyRecord", record_parts(120)).json == {"Success": 1}
    assert store.records.count(SN) == 1

    result = run(db_path, "quarantine", "replay", str(item))
    assert result.exit_code == 0, result.output
    assert "already stored" in result.output
    assert store.records.count(SN) == 1
    assert store.quarantine.get(item)["replay_result"] == "already stored"
    assert store.quarantine.count() == 0


def test_a_system_record_batch_is_replayed_and_its_bad_entry_kept_apart(approved: DeviceClient, store: Store,
                                                                       db_path: str) -> None:
    """As on the server: the good entries are stored, a bad one becomes an item of its own, which
    is not a request (no SN, no batch around it) and so is skipped by the next replay."""
    batch = json.loads((EXAMPLES / "UploadSystemRecord.json").read_bytes())
    batch["Records"].append({"RecordID": "x", "RecordType": 1, "RecordDate": 1718616779})
    with records_table_gone(store):
        assert approved.post("/Record/UploadSystemRecord", json.dumps(batch).encode()).json["Success"] == 1
    assert store.records.count(SN) == 0 and store.quarantine.count() == 1

    code, out = replay_json(db_path, "--all", "--sn", SN)
    assert code == 0 and out["summary"]["replayed"] == 1
    assert store.records.count(SN) == 2  # the example's two door records
    [entry] = store.quarantine.list(SN)
    assert "RecordID" in entry["reason"] and json.loads(store.quarantine.get(entry["id"])["body"])["RecordID"] == "x"

    code, out = replay_json(db_path, "--all")
    assert code == 0 and out["summary"]["skipped"] == 1
    assert "one entry cut out of a batch" in out["items"][0]["detail"]
    assert store.quarantine.get(entry["id"])["attempts"] == 0 and store.records.count(SN) == 2


def test_dry_run_reports_and_writes_nothing(approved: DeviceClient, store: Store, db_path: str) -> None:
    items = [quarantine_by_server_failure(approved, store, record_id) for record_id in (120, 121)]
    # data_version changes when another connection commits: nothing may, neither the server (idle
    # here) nor the replay.
    version = store.db.execute("PRAGMA data_version").fetchone()[0]

    code, out = replay_json(db_path, "--all", "--dry-run")
    assert code == 0 and out["dry_run"] is True and out["summary"]["replayed"] == 2
    assert store.records.count(SN) == 0

    store.devices.set_state(SN, PENDING)  # a failure in a dry run records no attempt either
    code, out = replay_json(db_path, str(items[0]), "--dry-run")
    assert code == 1 and out["summary"]["failed again"] == 1
    for item in items:
        kept = store.quarantine.get(item)
        assert kept["replayed_at"] is None and kept["attempts"] == 0 and kept["first_reason"] is None
    assert store.quarantine.count() == 2
    assert store.db.execute("PRAGMA data_version").fetchone()[0] == version


def test_a_pending_device_fails_again_until_approved(approved: DeviceClient, store: Store, db_path: str) -> None:
    item = quarantine_by_server_failure(approved, store)
    first_reason = store.quarantine.get(item)["reason"]
    store.devices.set_state(SN, PENDING)

    code, out = replay_json(db_path, str(item))
    assert code == 1 and out["summary"]["failed again"] == 1
    assert f"facectl device approve {SN}" in out["items"][0]["detail"]
    kept = store.quarantine.get(item)
    assert kept["replayed_at"] is None and kept["attempts"] == 1
    assert "not approved" in kept["reason"] and kept["first_reason"] == first_reason
    assert store.records.count(SN) == 0
    assert store.devices.get(SN)["state"] == PENDING

    store.devices.set_state(SN, APPROVED)
    code, out = replay_json(db_path, str(item))
    assert code == 0 and out["summary"]["replayed"] == 1
    assert store.records.count(SN) == 1 and store.quarantine.get(item)["attempts"] == 2


def test_a_still_bad_item_stays_with_its_attempts(approved: DeviceClient, store: Store, db_path: str) -> None:
    """An oversized photo: the record is stored, the request kept; replaying cannot make the photo fit."""
    big = b"\xff\xd8" + b"\0" * MAX_PHOTO_BYTES + b"\xff\xd9"
    assert approved.post_parts("/Record/UploadIdentifyRecord", record_parts(9, big)).json["Success"] == 1
    broken = approved.post_parts("/Record/UploadIdentifyRecord", [
        multipart.text_part("SN", SN), multipart.text_part("RecordDetail", '{"RecordID": "abc", "RecordType": 3}')])
    assert broken.json["Success"] == 1
    items = {r["endpoint"] + (" photo" if "photo" in r["reason"] else ""): r for r in store.quarantine.list(SN)}
    photo_item, unreadable = items["UploadIdentifyRecord photo"], items["UploadIdentifyRecord"]
    received = store.quarantine.get(photo_item["id"])["received_at"]

    for attempt in (1, 2):
        code, out = replay_json(db_path, "--all")
        assert code == 1 and out["summary"]["failed again"] == 2, out
        for row in (photo_item, unreadable):
            kept = store.quarantine.get(row["id"])
            assert kept["replayed_at"] is None and kept["attempts"] == attempt
            assert kept["reason"] == row["reason"] and kept["first_reason"] == row["reason"]
    assert store.quarantine.get(photo_item["id"])["received_at"] == received  # not re-added as a new arrival
    assert store.records.count(SN) == 1 and store.quarantine.count() == 2


def test_authorizations_and_keepalives_are_not_replayed(approved: DeviceClient, store: Store,
                                                        db_path: str) -> None:
    auth = (EXAMPLES / "RequestAuthorization.body").read_bytes()
    content_type = (EXAMPLES / "RequestAuthorization.content-type").read_text().strip()
    with records_table_gone(store):
        assert approved.post("/Device/RequestAuthorization", auth, content_type).json["Success"] == 0
    # The server never quarantines a keepalive; an item of one (an older facectl, a hand-made
    # import) must still not be replayed.
    keepalive = store.quarantine.add(SN, "Keepalive", "test item", b'{"SN": "%s"}' % SN.encode(),
                                     "application/json")

    result = run(db_path, "quarantine", "replay", "--all")
    assert result.exit_code == 0, result.output
    code, out = replay_json(db_path, "--all")
    by_endpoint = {o["endpoint"]: o for o in out["items"]}
    assert out["summary"] == {"replayed": 0, "already stored": 0, "failed again": 0, "skipped": 2}
    assert "decided at the door" in by_endpoint["RequestAuthorization"]["detail"]
    assert by_endpoint["Keepalive"]["id"] == keepalive
    assert "the device asks again by itself" in by_endpoint["Keepalive"]["detail"]
    assert store.records.count(SN) == 0 and store.quarantine.count() == 2
    assert all(store.quarantine.get(o["id"])["attempts"] == 0 for o in out["items"])


def test_usage_errors_are_one_line(approved: DeviceClient, db_path: str) -> None:
    approved.keepalive()
    assert run(db_path, "quarantine", "replay").exit_code == 2
    missing = run(db_path, "quarantine", "replay", "42")
    assert missing.exit_code == 1 and "no quarantine item 42" in missing.output


def test_replay_while_the_device_keeps_uploading(approved: DeviceClient, store: Store, db_path: str,
                                                 server: LiveServer) -> None:
    """The CLI and the server write the same file at once (WAL, busy timeout): nothing is lost on either side."""
    items = [quarantine_by_server_failure(approved, store, record_id) for record_id in range(1, 21)]
    answers: list[dict[str, Any]] = []

    def upload() -> None:
        client = DeviceClient(server.port)
        try:
            answers.extend(client.post_parts("/Record/UploadIdentifyRecord", record_parts(record_id)).json
                           for record_id in range(100, 140))
        finally:
            client.close()

    uploader = threading.Thread(target=upload)
    uploader.start()
    code, out = replay_json(db_path, "--all")
    uploader.join(30)
    assert code == 0 and out["summary"]["replayed"] == len(items)
    assert answers == [{"Success": 1}] * 40
    assert store.records.count(SN) == 60 and store.quarantine.count() == 0


def test_dismiss_closes_an_item_that_can_never_apply(approved: DeviceClient, store: Store, db_path: str) -> None:
    """An oversized photo cannot be replayed into a record; the operator closes it, keeping the bytes."""
    big = b"\xff\xd8" + b"\0" * MAX_PHOTO_BYTES + b"\xff\xd9"
    assert approved.post_parts("/Record/UploadIdentifyRecord", record_parts(11, big)).json["Success"] == 1
    (item,) = store.quarantine.list(SN)

    result = run(db_path, "quarantine", "dismiss", str(item["id"]), "--note", "photo too large")
    assert result.exit_code == 0 and f"dismissed {item['id']}" in result.output
    assert store.quarantine.count() == 0 and store.quarantine.list(SN) == []
    closed = store.quarantine.get(item["id"])
    assert closed["replay_result"] == "dismissed: photo too large" and len(closed["body"]) > MAX_PHOTO_BYTES
    listed = json.loads(run(db_path, "quarantine", "list", "--all", "--json").output)
    assert [r["replay_result"] for r in listed] == ["dismissed: photo too large"]

    code, out = replay_json(db_path, str(item["id"]))  # a closed item is not run again
    assert code == 0 and out["summary"]["failed again"] == 0 and store.records.count(SN) == 1

    again = run(db_path, "quarantine", "dismiss", str(item["id"]), "999")
    assert again.exit_code == 1 and f"not open: {item['id']}, 999" in again.output
