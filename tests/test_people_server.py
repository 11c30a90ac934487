"""People delivered over real HTTP, the way a terminal does it (protocol.md 4.3-4.5, 5.3, 5.7, 6.3-6.5).

A `Terminal` below follows the document's people flow on one keep-alive connection:
Keepalive -> DeletePeopleList/Result loop -> DownloadPeopleList/Result loop, downloading
every photo and feature file by its URL and checking its MD5, as firmware does. The
server's state is checked through a Store on the same database file.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, SN, DeviceClient, LiveServer, timed

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.protocol.people import Failure
from facectl.server.app import STORE
from facectl.server.file_urls import sign
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store
from facectl.store.people import PersonInput

SN2 = "FC-8190H25061293"
SN3 = "FC-8380T12345678"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()


class Terminal:
    """A device's people logic: pages, file downloads with MD5 checks, results."""

    def __init__(self, server: LiveServer, sn: str = SN) -> None:
        self.server = server
        self.sn = sn
        self.client = DeviceClient(server.port, sn)
        self.held: dict[int, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}  # URL path -> bytes downloaded
        self.pages: list[list[dict[str, Any]]] = []
        self.delete_answers: list[dict[str, Any]] = []

    def close(self) -> None:
        self.client.close()

    def keepalive(self) -> dict[str, Any]:
        reply = self.client.keepalive()
        assert reply.status == 200
        return reply.json

    def download(self, url: str, expected_md5: str) -> bytes:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url  # root-relative by default (protocol.md 8.3)
        reply = self.client.get(f"{parts.path}?{parts.query}")
        assert reply.status == 200, (url, reply.status, reply.body[:100])
        assert md5(reply.body) == expected_md5  # upper-case hex (protocol.md 5.6)
        self.files[parts.path] = reply.body
        return reply.body

    def take_page(self, limit: int | None = 100) -> list[dict[str, Any]]:
        body = {"Limit": limit} if limit is not None else {}
        answer = self.client.post_json("/People/DownloadPeopleList", body).json
        assert answer["Success"] == 1
        assert answer["PeopleCount"] == answer["Count"] == len(answer["PeopleList"])  # protocol.md 4.3
        self.pages.append(answer["PeopleList"])
        return answer["PeopleList"]

    def store_page(self, page: list[dict[str, Any]], fail: Callable[[dict[str, Any]], int | None]) -> list[dict]:
        failures = []
        for person in page:
            code = fail(person)
            if code:
                failures.append({"UserID": person["UserID"], "ErrorCode": code, "RepeatID": "", "ErrMsg": ""})
                continue
            if person["Photo"]:
                data = self.download(person["Photo"], person["PhotoMD5"])
                assert len(data) == person["PhotoLen"]
                assert data[:2] == b"\xff\xd8"
            for item in person["Fingerprints"] + person["Palmveins"]:
                self.download(item["Data"], item["MD5"])
            if person.get("FaceFeature"):
                self.download(person["FaceFeature"], person["FaceFeatureMD5"])
            self.held[int(person["UserID"])] = person
        return failures

    def send_result(self, page: list[dict[str, Any]], failures: list[dict]) -> None:
        answer = self.client.post_json("/People/DownloadPeopleListResult", {
            "SuccessCount": len(page) - len(failures), "FailCount": len(failures), "FailList": failures}).json
        assert answer["Success"] == 1

    def sync(self, limit: int | None = 100, fail: Callable[[dict[str, Any]], int | None] = lambda p: None,
             delete_limit: int | None = None, list_name: str = "DeleteList") -> dict[str, Any]:
        """One keepalive and the work it asks for, in the document's order; returns the keepalive answer."""
        flags = self.keepalive()
        if flags.get("DeletePeople"):
            while True:
                body = {"Limit": delete_limit} if delete_limit is not None else {}
                answer = self.client.post_json("/People/DeletePeopleList", body).json
                self.delete_answers.append(answer)
                ids = answer.get("DeleteList") or []
                if answer.get("DeleteAll") == 1:
                    self.held.clear()
                    self.client.post_json("/People/DeletePeopleListResult",
                                          {"DeleteCount": 0, "DeleteAll": 1, list_name: []})
                    continue
                if not ids:
                    break
                for uid in ids:
                    self.held.pop(uid, None)
                self.client.post_json("/People/DeletePeopleListResult",
                                      {"DeleteCount": len(ids), "DeleteAll": 0, list_name: ids})
        if flags.get("AddPeople"):
            while True:
                page = self.take_page(limit)
                if not page:
                    break
                self.send_result(page, self.store_page(page, fail))
        return flags

    def push(self, push_type: int, user_id: int, detail: dict[str, Any] | None, photo: bytes | None = None,
             sn_space: bool = False) -> dict[str, Any]:
        """PushPeople as firmware sends it: text fields, Detail a gzipped *file* part (protocol.md 6.3)."""
        parts = [multipart.text_part("SN", (" " if sn_space else "") + self.sn),
                 multipart.text_part("PushType", str(push_type)),
                 multipart.text_part("UserID", str(user_id))]
        if detail is not None:
            parts.append(multipart.file_part("Detail", "Detail", json.dumps(detail, ensure_ascii=False).encode(),
                                             gzip=True))
        if photo is not None:
            parts.append(multipart.file_part("Photo", "Photo.jpg", photo, "image/jpeg"))
        return self.client.post_parts("/People/PushPeople", parts).json


