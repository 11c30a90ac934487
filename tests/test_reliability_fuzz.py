"""Hostile input built from the endpoint catalog: well-formed requests, ill-typed values.

tests/test_reliability.py throws broken bytes at every endpoint. The documents here
are well-formed and use the right field names, taken from the catalog
(protocol/endpoints.py: request and detail fields of every endpoint), with values of
the wrong type, huge numbers, odd Unicode (lone surrogate escapes, NUL, BiDi
overrides, astral CJK, combining marks) and over-long strings; multipart bodies with
thousands of parts, gzip bombs and cut gzip in parts, and path tricks in file names;
and the file route GET /files/... with tampered, expired and path-trick URLs.

Every answer is checked the way a device and an operator would need it:
- never an HTTP 5xx, always JSON with an integer Success, within the device's 2 s;
- never "server error" (the dispatcher's last line of defence: an unexpected
  exception, which a device retries forever, wedging its record queue) and no ERROR
  logged;
- acknowledged (Success 1) means kept: the record, report, enrolment, snapshot or
  settings is in the store, or the raw body is in quarantine; a well-formed but odd
  record that is acknowledged is stored as sent;
- refused means nothing stored (no row in records, quarantine, people, commands,
  enrolments, reports or snapshots);
- and at the end every table is consistent (foreign keys, hashes, JSON columns).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SN, DeviceClient, Errors, LiveServer, settings_document, timed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facectl.protocol import multipart, responses
from facectl.protocol.codes import parse_alarms
from facectl.protocol.endpoints import ENDPOINTS, Body, Endpoint
from facectl.protocol.limits import DEVICE_TIMEOUT_SECONDS, MAX_INFLATED_BYTES
from facectl.protocol.numbers import as_int
from facectl.protocol.records import clock_problem
from facectl.server.file_urls import sign
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store
from facectl.store.devices import STATUS_FIELDS

pytestmark = pytest.mark.timeout(90)

PHOTO = make_jpeg(1500, 7)
BOUNDARY = "fuzz-boundary-7d3a"
#: Endpoints whose acknowledgement must mean "stored, or kept in quarantine".
STORING = ("UploadIdentifyRecord", "RequestAuthorization", "UploadSystemRecord", "PushPeople",
           "RegisterIdentifyTicketResult", "UploadSnapshoot", "UploadWorkSetting", "Keepalive",
           "DownloadPeopleListResult", "DeletePeopleListResult")
#: Tables that must not grow when a request is refused.
GROWING = ("records", "quarantine", "people", "commands", "enrolments", "device_reports", "snapshots",
           "settings_history")

# ----------------------------------------------------------------------------- values

HUGE_NUMBERS = [2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)]
ODD_CHARS = ["\ud800", "\udfff", "\x00", "\u202e", "\ufeff", "\u2028", "\U00020bb7", "\U0001f600", "e\u0301",
             "\uffff", "\U0010ffff", "'", '"', "\\", "%s", "\r\n", "\t", "../", "张"]
NUMERIC_STRINGS = ["", " ", "0", "-1", " 7 ", "99999999999999999999999", "1e5", "0x10", "NaN", "١٢٣"]
LONG_STRINGS = ["x" * 70_000, "张" * 20_000, "\U0001f600" * 10_000]

SCALARS = st.one_of(
    st.none(), st.booleans(), st.sampled_from(HUGE_NUMBERS), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.sampled_from(ODD_CHARS) | st.text(max_size=3), min_size=1, max_size=8).map("".join),
    st.sampled_from(NUMERIC_STRINGS), st.sampled_from(LONG_STRINGS),
)
#: A value of any type: what a type-confused firmware (or an attacker) puts in a field.
HOSTILE = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3)
                       | st.dictionaries(st.sampled_from(["UserID", "Num", "Data", "x", "\ud800"]), kids,
                                         max_size=3), max_leaves=6)
#: File names a device (or an attacker) may put in a part's Content-Disposition.
PATH_TRICKS = ["../../../../tmp/facectl-pwned.jpg", "..\\..\\..\\windows\\system32\\pwned.jpg", "/etc/passwd",
               "C:\\pwned.jpg", "%2e%2e%2f%2e%2e%2fpwned.jpg", "..%c0%afpwned.jpg", "pwned.jpg\x00.png",
               "\u202egpj.exe", "con.jpg", "a" * 5000 + ".jpg", "", ".", "..", "~/.ssh/authorized_keys",
               "ファイル名.jpg", "photo.jpg; name=\"SN\""]


def _encode(doc: Any) -> bytes:
    """JSON as a careless firmware writes it: NaN and Infinity tokens, lone surrogates escaped."""
    return json.dumps(doc, allow_nan=True).encode("ascii")


def _text_bytes(value: Any) -> bytes:
    """A form value as bytes; a lone surrogate becomes the invalid UTF-8 a broken encoder sends."""
    text = value if isinstance(value, str) else json.dumps(value, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------ catalog requests


def _field_names(endpoint: Endpoint) -> list[str]:
    """Every field the catalog gives for the request, except the serial (kept valid to reach the handler)."""
    names: list[str] = []
    for f in (*endpoint.request, *endpoint.detail):
        for name in f.names:
            if name not in endpoint.sn_fields and name not in names and name != "SN":
                names.append(name)
    if endpoint.name == "DownloadPeopleListResult":  # the FailList entry (section failEmployeeId)
        names += ["FailList.UserID", "FailList.ErrorCode", "FailList.RepeatID", "FailList.ErrMsg"]
    if endpoint.name == "UploadWorkSetting":  # the settings the server reads (summary, time rules)
        names += ["HTTPClient_KeepaliveTime", "HTTPClient_ProtocolType", "TimeZone", "FirmwareVerson",
                  "PeopleStorageInfo", "TimeGroups", "Holidays", "FunctionList", "SystemTime"]
    return names or ["Extra"]  # DownloadWorkSetting, RemoteCommand: the serial only; add a stranger


_record_ids = iter(range(10_000, 10**9))


def _base_document(endpoint: Endpoint) -> dict[str, Any] | None:
    """A valid JSON body (JSON endpoints) or JSON part (multipart endpoints)."""
    name = endpoint.name
    if name == "Keepalive":
        return {"SN": SN, "RelayStatus": 0, "KeepOpenStatus": 0, "DoorSensorStatus": 0, "LockDoorStatus": 0,
                "AlarmStatus": ""}
    if name == "UploadWorkSetting":
        return settings_document()
    if name in ("DownloadPeopleList", "DeletePeopleList"):
        return {"SN": SN, "Limit": 10}
    if name == "DownloadPeopleListResult":
        return {"SN": SN, "SuccessCount": 0, "FailCount": 1,
                "FailList": [{"UserID": "5", "ErrorCode": 2, "RepeatID": "", "ErrMsg": "photo download"}]}
    if name == "DeletePeopleListResult":
        return {"SN": SN, "DeleteCount": 1, "DeleteAll": 0, "DeleteList": [5]}
    if name == "UploadSystemRecord":
        return {"SN": SN, "RecordType": 2, "Records": [{"RecordID": next(_record_ids), "RecordType": 1,
                                                        "RecordDate": 1_700_000_000}]}
    if name in ("UploadIdentifyRecord", "RequestAuthorization"):
        return {"RecordID": next(_record_ids), "RecordType": 3, "RecordDate": int(time.time()), "UserID": "7",
                "Name": "Zhang", "IsEntry": 1, "BodyTemp": 365, "PhotoLen": len(PHOTO)}
    if name == "PushPeople":
        return {"UserID": "7", "Name": "Zhang", "CardNum": "12345", "Photo": "/data/user_pic/7.jpg"}
    if name == "RegisterIdentifyTicketResult":
        return {"SN": SN, "UserID": 7, "Result": 1, "UserDetail": {"UserID": "7", "Name": "Zhang"}}
    if endpoint.body is Body.JSON:
        return {"SN": SN}
    return None  # UploadSnapshoot: no JSON


@dataclass
class Request:
    endpoint: Endpoint
    body: bytes
    content_type: str
    #: The JSON document sent (body or JSON part), after the hostile values went in.
    doc: Any
    form: dict[str, bytes]


def build_request(endpoint: Endpoint, values: dict[str, Any], filename: str = "photo.jpg") -> Request:
    """The endpoint's valid request with `values` put in by field name, where the catalog says they go."""
    doc = _base_document(endpoint)
    form: dict[str, bytes] = {}
    if endpoint.name == "PushPeople":
        form = {"PushType": b"2", "UserID": b"7"}
    form_fields = {f.name for f in endpoint.request if f.type != "file"} - set(endpoint.json_part) - {"SN"}
    # the whole-JSON-part replacement last, so the other fields still land in the document first
    for name, value in sorted(values.items(), key=lambda item: item[0] in endpoint.json_part):
        if "." in name:
            outer, inner = name.split(".")
            items = doc.get(outer)
            if isinstance(items, list) and items and isinstance(items[0], dict):
                items[0][inner] = value
        elif endpoint.body is Body.MULTIPART and name in form_fields:
            form[name] = _text_bytes(value)
        elif endpoint.body is Body.MULTIPART and name in endpoint.json_part:
            doc = value  # the whole JSON part replaced by a value of the wrong type
        elif endpoint.name == "UploadSystemRecord" and name in {f.name for f in endpoint.detail}:
            items = doc.get("Records")
            if isinstance(items, list) and items and isinstance(items[0], dict):
                items[0][name] = value
        elif isinstance(doc, dict):
            doc[name] = value
        else:
            form[name] = _text_bytes(value)
    if endpoint.body is Body.JSON:
        return Request(endpoint, _encode(doc), "application/json", doc, form)
    parts = [multipart.text_part("SN", SN), *(multipart.text_part(k, v) for k, v in form.items())]
    if doc is not None or endpoint.json_part:
        name = endpoint.json_part[0]
        data = _encode(doc)
        if endpoint.name == "PushPeople":  # as firmware sends Detail: a gzip file part (protocol.md 6.4)
            parts.append(multipart.file_part(name, "Detail.json", data, gzip=True))
        else:
            parts.append(multipart.text_part(name, data))
    parts.append(multipart.file_part((endpoint.file_parts or ("Photo",))[0], filename, PHOTO, "image/jpeg"))
    return Request(endpoint, multipart.build(parts, BOUNDARY), f"multipart/form-data; boundary={BOUNDARY}",
                   doc, form)


