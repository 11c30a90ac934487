"""A hostile network: no request stalls the server, fills its disk, or gets past identity.

Every test talks HTTP to the real server as a device or an attacker would (raw bytes
where the bytes are odd) and checks what was kept through the store. Timing is not
asserted here (bench/bench_hostile.py measures a device's keepalive under attack); what
is asserted is the answer, what was kept, and that the log has no ERROR.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator

import pytest
from conftest import SN, DeviceClient, LiveServer, _serve

from facectl.protocol import lenient_json, multipart, responses
from facectl.protocol.endpoints import ENDPOINTS
from facectl.protocol.limits import MAX_BODY_BYTES, SAMPLE_BYTES
from facectl.store import Store
from facectl.store.devices import BLOCKED, PENDING
from facectl.store.samples import Samples

MiB = 1024 * 1024
STRANGER = "FC-8190H66666666"
BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """ERROR records logged while the test runs (the server runs in this process)."""
    caplog.set_level(logging.WARNING)
    records: list[logging.LogRecord] = []
    yield records
    records.extend(r for r in caplog.records if r.levelno >= logging.ERROR)
    assert not records, [r.getMessage() for r in records]


@pytest.fixture
def stranger(server: LiveServer) -> Iterator[DeviceClient]:
    client = DeviceClient(server.port, STRANGER)
    yield client
    client.close()


def _parts(*parts: multipart.Part) -> bytes:
    return multipart.build(list(parts), BOUNDARY)


def _kept_bytes(store: Store) -> int:
    return store.db.execute("SELECT COALESCE(SUM(length(body)), 0) FROM quarantine").fetchone()[0]


# --- the requests that held the event loop for seconds ----------------------------------------------


def test_gzip_keepalive_inflating_to_16_mib_of_spaces_is_refused_by_its_size(stranger, store, errors):
    body = gzip.compress(b'{"SN":"' + STRANGER.encode() + b'","X":[' + b" " * (16 * MiB))
    reply = stranger.post("/Device/Keepalive", body, headers={"Content-Encoding": "gzip"})
    assert reply.status == 413 and str(ENDPOINTS["Keepalive"].max_body) in reply.json["Message"]
    assert store.quarantine.count() == 0 and store.samples.bytes_stored() == 0


def test_gzip_system_records_without_sn_leave_a_sample_not_a_quarantine_item(stranger, store, errors):
    body = gzip.compress(b'{"X":[' + b" " * (16 * MiB))
    reply = stranger.post("/Record/UploadSystemRecord", body, headers={"Content-Encoding": "gzip"})
    assert reply.json["Success"] == responses.BAD_SN and "no SN" in reply.json["Message"]
    assert store.quarantine.count() == 0
    sample = store.samples.get("127.0.0.1")
    assert sample["size"] == len(body) and len(sample["sample"]) <= SAMPLE_BYTES


@pytest.mark.parametrize("path", ["/Record/UploadSystemRecord", "/Device/Keepalive", "/People/PushPeople"])
def test_an_8_mib_body_is_refused_before_it_is_read(stranger, store, path, errors):
    reply = stranger.post(path, b'{"X":[' + b" " * (8 * MiB - 6))
    assert reply.status == 413 and "larger than" in reply.json["Message"]
    assert store.quarantine.count() == 0


def test_an_8_mib_record_detail_part_is_refused(approved, store, errors):
    body = _parts(multipart.text_part("SN", SN), multipart.text_part("RecordDetail", b'{"X":[' + b" " * (8 * MiB)))
    reply = approved.post("/Record/UploadIdentifyRecord", body, MULTIPART)
    assert reply.status == 413
    assert store.quarantine.count() == 0


def test_record_detail_over_its_part_limit_from_an_approved_device_is_kept(approved, store, errors):
    limit = ENDPOINTS["UploadIdentifyRecord"].max_json
    body = _parts(multipart.text_part("SN", SN), multipart.text_part("RecordDetail", b'{"X":[' + b" " * limit))
    reply = approved.post("/Record/UploadIdentifyRecord", body, MULTIPART)
    assert reply.json["Success"] == 1 and reply.json["Message"].startswith(responses.MSG_KEPT)
    [item] = store.quarantine.list(SN)
    assert str(limit) in item["reason"] and store.quarantine.get(item["id"])["body"] == body


def test_whitespace_padded_broken_json_never_goes_through_the_cleaner(monkeypatch):
    """The strict parser's first error is not a quirk the cleaner fixes, so it is not run at all."""
    monkeypatch.setattr(lenient_json, "_clean", lambda text: pytest.fail("cleaner run on unrepairable JSON"))
    with pytest.raises(lenient_json.JsonError, match="Expecting value"):
        lenient_json.parse(b'{"SN":"' + SN.encode() + b'","X":[' + b" " * MiB)


