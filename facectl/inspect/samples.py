"""Device-shaped exchanges for every endpoint, built from raw bytes.

The example capture (`examples/make_capture.py`), the benchmark and the tests
all need realistic traffic: requests shaped like the vendor document's raw
examples (multipart with gzip parts and a JPEG, JSON with the device's
layout) and the answers a correct server gives. Building them here, on the
protocol layer's own multipart builder, keeps the three in step with the
catalog. `session()` is a clean boot-and-sync conversation: a correct server
and a well-behaved device, so no lint rule above "info" fires on it.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from facectl.protocol import multipart, responses
from facectl.protocol.endpoints import ENDPOINTS
from facectl.protocol.record_columns import RECORD_COLUMNS

from .exchange import decode_exchange
from .media import make_jpeg, md5_hex
from .model import Exchange

SN = "FC-8190H24052799"
#: The boundary of the document's raw examples.
BOUNDARY = "--------------------------506873351428002157394455"
#: What a terminal's Host header holds: the host without the port (protocol.md 8.2).
SERVER_HOST = "192.168.1.10"
#: The server address the terminal is configured with (HTTPClient_ServerAddr).
SERVER_ADDR = "http://192.168.1.10:9003"
#: A plausible start: 2024-06-17 09:00:00 UTC+8, the day of the document's record examples.
T0 = 1718586000.0
DEVICE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip"),
    ("Connection", "keep-alive"),
    ("User-Agent", "mongoose 6.18"),
)
SERVER_HEADERS: tuple[tuple[str, str], ...] = (
    ("Server", "Python/3.11 aiohttp/3.14"),
    ("Content-Type", "application/json; charset=utf-8"),
)


@dataclass(slots=True)
class Sample:
    """One exchange as raw bytes both ways, ready for `decode_exchange` or a mitmproxy flow."""

    path: str
    req_headers: list[tuple[str, str]]
    req_body: bytes
    status: int | None
    resp_headers: list[tuple[str, str]]
    resp_body: bytes | None
    started: float = T0
    finished: float | None = T0 + 0.012
    method: str = "POST"
    client: str | None = "conn-1"
    server: str = SERVER_ADDR

    def kwargs(self) -> dict[str, Any]:
        return {
            "method": self.method, "path": self.path, "req_headers": self.req_headers,
            "req_body": self.req_body, "status": self.status, "resp_headers": self.resp_headers,
            "resp_body": self.resp_body, "started": self.started, "finished": self.finished,
            "client": self.client, "server": self.server,
        }

    def decode(self, run_lint: bool = True) -> Exchange:
        return decode_exchange(**self.kwargs(), run_lint=run_lint)

    def at(self, started: float, duration: float = 0.012) -> Sample:
        return replace(self, started=started, finished=started + duration)


# --- building blocks -------------------------------------------------------------------


def device_json(doc: Any, *, trailing_comma: bool = False) -> bytes:
    """JSON as the devices' cJSON prints it: tab indents and ':<TAB>'."""
    text = json.dumps(doc, ensure_ascii=False, indent="\t", separators=(",", ":\t"))
    if trailing_comma and text.endswith("\n}"):
        text = text[:-2] + ",\n}"  # the document's Keepalive example (protocol.md 3.1)
    return text.encode("utf-8")


def request_headers(body: bytes, content_type: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("Host", SERVER_HOST), *DEVICE_HEADERS, ("Content-Type", content_type),
            *extra, ("Content-Length", str(len(body)))]


def json_request(path: str, doc: Any = None, *, raw: bytes | None = None,
                 gzip_body: bool = False, trailing_comma: bool = False) -> tuple[str, list, bytes]:
    body = raw if raw is not None else device_json(doc, trailing_comma=trailing_comma)
    extra: list[tuple[str, str]] = []
    if gzip_body:
        body = gzip.compress(body, mtime=0)
        extra.append(("Content-Encoding", "gzip"))
    return path, request_headers(body, "application/json; charset=utf-8", *extra), body


def multipart_request(path: str, parts: list[multipart.Part]) -> tuple[str, list, bytes]:
    body = multipart.build(parts, BOUNDARY)
    return path, request_headers(body, f"multipart/form-data; boundary={BOUNDARY}"), body


def answer(doc: Any = None, *, status: int = 200, raw: bytes | None = None,
           gzip_body: bool = False) -> tuple[int, list, bytes]:
    """What a correct server sends: compact UTF-8 JSON (facectl.protocol.responses.encode)."""
    body = raw if raw is not None else responses.encode(doc if doc is not None else responses.ok())
    headers = list(SERVER_HEADERS)
    if gzip_body:
        body = gzip.compress(body, mtime=0)
        headers.append(("Content-Encoding", "gzip"))
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def exchange(request: tuple[str, list, bytes], reply: tuple[int, list, bytes] | None,
             started: float = T0, duration: float = 0.012, client: str | None = "conn-1",
             method: str = "POST") -> Sample:
    path, req_headers, req_body = request
    status, resp_headers, resp_body = reply if reply is not None else (None, [], None)
    return Sample(path, req_headers, req_body, status, resp_headers, resp_body,
                  started, started + duration, method, client)