# ------------------------------------------------------------------------- oracle


def _same(stored: Any, sent: Any) -> bool:
    """Equal as JSON, where a lone surrogate may have become U+FFFD and NaN equals NaN."""

    def norm(value: Any) -> str:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=True)
        return re.sub("[\ud800-\udfff]", "\ufffd", text)

    return norm(stored) == norm(sent)


def _counts(store: Store) -> dict[str, int]:
    return {t: store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in GROWING}


def _key(value: Any) -> int | None:
    number = as_int(value, allow_bool=True)
    return number if number is not None and -(2**63) <= number < 2**63 else None


def _quarantined(store: Store, body: bytes, since: float) -> bool:
    return store.db.execute("SELECT 1 FROM quarantine WHERE sha256 = ? AND received_at >= ?",
                            [hashlib.sha256(body).hexdigest(), since]).fetchone() is not None


def _record_kept(store: Store, kind: str, detail: Any, since: float, quarantine_endpoint: str) -> bool:
    """The record is stored (as sent when it is new), or it is in quarantine by itself."""
    if isinstance(detail, dict):
        rid, date = _key(detail.get("RecordID")), _key(detail.get("RecordDate"))
        if rid is not None and date is not None:
            # by the RecordDate sent: an implausible one is stored dated when received (protocol.md 8.4)
            rows = [(json.loads(d), at) for d, at in store.db.execute(
                "SELECT detail, received_at FROM records WHERE sn = ? AND kind = ? AND record_id = ?",
                [SN, kind, rid])]
            row = next(((d, at) for d, at in rows if _key(d.get("RecordDate")) == date), None)
            if row is not None:
                return row[1] < since or _same(row[0], detail)
    for (body,) in store.db.execute("SELECT body FROM quarantine WHERE endpoint = ? AND received_at >= ?",
                                    [quarantine_endpoint, since]):
        try:
            if _same(json.loads(body), detail):
                return True
        except ValueError:
            continue
    return False


