"""Remote commands over HTTP: each RemoteCommand field, merging, expiry, cancel, follow-ups (protocol.md 4.6, 5.5-5.7).
"""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import urlsplit

import pytest
from conftest import EXAMPLES, SN, DeviceClient

from facectl.protocol import multipart
from facectl.store import Store

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()


def remote(client: DeviceClient) -> dict:
    reply = client.post_json("/Device/RemoteCommand")
    assert reply.status == 200
    return reply.json


def flag(client: DeviceClient) -> bool:
    return client.keepalive().json.get("Remote") == 1


def test_nothing_queued_means_no_flag_and_an_empty_answer(approved: DeviceClient) -> None:
    assert not flag(approved)
    assert remote(approved) == {"Success": 1}


@pytest.mark.parametrize(("field", "value", "wire"), [
    ("Restart", 1, 1),
    ("Recover", 1, 1),
    ("Opendoor", 1, 1), ("Opendoor", 2, 2), ("Opendoor", 3, 3), ("Opendoor", 4, 4), ("Opendoor", 5, 5),
    ("Closealarm", 1, 1),
    ("RepostRecord", 1, 1),
    ("PushAllPeople", 1, 1),
    ("QueryPeople", [1, 2, 3], [1, 2, 3]),
    ("ClearRecord", 1, 1),
    ("RegisterIdentifyTicket", {"RegisterType": 3, "UserID": 1, "RegisterIndex": 2},
     {"RegisterType": 3, "UserID": 1, "RegisterIndex": 2}),
    ("Snapshoot", 1, 1),
    ("OpenElevatorPort", "1,2,3", "1,2,3"),
    ("KeepOpenElevatorPort", "4", "4"),
    ("CloseElevatorPort", "4,5", "4,5"),
    ("LockElevatorPort", "64", "64"),
    ("UnlockElevatorPort", "1", "1"),
])
def test_round_trip_of_each_field(approved: DeviceClient, store: Store, field: str, value: object,
                                  wire: object) -> None:
    row = store.commands.enqueue(SN, field, value)
    assert flag(approved)
    assert remote(approved) == {"Success": 1, field: wire}
    sent = store.commands.get(row["id"])
    assert sent["state"] == "sent" and sent["sent_at"] >= sent["created_at"]
    assert not flag(approved)
    assert remote(approved) == {"Success": 1}  # handed out once


