"""The project's own multipart parser keeps every part exactly as sent (protocol.md 3.3, 3.6, 6.3)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from facectl.protocol import multipart
from facectl.protocol.limits import MAX_PART_HEADER_BYTES, MAX_PARTS
from facectl.protocol.multipart import (
    MultipartError,
    Part,
    boundary_from_content_type,
    build,
    file_part,
    parse,
    parse_header_params,
    text_part,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "requests"
BOUNDARY = "--------------------------506873351428002157394455"
SN = "FC-8190H24052799"
PHOTO = (EXAMPLES / "photo.jpg").read_bytes()
MULTIPART_EXAMPLES = sorted(p.stem for p in EXAMPLES.glob("*.body"))


def example(name: str) -> tuple[bytes, str]:
    body = (EXAMPLES / f"{name}.body").read_bytes()
    content_type = (EXAMPLES / f"{name}.content-type").read_text()
    return body, content_type


def parse_example(name: str) -> list[Part]:
    body, content_type = example(name)
    return parse(body, boundary_from_content_type(content_type))


def by_name(parts: list[Part]) -> dict[str | None, Part]:
    return {p.name: p for p in parts}


# --- the document's examples -----------------------------------------------------------


def test_all_examples_present():
    assert set(MULTIPART_EXAMPLES) >= {
        "UploadIdentifyRecord",
        "UploadIdentifyRecord-RecordDetail",
        "RequestAuthorization",
        "UploadSnapshoot",
        "RegisterIdentifyTicketResult",
        "RegisterIdentifyTicketResult-duplicate",
        "PushPeople",
    }


@pytest.mark.parametrize("name", MULTIPART_EXAMPLES)
def test_example_content_type_gives_the_document_boundary(name):
    _, content_type = example(name)
    assert boundary_from_content_type(content_type) == BOUNDARY


@pytest.mark.parametrize("name", MULTIPART_EXAMPLES)
def test_example_bodies_parse_and_rebuild_byte_exact(name):
    body, content_type = example(name)
    parts = parse(body, boundary_from_content_type(content_type))
    assert parts
    assert build(parts, BOUNDARY) == body


def test_upload_identify_record_example_parts_exact():
    parts = parse_example("UploadIdentifyRecord")
    assert [p.name for p in parts] == ["SN", "recordJson", "pic"]
    sn, record, pic = parts

    assert sn.headers == [("Content-Disposition", 'form-data; name="SN"')]
    assert sn.data == b" " + SN.encode()  # leading space kept as sent (protocol.md 3.6)
    assert not sn.is_file

    assert record.headers == [
        ("Content-Disposition", 'form-data; name="recordJson"'),
        ("Content-Encoding", "gzip"),
        ("Content-Type", "application/octet-stream"),
    ]
    assert record.declared_gzip
    assert record.content_type == "application/octet-stream"
    assert record.data[:2] == b"\x1f\x8b"  # the raw part bytes, not inflated
    assert not record.is_file
    data, was_gzip = record.decoded()
    assert was_gzip
    detail = json.loads(data)
    assert detail["RecordID"] == 120 and detail["PhotoLen"] == len(PHOTO)

    assert pic.headers == [
        ("Content-Disposition", 'form-data; name="pic"; filename="Postman_file.jpg"'),
        ("Content-Type", "image/jpeg"),
    ]
    assert pic.is_file and pic.filename == "Postman_file.jpg"
    assert pic.content_type == "image/jpeg"
    assert not pic.declared_gzip
    assert pic.data == PHOTO  # binary bytes exact
    assert pic.decoded() == (PHOTO, False)


def test_record_detail_example_plain_json_and_photo():
    parts = by_name(parse_example("UploadIdentifyRecord-RecordDetail"))
    assert set(parts) == {"SN", "RecordDetail", "Photo"}
    assert parts["RecordDetail"].header("content-encoding") is None
    assert not parts["RecordDetail"].declared_gzip
    assert json.loads(parts["RecordDetail"].data)["RecordID"] == 121
    assert parts["Photo"].filename == "Photo.jpg"
    assert parts["Photo"].data == PHOTO


def test_push_people_detail_is_a_gzipped_file_part():
    parts = parse_example("PushPeople")
    assert [p.name for p in parts] == ["SN", "PushType", "UserID", "Detail", "Photo"]
    fields = by_name(parts)
    assert fields["SN"].data == SN.encode()
    assert fields["PushType"].data == b"1"
    assert fields["UserID"].data == b"3"
    assert not any(fields[n].is_file for n in ("SN", "PushType", "UserID"))
    detail = fields["Detail"]
    assert detail.is_file and detail.filename == "Detail"
    assert detail.headers == [
        ("Content-Disposition", 'form-data; name="Detail"; filename="Detail"'),
        ("Content-Encoding", "gzip"),
        ("Content-Type", "application/octet-stream"),
    ]
    person = json.loads(gzip.decompress(detail.data))
    assert person["UserID"] == "3" and person["Department"] == "销售部"
    assert fields["Photo"].data == PHOTO


def test_register_result_duplicate_has_a_single_text_part():
    parts = parse_example("RegisterIdentifyTicketResult-duplicate")
    assert [p.name for p in parts] == ["ResultJson"]
    assert json.loads(parts[0].data)["Result"] == 2


def test_header_lookup_is_case_insensitive():
    part = parse_example("RequestAuthorization")[1]
    assert part.header("CONTENT-ENCODING") == "gzip"
    assert part.header("content-type") == "application/octet-stream"
    assert part.header("X-Missing") is None


# --- Content-Type and boundary ------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        f"multipart/form-data; boundary={BOUNDARY}",
        f'multipart/form-data; boundary="{BOUNDARY}"',
        f"Multipart/Form-Data;boundary={BOUNDARY}",
        f"multipart/form-data; charset=utf-8; BOUNDARY={BOUNDARY}",
        f'multipart/form-data; boundary="{BOUNDARY}"; charset=utf-8',
    ],
)
def test_boundary_quoted_or_not(content_type):
    assert boundary_from_content_type(content_type) == BOUNDARY
    body, _ = example("UploadSnapshoot")
    assert [p.name for p in parse(body, boundary_from_content_type(content_type))] == [
        "SN",
        "Photo",
    ]


def test_quoted_boundary_with_special_characters():
    assert boundary_from_content_type('multipart/form-data; boundary="a;b=c d"') == "a;b=c d"


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "multipart/form-data", "multipart/form-data; boundary="],
)
def test_content_type_without_usable_boundary_refused(content_type):
    with pytest.raises(MultipartError):
        boundary_from_content_type(content_type)


def test_parse_header_params():
    head, params = parse_header_params('form-data; name="pic"; filename="a;b.jpg"')
    assert head == "form-data"
    assert params == {"name": "pic", "filename": "a;b.jpg"}


# --- wire variants ----------------------------------------------------------------------


def test_lf_only_line_endings():
    body = (
        b"--XyZ\n"
        b'Content-Disposition: form-data; name="SN"\n'
        b"\n"
        b" FC-8190H24052799\n"
        b"--XyZ\n"
        b'Content-Disposition: form-data; name="pic"; filename="p.jpg"\n'
        b"Content-Type: image/jpeg\n"
        b"\n" + PHOTO + b"\n"
        b"--XyZ--\n"
    )
    parts = parse(body, "XyZ")
    assert [p.name for p in parts] == ["SN", "pic"]
    assert parts[0].data == b" FC-8190H24052799"
    assert parts[1].headers[1] == ("Content-Type", "image/jpeg")
    assert parts[1].data == PHOTO


def test_mixed_line_endings_each_part_ends_at_its_own_boundary():
    # First part closed by an LF-only delimiter line, second by a CRLF one: the first part
    # must end at the nearest delimiter, not swallow the second part.
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="SN"\r\n'
        b"\r\n"
        b"FC-8190H24052799\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="PushType"\r\n'
        b"\r\n"
        b"1\r\n"
        b"--XyZ--\r\n"
    )
    parts = parse(body, "XyZ")
    assert [p.name for p in parts] == ["SN", "PushType"]
    assert parts[0].data == b"FC-8190H24052799"


def test_preamble_before_first_boundary_ignored():
    body, _ = example("UploadSnapshoot")
    parts = parse(b"This is the preamble.\r\nIgnore me --- please\r\n" + body, BOUNDARY)
    assert [p.name for p in parts] == ["SN", "Photo"]
    assert parts[1].data == PHOTO


def test_epilogue_after_closing_boundary_ignored():
    body, _ = example("UploadSnapshoot")
    parts = parse(body + b"epilogue\r\n--" + BOUNDARY.encode() + b"\r\nxx", BOUNDARY)
    assert [p.name for p in parts] == ["SN", "Photo"]


def test_binary_data_with_line_breaks_and_dashes_kept():
    data = bytes(range(256)) + b"\r\n--\r\n--" + BOUNDARY.encode()[:-1] + b"\n\r\r\n"
    body = build([file_part("Photo", "x.bin", data)], BOUNDARY)
    assert parse(body, BOUNDARY)[0].data == data


def test_empty_part_data():
    body = build([text_part("SN", "")], BOUNDARY)
    assert parse(body, BOUNDARY)[0].data == b""


# --- refusals ----------------------------------------------------------------------------


def test_missing_closing_boundary_refused():
    body, _ = example("UploadIdentifyRecord")
    cut = body[: body.rindex(b"\r\n--" + BOUNDARY.encode())]
    with pytest.raises(MultipartError, match="not closed"):
        parse(cut, BOUNDARY)


def test_body_cut_in_the_middle_of_a_part_refused():
    body, _ = example("UploadIdentifyRecord")
    with pytest.raises(MultipartError):
        parse(body[: len(body) // 2], BOUNDARY)


def test_body_ending_right_after_a_delimiter_refused():
    with pytest.raises(MultipartError):
        parse(b"--" + BOUNDARY.encode(), BOUNDARY)
    with pytest.raises(MultipartError):
        parse(b"--" + BOUNDARY.encode() + b"\r\n", BOUNDARY)


def test_no_boundary_in_body_refused():
    body, _ = example("UploadSnapshoot")
    with pytest.raises(MultipartError, match="boundary"):
        parse(body, "some-other-boundary")
    with pytest.raises(MultipartError, match="boundary"):
        parse(b'{"SN": "FC-8190H24052799"}', BOUNDARY)


def _many_parts(count: int) -> bytes:
    return build([text_part(f"f{i}", str(i)) for i in range(count)], BOUNDARY)


def test_max_parts_accepted():
    assert len(parse(_many_parts(MAX_PARTS), BOUNDARY)) == MAX_PARTS


def test_too_many_parts_refused():
    with pytest.raises(MultipartError, match=f"more than {MAX_PARTS} parts"):
        parse(_many_parts(MAX_PARTS + 1), BOUNDARY)


def test_custom_part_limit():
    with pytest.raises(MultipartError):
        parse(_many_parts(3), BOUNDARY, max_parts=2)


def test_headers_over_the_limit_refused():
    part = Part(
        headers=[
            ("Content-Disposition", 'form-data; name="SN"'),
            ("X-Padding", "a" * MAX_PART_HEADER_BYTES),
        ],
        data=b"FC-8190H24052799",
        name="SN",
        filename=None,
    )
    with pytest.raises(MultipartError, match="headers"):
        parse(build([part], BOUNDARY), BOUNDARY)


def test_headers_just_over_the_limit_refused():
    disposition = 'Content-Disposition: form-data; name="SN"\r\n'
    pad = MAX_PART_HEADER_BYTES - len(disposition) - len("X-Pad: ") + 1
    part = Part([("Content-Disposition", 'form-data; name="SN"'), ("X-Pad", "a" * pad)], b"x", "SN", None)
    with pytest.raises(MultipartError, match="headers"):
        parse(build([part], BOUNDARY), BOUNDARY)


def test_headers_at_the_limit_accepted():
    disposition = 'Content-Disposition: form-data; name="SN"\r\n'
    pad = MAX_PART_HEADER_BYTES - len(disposition) - len("X-Pad: ")
    part = Part([("Content-Disposition", 'form-data; name="SN"'), ("X-Pad", "a" * pad)], b"x", "SN", None)
    parsed = parse(build([part], BOUNDARY), BOUNDARY)
    assert parsed[0].data == b"x"


# --- build, text_part, file_part --------------------------------------------------------


def test_build_then_parse_round_trip_byte_exact():
    parts = [
        text_part("SN", " " + SN),
        text_part("recordJson", '{"RecordID":1,"Name":"张三"}', gzip=True),
        file_part("Detail", "Detail", b'{"UserID":"3"}', gzip=True),
        file_part("pic", "Postman_file.jpg", PHOTO, "image/jpeg"),
        Part([("Content-Disposition", 'form-data; name="X"'), ("X-Note", "名字")], b"\0\r\n", "X", None),
    ]
    body = build(parts, BOUNDARY)
    back = parse(body, BOUNDARY)
    assert [(p.headers, p.data, p.name, p.filename) for p in back] == [
        (p.headers, p.data, p.name, p.filename) for p in parts
    ]
    assert build(back, BOUNDARY) == body


def test_build_layout():
    body = build([text_part("SN", SN)], "b")
    assert body == (b'--b\r\nContent-Disposition: form-data; name="SN"\r\n\r\n' + SN.encode() + b"\r\n--b--\r\n")


def test_text_part_plain():
    part = text_part("SN", SN)
    assert part.headers == [("Content-Disposition", 'form-data; name="SN"')]
    assert part.data == SN.encode()
    assert not part.is_file and not part.declared_gzip


def test_text_part_gzip():
    part = text_part("recordJson", '{"RecordID":1}', gzip=True)
    assert part.headers == [
        ("Content-Disposition", 'form-data; name="recordJson"'),
        ("Content-Encoding", "gzip"),
        ("Content-Type", "application/octet-stream"),
    ]
    assert part.data[:2] == b"\x1f\x8b"
    assert part.declared_gzip and not part.is_file
    assert part.decoded() == (b'{"RecordID":1}', True)
    back = parse(build([part], BOUNDARY), BOUNDARY)[0]
    assert back.declared_gzip and back.decoded() == (b'{"RecordID":1}', True)


def test_file_part_plain():
    part = file_part("Photo", "Photo.jpg", PHOTO, "image/jpeg")
    assert part.headers == [
        ("Content-Disposition", 'form-data; name="Photo"; filename="Photo.jpg"'),
        ("Content-Type", "image/jpeg"),
    ]
    assert part.is_file and part.data == PHOTO and not part.declared_gzip


def test_file_part_gzip():
    part = file_part("Detail", "Detail", b'{"UserID":"3"}', gzip=True)
    assert part.headers == [
        ("Content-Disposition", 'form-data; name="Detail"; filename="Detail"'),
        ("Content-Encoding", "gzip"),
        ("Content-Type", "application/octet-stream"),
    ]
    assert part.is_file and part.declared_gzip
    assert gzip.decompress(part.data) == b'{"UserID":"3"}'
    back = parse(build([part], BOUNDARY), BOUNDARY)[0]
    assert back.is_file and back.filename == "Detail"
    assert back.decoded() == (b'{"UserID":"3"}', True)


def test_gzip_parts_are_reproducible():
    assert text_part("a", "x", gzip=True).data == text_part("a", "x", gzip=True).data


def test_part_labelled_gzip_but_plain_decodes_as_plain():
    part = Part(
        [("Content-Disposition", 'form-data; name="recordJson"'), ("Content-Encoding", "gzip")],
        b'{"RecordID":1}',
        "recordJson",
        None,
    )
    assert part.declared_gzip
    assert part.decoded() == (b'{"RecordID":1}', False)


def test_empty_filename_is_still_a_file_part():
    body = b'--b\r\nContent-Disposition: form-data; name="pic"; filename=""\r\n\r\nabc\r\n--b--\r\n'
    part = parse(body, "b")[0]
    assert part.is_file and part.filename == ""


def test_module_has_its_own_error_type():
    assert issubclass(multipart.MultipartError, ValueError)


def test_part_without_headers():
    body = b"--b\r\n\r\nraw value\r\n--b--\r\n"
    (part,) = parse(body, "b")
    assert part.headers == [] and part.data == b"raw value"
    assert part.name is None and not part.is_file
