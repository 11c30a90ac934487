"""The decoder: every endpoint both ways, labels, photos, gzip, odd bytes. Raw bytes in, no mocks."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from facectl.inspect import Timeline, decode_exchange, samples
from facectl.inspect.media import jpeg_dimensions, make_jpeg, md5_hex, unreachable_reason
from facectl.protocol import multipart, responses
from facectl.protocol.endpoints import ENDPOINTS

SN = samples.SN
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "requests"


def _session() -> list:
    tl = Timeline()
    out = []
    for sample in samples.session().samples:
        ex = sample.decode()
        tl.observe(ex)
        out.append(ex)
    return out


SESSION = _session()


def _by_name(name: str):
    return next(ex for ex in SESSION if ex.name == name)


def _field(ex, side: str, path: str):
    return next(v for v in ex.fields if v.side == side and v.path == path)


def test_the_session_covers_every_endpoint():
    assert {ex.endpoint.name for ex in SESSION if ex.endpoint} == set(ENDPOINTS)


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_endpoint_decodes_both_directions(name):
    ex = _by_name(name)
    assert ex.endpoint is ENDPOINTS[name]
    assert ex.sn == SN
    assert ex.request.error is None and ex.response is not None and ex.response.error is None
    request = [v for v in ex.fields if v.side == "request"]
    response = [v for v in ex.fields if v.side == "response"]
    assert request and response
    # every top-level name the catalog knows is paired with its Field
    for v in request:
        if "." not in v.path and "[" not in v.path and ex.endpoint.request_field(v.name):
            assert v.spec is not None, v.path
    success = _field(ex, "response", "Success")
    assert success.value == 1 and success.label in ("ok", "allow and show message")
    assert not [f for f in ex.findings if f.severity != "info"], ex.findings


@pytest.mark.parametrize(("endpoint", "side", "path", "label"), [
    ("UploadIdentifyRecord", "request", "RecordDetail.RecordType", "face verification"),
    ("UploadIdentifyRecord", "request", "RecordDetail.BodyTemp", "36.5 °C"),
    ("RemoteCommand", "response", "Opendoor", "keep open"),
    ("RemoteCommand", "response", "RegisterIdentifyTicket.RegisterType", "face"),
    ("PushPeople", "request", "PushType", "updated"),
    ("RegisterIdentifyTicketResult", "request", "ResultJson.Result", "registered"),
    ("UploadSystemRecord", "request", "RecordType", "door sensor record"),
    ("UploadSystemRecord", "request", "Records[0].RecordType", "door sensor: open"),
    ("DownloadPeopleList", "response", "PeopleList[0].ExpirationDate", "never"),
    ("RequestAuthorization", "response", "Success", "allow and show message"),
])
def test_code_table_labels(endpoint, side, path, label):
    assert _field(_by_name(endpoint), side, path).label == label


def test_fail_list_codes_by_name_and_under_fail_count():
    """FailList ErrorCodes are labelled; the document's list under FailCount too (protocol.md 4.4)."""
    for key in ("FailList", "FailCount"):
        doc = {"SN": SN, "SuccessCount": 0, "FailList": [], "FailCount": 1}
        doc[key] = [{"UserID": 444, "ErrorCode": 20, "RepeatID": "3", "ErrMsg": ""},
                    {"UserID": "5", "ErrorCode": 2, "RepeatID": "0"}]
        ex = samples.exchange(samples.json_request(ENDPOINTS["DownloadPeopleListResult"].path, doc),
                              samples.answer()).decode()
        assert _field(ex, "request", f"{key}[0].ErrorCode").label == "duplicate face"
        assert _field(ex, "request", f"{key}[1].ErrorCode").label == "photo download failed"


def test_system_records_labelled_by_the_batch_kind():
    doc = {"SN": SN, "RecordType": 2, "Records": [{"RecordID": 9, "RecordType": 34, "RecordDate": 1}]}
    ex = samples.exchange(samples.json_request(ENDPOINTS["UploadSystemRecord"].path, doc),
                          samples.answer()).decode()
    assert _field(ex, "request", "Records[0].RecordType").label == "network cable unplugged"


