"""decode_request reads every example request of the document, quirks included."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from facectl.protocol import multipart
from facectl.protocol.decode import DecodedRequest, DecodeError, decode_request, unwrap_body
from facectl.protocol.endpoints import ENDPOINTS
from facectl.protocol.limits import MAX_BODY_BYTES, MAX_INFLATED_BYTES
from facectl.protocol.multipart import Part, build, file_part, text_part

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "requests"
BOUNDARY = "--------------------------506873351428002157394455"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
SN = "FC-8190H24052799"
PHOTO = (EXAMPLES / "photo.jpg").read_bytes()
RECORD = {"RecordID": 7, "RecordType": 3, "RecordDate": 1718616771, "UserID": "1", "Name": "张三"}


def endpoint_of(filename: str):
    return ENDPOINTS[filename.split(".")[0].split("-")[0]]


def decode_example(filename: str, content_encoding: str | None = None) -> DecodedRequest:
    path = EXAMPLES / filename
    ct_path = EXAMPLES / (filename.rsplit(".", 1)[0] + ".content-type")
    content_type = ct_path.read_text() if ct_path.exists() else "application/json"
    return decode_request(endpoint_of(filename), path.read_bytes(), content_type, content_encoding)


def decode_parts(name: str, parts: list[Part]) -> DecodedRequest:
    return decode_request(ENDPOINTS[name], build(parts, BOUNDARY), CONTENT_TYPE)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A few KB of gzip that inflates one byte past the project's limit."""
    return gzip.compress(b"\0" * (MAX_INFLATED_BYTES + 1), compresslevel=1)


JSON_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.json"))
MULTIPART_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.body"))


# --- every example -----------------------------------------------------------------------


@pytest.mark.parametrize("filename", JSON_EXAMPLES + MULTIPART_EXAMPLES)
def test_every_example_decodes_with_the_device_sn(filename):
    req = decode_example(filename)
    assert req.endpoint is endpoint_of(filename)
    assert req.sn == SN
    assert req.body_gzip is False


@pytest.mark.parametrize("filename", JSON_EXAMPLES)
def test_json_examples_give_the_document(filename):
    req = decode_example(filename)
    expected = json.loads((EXAMPLES / filename).read_text().replace('"",\n}', '""\n}'))
    assert req.document == expected
    assert req.parts == [] and req.files == [] and req.photo is None


def test_keepalive_example_trailing_comma_reported():
    req = decode_example("Keepalive.json")
    assert req.document["AlarmStatus"] == ""
    assert "trailing comma" in req.quirks


def test_upload_work_setting_sn_is_the_last_device_sn():
    # protocol.md 3.8: DeviceSN twice (FC-8200H12345675 then FC-8190H24052799), no SN field.
    raw = (EXAMPLES / "UploadWorkSetting.json").read_text()
    assert raw.index("FC-8200H12345675") < raw.index(SN)
    req = decode_example("UploadWorkSetting.json")
    assert req.sn == SN
    assert "SN" not in req.document
    assert any("DeviceSN" in q for q in req.quirks)


def test_upload_work_setting_sn_falls_back_to_sn():
    body = json.dumps({"SN": " " + SN, "FireAlarm": 0}).encode()
    assert decode_request(ENDPOINTS["UploadWorkSetting"], body).sn == SN


def test_upload_identify_record_example():
    req = decode_example("UploadIdentifyRecord.body")
    assert req.sn == SN  # the leading space of the form value is gone (protocol.md 3.6)
    assert req.form["SN"] == SN
    assert any("whitespace" in q for q in req.quirks)
    assert req.json_part is not None and req.json_part.name == "recordJson"
    assert req.json_part_gzip is True
    assert req.document["RecordID"] == 120 and req.document["RecordType"] == 3
    assert req.photo is not None and req.photo.name == "pic"
    assert req.photo.filename == "Postman_file.jpg"
    assert req.photo.data == PHOTO
    assert [p.name for p in req.parts] == ["SN", "recordJson", "pic"]


def test_upload_identify_record_record_detail_variant():
    req = decode_example("UploadIdentifyRecord-RecordDetail.body")
    assert req.json_part.name == "RecordDetail"
    assert req.json_part_gzip is False
    assert req.document["RecordID"] == 121
    assert req.photo.name == "Photo" and req.photo.data == PHOTO


def test_request_authorization_example():
    req = decode_example("RequestAuthorization.body")
    assert req.sn == SN
    assert req.json_part.name == "RecordDetail" and req.json_part_gzip
    assert req.document["RecordID"] == 1718616771001
    assert req.photo.name == "pic" and req.photo.data == PHOTO