def test_a_repairable_body_padded_with_whitespace_is_still_read():
    parsed = lenient_json.parse(b'{SN:"' + SN.encode() + b'","X":[1,' + b" " * MiB + b"],}")
    assert parsed.value == {"SN": SN, "X": [1]}
    assert set(parsed.quirks) == {"trailing comma", "unquoted key"}


def test_endpoint_limits_fit_their_endpoints():
    assert ENDPOINTS["Keepalive"].max_body <= 16 * 1024  # a keepalive is a few hundred bytes
    assert all(e.max_body <= MAX_BODY_BYTES for e in ENDPOINTS.values())
    assert ENDPOINTS["UploadIdentifyRecord"].max_body > 400 * 1024  # a photo fits


# --- strangers cannot fill the disk ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "content_type", "body"), [
    ("/Record/UploadSystemRecord", "application/json", b'{"SN":"%s","RecordType":1,"Records":[[['),
    ("/Record/UploadIdentifyRecord", MULTIPART,
     _parts(multipart.text_part("SN", "%s"), multipart.text_part("RecordDetail", "{{{"))),
    ("/People/PushPeople", MULTIPART,
     _parts(multipart.text_part("SN", "%s"), multipart.text_part("PushType", "1"), multipart.text_part("UserID", "1"),
            multipart.file_part("Detail", "d.json", b"{{{", gzip=True))),
], ids=["system-record", "record-detail", "push-people-detail"])
@pytest.mark.parametrize(("state", "code"), [(None, responses.NOT_ACTIVATED), (PENDING, responses.NOT_ACTIVATED),
                                             (BLOCKED, responses.BLOCKED)])
def test_broken_bodies_from_senders_not_approved_are_not_kept(stranger, store, path, content_type, body, state,
                                                              code, errors):
    if state is not None:
        store.devices.add(STRANGER, state)
    body = body.replace(b"%s", STRANGER.encode())
    for _ in range(10):
        reply = stranger.post(path, body, content_type)
        assert reply.json["Success"] == code
    assert store.quarantine.count() == 0 and _kept_bytes(store) == 0
    sample = store.samples.get("127.0.0.1")
    assert sample["requests"] == 10 and sample["bytes_received"] == 10 * len(body)
    assert sample["sn"] == STRANGER and sample["sample"] == body[:SAMPLE_BYTES]
    assert json.loads(sample["answer"])["Success"] == code


def test_broken_body_without_any_sn_is_answered_400_and_not_kept(stranger, store, errors):
    reply = stranger.post("/Record/UploadSystemRecord", b'{"RecordType":1,"Records":[[[')
    assert reply.json["Success"] == responses.BAD_SN
    assert store.quarantine.count() == 0 and store.samples.get("127.0.0.1")["sn"] is None


def test_samples_are_bounded_by_source_addresses(store):
    samples = Samples(store.db, max_sources=3)
    for i in range(5):
        samples.add(f"10.0.0.{i}", None, "Keepalive", "broken", b"x" * (SAMPLE_BYTES * 2))
    kept = [r["remote_addr"] for r in samples.list()]
    assert kept == ["10.0.0.4", "10.0.0.3", "10.0.0.2"]
    assert samples.bytes_stored() == 3 * SAMPLE_BYTES


@pytest.fixture
def small_budget(db_path: str) -> Iterator[LiveServer]:
    yield from _serve(db_path, quarantine_budget=10_000)