def test_keepalive_alarms_are_labelled():
    doc = samples.keepalive_doc(AlarmStatus="fire,doorSensor")
    ex = samples.exchange(samples.json_request(ENDPOINTS["Keepalive"].path, doc), samples.answer()).decode()
    assert _field(ex, "request", "AlarmStatus").label == "fire alarm, door sensor alarm"
    assert _field(ex, "request", "RelayStatus").label == "released (com-nc closed)"


def test_photos_with_size_md5_and_dimensions():
    ex = _by_name("UploadSnapshoot")
    (photo,) = ex.photos
    assert (photo.width, photo.height, photo.kind) == (64, 48, "jpeg")
    assert photo.md5 == md5_hex(photo.data) and photo.size == len(photo.data)
    assert photo.where == "request part 'Photo' (snapshot.jpg)"
    inline = _by_name("DownloadPeopleList").photos[0]
    assert inline.side == "response" and "base64" in inline.where
    assert inline.declared_md5 == inline.md5


def test_gzip_photo_part_is_inflated_and_measured():
    jpeg = make_jpeg(40, 30, b"gz")
    parts = samples.record_parts(SN, samples.record_detail(5, photo_len=len(jpeg)), None)
    parts.append(multipart.file_part("Photo", "p.jpg", jpeg, "image/jpeg", gzip=True))
    ex = samples.exchange(samples.multipart_request(ENDPOINTS["UploadIdentifyRecord"].path, parts),
                          samples.answer()).decode()
    (photo,) = ex.photos
    assert photo.gzip and (photo.width, photo.height) == (40, 30) and photo.data == jpeg
    assert "request part 'Photo' (declared)" in ex.gzip
    assert "request part 'RecordDetail' (declared)" in ex.gzip


def test_where_gzip_was_used():
    body = samples.json_request(ENDPOINTS["UploadWorkSetting"].path, samples.settings_doc(), gzip_body=True)
    ex = samples.exchange(body, samples.answer(gzip_body=True)).decode()
    assert ex.gzip == ["request body (Content-Encoding: gzip)", "response body"]
    assert ex.request.body_gzip and ex.response.body_gzip
    # a gzip part without its header (protocol.md 6.3) is found by its magic bytes
    raw = gzip.compress(samples.device_json(samples.record_detail(6)), mtime=0)
    part = multipart.Part([("Content-Disposition", 'form-data; name="RecordDetail"')], raw,
                          "RecordDetail", None)
    req = samples.multipart_request(ENDPOINTS["UploadIdentifyRecord"].path,
                                    [multipart.text_part("SN", SN), part])
    ex = samples.exchange(req, samples.answer()).decode()
    assert "request part 'RecordDetail' (not declared)" in ex.gzip
    assert _field(ex, "request", "RecordDetail.RecordID").value == 6


def test_jpeg_dimensions_agree_with_an_independent_parser():
    try:  # mitmproxy 11
        from mitmproxy.contentviews.image.image_parser import parse_jpeg
    except ModuleNotFoundError:  # mitmproxy 12 moved it
        from mitmproxy.contentviews._view_image.image_parser import parse_jpeg

    for w, h in ((1, 1), (16, 12), (641, 479), (1920, 1080)):
        data = make_jpeg(w, h)
        assert jpeg_dimensions(data) == (w, h)
        assert ("Size", f"{w} x {h} px") in parse_jpeg(data)
    assert jpeg_dimensions(b"\xff\xd8\xff\xd9") is None
    assert jpeg_dimensions(b"GIF89a") is None
    assert jpeg_dimensions(make_jpeg(8, 8)[:30]) is None


def test_the_documents_raw_example_bodies_decode():
    """The vendor examples kept in examples/requests (leading-space SN, gzip recordJson, pic)."""
    body = (EXAMPLES / "UploadIdentifyRecord.body").read_bytes()
    ctype = (EXAMPLES / "UploadIdentifyRecord.content-type").read_text().strip()
    ex = decode_exchange("POST", "/Record/UploadIdentifyRecord", [("Content-Type", ctype)], body,
                         200, [], b'{"Success":1}', 0.0, 0.01)
    assert ex.sn == "FC-8190H24052799"
    assert _field(ex, "request", "recordJson.RecordType").label == "face verification"
    assert {f.rule for f in ex.findings} >= {"leading-space", "name-variant"}
    assert ex.photos and ex.photos[0].kind == "jpeg"