def test_upload_snapshoot_example():
    req = decode_example("UploadSnapshoot.body")
    assert req.sn == SN
    assert req.document is None and req.json_part is None
    assert req.photo.name == "Photo" and req.photo.data == PHOTO


def test_register_identify_ticket_result_sn_from_the_json_part():
    req = decode_example("RegisterIdentifyTicketResult.body")
    assert req.form == {}
    assert req.sn == SN
    assert req.document["Result"] == 1
    assert req.document["UserDetail"]["UserID"] == "1"
    assert req.photo.data == PHOTO
    dup = decode_example("RegisterIdentifyTicketResult-duplicate.body")
    assert dup.document["Result"] == 2 and dup.photo is None


def test_push_people_detail_gzip_file_part_found_by_name():
    req = decode_example("PushPeople.body")
    assert req.form == {"SN": SN, "PushType": "1", "UserID": "3"}
    assert req.json_part.name == "Detail" and req.json_part.is_file
    assert req.json_part_gzip is True
    assert req.document["UserID"] == "3"
    assert req.document["Job"] == "开发"
    assert any("file part" in q for q in req.quirks)
    assert [p.name for p in req.files] == ["Photo"]  # the Detail part is not a photo
    assert req.photo.data == PHOTO


# --- whole-body gzip (protocol.md 3.4, 6.2) --------------------------------------------------


def test_whole_body_gzip_with_header():
    req = decode_example("UploadWorkSetting.json.gz", content_encoding="gzip")
    assert req.body_gzip is True
    assert req.sn == SN
    assert req.document == decode_example("UploadWorkSetting.json").document


def test_whole_body_gzip_without_header_detected_by_magic():
    req = decode_example("UploadWorkSetting.json.gz", content_encoding=None)
    assert req.body_gzip is True
    assert req.sn == SN
    assert req.document["FirmwareVerson"] == "8.46"


def test_whole_body_labelled_gzip_but_plain_is_read_as_plain():
    body = (EXAMPLES / "Keepalive.json").read_bytes()
    req = decode_request(ENDPOINTS["Keepalive"], body, "application/json", "gzip")
    assert req.body_gzip is False and req.sn == SN


def test_whole_body_gzip_multipart():
    body = (EXAMPLES / "UploadIdentifyRecord.body").read_bytes()
    req = decode_request(ENDPOINTS["UploadIdentifyRecord"], gzip.compress(body), CONTENT_TYPE, "gzip")
    assert req.body_gzip is True
    assert req.document["RecordID"] == 120 and req.photo.data == PHOTO


def test_unwrap_body():
    assert unwrap_body(b"abc", None) == (b"abc", False)
    assert unwrap_body(gzip.compress(b"abc"), None) == (b"abc", True)
    assert unwrap_body(gzip.compress(b"abc"), "GZIP") == (b"abc", True)


# --- per-part gzip (protocol.md 3.3, 6.3) ------------------------------------------------------


def test_gzip_json_part_labelled():
    req = decode_parts(
        "UploadIdentifyRecord",
        [
            text_part("SN", SN),
            text_part("RecordDetail", json.dumps(RECORD), gzip=True),
        ],
    )
    assert req.json_part_gzip is True
    assert req.document == RECORD
    assert not any("RecordDetail" in q for q in req.quirks)


def test_gzip_json_part_unlabelled_detected_by_magic():
    part = Part(
        [("Content-Disposition", 'form-data; name="RecordDetail"')],
        gzip.compress(json.dumps(RECORD).encode()),
        "RecordDetail",
        None,
    )
    req = decode_parts("UploadIdentifyRecord", [text_part("SN", SN), part])
    assert req.json_part_gzip is True
    assert req.document == RECORD
    assert any("RecordDetail" in q and "does not declare" in q for q in req.quirks)


def test_json_part_labelled_gzip_but_plain_read_as_plain():
    part = Part(
        [("Content-Disposition", 'form-data; name="recordJson"'), ("Content-Encoding", "gzip")],
        json.dumps(RECORD).encode(),
        "recordJson",
        None,
    )
    req = decode_parts("UploadIdentifyRecord", [text_part("SN", SN), part])
    assert req.json_part_gzip is False
    assert req.document == RECORD
    assert any("recordJson" in q and "not gzip" in q for q in req.quirks)