@pytest.fixture
def devices(server: LiveServer, store: Store) -> Iterator[tuple[Terminal, Terminal]]:
    store.devices.add(SN)
    store.devices.add(SN2)
    a, b = Terminal(server, SN), Terminal(server, SN2)
    yield a, b
    a.close()
    b.close()


def server_people(server: LiveServer) -> Any:
    """The running server's own People repository (for its redelivery timeout)."""
    return server.runner.app[STORE].people


def add_people(store: Store, ids: range | list[int], photo_size: int = 0, **values: Any) -> None:
    items = [PersonInput(uid, {"Name": f"person {uid}", **values},
                         photo=make_jpeg(photo_size, seed=uid) if photo_size else None) for uid in ids]
    store.people.save_many(items, mode="add")


def cli_run(db_path: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", db_path], catch_exceptions=False)
    return result


# --- the big one --------------------------------------------------------------------------

@timed
def test_2500_people_with_photos_reach_two_devices(server: LiveServer, store: Store,
                                                   devices: tuple[Terminal, Terminal], timed: bool) -> None:
    add_people(store, range(1, 2501), photo_size=700)
    slowest = 0.0
    for terminal in devices:
        flags = terminal.keepalive()
        assert flags["Success"] == 1 and flags.get("AddPeople") == 1
        while True:
            started = time.perf_counter()
            page = terminal.take_page(100)
            slowest = max(slowest, time.perf_counter() - started)
            if not page:
                break
            assert len(page) == 100
            terminal.send_result(page, terminal.store_page(page, lambda p: None))
        assert len(terminal.held) == 2500
        assert len(terminal.files) == 2500  # every photo fetched by URL, MD5 checked
        assert "AddPeople" not in terminal.keepalive()
    assert not timed or slowest < 1.0, f"a 100-person page took {slowest:.3f}s (device timeout 2 s)"
    sample = devices[1].held[1234]
    assert sample["Name"] == "person 1234" and sample["UserID"] == "1234"
    assert sample["OpenTimes"] == 65535 and sample["AccessType"] == 0 and "Timegroup" not in sample
    by_sn = {r["sn"]: r for r in store.people.status()}
    for sn in (SN, SN2):
        assert by_sn[sn]["delivered"] == 2500 and by_sn[sn]["pending"] == by_sn[sn]["in_flight"] == 0


# --- redelivery ---------------------------------------------------------------------------

def test_lost_result_is_handed_out_again(server: LiveServer, store: Store,
                                         devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, range(1, 6))
    assert a.keepalive().get("AddPeople") == 1
    first = a.take_page(2)
    assert [p["UserID"] for p in first] == ["1", "2"]
    second = a.take_page(2)  # the device never answered for `first`
    a.send_result(second, [])  # a result confirms the latest page only
    rest = a.take_page(100)
    assert [p["UserID"] for p in rest] == ["5"]
    a.send_result(rest, [])
    assert a.take_page(100) == []  # 1 and 2 are in flight: the loop ends
    status = store.people.status(SN)[0]
    assert status["delivered"] == 3 and status["in_flight"] == 2
    assert "AddPeople" not in a.keepalive()  # nothing new until the in-flight ones time out
    server_people(server).redelivery_timeout = 0.0  # "later": the redelivery timeout has passed
    try:
        assert a.keepalive().get("AddPeople") == 1
        again = a.take_page(100)
        assert [p["UserID"] for p in again] == ["1", "2"]
        a.send_result(again, [])
    finally:
        server_people(server).redelivery_timeout = 120.0
    assert "AddPeople" not in a.keepalive()
    assert store.people.status(SN)[0]["delivered"] == 5


# --- failures -----------------------------------------------------------------------------

def test_fail_list_both_shapes_kept_and_not_retried(server: LiveServer, store: Store, db_path: str,
                                                    devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, range(1, 6))
    assert a.keepalive().get("AddPeople") == 1
    page = a.take_page(100)
    # The table's shape, UserID as a string.
    a.send_result(page, [{"UserID": "2", "ErrorCode": 20, "RepeatID": "1", "ErrMsg": "same face as 1"}])
    # The example's shape: the list under FailCount, UserID a number (protocol.md 4.4).
    store.people.sync([SN], full=True)
    page = a.take_page(100)
    assert len(page) == 5
    reply = a.client.post_json("/People/DownloadPeopleListResult", {
        "SuccessCount": 3, "FailCount": [{"UserID": 2, "ErrorCode": 20, "RepeatID": 1},
                                         {"UserID": 4, "ErrorCode": 23, "RepeatID": 3}]})
    assert reply.json["Success"] == 1
    status = store.people.status(SN)[0]
    assert status["failed"] == 2 and status["delivered"] == 3
    reasons = {f["label"]: f["count"] for f in status["failures"]}
    assert reasons == {"duplicate face": 1, "duplicate card number": 1}
    assert "AddPeople" not in a.keepalive()  # failures are not retried by themselves
    (row,) = [d for d in store.people.deliveries(4) if d["sn"] == SN]
    assert row["state"] == "failed" and row["fail_code"] == 23 and row["fail_repeat"] == "3"
    # A change to the person is tried again; the other failure waits for the operator.
    assert cli_run(db_path, "people", "update", "4", "--card", "99").exit_code == 0
    assert a.keepalive().get("AddPeople") == 1
    assert [p["UserID"] for p in a.take_page(100)] == ["4"]
    a.send_result(a.pages[-1], [])
    result = cli_run(db_path, "people", "sync", SN)
    assert result.exit_code == 0, result.output
    assert a.sync().get("AddPeople") == 1
    assert [p["UserID"] for p in a.pages[-2]] == ["2"] and a.pages[-1] == []
    assert store.people.status(SN)[0]["delivered"] == 5


def test_unreadable_fail_list_confirms_nothing(server: LiveServer, store: Store,
                                               devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, [1, 2])
    a.keepalive()
    a.take_page(100)
    reply = a.client.post_json("/People/DownloadPeopleListResult",
                               {"SuccessCount": 1, "FailCount": 1, "FailList": "broken"})
    assert reply.json["Success"] == 1 and "kept for review" in reply.json["Message"]
    assert store.people.status(SN)[0]["in_flight"] == 2
    assert store.quarantine.count() == 1


# --- biometrics ---------------------------------------------------------------------------

FINGER = base64.b64encode(b"fingerprint template of person 3").decode()
PALM = base64.b64encode(b"palm vein template of person 3").decode()
FACE = base64.b64encode(b"face feature of person 3").decode()


def test_pushed_biometrics_survive_updates_and_reach_other_devices(
        server: LiveServer, store: Store, db_path: str, devices: tuple[Terminal, Terminal]) -> None:
    a, b = devices
    add_people(store, [3])
    a.sync()
    b.sync()
    photo = make_jpeg(2000, seed=33)
    detail = {"UserID": "3", "Name": "person 3", "Photo": "/data/user_pic/3.jpg",  # a device path (6.4)
              "FaceFeature": FACE, "FaceFeatureMD5": md5(FACE.encode()),
              "Fingerprints": [{"Num": 1, "Data": FINGER, "MD5": md5(FINGER.encode())}],
              "Palmveins": [{"Num": 2, "Data": PALM, "MD5": "WRONG"}]}
    assert a.push(2, 3, detail, photo, sn_space=True) == {"Success": 1}
    kinds = {(x["kind"], x["num"]): x for x in store.people.biometrics(3)}
    assert set(kinds) == {("face", 0), ("fingerprint", 1), ("palmvein", 2)}
    assert kinds[("palmvein", 2)]["md5"] == md5(PALM.encode())  # the data's MD5, not the wrong one sent
    assert kinds[("fingerprint", 1)]["source_sn"] == SN
    person = store.people.get(3)
    assert person["photo"]["md5"] == md5(photo) and person["photo_source"] == SN  # had none: adopted
    # Enrolment at A reaches B (and A gets the merged version back).
    assert b.sync().get("AddPeople") == 1
    got = b.held[3]
    assert got["PhotoMD5"] == md5(photo)
    assert [(f["Num"], f["MD5"]) for f in got["Fingerprints"]] == [(1, md5(FINGER.encode()))]
    assert b.files[urlsplit(got["Fingerprints"][0]["Data"]).path] == FINGER.encode()  # the file is base64 text
    assert urlsplit(got["FaceFeature"]).path.endswith(".dat")
    # An operator update keeps everything the devices enrolled (protocol.md 6.5).
    assert cli_run(db_path, "people", "update", "3", "--name", "Person Three").exit_code == 0
    a.sync()
    updated = a.held[3]
    assert updated["Name"] == "Person Three"
    assert updated["Fingerprints"] and updated["Palmveins"] and updated["FaceFeature"]
    assert updated["PhotoMD5"] == md5(photo)
    # The same report again changes nothing (no version churn, no loop).
    version = store.people.get(3)["version"]
    assert a.push(4, 3, detail, photo) == {"Success": 1}
    assert store.people.get(3)["version"] == version
    assert "AddPeople" not in a.keepalive()


def test_enrolment_result_is_kept_and_merged(server: LiveServer, store: Store,
                                            devices: tuple[Terminal, Terminal]) -> None:
    a, b = devices
    add_people(store, [1], CardNum="1")
    a.sync()
    b.sync()
    ctype = (EXAMPLES / "RegisterIdentifyTicketResult.content-type").read_text().strip()
    body = (EXAMPLES / "RegisterIdentifyTicketResult.body").read_bytes()
    for _ in range(2):  # a retry of the same result is one enrolment
        assert a.client.post("/Device/RegisterIdentifyTicketResult", body, ctype).json == {"Success": 1}
    (enrolment,) = store.people.enrolment_results(sn=SN)
    assert enrolment["user_id"] == 1 and enrolment["result"] == 1 and enrolment["result_label"] == "registered"
    assert enrolment["command_id"] is None and enrolment["photo"]
    person = store.people.get(1)
    assert person["fields"]["CardNum"] == "6666"  # the device was in sync: its enrolment is adopted
    assert person["photo"]["sha256"] == enrolment["photo"]
    assert {(x["kind"], x["num"]) for x in store.people.biometrics(1)} == {("fingerprint", 1), ("palmvein", 1)}
    b.sync()
    assert b.held[1]["CardNum"] == "6666" and b.held[1]["Fingerprints"][0]["Num"] == 1
    # A duplicate (protocol.md 4.8: the example's Result 2) is kept as reported, nothing merged.
    ctype = (EXAMPLES / "RegisterIdentifyTicketResult-duplicate.content-type").read_text().strip()
    body = (EXAMPLES / "RegisterIdentifyTicketResult-duplicate.body").read_bytes()
    assert a.client.post("/Device/RegisterIdentifyTicketResult", body, ctype).json == {"Success": 1}
    latest = store.people.enrolment_results(sn=SN)[-1]
    assert latest["result"] == 2 and latest["repetition_user_id"] == 2
    assert store.people.link_enrolment(latest["id"], 42)
    assert store.people.enrolment_results(sn=SN, unlinked_only=True)[-1]["id"] == enrolment["id"]


# --- device reports -----------------------------------------------------------------------

def test_unknown_person_reported_is_shown_not_adopted(server: LiveServer, store: Store, db_path: str,
                                                     devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, [1])
    a.sync()
    assert a.push(1, 77, {"UserID": "77", "Name": "added at the door", "Fingerprints": [
        {"Num": 0, "Data": FINGER, "MD5": md5(FINGER.encode())}]}) == {"Success": 1}
    assert store.people.get(77) is None  # not adopted
    assert "DeletePeople" not in a.keepalive()  # and not deleted behind the operator's back
    diff = store.people.diff(SN)
    assert [x["user_id"] for x in diff["unknown"]] == [77]
    assert store.people.status(SN)[0]["unknown_reported"] == 1
    result = cli_run(db_path, "people", "diff", SN, "--json")
    assert json.loads(result.output)["unknown"][0]["name"] == "added at the door"
    # Adopting it later keeps what the device enrolled.
    assert cli_run(db_path, "people", "add", "77", "--name", "Door Added").exit_code == 0
    a.sync()
    assert a.held[77]["Fingerprints"][0]["MD5"] == md5(FINGER.encode())
    # A device that reports a delivered person gone gets it again.
    assert a.push(3, 1, None) == {"Success": 1}
    assert a.sync().get("AddPeople") == 1 and 1 in a.held


def test_rm_of_reported_unknown_person_deletes_it_from_that_device(
        server: LiveServer, store: Store, db_path: str, devices: tuple[Terminal, Terminal]) -> None:
    a, b = devices
    assert a.push(1, 88, {"UserID": 88, "Name": "stray"}) == {"Success": 1}
    result = cli_run(db_path, "people", "rm", "88")
    assert result.exit_code == 0 and "deleted from the devices" in result.output
    assert a.sync().get("DeletePeople") == 1
    assert a.delete_answers[0]["DeleteList"] == [88]
    assert "DeletePeople" not in b.keepalive()


# --- deletion -----------------------------------------------------------------------------

def test_rm_pages_default_50_and_accepts_delet_list(server: LiveServer, store: Store, db_path: str,
                                                    devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, range(1, 71))
    a.sync(limit=1000)
    assert len(a.held) == 70
    result = cli_run(db_path, "people", "rm", *map(str, range(1, 61)))
    assert result.exit_code == 0, result.output
    flags = a.sync(list_name="DeletList")  # the example's spelling (protocol.md 4.5); no Limit sent
    assert flags.get("DeletePeople") == 1
    sizes = [len(x["DeleteList"]) for x in a.delete_answers]
    assert sizes == [50, 10, 0]  # DeletePeopleList default page 50, then empty
    assert all(x["DeleteCount"] == len(x["DeleteList"]) and x["DeleteAll"] == 0 for x in a.delete_answers)
    assert sorted(a.held) == list(range(61, 71))
    assert "DeletePeople" not in a.keepalive()
    assert store.db.execute("SELECT count(*) FROM device_people WHERE sn = ?", [SN]).fetchone()[0] == 10


def test_delete_all_then_everyone_again(server: LiveServer, store: Store, db_path: str,
                                        devices: tuple[Terminal, Terminal]) -> None:
    a, b = devices
    add_people(store, range(1, 11))
    a.sync()
    b.sync()
    result = cli_run(db_path, "people", "sync", SN, "--wipe", "--dry-run", "--json")
    assert json.loads(result.output)["plans"][0]["wipe"] is True
    assert "DeletePeople" not in a.keepalive()  # the dry run changed nothing
    assert cli_run(db_path, "people", "sync", SN, "--wipe").exit_code == 0
    pages_before = len(a.pages)
    flags = a.sync()
    assert flags.get("DeletePeople") == 1
    assert a.delete_answers[0] == {"Success": 1, "DeleteAll": 1, "DeleteCount": 0, "DeleteList": []}
    assert a.delete_answers[-1]["DeleteList"] == []  # the loop ends
    # After DeleteAll everyone the device should hold is sent again.
    flags = a.sync()
    assert flags.get("AddPeople") == 1 and sorted(a.held) == list(range(1, 11))
    assert sum(len(p) for p in a.pages[pages_before:]) == 10
    flags = b.keepalive()  # the other device is untouched
    assert "DeletePeople" not in flags and "AddPeople" not in flags and len(b.held) == 10


# --- scope and approval -------------------------------------------------------------------

def test_scope_changes_wants_and_new_devices_get_everyone(server: LiveServer, store: Store, db_path: str,
                                                          devices: tuple[Terminal, Terminal]) -> None:
    a, b = devices
    add_people(store, [1, 2])
    assert cli_run(db_path, "people", "add", "3", "--name", "A only", "--device", SN).exit_code == 0
    a.sync()
    b.sync()
    assert sorted(a.held) == [1, 2, 3] and sorted(b.held) == [1, 2]
    assert cli_run(db_path, "people", "update", "3", "--device", SN2).exit_code == 0
    a.sync()
    b.sync()
    assert sorted(a.held) == [1, 2] and sorted(b.held) == [1, 2, 3]
    bad = cli_run(db_path, "people", "update", "3", "--device", "FC-0000X00000000")
    assert bad.exit_code == 1 and "unknown device FC-0000X00000000" in bad.output
    # A device that shows up later, once approved, gets every all-devices person.
    c = Terminal(server, SN3)
    try:
        assert c.keepalive()["Success"] == 401  # pending
        store.devices.set_state(SN3, "approved")
        c.sync()
        assert sorted(c.held) == [1, 2]
    finally:
        c.close()


# --- limits and URLs ----------------------------------------------------------------------

def test_cjk_names_at_the_byte_limits(server: LiveServer, store: Store, db_path: str,
                                      devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    name = "张" * 21  # 63 bytes
    rare = "𠮷" * 15 + "abc"  # 4-byte characters: 63 bytes
    attachment = "附" * 66 + "x"  # 199 bytes
    store.people.add(PersonInput(1, {"Name": name, "Department": rare, "Attachment": attachment,
                                     "QRCode": "q" * 127}))
    a.sync()
    got = a.held[1]
    assert (got["Name"], got["Department"], got["Attachment"]) == (name, rare, attachment)
    result = cli_run(db_path, "people", "add", "2", "--name", "张" * 23 + "a")
    assert result.exit_code == 1
    assert "Name is 70 bytes in UTF-8" in result.output and "at most 63" in result.output
    result = cli_run(db_path, "people", "add", "2", "--department", "𠮷" * 16)
    assert "Department is 64 bytes" in result.output


def test_expired_or_tampered_file_urls_are_refused(server: LiveServer, store: Store,
                                                   devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, [1], photo_size=900)
    a.sync()
    url = urlsplit(a.held[1]["Photo"])
    query = parse_qs(url.query)
    sha = url.path.rsplit("/", 1)[1].split(".")[0]
    assert a.client.get(f"{url.path}?{url.query}").status == 200
    tampered = "0" * 32 if query["s"][0] != "0" * 32 else "1" * 32
    assert a.client.get(f"{url.path}?e={query['e'][0]}&s={tampered}").status == 403
    later = int(query["e"][0]) + 3600  # a longer life needs a new signature
    assert a.client.get(f"{url.path}?e={later}&s={query['s'][0]}").status == 403
    past = int(time.time()) - 1
    assert a.client.get(f"{url.path}?e={past}&s={sign(store.meta.secret(), sha, past)}").status == 403
    assert a.client.get(f"{url.path}").status == 403


def test_inline_files_for_devices_that_cannot_fetch_urls(server: LiveServer, store: Store, db_path: str,
                                                         devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    photo = make_jpeg(3000, seed=5)
    store.people.add(PersonInput(5, {"Name": "inline"}, photo=photo, face_feature=FACE))
    assert cli_run(db_path, "people", "sync", SN, "--files", "inline").exit_code == 0
    a.keepalive()
    (person,) = a.take_page(100)
    assert base64.b64decode(person["Photo"]) == photo and person["PhotoMD5"] == md5(photo)
    assert person["PhotoLen"] == len(photo)
    assert person["FaceFeature"] == FACE and person["FaceFeatureMD5"] == md5(FACE.encode())


def test_answers_are_gzip_when_the_device_accepts_it(server: LiveServer, store: Store,
                                                     devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, range(1, 50))
    a.keepalive()
    reply = a.client.post("/People/DownloadPeopleList", json.dumps({"SN": SN, "Limit": 1000}).encode(),
                          headers={"Accept-Encoding": "gzip"})
    assert reply.headers.get("content-encoding") == "gzip"
    assert len(json.loads(gzip.decompress(reply.body))["PeopleList"]) == 49


def test_the_flag_checks_use_the_partial_indexes(store: Store) -> None:
    """The keepalive check stays one indexed query however many people are in sync."""
    plan = " ".join(str(r) for r in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT 1 FROM device_people WHERE sn = 'x' AND want IS NOT NULL AND "
        "want IS NOT have AND fail_version IS NOT want AND inflight_at <= 0"))
    assert "device_people_add" in plan


def test_store_result_for_unknown_failure_is_harmless(store: Store) -> None:
    store.devices.add(SN)
    add_people(store, [1])
    page = store.people.take_add_page(SN, 10)
    assert [p.user_id for p in page.people] == [1]
    outcome = store.people.add_result(SN, [Failure(999, 1, None, "")])
    assert outcome == {"confirmed": 1, "failed": 0, "unknown": 1}



def test_change_while_in_flight_is_delivered_next(server: LiveServer, store: Store, db_path: str,
                                                 devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    add_people(store, [1])
    a.keepalive()
    page = a.take_page(100)
    assert cli_run(db_path, "people", "update", "1", "--name", "Renamed").exit_code == 0
    a.send_result(page, [])  # confirms the version handed out, not the new one
    (row,) = [d for d in store.people.deliveries(1) if d["sn"] == SN]
    assert row["state"] == "pending" and row["have"] < row["want"]
    assert a.sync().get("AddPeople") == 1 and a.held[1]["Name"] == "Renamed"
    assert [d["state"] for d in store.people.deliveries(1) if d["sn"] == SN] == ["delivered"]


def test_unusable_push_is_kept_and_acknowledged(server: LiveServer, store: Store,
                                                devices: tuple[Terminal, Terminal]) -> None:
    a, _ = devices
    reply = a.push(9, 5, {"UserID": 5})
    assert reply["Success"] == 1 and "kept for review" in reply["Message"]  # the device's queue moves on
    reply = a.push(1, 0, {"UserID": 0})
    assert reply["Success"] == 1 and "UserID" in reply["Message"]
    assert store.quarantine.count() == 2 and store.people.reports(SN) == []


def test_inline_pages_stop_at_the_byte_budget(store: Store) -> None:
    store.devices.add(SN)
    store.people.set_file_mode([SN], inline=True)
    store.people.save_many([PersonInput(uid, {"Name": str(uid)}, photo=make_jpeg(390_000, seed=uid))
                            for uid in range(1, 15)], mode="add")
    page = store.people.take_add_page(SN, 1000)
    assert page.inline and 5 <= len(page.people) < 14
    assert all(p.photo.data is not None and md5(p.photo.data) == p.photo.md5 for p in page.people)
    assert store.people.status(SN)[0]["in_flight"] == len(page.people)
