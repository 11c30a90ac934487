"""The simulator's device logic and wire encoding, without a network.

Every body the simulator sends is read back with the project's own decoder
(facectl.protocol.decode), so "the device speaks the protocol" is checked
against the same code the server and the inspector use.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import random
import struct

import pytest

from facectl.protocol import lenient_json
from facectl.protocol.decode import decode_request
from facectl.protocol.device_rules import (
    ERR_DUPLICATE_CARD,
    ERR_FACE_DOWNLOAD,
    ERR_PARAMETERS,
    ERR_PHOTO_DOWNLOAD,
    ERR_PHOTO_TOO_LARGE,
    ERR_PHOTO_UNRECOGNISABLE,
    ERR_STORAGE_FULL,
    flag_set,
    is_quiet,
    person_error,
)
from facectl.protocol.endpoints import ENDPOINTS
from facectl.protocol.items import FAIL_ITEM_FIELDS
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.protocol.settings import READ_ONLY_SETTINGS
from facectl.sim import wire
from facectl.sim.codes import (
    KIND_DOOR,
    KIND_SYSTEM,
    PUSH_ADDED,
    PUSH_QUERIED,
    PUSH_UPDATED,
    REC_UNREGISTERED,
    RESULT_NO_FINGERPRINT,
    RESULT_OK,
    SYS_KEEP_OPEN,
    SYS_POWER_ON,
    SYS_RECORDS_DELETED,
)
from facectl.sim.config import Faults, SimConfig, Variants
from facectl.sim.device import SimDevice
from facectl.sim.jpeg import MIN_JPEG_BYTES, jpeg_size, make_jpeg
from facectl.sim.people import PeopleStore, StoredPerson, import_person
from facectl.sim.settings_doc import default_settings, example_text
from facectl.sim.stats import Stats
from facectl.sim.transport import Fetched

SN = "FC-8190H24052799"


class Clock:
    def __init__(self, now: float = 1_718_616_771.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def device(**options) -> tuple[SimDevice, Clock]:
    clock = Clock()
    return SimDevice(SN, SimConfig(seed=1, **options), clock=clock), clock


# ---------------------------------------------------------------- JPEG


def _segments(data: bytes) -> list[int]:
    """Walk the JPEG marker segments up to the scan; return the markers seen."""
    assert data[:2] == b"\xff\xd8"
    pos, markers = 2, []
    while True:
        assert data[pos] == 0xFF, f"no marker at {pos}"
        marker = data[pos + 1]
        markers.append(marker)
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data then EOI
            assert data[pos:] == b"\x3f\xff\xd9"
            return markers


@pytest.mark.parametrize("size", [0, MIN_JPEG_BYTES + 1, MIN_JPEG_BYTES + 4, 30 * 1024, 70_000,
                                  MAX_PHOTO_BYTES])
def test_jpeg_is_valid_and_sized(size: int) -> None:
    data = make_jpeg(size, seed=3)
    assert data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")
    assert len(data) == jpeg_size(size)
    assert abs(len(data) - max(size, MIN_JPEG_BYTES)) <= 3
    markers = _segments(data)
    for needed in (0xE0, 0xDB, 0xC0, 0xC4, 0xDA):  # APP0, DQT, SOF0, DHT, SOS
        assert needed in markers


def test_jpegs_differ_by_seed() -> None:
    assert make_jpeg(5000, 1) != make_jpeg(5000, 2)
    assert make_jpeg(5000, 1) == make_jpeg(5000, 1)


# ------------------------------------------------------------ settings


def test_settings_document_is_the_documents_example() -> None:
    doc = default_settings(SN, server_url="http://10.0.0.1:8080", keepalive_seconds=15)
    assert doc["DeviceSN"] == SN
    for misspelt in ("FirmwareVerson", "FaceVerson", "WiredGteway", "WIFIGteway"):
        assert misspelt in doc  # protocol.md 3.9: the wire names, never "fixed"
    assert "Pasword" in doc["PeopleStorageInfo"]
    assert doc["HTTPClient_ProtocolType"] == 200 and doc["HTTPClient_KeepaliveTime"] == 15
    assert doc["HTTPClient_ServerAddr"] == "http://10.0.0.1:8080"
    text = example_text(SN)
    parsed = lenient_json.parse(text)
    assert parsed.duplicate_keys == ["DeviceSN"] and parsed.value["DeviceSN"] == SN


def test_settings_upload_reports_state_and_storage() -> None:
    dev, _ = device()
    dev.ctx.people.put(StoredPerson(1, {"UserID": "1", "CardNum": "55"}, photo=make_jpeg(0)))
    dev.door.keep_open = 1
    doc = dev.work_settings.settings_doc()
    assert doc["KeepOpenStatus"] == 1 and doc["RelayStatus"] == 1
    assert doc["PeopleStorageInfo"]["Person"] == {"Max": 20000, "Current": 1}
    assert doc["PeopleStorageInfo"]["Card"]["Current"] == 1
    assert doc["AlarmStatus"] == '""'  # protocol.md 3.7, as the firmware sends it


def test_apply_settings_skips_read_only_and_unknown() -> None:
    dev, _ = device(interval=15)
    firmware = dev.ctx.settings["FirmwareVerson"]
    changed = dev.work_settings.apply_settings({"Success": 1, "DeviceSN": "XX-OTHER00", "Volume": 2,
                                  "FirmwareVerson": "9.99", "NoSuchSetting": 1,
                                  "HTTPClient_KeepaliveTime": 20, "ShortMessage": '""'})
    assert sorted(changed) == ["HTTPClient_KeepaliveTime", "Volume"]
    assert dev.ctx.settings["FirmwareVerson"] == firmware and dev.ctx.settings["DeviceSN"] == SN
    assert dev.ctx.interval == 20.0
    assert "NoSuchSetting" not in dev.ctx.settings
    assert "FirmwareVerson" in READ_ONLY_SETTINGS


# -------------------------------------------------------- remote commands


def test_door_commands_show_in_the_next_keepalive() -> None:
    dev, clock = device()
    assert dev.keepalive_doc() == {"SN": SN, "RelayStatus": 0, "KeepOpenStatus": 0,
                                   "DoorSensorStatus": 0, "LockDoorStatus": 0, "AlarmStatus": ""}
    dev.remote.apply({"Success": 1, "Opendoor": 1})
    assert dev.keepalive_doc()["RelayStatus"] == 1
    clock.now += float(dev.ctx.settings["ReleaseTime"]) + 0.1
    assert dev.keepalive_doc()["RelayStatus"] == 0  # the pulse is over
    dev.remote.apply({"Success": 1, "Opendoor": 2})
    assert dev.keepalive_doc()["KeepOpenStatus"] == 1
    dev.remote.apply({"Success": 1, "Opendoor": 4})
    assert dev.keepalive_doc()["LockDoorStatus"] == 1
    dev.remote.apply({"Success": 1, "Opendoor": 3})
    dev.remote.apply({"Success": 1, "Opendoor": 5})
    doc = dev.keepalive_doc()
    assert (doc["KeepOpenStatus"], doc["LockDoorStatus"], doc["RelayStatus"]) == (0, 0, 0)
    events = [r.detail["RecordType"] for r in dev.log.system_backlog[KIND_SYSTEM]]
    assert SYS_KEEP_OPEN in events and len(events) == 5


def test_alarms_clear_and_are_recorded() -> None:
    dev, _ = device()
    dev.door.alarms = ["fire", "anti"]
    assert dev.keepalive_doc()["AlarmStatus"] == "fire,anti"
    dev.remote.apply({"Success": 1, "Closealarm": 1})
    assert dev.keepalive_doc()["AlarmStatus"] == ""
    assert len(dev.log.system_backlog[KIND_SYSTEM]) == 2


def test_remote_plan_collects_follow_up_work() -> None:
    dev, _ = device()
    for uid in (3, 1, 2):
        dev.ctx.people.put(StoredPerson(uid, {"UserID": str(uid)}))
    plan = dev.remote.apply({"Success": 1, "PushAllPeople": 1, "QueryPeople": [7, "2"], "Snapshoot": 1,
                             "Restart": 1, "PushSoftware": {"SoftwareURL": "http://x/fw"},
                             "KeepOpenElevatorPort": "1,2,3", "CloseElevatorPort": [2]})
    assert list(dev.ctx.push_queue) == [(PUSH_QUERIED, 1), (PUSH_QUERIED, 2), (PUSH_QUERIED, 3),
                                    (PUSH_QUERIED, 7), (PUSH_QUERIED, 2)]
    assert plan.snapshot and plan.restart and plan.software is not None
    assert dev.door.elevator["keep_open"] == {1, 3}


def test_register_ticket_object_and_flat_forms() -> None:
    dev, _ = device()
    dev.ctx.people.put(StoredPerson(1, {"UserID": "1", "Name": "A"}))
    plan = dev.remote.apply({"Success": 1, "RegisterIdentifyTicket": 4, "RegisterIdentifyUserID": 1})
    (enrolment,) = plan.enrolments
    assert (enrolment.user_id, enrolment.result, enrolment.push_type) == (1, RESULT_OK, PUSH_UPDATED)
    assert dev.ctx.people.get(1).photo is not None and dev.ctx.people.get(1).face_feature
    plan = dev.remote.apply({"Success": 1, "RegisterIdentifyTicket":
                             {"RegisterType": 1, "UserID": 9, "RegisterIndex": 0}})
    assert plan.enrolments[0].push_type == PUSH_ADDED and dev.ctx.people.get(9).card
    # the example's FunctionList has no fingerprint reader
    plan = dev.remote.apply({"Success": 1, "RegisterIdentifyTicket": {"RegisterType": 3, "UserID": 1}})
    assert plan.enrolments[0].result == RESULT_NO_FINGERPRINT


def test_remote_answer_read_by_the_protocol_reader() -> None:
    """One QueryPeople id given bare is a list of one; repeats are asked once; a flag other than 1
    and an unknown door code are named as unreadable while the rest of the answer is carried out."""
    dev, _ = device()
    plan = dev.remote.apply({"Success": 1, "QueryPeople": 5, "Snapshoot": 2, "Opendoor": "x", "Closealarm": "1"})
    assert list(dev.ctx.push_queue) == [(PUSH_QUERIED, 5)]
    assert plan.applied == ["Closealarm", "QueryPeople 1"] and not plan.snapshot
    assert [u.split(":")[0] for u in plan.unreadable] == ["Opendoor", "Snapshoot"]
    dev.ctx.push_queue.clear()
    dev.remote.apply({"Success": 1, "QueryPeople": [4, "4", 2]})
    assert list(dev.ctx.push_queue) == [(PUSH_QUERIED, 4), (PUSH_QUERIED, 2)]


def test_clear_and_repost_records() -> None:
    dev, clock = device(records_per_min=60)
    dev.records.generate_records()
    clock.now += 5
    dev.records.generate_records()
    sent = [dev.log.identify_backlog.popleft() for _ in range(2)]
    dev.log.history.extend(sent)
    dev.remote.apply({"Success": 1, "RepostRecord": 1})
    assert list(dev.log.identify_backlog)[-2:] == sent and not dev.log.history
    dev.remote.apply({"Success": 1, "ClearRecord": 1})
    assert not dev.log.identify_backlog and not dev.log.history
    assert dev.log.system_backlog[KIND_SYSTEM][-1].detail["RecordType"] == SYS_RECORDS_DELETED


# --------------------------------------------------------------- records


def test_record_rate_and_content() -> None:
    dev, clock = device(records_per_min=60, photo_bytes=2000)
    dev.records.generate_records()  # starts the clock
    clock.now += 10
    assert dev.records.generate_records() == 10
    rec = dev.log.identify_backlog[0]
    assert rec.detail["RecordType"] == REC_UNREGISTERED  # nobody on the device yet
    assert rec.detail["PhotoLen"] == len(rec.photo()) == 2000
    ids = [r.detail["RecordID"] for r in dev.log.identify_backlog]
    assert len(set(ids)) == 10
    dev.ctx.people.put(StoredPerson(5, {"UserID": "5", "Name": "张三", "CardNum": "77"},
                                photo=make_jpeg(0)))
    clock.now += 60
    dev.records.generate_records()
    known = [r for r in dev.log.identify_backlog if r.detail["UserID"] == "5"]
    assert known and known[0].detail["Name"] == "张三"
    assert dev.log.system_backlog[KIND_DOOR]  # known people open the door


def test_boot_records_power_on() -> None:
    dev, _ = device()
    dev.boot()
    assert dev.log.system_backlog[KIND_SYSTEM][-1].detail["RecordType"] == SYS_POWER_ON
    assert not dev.work_settings.uploaded


# ------------------------------------------------------------------ wire


def _decode(name: str, body: wire.Body):
    return decode_request(ENDPOINTS[name], body.data, body.content_type, body.content_encoding)


VARIANTS = [
    Variants(),
    Variants(gzip="parts"),
    Variants(gzip="body"),
    Variants(gzip="parts", json_part_as_file=True),
    Variants.document_examples(),
    Variants(record_json_part="recordJson", record_photo_part="pic", gzip="parts", sn_leading_space=True),
]


@pytest.mark.parametrize("variants", VARIANTS, ids=lambda v: f"{v.record_json_part}-{v.record_photo_part}"
                         f"-{v.gzip}-{int(v.json_part_as_file)}-{int(v.sn_leading_space)}")
def test_record_upload_decodes_with_the_project_decoder(variants: Variants) -> None:
    dev = SimDevice(SN, SimConfig(seed=2, variants=variants, photo_bytes=3000), clock=Clock())
    rec = dev.records.make_identify_record(1_718_616_771)
    parts = [wire.sn_part(SN, variants), wire.json_part(variants.record_json_part, rec.detail, variants),
             wire.photo_part(variants.record_photo_part, rec.photo())]
    decoded = _decode("UploadIdentifyRecord", wire.multipart_body(parts, variants, random.Random(1)))
    assert decoded.sn == SN
    assert decoded.document == rec.detail
    assert decoded.photo is not None and decoded.photo.data == rec.photo()
    assert decoded.body_gzip == (variants.gzip == "body")
    assert decoded.json_part_gzip == (variants.gzip == "parts")
    if variants.sn_leading_space:
        assert any("whitespace" in q for q in decoded.quirks)


@pytest.mark.parametrize("quirk", wire.JSON_QUIRKS)
def test_quirky_json_still_decodes(quirk: str) -> None:
    dev, _ = device()
    doc = dev.work_settings.settings_doc() if quirk == "duplicate DeviceSN" else dev.keepalive_doc()
    name = "UploadWorkSetting" if quirk == "duplicate DeviceSN" else "Keepalive"
    decoded = _decode(name, wire.json_body(doc, Variants(), quirk=quirk))
    assert decoded.sn == SN
    assert decoded.quirks or quirk in ("padded SN", "quoted empty AlarmStatus")


def test_trailing_comma_variant_matches_the_document() -> None:
    body = wire.json_body({"SN": SN, "AlarmStatus": ""}, Variants(trailing_comma=True))
    assert body.data.decode().endswith('"",\n}')
    with pytest.raises(json.JSONDecodeError):
        json.loads(body.data)
    assert lenient_json.parse(body.data).value == {"SN": SN, "AlarmStatus": ""}


def test_push_people_detail_is_a_gzip_file_part() -> None:
    dev, _ = device()
    person = StoredPerson(3, {"UserID": "3", "Name": "888888", "Photo": "http://abc.com/photo/1.jpg"},
                          photo=make_jpeg(4000, 1))
    part = wire.json_part("Detail", person.wire(), Variants(), force_gzip=True, as_file=True)
    assert part.is_file and part.data[:2] == b"\x1f\x8b"
    detail = json.loads(gzip.decompress(part.data))
    assert detail["Photo"] == "/data/user_pic/3.jpg"  # protocol.md 6.4: a path on the device
    assert detail["PhotoMD5"] == hashlib.md5(person.photo).hexdigest().upper()


def test_every_field_the_device_sends_is_in_the_catalog() -> None:
    """One fact, one place: the simulator sends no field name the catalog does not know."""
    dev, _ = device()
    fail_names = {f.name for f in FAIL_ITEM_FIELDS}

    def names(endpoint: str) -> set[str]:
        e = ENDPOINTS[endpoint]
        return {n for f in (*e.request, *e.detail) for n in f.names}

    assert set(dev.keepalive_doc()) <= names("Keepalive")
    rec = dev.records.make_identify_record(0)
    assert set(rec.detail) <= names("UploadIdentifyRecord")
    assert {"SN", "Limit"} <= names("DownloadPeopleList")
    assert {"SN", "SuccessCount", "FailCount", "FailList"} <= names("DownloadPeopleListResult")
    from facectl.sim.people import Failure
    assert set(Failure("1", 2, "x").wire()) == fail_names
    for spelling in ("DeleteList", "DeletList"):
        assert spelling in names("DeletePeopleListResult")
    person = StoredPerson(3, {"UserID": "3"}, photo=b"x", face_feature="QQ==")
    assert set(person.wire()) <= names("PushPeople")


# ---------------------------------------------------------------- people


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def _fetcher(files: dict[str, bytes]):
    async def fetch(url: str, max_bytes: int) -> Fetched:
        data = files.get(url)
        if data is None:
            return Fetched(None, "HTTP 404")
        if len(data) > max_bytes:
            return Fetched(None, "too large", too_large=True)
        return Fetched(data)
    return fetch


def _person(uid: int, photo: bytes | None = None, **extra) -> dict:
    p = {"UserID": str(uid), "Name": f"P{uid}", **extra}
    if photo is not None:
        p.update(Photo=f"http://srv/p/{uid}.jpg", PhotoMD5=hashlib.md5(photo).hexdigest().upper(),
                 PhotoLen=len(photo))
    return p


def test_import_people_and_error_codes() -> None:
    store = PeopleStore(capacity=4)
    good = make_jpeg(3000, 1)
    files = {f"http://srv/p/{i}.jpg": good for i in range(1, 10)}
    files["http://srv/p/5.jpg"] = b"not a jpeg"
    files["http://srv/p/6.jpg"] = make_jpeg(MAX_PHOTO_BYTES + 10, 1)
    fetch = _fetcher(files)
    assert _run(import_person(store, _person(1, good, CardNum="100"), fetch)) is None
    bad_md5 = _person(2, good)
    bad_md5["PhotoMD5"] = "0" * 32
    cases = {
        ERR_PHOTO_DOWNLOAD: bad_md5,
        ERR_PHOTO_UNRECOGNISABLE: {**_person(5, b"not a jpeg")},
        ERR_PHOTO_TOO_LARGE: {**_person(6), "Photo": "http://srv/p/6.jpg"},
        ERR_PARAMETERS: _person(7, Name="x" * 64),
        ERR_DUPLICATE_CARD: _person(8, CardNum="100"),
        ERR_FACE_DOWNLOAD: _person(9, FaceFeature="http://srv/missing.dat"),
    }
    for code, person in cases.items():
        failure = _run(import_person(store, person, fetch))
        assert failure is not None and failure.code == code, (code, failure)
    assert _run(import_person(store, _person(8, CardNum="100"), fetch)).repeat_id == "1"
    assert len(store) == 1
    for uid in (2, 3, 4):
        assert _run(import_person(store, _person(uid), fetch)) is None
    assert _run(import_person(store, _person(10), fetch)).code == ERR_STORAGE_FULL
    assert _run(import_person(store, _person(4, Name="updated"), fetch)) is None  # update when full


def test_inline_base64_photo_and_update_wipes_biometrics() -> None:
    store = PeopleStore()
    photo = make_jpeg(1000, 2)
    person = {"UserID": 5, "Photo": base64.b64encode(photo).decode(), "FaceFeature": "QUJD",
              "Fingerprints": [{"Num": 1, "Data": "QUJD"}]}
    assert _run(import_person(store, person, _fetcher({}))) is None
    stored = store.get(5)
    assert stored.photo == photo and stored.face_feature == "QUJD" and len(stored.fingerprints) == 1
    # protocol.md 6.5: the same person again without biometrics loses them on a real device
    assert _run(import_person(store, {"UserID": "5", "Name": "again"}, _fetcher({}))) is None
    stored = store.get(5)
    assert stored.photo is None and stored.face_feature is None and stored.fingerprints == []


def test_person_limits_follow_the_errata() -> None:
    assert person_error({"UserID": "4294967295", "Name": "中" * 21}) is None  # 63 bytes
    assert person_error({"UserID": "1", "Name": "中" * 22})[0] == ERR_PARAMETERS  # 66 bytes
    assert person_error({"UserID": "4294967296"})[0] == ERR_PARAMETERS
    assert person_error({"UserID": "1", "Password": "123"})[0] == ERR_PARAMETERS
    assert person_error({"UserID": "1", "ExpirationDate": 4102412400})[0] == ERR_PARAMETERS


def test_people_store_random_pick_and_delete() -> None:
    store = PeopleStore()
    for uid in range(1, 6):
        store.put(StoredPerson(uid, {"UserID": str(uid), "CardNum": str(uid * 10)}))
    assert store.delete(3) and not store.delete(3)
    seen = {store.pick(i / 10).user_id for i in range(10)}
    assert seen == {1, 2, 4, 5}
    assert store.cards == {"10": 1, "20": 2, "40": 4, "50": 5}
    assert store.clear() == 4 and store.pick(0.5) is None


# --------------------------------------------------------- config, rules


def test_fault_and_variant_options() -> None:
    faults = Faults.parse(["timeout=0.25", "drop-result"])
    assert faults.active() == {"drop-result": 1.0, "timeout": 0.25}
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.parse(["explode"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        Faults.parse(["timeout=2"])
    with pytest.raises(ValueError, match="record JSON part"):
        Variants(record_json_part="Detail")


def test_device_rules() -> None:
    assert is_quiet(200, {"Success": 401}) and is_quiet(403, None) and is_quiet(200, {"Success": "400"})
    assert not is_quiet(200, {"Success": 0})
    assert flag_set({"AddPeople": 3}, "AddPeople") and not flag_set({"AddPeople": 0}, "AddPeople")
    assert not flag_set({}, "Remote") and flag_set({"Remote": "1"}, "Remote")


def test_stats_percentiles_and_report() -> None:
    stats = Stats(devices=1)
    e = stats.endpoint("Keepalive")
    e.calls = e.ok = 100
    e.latencies.extend(i / 1000 for i in range(1, 101))
    assert e.percentile(50) == pytest.approx(0.050)
    assert e.percentile(99) == pytest.approx(0.099)
    stats.keepalive_sent(0.1, slack=0.5)
    stats.keepalive_sent(0.7, slack=0.5)
    report = stats.report()
    assert report["missed_keepalive_deadlines"] == 1 and report["keepalives"] == 2
    assert report["endpoints"]["Keepalive"]["p99_ms"] == pytest.approx(99.0)
    json.dumps(report)


def test_a_download_cut_by_the_deadline_is_not_reported_as_a_failure() -> None:
    from facectl.sim.people import ImportInterrupted

    async def cut(url: str, max_bytes: int) -> Fetched:
        return Fetched(None, "no time left", interrupted=True)

    store = PeopleStore()
    with pytest.raises(ImportInterrupted):
        _run(import_person(store, _person(1, make_jpeg(500, 1)), cut))
    assert len(store) == 0