def _acknowledged_is_kept(store: Store, req: Request, since: float) -> str | None:
    """None when what an acknowledged request carried is in the store; else what is missing."""
    name, doc = req.endpoint.name, req.doc
    if _quarantined(store, req.body, since):
        return None
    if name in ("UploadIdentifyRecord", "RequestAuthorization"):
        kind = "identify" if name == "UploadIdentifyRecord" else "auth"
        return None if _record_kept(store, kind, doc, since, name) else f"{kind} record {doc!r:.200} not stored"
    if name == "UploadSystemRecord":
        kind = {1: "door", 2: "system"}.get(_key(doc.get("RecordType")) if isinstance(doc, dict) else None)
        items = doc.get("Records") if isinstance(doc, dict) else None
        if kind is None or not isinstance(items, list):
            return "system batch neither stored nor quarantined"
        missing = [i for i in items if not _record_kept(store, kind, i, since, name)]
        return f"system records {missing!r:.200} not stored" if missing else None
    if name == "PushPeople":
        row = store.db.execute("SELECT 1 FROM device_reports WHERE sn = ? AND received_at >= ?",
                               [SN, since]).fetchone()
        return None if row else "PushPeople report not stored"
    if name == "RegisterIdentifyTicketResult":
        raws = [json.loads(r[0]) for r in store.db.execute(
            "SELECT raw FROM enrolments WHERE sn = ? ORDER BY id DESC LIMIT 200", [SN])]
        snap = store.db.execute("SELECT 1 FROM snapshots WHERE sn = ? AND received_at >= ?", [SN, since]).fetchone()
        return None if snap or any(_same(r, doc) for r in raws) else "enrolment result not stored"
    if name == "UploadSnapshoot":
        row = store.db.execute("SELECT 1 FROM snapshots WHERE sn = ? AND received_at >= ?", [SN, since]).fetchone()
        return None if row else "snapshot not stored"
    if name == "UploadWorkSetting":
        at = store.settings.uploaded_at(SN)
        return None if at is not None and at >= since else "settings not stored"
    if name == "Keepalive":
        # A door state equal to the stored one is not written again (store/live.py): the stored
        # state must be the one sent, as the handler reads it (a non-integer is unknown).
        row = store.devices.get(SN)
        if not isinstance(doc, dict) or row is None:
            return "keepalive door state not stored"
        sent = {col: as_int(doc.get(wire), allow_bool=True) for wire, col in STATUS_FIELDS.items()
                if wire != "AlarmStatus"}
        sent["alarm_status"] = ",".join(parse_alarms(doc.get("AlarmStatus")))
        stored = {col: row[col] for col in sent}
        return None if _same(stored, sent) else f"keepalive door state not stored: {stored} != {sent}"
    if name in ("DownloadPeopleListResult", "DeletePeopleListResult"):
        row = store.db.execute("SELECT last_result_at FROM people_sync WHERE sn = ?", [SN]).fetchone()
        return None if row and row[0] and row[0] >= since else f"{name} not applied"
    return None


