#!/usr/bin/env python3
"""Write examples/capture.flows: a mitmproxy capture of two terminals talking to a server.

    python examples/make_capture.py              # (re)write examples/capture.flows
    facectl inspect examples/capture.flows       # read it back, one line per exchange
    facectl inspect examples/capture.flows --summary
    mitmweb -r examples/capture.flows -s addons/decode.py   # the contentview

The flows are what `mitmdump --mode reverse:http://SERVER:PORT -p 9003 -w capture.flows`
records: raw device-shaped requests (built with facectl.protocol.multipart, as
the vendor document's raw examples) and realistic server answers, with the
timing, connections and peers of a real site. The content is deterministic
(fixed times, ids and gzip headers), so the file only changes when this
script does. What it shows:

* FC-8190H24052799 boots and syncs: a Keepalive with the document's trailing
  comma, a whole-body gzip UploadWorkSetting with DeviceSN twice (protocol.md 3.8,
  6.2), every flag, a record with a gzip `recordJson` part, a `pic` photo and
  a leading space in the SN (protocol.md 3.3, 4.1, 4.2, 3.6), a PushPeople whose
  Detail is a gzipped file part (6.3), the download of a photo it was handed.
* one deliberately bad server answer: a DownloadPeopleList with more people
  than the Limit, a localhost photo URL, an absolute photo URL built from the
  port-less Host header (port 80, protocol.md 8.2), a PhotoMD5 that does not match,
  an ExpirationDate past the firmware maximum, a name over 63 bytes and only
  `Count`; later a slow answer, a late keepalive and a request with no answer.
* FC-8380T12345678 follows the document's stale flag table to the HTTPv1 path
  /devicePass/selectPassInfo (protocol.md 2.1), opens a second connection while
  the first is busy, and is answered Success:0 on a Keepalive (protocol.md 6.1).

When `facectl sim` and `facectl serve` are ready, a real capture is one
command away (see docs/inspect.md); this one needs neither.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    import facectl.inspect  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent))

from facectl.inspect import samples as s  # noqa: E402
from facectl.inspect.flows import build_flow, write_flows  # noqa: E402
from facectl.inspect.media import md5_hex  # noqa: E402
from facectl.protocol import multipart, responses  # noqa: E402
from facectl.protocol.endpoints import ENDPOINTS  # noqa: E402

SN_A = s.SN
SN_B = "FC-8380T12345678"
PEER_A = ("192.168.1.201", 50321)
PEER_B = ("192.168.1.202", 41877)
IDS = uuid.UUID("6b1f0a52-2f5e-4a55-9a36-0c1e2b7d9f10")
P = {name: e.path for name, e in ENDPOINTS.items()}


class Capture:
    """Collects flows with deterministic ids, times and connections."""

    def __init__(self) -> None:
        self.flows: list = []

    def add(self, sample: s.Sample, peer: tuple[str, int], error: str | None = None) -> None:
        kw = sample.kwargs()
        kw["client"] = str(uuid.uuid5(IDS, f"conn:{kw['client']}"))
        flow = build_flow(**kw, peer=peer, error=error)
        flow.id = str(uuid.uuid5(IDS, f"flow:{len(self.flows)}"))
        flow.server_conn.id = str(uuid.uuid5(IDS, f"server:{kw['client']}"))
        self.flows.append(flow)


def device_a(cap: Capture, t0: float) -> None:
    conn, t = "a1", t0

    def add(req, reply, gap: float = 0.04, duration: float = 0.011, method: str = "POST",
            error: str | None = None) -> None:
        nonlocal t
        cap.add(s.exchange(req, reply, t, duration, conn, method), PEER_A, error)
        t += duration + gap

    add(s.json_request(P["Keepalive"], s.keepalive_doc(SN_A), trailing_comma=True),
        s.answer(responses.ok(UploadWorkParameter=1)))
    raw = s.device_json(s.settings_doc(SN_A)).replace(
        b"{", b'{\n\t"DeviceSN":\t"FC-8200H12345675",', 1)  # the document's example: DeviceSN twice
    add(s.json_request(P["UploadWorkSetting"], raw=raw, gzip_body=True), s.answer())
    add(s.json_request(P["Keepalive"], s.keepalive_doc(SN_A)),
        s.answer(responses.ok(Remote=1, DeletePeople=1, AddPeople=1)))
    add(s.json_request(P["RemoteCommand"], {"SN": SN_A}), s.answer(responses.ok(Opendoor=2)))
    add(s.json_request(P["DeletePeopleList"], {"SN": SN_A, "Limit": 50}),
        s.answer(responses.ok(DeleteAll=0, DeleteCount=2, DeleteList=[5, 6])))
    add(s.json_request(P["DeletePeopleListResult"], raw=s.device_json(
        {"SN": SN_A, "DeleteCount": 2, "DeleteAll": 0, "DeletList": [5, 6]})), s.answer())

    # The deliberately bad answer: Limit 2, three people, and a catalogue of mistakes.
    good = s.photo(21)
    wrong = s.photo(22)
    url = f"/files/{md5_hex(good)}.jpg"
    people = [
        s.person(11, "王小明", photo_bytes=good, photo_url=url),
        s.person(12, "李四", photo_bytes=s.photo(23), photo_url="http://localhost:8080/files/12.jpg"),
        s.person(13, "欧阳" * 12, photo_bytes=wrong, ExpirationDate=4102444800),
        s.person(14, "赵六", photo_bytes=s.photo(24), photo_url=f"http://{s.SERVER_HOST}/files/14.jpg"),
    ]
    people[2]["PhotoMD5"] = md5_hex(good)  # the MD5 of another photo
    bad = {"Success": 1, "Count": len(people), "PeopleList": people}
    add(s.json_request(P["DownloadPeopleList"], {"SN": SN_A, "Limit": 2}), s.answer(bad))
    add((url, [("Host", s.SERVER_HOST), *s.DEVICE_HEADERS], b""),
        (200, [("Content-Type", "image/jpeg"), ("Content-Length", str(len(good)))], good),
        method="GET", duration=0.02)
    add(s.json_request(P["DownloadPeopleListResult"], {
        "SN": SN_A, "SuccessCount": 1, "FailCount": 2, "FailList": [
            {"UserID": "12", "ErrorCode": 2, "RepeatID": "0", "ErrMsg": "download failed"},
            {"UserID": 13, "ErrorCode": 20, "RepeatID": "11", "ErrMsg": ""},
        ]}), s.answer())
    add(s.json_request(P["DownloadPeopleList"], {"SN": SN_A, "Limit": 2}),
        s.answer(responses.ok(PeopleCount=0, Count=0, PeopleList=[])))

    face = s.photo(31, 48, 64)
    detail = s.record_detail(120, photo_len=len(face), user_id="11", name="王小明")
    add(s.multipart_request(P["UploadIdentifyRecord"], s.record_parts(
        SN_A, detail, face, json_name="recordJson", photo_name="pic", sn_space=True)),
        s.answer(), duration=0.041)
    add(s.json_request(P["UploadSystemRecord"], {"SN": SN_A, "RecordType": 1, "Records": [
        {"RecordID": 1, "RecordType": 1, "RecordDate": int(t0) + 2},
        {"RecordID": 2, "RecordType": 2, "RecordDate": int(t0) + 9},
    ]}), s.answer())

    # Idle keepalives every 30 s; the third comes 55 s after the second.
    for at in (30.0, 60.0):
        t = t0 + at
        add(s.json_request(P["Keepalive"], s.keepalive_doc(SN_A)), s.answer())
    t = t0 + 115.0
    add(s.json_request(P["Keepalive"], s.keepalive_doc(SN_A, DoorSensorStatus=1,
                                                      AlarmStatus="openTimeout,doorSensor")),
        s.answer(responses.ok(Remote=1)))
    add(s.json_request(P["RemoteCommand"], {"SN": SN_A}), s.answer(responses.ok(
        Snapshoot=1, RegisterIdentifyTicket={"RegisterType": 4, "UserID": 11, "RegisterIndex": 0})))
    add(s.multipart_request(P["UploadSnapshoot"], [
        multipart.text_part("SN", SN_A),
        multipart.file_part("Photo", "snapshot.jpg", s.photo(41, 640, 480), "image/jpeg"),
    ]), s.answer(), duration=2.64)  # slower than the device's 2 s timeout
    enrolled = s.photo(42, 48, 64)
    person = s.person(11, "王小明", photo_bytes=enrolled, photo_url="/data/user_pic/11.jpg")
    add(s.multipart_request(P["RegisterIdentifyTicketResult"], [
        multipart.text_part("ResultJson", s.device_json(
            {"SN": SN_A, "UserID": 11, "Result": 1, "UserDetail": person})),
        multipart.file_part("Photo", "Photo.jpg", enrolled, "image/jpeg"),
    ]), s.answer())
    add(s.multipart_request(P["PushPeople"], [
        multipart.text_part("SN", SN_A),
        multipart.text_part("PushType", "2"),
        multipart.text_part("UserID", "11"),
        multipart.file_part("Detail", "Detail", s.device_json(person), gzip=True),
        multipart.file_part("Photo", "Photo.jpg", enrolled, "image/jpeg"),
    ]), s.answer())
    auth = s.photo(43, 48, 64)
    add(s.multipart_request(P["RequestAuthorization"], s.record_parts(
        SN_A, s.record_detail(1718616771001, record_type=19, user_id="0", name="",
                              photo_len=len(auth)), auth)),
        s.answer({"Success": 0, "Message": "Unknown visitor"}), duration=0.3)
    t = t0 + 146.0
    add(s.json_request(P["UploadSystemRecord"], {"SN": SN_A, "RecordType": 2, "Records": [
        {"RecordID": 3, "RecordType": 34, "RecordDate": int(t0) + 145},
    ]}), None, duration=30.0, error="Server connection to ('10.0.0.5', 8080) failed: timed out")


def device_b(cap: Capture, t0: float) -> None:
    t = t0

    def add(req, reply, conn: str = "b1", duration: float = 0.013, gap: float = 0.05) -> None:
        nonlocal t
        cap.add(s.exchange(req, reply, t, duration, conn), PEER_B)
        t += duration + gap

    add(s.json_request(P["Keepalive"], s.keepalive_doc(SN_B)), s.answer(responses.ok(AddPeople=1)))
    # The Keepalive table's stale path (protocol.md 2.1): this device speaks HTTPv1.
    add(s.json_request("/devicePass/selectPassInfo", {"DeviceID": SN_B, "Limit": 10}),
        s.answer(responses.fail("HTTPv1 is not supported: set HTTPClient_ProtocolType to 200"),
                 status=400))
    # A second connection while the first is busy with a slow Keepalive.
    t = t0 + 30.0
    add(s.json_request(P["Keepalive"], s.keepalive_doc(SN_B)),
        s.answer({"Success": 0, "AddPeople": 1}), duration=0.9, gap=-0.85)
    face = s.photo(51, 48, 64)
    add(s.multipart_request(P["UploadIdentifyRecord"], s.record_parts(
        SN_B, s.record_detail(7, photo_len=len(face), user_id="5", name="赵六"), face)),
        s.answer(), conn="b2")


def build() -> list:
    cap = Capture()
    device_a(cap, s.T0)
    device_b(cap, s.T0 + 0.5)
    cap.flows.sort(key=_written_at)  # mitmdump -w writes a flow when it completes
    return cap.flows


def _written_at(flow) -> float:
    if flow.response is not None:
        return flow.response.timestamp_end
    return flow.error.timestamp if flow.error is not None else flow.request.timestamp_start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", default=str(HERE / "capture.flows"), help="where to write")
    args = parser.parse_args(argv)
    flows = build()
    n = write_flows(args.out, flows)
    print(f"wrote {n} flows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