def photo(n: int = 1, width: int = 16, height: int = 12) -> bytes:
    """A distinct small JPEG per `n`."""
    return make_jpeg(width, height, comment=f"facectl sample photo {n}".encode())


def person(user_id: int, name: str, *, photo_bytes: bytes | None = None,
           photo_url: str | None = None, **extra: Any) -> dict[str, Any]:
    """A PeopleJson person as a correct server sends it."""
    doc: dict[str, Any] = {
        "UserID": str(user_id), "Code": f"E{user_id:04d}", "Name": name, "Job": "开发",
        "Department": "销售部", "IdentityCard": "", "Attachment": "", "Password": "2222",
        "CardNum": str(6660 + user_id), "AccessType": 0, "ExpirationDate": 0, "OpenTimes": 65535,
        "KeepOpen": 0, "Timegroup": 1, "Holidays": "", "Elevators": "",
    }
    if photo_bytes is not None:
        doc["Photo"] = photo_url or base64.b64encode(photo_bytes).decode()
        doc["PhotoMD5"] = md5_hex(photo_bytes)
        doc["PhotoLen"] = len(photo_bytes)
    doc["Fingerprints"] = []
    doc["Palmveins"] = []
    doc.update(extra)
    return doc


def keepalive_doc(sn: str = SN, **status: Any) -> dict[str, Any]:
    return {"SN": sn, "RelayStatus": 0, "KeepOpenStatus": 0, "DoorSensorStatus": 0,
            "LockDoorStatus": 0, "AlarmStatus": "", **status}


def settings_doc(sn: str = SN, keepalive: int = 30) -> dict[str, Any]:
    """A trimmed UploadWorkSetting document (the real one has some 150 keys)."""
    return {
        "DeviceSN": sn, "DeviceName": "Front door", "ReleaseTime": 3, "VerificationType": 1,
        "KeepaliveTime": 30, "UseHTTPClient": 1, "HTTPClient_ProtocolType": 200,
        "HTTPClient_ServerAddr": SERVER_ADDR, "HTTPClient_KeepaliveTime": keepalive,
        "HTTPClient_UseGZIP": 1, "TimeZone": 8, "RunDays": 12, "FirmwareVerson": "8.46",
        "FaceVerson": "6.01", "FingerprintVerson": "",
        "PeopleStorageInfo": {"Person": {"Max": 10000, "Count": 2}, "Face": {"Max": 10000, "Count": 2}},
    }


def record_detail(record_id: int, *, record_type: int = 3, user_id: str = "3", name: str = "张三",
                  photo_len: int = 0, date: int | None = None) -> dict[str, Any]:
    """A RecordDetail as a terminal sends it: these values, and every other field's blank."""
    given = {"UserID": user_id, "Name": name, "IsEntry": 1, "BodyTemp": 365, "PhotoLen": photo_len}
    return {
        "RecordID": record_id, "RecordType": record_type,
        "RecordDate": int(T0) + record_id if date is None else date,
        **{c.wire: given.get(c.wire, c.blank) for c in RECORD_COLUMNS if c.wire in given or c.blank is not None},
    }


def record_parts(sn: str, detail: dict[str, Any], jpeg: bytes | None, *,
                 json_name: str = "RecordDetail", photo_name: str = "Photo",
                 gzip_json: bool = True, sn_space: bool = False) -> list[multipart.Part]:
    parts = [
        multipart.text_part("SN", (" " if sn_space else "") + sn),
        multipart.text_part(json_name, device_json(detail), gzip=gzip_json),
    ]
    if jpeg is not None:
        parts.append(multipart.file_part(photo_name, "Photo.jpg", jpeg, "image/jpeg"))
    return parts


# --- a whole conversation --------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """The exchanges of one device, in order (photo downloads included, as GETs)."""

    sn: str
    samples: list[Sample] = field(default_factory=list)