def test_http_v1_paths_are_device_traffic_with_their_serial():
    req = samples.json_request("/devicePass/selectPassInfo", {"DeviceID": " FC-8380T12345678", "Limit": 5})
    ex = samples.exchange(req, samples.answer(responses.fail("use v2"), status=400)).decode()
    assert ex.is_device and ex.v1 and ex.endpoint is None
    assert ex.sn == "FC-8380T12345678"
    parts = [multipart.text_part("DeviceID", "FC-8380T12345678"), multipart.text_part("x", "1")]
    ex = samples.exchange(samples.multipart_request("/note/insertNoteFace", parts), None).decode()
    assert ex.sn == "FC-8380T12345678" and ex.name == "HTTPv1 /note/insertNoteFace"


def test_other_traffic_is_not_device_traffic():
    ex = decode_exchange("GET", "/favicon.ico", [], b"", 404, [], b"nope", 0.0, 0.01)
    assert not ex.is_device and ex.findings == []


def test_downloads_are_matched_to_the_url_handed_out():
    ex = next(ex for ex in SESSION if ex.download)
    assert ex.sn == SN and ex.is_device and ex.download.startswith("PeopleList[0].Photo")
    assert ex.photos[0].declared_md5 == ex.photos[0].md5


def test_odd_bytes_become_findings_never_exceptions():
    rng = random.Random(6)
    blobs = [b"", b"\x00", b"\x1f\x8b\x08\x00garbage", b"{", b"[1,2]", b'{"SN":"FC-1"', b"\xff" * 50,
             gzip.compress(b"not json"), rng.randbytes(300), "{\"SN\":\"\u00e9\"}".encode("latin-1")]
    ctypes = ["application/json", "multipart/form-data; boundary=x", "multipart/form-data",
              "text/plain", None]
    for endpoint in ENDPOINTS.values():
        for blob in blobs:
            for ctype in ctypes:
                headers = [("Content-Type", ctype)] if ctype else []
                if blob.startswith(b"\x1f\x8b"):
                    headers.append(("Content-Encoding", "gzip"))
                ex = decode_exchange("POST", endpoint.path, headers, blob, 200, [], blob, 0.0, 0.1)
                rules = {f.rule for f in ex.findings}
                assert "decoder-failure" not in rules
                if ex.request.error:
                    assert "request-undecodable" in rules


def test_truncated_multipart_is_a_finding():
    _, headers, body = samples.multipart_request(
        ENDPOINTS["UploadIdentifyRecord"].path,
        samples.record_parts(SN, samples.record_detail(1), make_jpeg()))
    ex = decode_exchange("POST", ENDPOINTS["UploadIdentifyRecord"].path, headers, body[:-60],
                         200, [], b'{"Success":1}', 0.0, 0.1)
    assert ex.request.error and "request-undecodable" in {f.rule for f in ex.findings}


def test_to_dict_is_json_and_shortens_base64():
    jpeg = make_jpeg(320, 240, b"x" * 4000)
    people = [samples.person(3, "A", photo_bytes=jpeg)]
    ex = samples.exchange(
        samples.json_request(ENDPOINTS["DownloadPeopleList"].path, {"SN": SN, "Limit": 9}),
        samples.answer(responses.ok(PeopleCount=1, Count=1, PeopleList=people))).decode()
    doc = json.loads(json.dumps(ex.to_dict(), ensure_ascii=False))
    photo = doc["response"]["document"]["PeopleList"][0]["Photo"]
    assert photo.endswith("chars)") and len(photo) < 100
    assert doc["labels"]["response.PeopleList[0].AccessType"] == "normal"
    assert doc["photos"][0]["width"] == 320 and "data" not in doc["photos"][0]


@pytest.mark.parametrize(("url", "bad"), [
    ("http://localhost:8080/x.jpg", True), ("http://127.0.0.1/x.jpg", True),
    ("http://[::1]/x", True), ("http://0.0.0.0/x", True), ("//evil.example/x", True),
    ("ftp://10.0.0.5/x", True), ("http://169.254.1.1/x", True),
    ("http://192.168.1.10:9003/files/x.jpg", False), ("https://faces.example.com/x.jpg", False),
    ("/files/x.jpg?e=1&s=2", False),  # root-relative: resolved against the device's server address (8.3)
])
def test_unreachable_urls(url, bad):
    assert (unreachable_reason(url) is not None) is bad