def check_answer(client: DeviceClient, store: Store, errors: Errors, req: Request,
                 headers: dict[str, str] | None = None, timed: bool = False) -> dict[str, Any]:
    """Send one request and check the answer and the store (module docstring); `timed`: within the device's timeout."""
    before = _counts(store)
    since = time.time()
    started = time.monotonic()
    reply = client.post(req.endpoint.path, req.body, req.content_type, headers)
    elapsed = time.monotonic() - started
    where = f"{req.endpoint.name} with {req.doc!r:.300} / form {req.form!r:.200}"
    assert reply.status in (200, 400, 413), (where, reply.status, reply.body[:300])
    answer = reply.json
    assert isinstance(answer.get("Success"), int), (where, answer)
    assert "server error" not in str(answer.get("Message")), (where, answer, errors.take())
    logged = errors.take()
    assert not logged, (where, answer, logged)
    assert not timed or elapsed < DEVICE_TIMEOUT_SECONDS, (where, elapsed)
    identity = answer["Success"] in (responses.BAD_SN, responses.NOT_ACTIVATED, responses.BLOCKED)
    refused = answer["Success"] != 1 and (req.endpoint.name != "RequestAuthorization" or identity
                                          or "retry" in str(answer.get("Message")))
    if refused:
        after = _counts(store)
        if after != before:  # only an approved device's unreadable request, kept with the answer it got
            grew = {t for t in after if after[t] != before[t]}
            assert grew == {"quarantine"} and _quarantined(store, req.body, since), (
                where, answer, "refused, yet something was stored")
    elif req.endpoint.name in STORING:
        missing = _acknowledged_is_kept(store, req, since)
        assert missing is None, (where, answer, missing)
    return answer