def test_json_part_sent_as_a_gzip_file_part_found_by_name():
    req = decode_parts(
        "UploadIdentifyRecord",
        [
            text_part("SN", SN),
            file_part("RecordDetail", "RecordDetail", json.dumps(RECORD).encode(), gzip=True),
            file_part("pic", "Postman_file.jpg", PHOTO, "image/jpeg"),
        ],
    )
    assert req.json_part.name == "RecordDetail"
    assert req.document == RECORD
    assert [p.name for p in req.files] == ["pic"]
    assert req.photo.data == PHOTO
    assert any("file part" in q for q in req.quirks)


def test_json_part_after_the_photo_and_sn_last():
    req = decode_parts(
        "UploadIdentifyRecord",
        [
            file_part("Photo", "Photo.jpg", PHOTO, "image/jpeg"),
            text_part("recordJson", json.dumps(RECORD)),
            text_part("SN", SN + "\r\n"),
        ],
    )
    assert req.sn == SN and req.document == RECORD and req.photo.name == "Photo"


def test_gzip_text_part_inflated_and_reported():
    req = decode_parts(
        "PushPeople",
        [
            text_part("SN", SN, gzip=True),
            text_part("PushType", "1"),
            text_part("UserID", "3"),
        ],
    )
    assert req.sn == SN and req.form["SN"] == SN
    assert any("'SN'" in q and "gzip" in q for q in req.quirks)


# --- record part and photo part names (protocol.md 4.1, 4.2) ---------------------------------


@pytest.mark.parametrize("json_name", ["RecordDetail", "recordJson"])
@pytest.mark.parametrize("endpoint", ["UploadIdentifyRecord", "RequestAuthorization"])
def test_record_detail_or_record_json(endpoint, json_name):
    req = decode_parts(endpoint, [text_part("SN", SN), text_part(json_name, json.dumps(RECORD))])
    assert req.json_part.name == json_name
    assert req.document == RECORD
    assert json_name not in req.form


def test_unknown_json_part_name_is_not_the_document():
    req = decode_parts("UploadIdentifyRecord", [text_part("SN", SN), text_part("Record", json.dumps(RECORD))])
    assert req.document is None and req.json_part is None
    assert req.form["Record"] == json.dumps(RECORD)


@pytest.mark.parametrize("photo_name", ["Photo", "pic", "image", "file"])
def test_photo_part_by_any_name(photo_name):
    req = decode_parts(
        "UploadIdentifyRecord",
        [
            text_part("SN", SN),
            text_part("RecordDetail", json.dumps(RECORD)),
            file_part(photo_name, "x.jpg", PHOTO, "image/jpeg"),
        ],
    )
    assert req.photo is not None and req.photo.name == photo_name
    assert req.photo.data == PHOTO


@pytest.mark.parametrize("photo_name", ["Photo", "pic"])
def test_named_photo_part_preferred_over_other_file_parts(photo_name):
    req = decode_parts(
        "UploadIdentifyRecord",
        [
            text_part("SN", SN),
            file_part("other", "other.bin", b"not the photo"),
            file_part(photo_name, "x.jpg", PHOTO, "image/jpeg"),
        ],
    )
    assert req.photo.name == photo_name and req.photo.data == PHOTO


def test_no_file_part_no_photo():
    req = decode_parts("UploadIdentifyRecord", [text_part("SN", SN)])
    assert req.photo is None


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_body_over_its_endpoints_limit_is_413_with_the_sn_read(name):
    endpoint = ENDPOINTS[name]
    assert endpoint.max_body <= MAX_BODY_BYTES
    body = json.dumps({"SN": SN}).encode() + b" " * endpoint.max_body
    with pytest.raises(DecodeError) as info:
        decode_request(endpoint, body, "application/json")
    assert info.value.status == 413
    assert str(endpoint.max_body) in info.value.message
    assert info.value.sn == SN  # identity is decided before anything is kept


def test_a_keepalive_body_is_limited_to_a_few_kilobytes():
    assert ENDPOINTS["Keepalive"].max_body <= 16 * 1024


def test_body_at_the_limit_is_accepted():
    doc = json.dumps({"SN": SN}).encode()
    limit = ENDPOINTS["Keepalive"].max_body
    body = b" " * (limit - len(doc)) + doc
    assert decode_request(ENDPOINTS["Keepalive"], body, "application/json").sn == SN


