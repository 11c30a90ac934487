"""Record uploads (protocol.md 3.3, 3.6, 4.1, 4.2, 5.1, 6.3) and snapshots (4.9)."""

from __future__ import annotations

import json

from conftest import EXAMPLES, SN, DeviceClient

from facectl.protocol import multipart
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.store import Store

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()


def detail(record_id: int = 120, **extra: object) -> str:
    return json.dumps({"RecordID": record_id, "RecordType": 3, "RecordDate": 1718616771, "UserID": "1",
                       "Name": "张三", "CardNum": "0", "IsEntry": 1, "BodyTemp": 365,
                       "PhotoLen": len(PHOTO), **extra}, ensure_ascii=False)


def upload(client: DeviceClient, json_name: str = "RecordDetail", photo_name: str = "Photo",
           gzip_json: bool = False, record_id: int = 120, sn: str = SN, body: str | None = None):
    parts = [multipart.text_part("SN", sn),
             multipart.text_part(json_name, body if body is not None else detail(record_id), gzip=gzip_json),
             multipart.file_part(photo_name, "Postman_file.jpg", PHOTO, "image/jpeg")]
    return client.post_parts("/Record/UploadIdentifyRecord", parts)


def test_document_example_bodies_are_stored_with_photo(approved: DeviceClient, store: Store) -> None:
    """recordJson gzip + pic (the raw example) and RecordDetail + Photo (the table)."""
    for name in ("UploadIdentifyRecord", "UploadIdentifyRecord-RecordDetail"):
        ctype = (EXAMPLES / f"{name}.content-type").read_text().strip()
        reply = approved.post("/Record/UploadIdentifyRecord", (EXAMPLES / f"{name}.body").read_bytes(), ctype)
        assert reply.json == {"Success": 1}, name
    rows = store.records.list(sn=SN)
    assert sorted(r["record_id"] for r in rows) == [120, 121]
    for row in rows:
        assert row["kind"] == "identify" and row["record_type"] == 3
        _, data = store.files.get(row["photo"])
        assert data == PHOTO


def test_gzip_json_part_sent_as_a_file_part_without_header(approved: DeviceClient, store: Store) -> None:
    """protocol.md 6.3: per-part headers are unreliable; detect gzip by magic, find JSON by name."""
    import gzip

    parts = [multipart.text_part("SN", f" {SN}"),
             multipart.Part([("Content-Disposition", 'form-data; name="recordJson"; filename="blob"')],
                            gzip.compress(detail(5).encode()), "recordJson", "blob"),
             multipart.file_part("pic", "x.jpg", PHOTO, "image/jpeg")]
    assert approved.post_parts("/Record/UploadIdentifyRecord", parts).json == {"Success": 1}
    row = store.records.get(SN, 5)
    assert row["name"] == "张三" and row["photo"]


def test_retried_record_is_acknowledged_and_stored_once(approved: DeviceClient, store: Store) -> None:
    for _ in range(3):
        assert upload(approved, gzip_json=True).json == {"Success": 1}
    assert store.records.count(SN) == 1


def test_record_id_reused_with_a_new_date_is_a_new_record(approved: DeviceClient, store: Store) -> None:
    """After ClearRecord a device restarts its counter; a reused ID with a new date is real."""
    upload(approved, body=detail(1))
    upload(approved, body=detail(1, RecordDate=1718700000))
    assert store.records.count(SN) == 2


def test_fields_are_stored_typed(approved: DeviceClient, store: Store) -> None:
    upload(approved)
    row = store.records.get(SN, 120)
    assert (row["user_id"], row["is_entry"], row["body_temp"], row["record_date"]) == ("1", 1, 365, 1718616771)


def test_unparseable_record_is_quarantined_and_acknowledged(approved: DeviceClient, store: Store) -> None:
    """protocol.md 5.1: keep raw bytes, answer 1 so the device queue moves on."""
    reply = upload(approved, body='{"RecordID": "abc", "RecordType": 3}')
    assert reply.json["Success"] == 1
    items = store.quarantine.list(SN)
    assert len(items) == 1 and "RecordID" in items[0]["reason"]
    assert b"abc" in store.quarantine.get(items[0]["id"])["body"]
    assert store.records.count(SN) == 0


def test_broken_json_part_is_quarantined_under_its_device(approved: DeviceClient, store: Store) -> None:
    reply = upload(approved, body='{"RecordID": 1,,,')
    assert reply.json["Success"] == 1
    assert store.quarantine.list(SN)[0]["endpoint"] == "UploadIdentifyRecord"


def test_broken_multipart_from_pending_device_is_not_acknowledged(device: DeviceClient, store: Store) -> None:
    reply = upload(device, body='{"RecordID": 1,,,')
    assert reply.json["Success"] == 401
    assert store.quarantine.count() == 0


def test_oversized_photo_keeps_the_record_and_quarantines_the_request(approved: DeviceClient, store: Store) -> None:
    big = b"\xff\xd8" + b"\0" * MAX_PHOTO_BYTES + b"\xff\xd9"
    parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", detail(9)),
             multipart.file_part("Photo", "p.jpg", big, "image/jpeg")]
    assert approved.post_parts("/Record/UploadIdentifyRecord", parts).json["Success"] == 1
    row = store.records.get(SN, 9)
    assert row is not None and row["photo"] is None
    assert "photo" in store.quarantine.list(SN)[0]["reason"]


def test_system_record_example_is_stored_as_door_records(approved: DeviceClient, store: Store) -> None:
    body = (EXAMPLES / "UploadSystemRecord.json").read_bytes()
    assert approved.post("/Record/UploadSystemRecord", body).json == {"Success": 1}
    assert approved.post("/Record/UploadSystemRecord", body).json == {"Success": 1}
    rows = store.records.list(sn=SN, kind="door")
    assert sorted(r["record_id"] for r in rows) == [1, 2]


def test_system_batch_keeps_good_items_and_quarantines_bad_ones(approved: DeviceClient, store: Store) -> None:
    reply = approved.post_json("/Record/UploadSystemRecord", RecordType=2, Records=[
        {"RecordID": 1, "RecordType": 28, "RecordDate": 1718616771},
        {"RecordID": "x", "RecordType": 28},
    ])
    assert reply.json == {"Success": 1}
    assert [r["record_id"] for r in store.records.list(sn=SN, kind="system")] == [1]
    assert len(store.quarantine.list(SN)) == 1


def test_system_batch_with_unknown_kind_is_quarantined(approved: DeviceClient, store: Store) -> None:
    reply = approved.post_json("/Record/UploadSystemRecord", RecordType=7, Records=[])
    assert reply.json["Success"] == 1
    assert "RecordType 7" in store.quarantine.list(SN)[0]["reason"]


def test_snapshot_is_kept_per_device(approved: DeviceClient, store: Store) -> None:
    ctype = (EXAMPLES / "UploadSnapshoot.content-type").read_text().strip()
    reply = approved.post("/Device/UploadSnapshoot", (EXAMPLES / "UploadSnapshoot.body").read_bytes(), ctype)
    assert reply.json == {"Success": 1}
    snap = store.snapshots.latest(SN)
    assert store.files.get(snap["photo"])[1] == PHOTO