def assert_store_consistent(store: Store) -> None:
    """Nothing half-stored: every reference resolves, every hash matches, every JSON column parses."""
    db = store.db
    assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    for sha, md5, size, data in db.execute("SELECT sha256, md5, size, data FROM files"):
        assert (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest().upper(), len(data)) == (sha, md5, size)
    for sha, size, body, reason, kept in db.execute("SELECT sha256, size, body, reason, bytes_kept FROM quarantine"):
        assert reason and (not kept or (hashlib.sha256(body).hexdigest(), len(body)) == (sha, size))
    for table, column in (("records", "photo"), ("snapshots", "photo"), ("people", "photo"),
                          ("biometrics", "file"), ("device_reports", "photo"), ("enrolments", "photo")):
        orphans = db.execute(f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND {column} NOT IN "
                             "(SELECT sha256 FROM files)").fetchone()[0]
        assert orphans == 0, f"{table}.{column} points at a file that is not stored"
    for rid, rtype, rdate, detail in db.execute("SELECT record_id, record_type, record_date, detail FROM records"):
        doc = json.loads(detail)
        sent = _key(doc["RecordDate"])
        assert (_key(doc["RecordID"]), _key(doc["RecordType"])) == (rid, rtype)
        assert sent == rdate or clock_problem(sent, rdate) is not None  # else dated when received (8.4)
    for table, column in (("settings", "document"), ("enrolments", "raw"), ("device_reports", "detail"),
                          ("commands", "value")):
        for (text,) in db.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"):
            json.loads(text)
    seq = db.execute("SELECT value FROM people_seq").fetchone()[0]
    assert db.execute("SELECT count(*) FROM people WHERE version > ?", [seq]).fetchone()[0] == 0


# -------------------------------------------------------------------------- tests

ENDPOINT_NAMES = list(ENDPOINTS)


def _requests() -> st.SearchStrategy[Request]:
    def for_endpoint(name: str) -> st.SearchStrategy[Request]:
        endpoint = ENDPOINTS[name]
        values = st.dictionaries(st.sampled_from(_field_names(endpoint)), HOSTILE, min_size=1, max_size=4)
        return st.builds(build_request, st.just(endpoint), values, st.sampled_from(PATH_TRICKS))

    return st.sampled_from(ENDPOINT_NAMES).flatmap(for_endpoint)


@timed
def test_catalog_fields_with_wrong_types_huge_numbers_odd_unicode_and_long_strings(
        approved: DeviceClient, store: Store, errors: Errors, timed: bool) -> None:
    """500 generated requests over every catalog endpoint (14); each field the catalog names gets a hostile value."""
    approved.keepalive()
    tried = []

    @settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_requests(), st.booleans())
    def one(req: Request, gzip_body: bool) -> None:
        headers = {}
        if gzip_body and req.endpoint.body is Body.JSON:
            req.body, headers = gzip.compress(req.body), {"Content-Encoding": "gzip"}
        tried.append(req.endpoint.name)
        check_answer(approved, store, errors, req, headers, timed)

    one()
    assert set(tried) == set(ENDPOINTS)
    assert_store_consistent(store)


# One request per (endpoint, field) for the value classes that broke the server when this
# file was written: each is a separate test id so a fix can be followed field by field.
LONE_SURROGATE = "a\udfffb"
BEYOND_INT64 = 2**64
_MATRIX_FIELDS = {
    "Keepalive": ["RelayStatus", "AlarmStatus"],
    "UploadWorkSetting": ["HTTPClient_KeepaliveTime", "TimeZone", "DeviceName"],
    "UploadIdentifyRecord": ["Name", "IsEntry", "BodyTemp", "PhotoLen"],
    "RequestAuthorization": ["Name", "UserID", "IsEntry"],
    "UploadSystemRecord": ["RecordID", "Extra"],
    "PushPeople": ["Name", "Password"],
    "RegisterIdentifyTicketResult": ["UserID", "Result", "RepetitionUserID", "UserDetail"],
    "DownloadPeopleListResult": ["FailList.UserID", "FailList.ErrMsg"],
}


@pytest.mark.parametrize("value", [LONE_SURROGATE, BEYOND_INT64], ids=["lone-surrogate", "beyond-int64"])
@pytest.mark.parametrize("endpoint,field", [(e, f) for e, fs in _MATRIX_FIELDS.items() for f in fs])
def test_odd_value_in_one_field_is_kept_or_refused_never_a_server_error(
        approved: DeviceClient, store: Store, errors: Errors, endpoint: str, field: str, value: Any) -> None:
    approved.keepalive()
    if endpoint == "UploadSystemRecord" and field == "Extra":
        req = build_request(ENDPOINTS[endpoint], {})
        req.doc["Records"][0]["Extra"] = value
        req = Request(req.endpoint, _encode(req.doc), req.content_type, req.doc, req.form)
    else:
        req = build_request(ENDPOINTS[endpoint], {field: value})
    check_answer(approved, store, errors, req)
    assert_store_consistent(store)