def test_gzip_body_inflating_past_its_endpoints_limit_is_413():
    limit = ENDPOINTS["Keepalive"].max_body
    body = gzip.compress(b'{"SN":"' + SN.encode() + b'","X":[' + b" " * limit)
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["Keepalive"], body, "application/json", "gzip")
    assert info.value.status == 413 and str(limit) in info.value.message


@pytest.mark.parametrize("content_encoding", ["gzip", None])
def test_whole_body_gzip_bomb_is_413(bomb, content_encoding):
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["UploadWorkSetting"], bomb, "application/json", content_encoding)
    assert info.value.status == 413
    assert "limit" in info.value.message


def test_gzip_bomb_in_a_part_is_400_so_the_small_body_can_be_quarantined(bomb):
    part = Part(
        [("Content-Disposition", 'form-data; name="recordJson"'), ("Content-Encoding", "gzip")],
        bomb,
        "recordJson",
        None,
    )
    with pytest.raises(DecodeError) as info:
        decode_parts("UploadIdentifyRecord", [text_part("SN", " " + SN), part])
    assert "limit" in info.value.message
    assert info.value.sn == SN
    assert info.value.status == 400  # 413 would make the device retry forever (see DecodeError)


def test_corrupt_whole_body_gzip_is_400():
    data = gzip.compress(b'{"SN": "x"}')[:-6]
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["Keepalive"], data, "application/json", "gzip")
    assert info.value.status == 400


def test_broken_json_part_sn_from_the_sn_text_part():
    with pytest.raises(DecodeError) as info:
        decode_parts(
            "UploadIdentifyRecord",
            [
                text_part("SN", " " + SN),
                text_part("recordJson", b'{"RecordID": 1, "RecordType": }', gzip=True),
                file_part("pic", "Postman_file.jpg", PHOTO, "image/jpeg"),
            ],
        )
    assert info.value.status == 400
    assert info.value.sn == SN
    assert "recordJson" in info.value.message
    assert "line 1 column" in info.value.message


def test_corrupt_gzip_json_part_sn_from_the_sn_text_part():
    broken = gzip.compress(json.dumps(RECORD).encode())[:-10]
    part = Part([("Content-Disposition", 'form-data; name="RecordDetail"')], broken, "RecordDetail", None)
    with pytest.raises(DecodeError) as info:
        decode_parts("UploadIdentifyRecord", [text_part("SN", SN), part])
    assert info.value.status == 400 and info.value.sn == SN


def test_broken_json_body_sn_best_effort():
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["Keepalive"], b'{"SN": " ' + SN.encode() + b'", "x": }')
    assert info.value.status == 400
    assert info.value.sn == SN
    assert "Keepalive" in info.value.message


def test_broken_device_sn_body_sn_best_effort():
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["UploadWorkSetting"], b'{"DeviceSN":"' + SN.encode() + b'",,}')
    assert info.value.sn == SN


def test_json_body_not_an_object_refused():
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["Keepalive"], b'["FC-8190H24052799"]')
    assert info.value.status == 400


@pytest.mark.parametrize("content_type", [None, "application/json", "multipart/form-data"])
def test_multipart_without_boundary_refused(content_type):
    body = (EXAMPLES / "UploadIdentifyRecord.body").read_bytes()
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["UploadIdentifyRecord"], body, content_type)
    assert info.value.status == 400


def test_multipart_cut_short_refused():
    body = (EXAMPLES / "UploadIdentifyRecord.body").read_bytes()
    with pytest.raises(DecodeError) as info:
        decode_request(ENDPOINTS["UploadIdentifyRecord"], body[:-60], CONTENT_TYPE)
    assert info.value.status == 400


def test_decode_error_defaults():
    err = DecodeError("bad")
    assert (err.message, err.status, err.sn) == ("bad", 400, None)
    assert isinstance(err, ValueError)


def test_multipart_module_used_for_parts():
    req = decode_example("PushPeople.body")
    assert all(isinstance(p, multipart.Part) for p in req.parts)
    assert len(req.parts) == 5


def test_lone_surrogate_in_a_json_part_is_replaced_and_reported_with_the_part_name():
    record = b'{"RecordID": 1, "RecordType": 3, "RecordDate": 1700000000, "Name": "\\udfff"}'
    body = build([text_part("SN", SN), text_part("RecordDetail", record)], "b")
    decoded = decode_request(ENDPOINTS["UploadIdentifyRecord"], body, "multipart/form-data; boundary=b")
    assert decoded.document["Name"] == "\ufffd"
    assert "RecordDetail: 1 lone surrogate(s) replaced with U+FFFD" in decoded.quirks