def test_past_its_budget_a_device_keeps_the_metadata_not_the_bytes(small_budget, store, caplog):
    caplog.set_level(logging.WARNING)
    store.devices.add(SN)
    client = DeviceClient(small_budget.port)
    answers = []
    for i in range(3):
        body = b'{"SN":"%s","RecordType":1,"Records":[[[ %d ' % (SN.encode(), i) + b" " * 6000
        answers.append(client.post("/Record/UploadSystemRecord", body).json)
    client.close()
    assert all(a["Success"] == 1 and a["Message"].startswith(responses.MSG_KEPT) for a in answers)
    items = sorted(store.quarantine.list(SN), key=lambda r: r["id"])
    assert [r["bytes_kept"] for r in items] == [1, 0, 0]
    assert all(r["size"] > 6000 for r in items)
    assert store.quarantine.bytes_held(SN) == items[0]["size"] <= 10_000
    assert any("quarantine budget" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


# --- identity before anything is kept -----------------------------------------------------------------------


def test_65_parts_with_a_blocked_sn_first_get_403_and_nothing_is_kept(stranger, store, errors):
    store.devices.add(STRANGER, BLOCKED)
    body = _parts(multipart.text_part("SN", STRANGER), *(multipart.text_part(f"x{i}", "y") for i in range(64)))
    reply = stranger.post("/Record/UploadIdentifyRecord", body, MULTIPART)
    assert reply.json["Success"] == responses.BLOCKED
    assert store.quarantine.count() == 0


def test_result_json_whose_sn_ends_in_0xff_is_not_an_identity(approved, store, errors):
    body = _parts(multipart.text_part("ResultJson", b'{"SN":"' + SN.encode() + b'\xff","UserID":1,"Result":1}'))
    reply = approved.post("/Device/RegisterIdentifyTicketResult", body, MULTIPART)
    assert reply.json["Success"] == responses.BAD_SN
    assert store.quarantine.count() == 0


def test_broken_keepalive_from_a_blocked_device_is_403(stranger, store, errors):
    store.devices.add(STRANGER, BLOCKED)
    reply = stranger.post("/Device/Keepalive", b'{"SN":"' + STRANGER.encode() + b'", broken')
    assert reply.json["Success"] == responses.BLOCKED
    assert store.quarantine.count() == 0


# --- bad input, never a server error ----------------------------------------------------------------------------


def _record(**fields: object) -> bytes:
    doc = json.dumps({"RecordID": 7, "RecordType": 1, "RecordDate": 1700000000, "UserID": "1", **fields})
    return doc.encode()


@pytest.mark.parametrize("field", ["RecordID", "PhotoLen", "RecordType", "RecordDate", "BodyTemp"])
@pytest.mark.parametrize("digits", [4301, 10_000])
def test_integers_longer_than_python_converts_are_bad_input(approved, store, field, digits, errors):
    detail = _record(**{field: "__N__"}).replace(b'"__N__"', b"9" * digits)
    body = _parts(multipart.text_part("SN", SN), multipart.text_part("RecordDetail", detail))
    reply = approved.post("/Record/UploadIdentifyRecord", body, MULTIPART)
    assert reply.json["Success"] == 1, reply.json  # stored (optional field unreadable) or kept, never a retry
    assert "server error" not in reply.json.get("Message", "")
    records = store.db.execute("SELECT count(*) FROM records").fetchone()[0]
    assert records + store.quarantine.count() == 1


@pytest.mark.parametrize(("path", "doc"), [
    ("/Record/UploadSystemRecord", '{"RecordType":1,"Records":[{"RecordID":#,"RecordType":1,"RecordDate":1}]}'),
    ("/Record/UploadSystemRecord", '{"RecordType":#,"Records":[]}'),
    ("/Device/Keepalive", '{"RelayStatus":#}'),
    ("/People/DownloadPeopleList", '{"Limit":#}'),
    ("/People/DeletePeopleList", '{"Limit":#}'),
    ("/People/DownloadPeopleListResult", '{"SuccessCount":#,"FailCount":1,"FailList":[{"UserID":#,"ErrorCode":#}]}'),
    ("/People/DeletePeopleListResult", '{"DeleteCount":#,"DeleteAll":#,"DeleteList":[#]}'),
    ("/Device/UploadWorkSetting", '{"DeviceSN":"@","Volume":#,"TimeZone":#}'),
    ("/Device/RemoteCommand", '{"X":#}'),
    ("/Device/DownloadWorkSetting", '{"X":#}'),
])
def test_huge_integers_on_json_endpoints_are_never_a_server_error(approved, path, doc, errors):
    body = ('{"SN":"@",' + doc[1:]).replace("@", SN).replace("#", "9" * 4400).encode()
    reply = approved.post(path, body)
    assert reply.status == 200
    assert reply.json["Success"] != responses.BAD_SN  # the SN was read: the numbers are what is tested
    assert isinstance(reply.json["Success"], int) and "server error" not in reply.json.get("Message", "")


def test_push_people_with_a_userid_of_5000_digits_is_bad_input(approved, errors):
    detail = json.dumps({"UserID": "1" * 5000, "Name": "x"}).encode()
    body = _parts(multipart.text_part("SN", SN), multipart.text_part("PushType", "1"),
                  multipart.text_part("UserID", "1" * 5000), multipart.text_part("Detail", detail))
    reply = approved.post("/People/PushPeople", body, MULTIPART)
    assert reply.json["Success"] == 1 and "server error" not in reply.json["Message"]


@pytest.mark.parametrize("path", [e.path for e in ENDPOINTS.values() if e.body.value == "multipart"])
@pytest.mark.parametrize("content_type", [b"\xff\xfe", b"multipart/form-data; boundary=\xff\xfe"])
def test_non_ascii_content_type_bytes_are_bad_input(approved, store, path, content_type, errors):
    body = _parts(multipart.text_part("SN", SN), multipart.text_part("RecordDetail", _record()))
    reply = approved.post(path, body, headers={"Content-Type": content_type})  # type: ignore[dict-item]
    assert reply.status == 200 and "server error" not in reply.json["Message"]
    # The SN is read from the body's first part: an approved device's unreadable request is kept.
    [item] = store.quarantine.list(SN)
    assert "\\xff\\xfe" in item["content_type"]


# --- nothing unreadable from an approved device is lost -------------------------------------------------------


@pytest.mark.parametrize(("path", "content_type", "body", "headers"), [
    ("/Device/Keepalive", "application/json", b'{"SN":"%s", oops', {}),
    ("/People/DownloadPeopleListResult", "application/json", gzip.compress(b'{"SN":"%s","x":1}')[:-8],
     {"Content-Encoding": "gzip"}),
    ("/Device/UploadWorkSetting", "application/json", b'{"DeviceSN":"%s",[', {}),
    ("/Device/UploadSnapshoot", MULTIPART, b'--b0undary\r\nContent-Disposition: form-data; name="SN"\r\n\r\n%s\r\n'
     b"--b0undary\r\nContent-Disposition: form-data; name=\"Photo\"; filename=\"a.jpg\"\r\n\r\ncut short", {}),
], ids=["keepalive-json", "page-result-gzip", "settings-json", "snapshot-multipart"])
def test_an_approved_devices_unreadable_body_is_kept_on_any_endpoint(approved, store, path, content_type, body,
                                                                     headers, errors):
    if not headers:
        body = body.replace(b"%s", SN.encode())
    else:  # the gzip case: compress with the SN in it
        body = gzip.compress(b'{"SN":"' + SN.encode() + b'","x":1}')[:-8]
    reply = approved.post(path, body, content_type, headers)
    [item] = store.quarantine.list(SN)
    kept = store.quarantine.get(item["id"])
    assert kept["body"] == body and kept["bytes_kept"] == 1
    assert json.loads(kept["answer"]) == reply.json  # the answer it was given, kept with it
    if path == "/Device/UploadSnapshoot":
        assert reply.json["Success"] == 1 and reply.json["Message"].startswith(responses.MSG_KEPT)
    else:
        assert reply.json["Success"] == 0  # the answer a device got for this before: unchanged


# --- heavy decoding runs off the event loop, under a deadline --------------------------------------------------


def test_a_large_body_past_the_decode_deadline_is_told_to_retry_and_nothing_is_kept(approved, store, monkeypatch,
                                                                                    errors):
    from facectl.server import app

    monkeypatch.setattr(app, "DECODE_DEADLINE_SECONDS", 0.0)
    body = b'{"SN":"' + SN.encode() + b'","RecordType":1,"Records":[[[' + b" " * (64 * 1024)
    reply = approved.post("/Record/UploadSystemRecord", body)
    assert reply.json == {"Success": 0, "Message": "server busy; retry later"}
    assert store.quarantine.count() == 0
    monkeypatch.undo()
    assert approved.post("/Record/UploadSystemRecord", body).json["Success"] == 1  # then kept, as usual
    assert store.quarantine.count() == 1