@pytest.mark.parametrize("value", [True, 7, 1.5, [1, 2], {"a": 1}], ids=["bool", "int", "float", "list", "dict"])
def test_keepalive_alarm_status_of_the_wrong_type_still_gets_its_flags(
        approved: DeviceClient, store: Store, errors: Errors, value: Any) -> None:
    """AlarmStatus is a comma string; a number or list must not turn every keepalive into an error."""
    answer = check_answer(approved, store, errors, build_request(ENDPOINTS["Keepalive"], {"AlarmStatus": value}))
    assert answer["Success"] == 1


@pytest.mark.parametrize("value", [[], {"a": 1}], ids=["list", "dict"])
def test_keepalive_door_state_of_the_wrong_type_is_not_reported_as_a_storage_failure(
        approved: DeviceClient, store: Store, errors: Errors, value: Any) -> None:
    """RelayStatus [] is the device's mistake: not "disk full, read-only database" in the log, and not a retry."""
    answer = check_answer(approved, store, errors, build_request(ENDPOINTS["Keepalive"], {"RelayStatus": value}))
    assert answer["Success"] == 1


@pytest.mark.parametrize("value", [True, 5, 1.5], ids=["bool", "int", "float"])
def test_delete_result_with_a_scalar_delete_list_is_not_a_server_error(
        approved: DeviceClient, store: Store, errors: Errors, value: Any) -> None:
    check_answer(approved, store, errors, build_request(ENDPOINTS["DeletePeopleListResult"], {"DeleteList": value}))


def test_well_formed_odd_records_that_are_acknowledged_are_stored_as_sent(
        approved: DeviceClient, store: Store, errors: Errors) -> None:
    """CJK at and past the byte limits, emoji, combining marks, RTL, NUL, numbers as strings, floats."""
    endpoint = ENDPOINTS["UploadIdentifyRecord"]
    odd = [
        {"Name": "张" * 21, "Department": "\U00020bb7" * 16},  # at, and one byte past, the limits
        {"Name": "\u202eevil\u202c", "Job": "e\u0301" * 40, "Code": "\U0001f600\U0001f600"},
        {"Name": "a\x00b", "IdentityCard": "\ufeff110101199003074514", "QRCode": "q" * 500},
        {"UserID": 7, "CardNum": 123456789012, "IsEntry": "1", "BodyTemp": 365.0, "PhotoLen": "1500"},
        {"RecordID": "424242", "RecordDate": "1700000000", "RecordType": 3.0},
    ]
    for values in odd:
        req = build_request(endpoint, values)
        assert check_answer(approved, store, errors, req)["Success"] == 1
        row = store.records.get(SN, _key(req.doc["RecordID"]), "identify")
        assert row is not None, values
        assert _same(json.loads(row["detail"]) if isinstance(row["detail"], str) else row["detail"], req.doc)
        for wire, column in (("Name", "name"), ("Job", "job"), ("Department", "department"), ("Code", "code")):
            if wire in values:
                assert row[column] == str(values[wire]).strip(), (wire, row[column][:40])
        assert row["photo"] == hashlib.sha256(PHOTO).hexdigest()
    # A RecordDetail past its part limit (a 70,000-character name) is acknowledged and kept whole.
    req = build_request(endpoint, {"Name": "x" * 70_000})
    assert check_answer(approved, store, errors, req)["Message"].startswith(responses.MSG_KEPT)
    assert _quarantined(store, req.body, 0)
    assert_store_consistent(store)


@pytest.mark.parametrize("name", [n for n, e in ENDPOINTS.items() if e.body is Body.MULTIPART])
@timed
def test_thousands_of_parts_are_refused_fast_and_nothing_half_stored(
        approved: DeviceClient, store: Store, errors: Errors, name: str, timed: bool) -> None:
    endpoint = ENDPOINTS[name]
    req = build_request(endpoint, {})
    parts = multipart.parse(req.body, BOUNDARY)
    flood = [multipart.text_part(f"x{i}", "y" * 100) for i in range(5000)]
    for body in (multipart.build(parts + flood, BOUNDARY),  # the real parts first, then 5000 more
                 multipart.build(flood + parts, BOUNDARY)):  # the real parts after 5000 others
        answer = check_answer(approved, store, errors, Request(endpoint, body, req.content_type, req.doc, {}),
                              timed=timed)
        assert "parts" in answer.get("Message", ""), answer
    assert store.records.count() == 0
    assert_store_consistent(store)