def session(sn: str = SN, t0: float = T0, client: str = "conn-1", people: int = 2) -> Session:
    """A device boots, uploads its settings, runs every flag, uploads records; a correct server.

    Covers all fourteen endpoints in both directions plus the device's download
    of a photo it was handed as a URL.
    """
    s = Session(sn)
    t = t0

    def add(request: tuple[str, list, bytes], reply: tuple[int, list, bytes] | None,
            gap: float = 0.05, method: str = "POST", duration: float = 0.012) -> None:
        nonlocal t
        s.samples.append(exchange(request, reply, t, duration, client, method))
        t += gap

    ep = {name: e.path for name, e in ENDPOINTS.items()}
    add(json_request(ep["Keepalive"], keepalive_doc(sn)), answer(responses.ok(UploadWorkParameter=1)))
    add(json_request(ep["UploadWorkSetting"], settings_doc(sn)), answer())
    add(json_request(ep["Keepalive"], keepalive_doc(sn)), answer(responses.ok(
        Remote=1, SyncParameter=1, DeletePeople=1, AddPeople=1)))
    add(json_request(ep["RemoteCommand"], {"SN": sn}), answer(responses.ok(
        Opendoor=2, RegisterIdentifyTicket={"RegisterType": 4, "UserID": 3, "RegisterIndex": 0})))
    add(json_request(ep["DownloadWorkSetting"], {"SN": sn}), answer(responses.ok(
        ReleaseTime=5, HTTPClient_KeepaliveTime=30, DeviceSN=sn)))
    add(json_request(ep["DeletePeopleList"], {"SN": sn, "Limit": 50}), answer(responses.ok(
        DeleteAll=0, DeleteCount=2, DeleteList=[5, 6])))
    add(json_request(ep["DeletePeopleListResult"], {"SN": sn, "DeleteCount": 2, "DeleteAll": 0,
                                                    "DeleteList": [5, 6]}), answer())
    people_docs, urls = [], []
    for i in range(people):
        jpeg = photo(100 + i)
        if i % 2 == 0:
            url = f"/files/{md5_hex(jpeg)}.jpg"  # root-relative, as the server sends by default
            people_docs.append(person(3 + i, f"人员{3 + i}", photo_bytes=jpeg, photo_url=url))
            urls.append((url, jpeg))
        else:
            people_docs.append(person(3 + i, f"人员{3 + i}", photo_bytes=jpeg))
    add(json_request(ep["DownloadPeopleList"], {"SN": sn, "Limit": 100}), answer(responses.ok(
        PeopleCount=len(people_docs), Count=len(people_docs), PeopleList=people_docs)))
    for url, jpeg in urls:
        req = (url, [("Host", SERVER_HOST), *DEVICE_HEADERS], b"")
        reply = (200, [("Content-Type", "image/jpeg"), ("Content-Length", str(len(jpeg)))], jpeg)
        add(req, reply, method="GET")
    add(json_request(ep["DownloadPeopleListResult"], {
        "SN": sn, "SuccessCount": len(people_docs), "FailCount": 0, "FailList": []}), answer())
    add(json_request(ep["DownloadPeopleList"], {"SN": sn, "Limit": 100}), answer(responses.ok(
        PeopleCount=0, Count=0, PeopleList=[])))
    enrolled = photo(7)
    result = {"SN": sn, "UserID": 3, "Result": 1, "UserDetail": person(3, "人员3")}
    add(multipart_request(ep["RegisterIdentifyTicketResult"], [
        multipart.text_part("ResultJson", device_json(result)),
        multipart.file_part("Photo", "Photo.jpg", enrolled, "image/jpeg"),
    ]), answer())
    pushed = photo(8)
    detail = person(3, "人员3", photo_bytes=pushed, photo_url="/data/user_pic/3.jpg")
    add(multipart_request(ep["PushPeople"], [
        multipart.text_part("SN", sn),
        multipart.text_part("PushType", "2"),
        multipart.text_part("UserID", "3"),
        multipart.text_part("Detail", device_json(detail), gzip=True),
        multipart.file_part("Photo", "Photo.jpg", pushed, "image/jpeg"),
    ]), answer())
    add(multipart_request(ep["UploadSnapshoot"], [
        multipart.text_part("SN", sn),
        multipart.file_part("Photo", "snapshot.jpg", photo(9, 64, 48), "image/jpeg"),
    ]), answer())
    face = photo(10, 32, 24)
    add(multipart_request(ep["RequestAuthorization"], record_parts(
        sn, record_detail(1718616771001, photo_len=len(face), date=int(t0) + 1), face)),
        answer(responses.ok(Message="Welcome")))
    face = photo(11, 32, 24)
    add(multipart_request(ep["UploadIdentifyRecord"], record_parts(
        sn, record_detail(120, photo_len=len(face)), face)), answer(), duration=0.035)
    add(json_request(ep["UploadSystemRecord"], {"SN": sn, "RecordType": 1, "Records": [
        {"RecordID": 1, "RecordType": 1, "RecordDate": int(t0) + 1},
        {"RecordID": 2, "RecordType": 2, "RecordDate": int(t0) + 9},
    ]}), answer())
    return s


def decode_all(samples: Iterable[Sample]) -> list[Exchange]:
    return [s.decode() for s in samples]