def test_register_ticket_is_sent_in_object_form(approved: DeviceClient, store: Store) -> None:
    """protocol.md 4.6: never the example's flat RegisterIdentifyTicket: 4 + RegisterIdentifyUserID."""
    store.commands.enqueue(SN, "RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1})
    answer = remote(approved)
    assert answer == {"Success": 1, "RegisterIdentifyTicket": {"RegisterType": 4, "UserID": 1}}
    assert "RegisterIdentifyUserID" not in answer


def _fetch(client: DeviceClient, url: str) -> bytes:
    parts = urlsplit(url)
    reply = client.get(f"{parts.path}?{parts.query}")
    assert reply.status == 200, reply.body
    return reply.body


def test_push_software_offers_a_root_relative_signed_url_and_upper_case_md5(approved: DeviceClient, store: Store,
                                                                        server) -> None:
    firmware = b"\x7fELF firmware image" * 1000
    stored = store.files.put(firmware)
    store.commands.enqueue(SN, "PushSoftware", {"File": stored.sha256, "SoftwareVer": "8.47"})
    sw = remote(approved)["PushSoftware"]
    assert sw["SoftwareVer"] == "8.47"
    assert sw["SoftwareMD5"] == hashlib.md5(firmware).hexdigest().upper()
    assert sw["SoftwareURL"].startswith(f"/files/{stored.sha256}.bin?e=")  # protocol.md 8.2-8.3
    assert _fetch(approved, sw["SoftwareURL"]) == firmware


def test_push_system_file_images_and_deletes(approved: DeviceClient, store: Store) -> None:
    stored = store.files.put(PHOTO, "image/jpeg")
    store.commands.enqueue(SN, "PushSystemFile", [{"FileType": 1, "FileIndex": 2, "File": stored.sha256}])
    store.commands.enqueue(SN, "PushSystemFile", [{"FileType": 1, "FileIndex": 3, "IsDelete": 1}])
    store.commands.enqueue(SN, "PushSystemFile", [{"FileType": 2, "FileIndex": 1, "File": stored.sha256}])
    files = remote(approved)["PushSystemFile"]
    assert [(f["FileType"], f["FileIndex"], f["IsDelete"]) for f in files] == [(1, 2, 0), (1, 3, 1), (2, 1, 0)]
    assert files[0]["FileMD5"] == hashlib.md5(PHOTO).hexdigest().upper()
    assert files[1]["FileURL"] == "" and files[1]["FileMD5"] == ""
    assert _fetch(approved, files[2]["FileURL"]) == PHOTO


def test_compatible_commands_share_one_answer_and_the_rest_wait(approved: DeviceClient, store: Store) -> None:
    ids = [store.commands.enqueue(SN, f, v)["id"] for f, v in (
        ("Opendoor", 1), ("Snapshoot", 1), ("QueryPeople", [1, 2]), ("QueryPeople", [2, 3]),
        ("OpenElevatorPort", "1,2"), ("LockElevatorPort", "3"), ("RepostRecord", 1),
        ("ClearRecord", 1),        # collides with RepostRecord: next answer
        ("Opendoor", 1),           # identical to the first: merged into the same pulse
        ("Restart", 1),            # always alone
        ("Closealarm", 1),         # must not overtake the Restart
    )]
    assert remote(approved) == {"Success": 1, "Opendoor": 1, "RepostRecord": 1, "QueryPeople": [1, 2, 3],
                                "Snapshoot": 1, "OpenElevatorPort": "1,2", "LockElevatorPort": "3"}
    rows = {i: store.commands.get(i) for i in ids}
    first = [i for i in ids if rows[i]["state"] == "sent"]
    assert first == [ids[n] for n in (0, 1, 2, 3, 4, 5, 6, 8)]
    assert {rows[i]["batch"] for i in first} == {ids[0]}
    assert flag(approved)
    assert remote(approved) == {"Success": 1, "ClearRecord": 1}
    assert remote(approved) == {"Success": 1, "Restart": 1}
    assert remote(approved) == {"Success": 1, "Closealarm": 1}
    assert not flag(approved)


def test_colliding_door_commands_go_in_queue_order(approved: DeviceClient, store: Store) -> None:
    store.commands.enqueue(SN, "Opendoor", 2)
    store.commands.enqueue(SN, "Opendoor", 3)
    store.commands.enqueue(SN, "Opendoor", 4)
    assert [remote(approved).get("Opendoor") for _ in range(4)] == [2, 3, 4, None]


def test_expired_commands_are_never_sent(approved: DeviceClient, store: Store) -> None:
    """protocol.md 5.5: queued two minutes ago with the default 60 s; the device only polls now."""
    old = time.time() - 120
    door = store.commands.enqueue(SN, "Opendoor", 1, at=old)
    snap = store.commands.enqueue(SN, "Snapshoot", 1, at=old)  # 24 h: still valid
    assert door["expires_at"] - door["created_at"] == 60
    assert remote(approved) == {"Success": 1, "Snapshoot": 1}
    expired = store.commands.get(door["id"])
    assert expired["state"] == "expired" and expired["sent_at"] is None
    assert expired["finished_at"] == expired["expires_at"] < time.time()
    assert store.commands.get(snap["id"])["state"] == "sent"


def test_expired_command_raises_no_flag(approved: DeviceClient, store: Store) -> None:
    store.commands.enqueue(SN, "Opendoor", 1, ttl=5, at=time.time() - 10)
    assert not flag(approved)
    assert remote(approved) == {"Success": 1}


def test_cancelled_command_is_never_sent(approved: DeviceClient, store: Store) -> None:
    row = store.commands.enqueue(SN, "Recover", 1)
    keep = store.commands.enqueue(SN, "Snapshoot", 1)
    assert store.commands.cancel(row["id"]) == (True, "cancelled")
    assert remote(approved) == {"Success": 1, "Snapshoot": 1}
    assert store.commands.get(row["id"])["state"] == "cancelled"
    assert store.commands.cancel(keep["id"]) == (False, "sent")  # too late: already delivered
    assert store.commands.cancel(999999) == (False, None)


def test_commands_wait_for_approval_and_vanish_with_the_device(server, store: Store) -> None:
    store.devices.add(SN, state="pending")
    store.commands.enqueue(SN, "Opendoor", 1)
    client = DeviceClient(server.port)
    try:
        assert client.post_json("/Device/RemoteCommand").json["Success"] == 401
        assert store.commands.list(SN)[0]["state"] == "queued"
    finally:
        client.close()
    store.devices.forget(SN)
    assert store.commands.list(SN) == []


def test_missing_file_fails_the_command_instead_of_sending_it(approved: DeviceClient, store: Store) -> None:
    stored = store.files.put(b"firmware")
    row = store.commands.enqueue(SN, "PushSoftware", {"File": stored.sha256, "SoftwareVer": "1"})
    store.db.execute("DELETE FROM files WHERE sha256 = ?", [stored.sha256])  # an operator cleaned up
    assert remote(approved) == {"Success": 1}
    failed = store.commands.get(row["id"])
    assert failed["state"] == "failed" and "no longer stored" in failed["note"]


# --- follow-ups --------------------------------------------------------------------------------

def upload_snapshot(client: DeviceClient) -> dict:
    parts = [multipart.text_part("SN", SN), multipart.file_part("Photo", "Photo.jpg", PHOTO, "image/jpeg")]
    return client.post_parts("/Device/UploadSnapshoot", parts).json


def test_snapshot_is_linked_to_its_command(approved: DeviceClient, store: Store) -> None:
    row = store.commands.enqueue(SN, "Snapshoot", 1)
    assert remote(approved) == {"Success": 1, "Snapshoot": 1}
    assert upload_snapshot(approved) == {"Success": 1}
    done = store.commands.get(row["id"])
    assert done["state"] == "done" and done["finished_at"] >= done["sent_at"]
    (link,) = store.commands.followups(row["id"])
    assert link["endpoint"] == "UploadSnapshoot"
    assert link["detail"]["snapshot"] == store.snapshots.latest(SN)["id"]
    assert store.files.get(link["detail"]["photo"])[1] == PHOTO


def test_unasked_snapshot_links_nothing(approved: DeviceClient, store: Store) -> None:
    queued = store.commands.enqueue(SN, "Snapshoot", 1)  # queued, not yet sent: not the one answered
    assert upload_snapshot(approved) == {"Success": 1}
    assert store.commands.get(queued["id"])["state"] == "queued"
    assert store.snapshots.latest(SN) is not None


def test_ticket_result_links_by_user_and_records_failure(approved: DeviceClient, store: Store) -> None:
    """Store-level contract the RegisterIdentifyTicketResult handler calls."""
    face = store.commands.enqueue(SN, "RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1})
    remote(approved)
    card = store.commands.enqueue(SN, "RegisterIdentifyTicket", {"RegisterType": 1, "UserID": 2})
    remote(approved)
    assert store.commands.ticket_result(SN, 1, 1) == [face["id"]]
    assert store.commands.ticket_result(SN, 2, 3, {"RepetitionUserID": 7}) == [card["id"]]
    assert store.commands.get(face["id"])["state"] == "done"
    failed = store.commands.get(card["id"])
    assert failed["state"] == "failed" and "duplicate" in failed["note"] and "user 7" in failed["note"]
    assert store.commands.ticket_result(SN, 1, 1) == []  # nothing outstanding any more


def test_people_pushes_complete_query_people_and_push_all(approved: DeviceClient, store: Store) -> None:
    """Store-level contract the PushPeople handler calls."""
    query = store.commands.enqueue(SN, "QueryPeople", [1, 2])
    remote(approved)
    assert store.commands.people_pushed(SN, 1, 2) == []  # PushType 2: a change at the device, not a reply
    assert store.commands.people_pushed(SN, 1, 4) == [query["id"]]
    assert store.commands.get(query["id"])["state"] == "sent"  # user 2 still to come
    assert store.commands.people_pushed(SN, 2, 4) == [query["id"]]
    assert store.commands.get(query["id"])["state"] == "done"
    everyone = store.commands.enqueue(SN, "PushAllPeople", 1)
    remote(approved)
    for uid in (5, 6, 7):
        assert store.commands.people_pushed(SN, uid, 4) == [everyone["id"]]
    row = store.commands.get(everyone["id"])
    assert row["state"] == "done" and row["progress"] == {"pushed": 3}
    assert len(store.commands.followups(everyone["id"])) == 3


def test_ticket_result_over_http_is_linked(approved: DeviceClient, store: Store) -> None:
    row = store.commands.enqueue(SN, "RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1})
    remote(approved)
    ctype = (EXAMPLES / "RegisterIdentifyTicketResult.content-type").read_text().strip()
    reply = approved.post("/Device/RegisterIdentifyTicketResult",
                          (EXAMPLES / "RegisterIdentifyTicketResult.body").read_bytes(), ctype)
    assert reply.json["Success"] == 1
    assert store.commands.get(row["id"])["state"] == "done"
    assert store.commands.followups(row["id"])[0]["endpoint"] == "RegisterIdentifyTicketResult"


def test_push_people_over_http_is_linked(approved: DeviceClient, store: Store) -> None:
    row = store.commands.enqueue(SN, "QueryPeople", [3])
    remote(approved)
    detail = json.dumps({"UserID": "3", "Name": "888888"}, ensure_ascii=False)
    parts = [multipart.text_part("SN", SN), multipart.text_part("PushType", "4"), multipart.text_part("UserID", "3"),
             multipart.file_part("Detail", "Detail", detail.encode(), gzip=True)]
    assert approved.post_parts("/People/PushPeople", parts).json["Success"] == 1
    assert store.commands.get(row["id"])["state"] == "done"