@pytest.mark.parametrize("name", [n for n, e in ENDPOINTS.items() if e.body is Body.MULTIPART and e.json_part])
@timed
def test_gzip_json_part_that_inflates_past_the_limit_or_is_cut_short(
        approved: DeviceClient, store: Store, errors: Errors, name: str, timed: bool) -> None:
    endpoint = ENDPOINTS[name]
    doc = _base_document(endpoint)
    bomb = gzip.compress(b" " * (MAX_INFLATED_BYTES + 1))
    cut = gzip.compress(_encode(doc))[:-7]
    for data, why in ((bomb, "limit"), (cut, "cut short")):
        json_part = multipart.Part([("Content-Disposition", f'form-data; name="{endpoint.json_part[0]}"'),
                                    ("Content-Encoding", "gzip")], data, endpoint.json_part[0], None)
        body = multipart.build([multipart.text_part("SN", SN), json_part,
                                multipart.file_part("Photo", "p.jpg", PHOTO, "image/jpeg")], BOUNDARY)
        req = Request(endpoint, body, f"multipart/form-data; boundary={BOUNDARY}", None, {})
        answer = check_answer(approved, store, errors, req, timed=timed)
        assert why in answer["Message"], answer
    assert store.records.count() == 0
    assert_store_consistent(store)


def test_path_tricks_in_file_names_are_ignored(approved: DeviceClient, store: Store, errors: Errors,
                                               tmp_path: Path, db_path: str) -> None:
    """File names never reach the file system: photos are stored by content hash, in the database."""
    endpoint = ENDPOINTS["UploadIdentifyRecord"]
    absolute = str(tmp_path / "pwned-absolute.jpg")
    before = sorted(p.name for p in Path(db_path).parent.iterdir())
    for filename in [*PATH_TRICKS, absolute]:
        req = build_request(endpoint, {}, filename=filename)
        assert check_answer(approved, store, errors, req)["Success"] == 1
        row = store.records.get(SN, req.doc["RecordID"], "identify")
        assert row is not None and row["photo"] == hashlib.sha256(PHOTO).hexdigest(), filename
    assert not Path(absolute).exists()
    assert not Path("/tmp/facectl-pwned.jpg").exists()
    assert sorted(p.name for p in Path(db_path).parent.iterdir()) == before
    assert store.db.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    assert_store_consistent(store)


# ------------------------------------------------------------------ GET /files/...


def _signed(store: Store, sha: str, expires: int) -> str:
    return sign(store.meta.secret(), sha, expires)


def _file_url_variants(sha: str, good_e: int, good_s: str) -> st.SearchStrategy[str]:
    """URLs a leaked link, a curious user or a scanner would try."""
    names = st.sampled_from([f"{sha}.jpg", f"{sha}", f"{sha.upper()}.jpg", f"{sha}.dat", f"{sha[:63]}.jpg",
                             f"{sha}0.jpg", "..%2f..%2fetc%2fpasswd", "%2e%2e%2ffacectl.db", "%00", "",
                             "facectl.db", "..", "%252e%252e%252f", "a" * 300, "%C3%A9"])
    expiries = st.one_of(st.sampled_from(["", str(good_e), str(good_e + 1), "-1", "0", "1e10", "%20" + str(good_e),
                                          "99999999999999999999999999", "NaN", "%EF%BC%91", "0x10"]),
                         st.integers(min_value=-(2**40), max_value=2**40).map(str))
    sigs = st.one_of(st.sampled_from(["", good_s, good_s.upper(), good_s[:-1], good_s + "0", "0" * 32,
                                      "%C3%A9" * 16, "%00" * 32, "%FF%FE", "\u00e9".encode().hex()]),
                     st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
    return st.builds(lambda n, e, s, extra: f"/files/{n}?e={e}&s={s}{extra}", names, expiries, sigs,
                     st.sampled_from(["", "&s=00", "&e=1", "&x=%00"]))


@timed
def test_file_route_serves_only_valid_unexpired_signed_urls(server: LiveServer, store: Store, errors: Errors,
                                                            timed: bool) -> None:
    secret_photo = make_jpeg(900, 99)
    sha = store.files.put(secret_photo, "image/jpeg").sha256
    good_e = int(time.time()) + 600
    good_s = _signed(store, sha, good_e)
    client = DeviceClient(server.port)
    assert client.get(f"/files/{sha}.jpg?e={good_e}&s={good_s}").body == secret_photo
    served = []

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_file_url_variants(sha, good_e, good_s))
    def one(url: str) -> None:
        started = time.monotonic()
        reply = client.get(url)
        assert not timed or time.monotonic() - started < DEVICE_TIMEOUT_SECONDS
        assert reply.status in (200, 400, 403, 404), (url, reply.status, reply.body[:200])
        assert not errors.take(), url
        if reply.status == 200:
            # only the exact signature over this file and this expiry opens it
            query: dict[str, str] = {}
            for pair in url.split("?", 1)[1].split("&"):
                query.setdefault(*pair.split("=", 1))  # the first of a repeated parameter counts
            assert query["s"] == good_s and int(query["e"].replace("%20", " ")) == good_e, url
            assert reply.body == secret_photo
            served.append(url)
        else:
            assert secret_photo not in reply.body

    one()
    # expired, with a valid signature over the past expiry
    past = int(time.time()) - 1
    assert client.get(f"/files/{sha}.jpg?e={past}&s={_signed(store, sha, past)}").status == 403
    client.close()


@pytest.mark.parametrize("signature", ["%C3%A9" * 16, "%E2%82%AC", "\u00e9"], ids=["utf8-e-acute", "euro", "raw"])
def test_non_ascii_signature_is_refused_not_a_500(server: LiveServer, store: Store, errors: Errors,
                                                  signature: str) -> None:
    """hmac.compare_digest raises TypeError on non-ASCII str: that must be a 403, not a 500.

    The raw UTF-8 bytes of "é" (sent on a socket: http.client refuses them) are not a valid
    request line (RFC 3986): aiohttp's parser answers 400 before the route runs, and logs a
    warning, not an ERROR (server/app.py). Percent-encoded, they reach the route: 403.
    """
    sha = store.files.put(PHOTO, "image/jpeg").sha256
    target = f"/files/{sha}.jpg?e={int(time.time()) + 600}&s={signature}".encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEVICE_TIMEOUT_SECONDS) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert status == (403 if signature.isascii() else 400), reply[:300]
    assert not errors.take()


def test_nothing_is_logged_at_error_for_bad_numbers_in_a_url(server: LiveServer, store: Store,
                                                             errors: Errors) -> None:
    sha = store.files.put(PHOTO, "image/jpeg").sha256
    client = DeviceClient(server.port)
    for e in ("1e400", "9" * 5000, "-0", "+5", "%D9%A3", "%00"):
        reply = client.get(f"/files/{sha}.jpg?e={e}&s=00")
        assert reply.status == 403 and not errors.take(), e
    client.close()


# ------------------------------------------------------------ the last line of defence


def test_a_record_the_server_fails_on_is_quarantined_not_retried_forever(
        approved: DeviceClient, store: Store, errors: Errors) -> None:
    """A handler failing for a reason that is neither the input nor the disk (here: the records
    table renamed away under the running server, SQLITE_ERROR "no such table") must not make the
    device retry the same record forever: the raw request is kept in quarantine and acknowledged
    (an authorization is kept and denied); the failure is logged at ERROR with its traceback."""
    approved.keepalive()
    store.db.execute("ALTER TABLE records RENAME TO records_gone")
    try:
        answers = {}
        for name in ("UploadIdentifyRecord", "RequestAuthorization"):
            req = build_request(ENDPOINTS[name], {})
            answers[name] = approved.post(req.endpoint.path, req.body, req.content_type).json
            assert _quarantined(store, req.body, 0), name
        logged = errors.take()
        keepalive = approved.keepalive().json  # not a record: a plain retry is right there
    finally:
        store.db.execute("ALTER TABLE records_gone RENAME TO records")
    assert answers["UploadIdentifyRecord"]["Success"] == 1
    assert "kept for review" in answers["UploadIdentifyRecord"]["Message"]
    assert answers["RequestAuthorization"] == {"Success": 0, "Message": "Request not readable"}
    assert len(logged) == 2 and all("no such table" in m for m in logged), logged
    reasons = [r["reason"] for r in store.quarantine.list(SN)]
    assert all("the server failed on it (OperationalError: no such table: records)" in r for r in reasons), reasons
    assert keepalive["Success"] == 1  # the keepalive does not touch records
