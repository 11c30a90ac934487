"""The endpoint catalog matches the vendor document, its errata and its wire spellings."""

from __future__ import annotations

import re

import pytest

from facectl.protocol import codes, endpoints
from facectl.protocol.endpoints import (
    ENDPOINTS,
    KEEPALIVE_FLAGS,
    PROTOCOL_TYPE_V1,
    PROTOCOL_TYPE_V2,
    V1_PATHS,
    Body,
    Endpoint,
    endpoint_for_flag,
    lookup,
    normalize_path,
    v1_endpoint,
)

#: Every 请求URL of the vendor document, spelt as it spells them.
DOCUMENT_PATHS = {
    "Keepalive": "/Device/Keepalive",
    "UploadWorkSetting": "/Device/UploadWorkSetting",
    "DownloadWorkSetting": "/Device/DownloadWorkSetting",
    "RemoteCommand": "/Device/RemoteCommand",
    "RegisterIdentifyTicketResult": "/Device/RegisterIdentifyTicketResult",
    "UploadSnapshoot": "/Device/UploadSnapshoot",
    "DownloadPeopleList": "/People/DownloadPeopleList",
    "DownloadPeopleListResult": "/People/DownloadPeopleListResult",
    "DeletePeopleList": "/People/DeletePeopleList",
    "DeletePeopleListResult": "/People/DeletePeopleListResult",
    "PushPeople": "/People/PushPeople",
    "RequestAuthorization": "/Device/RequestAuthorization",
    "UploadIdentifyRecord": "/Record/UploadIdentifyRecord",
    "UploadSystemRecord": "/Record/UploadSystemRecord",
}
MULTIPART = {
    "RegisterIdentifyTicketResult",
    "UploadSnapshoot",
    "PushPeople",
    "RequestAuthorization",
    "UploadIdentifyRecord",
}


def all_fields(endpoint: Endpoint):
    return (*endpoint.request, *endpoint.response, *endpoint.detail)


# --- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "path"), sorted(DOCUMENT_PATHS.items()))
def test_every_document_endpoint_present(name, path):
    endpoint = ENDPOINTS[name]
    assert endpoint.path == path
    assert endpoint.name == name
    assert lookup(path) is endpoint
    assert endpoint.body is (Body.MULTIPART if name in MULTIPART else Body.JSON)


def test_catalog_is_exactly_the_document():
    assert set(ENDPOINTS) == set(DOCUMENT_PATHS)


def test_embedded_paths_are_the_documents_request_urls(vendor_doc: str):
    urls = re.findall(r"IP:port\*\*(/[A-Za-z]+/[A-Za-z]+)", vendor_doc)
    assert set(urls) == set(DOCUMENT_PATHS.values())


@pytest.mark.parametrize(
    "path",
    [
        "/Device/Keepalive",
        "/device/keepalive",
        "/DEVICE/KEEPALIVE",
        "/Device/Keepalive/",
        "//Device//Keepalive",
        "/Device///Keepalive//",
        "/Device/Keepalive?sn=FC-8190H24052799",
        "/device/keepalive/?a=1&b=2",
        " /Device/Keepalive ",
        "Device/Keepalive",
    ],
)
def test_lookup_variants(path):
    assert lookup(path) is ENDPOINTS["Keepalive"]


def test_lookup_case_insensitive_for_every_endpoint():
    for endpoint in ENDPOINTS.values():
        assert lookup(endpoint.path.lower()) is endpoint
        assert lookup(endpoint.path.upper() + "/") is endpoint


@pytest.mark.parametrize(
    "path", ["/", "", "/Device", "/Device/Keepalives", "/Keepalive", "/Device/Upload", "/People/DownloadPeople"]
)
def test_unknown_paths(path):
    assert lookup(path) is None


def test_normalize_path():
    assert normalize_path("//Device//UploadSnapshoot/?x=1") == "/device/uploadsnapshoot"
    assert normalize_path("/") == "/"


# --- v1 paths (protocol.md 2.1, 2.3) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "v2"),
    [
        ("/devicePass/selectPassInfo", "/People/DownloadPeopleList"),
        ("/devicePass/selectDeleteInfo", "/People/DeletePeopleList"),
        ("/device/selectRestart", "/Device/RemoteCommand"),
        ("/note/insertNoteFace", "/Record/UploadIdentifyRecord"),
    ],
)
def test_v1_paths_recognised_and_not_v2(path, v2):
    assert lookup(path) is None
    for variant in (path, path.upper(), path + "/", "/" + path, path + "?a=1"):
        description = v1_endpoint(variant)
        assert description is not None, variant
        assert "v1" in description
        assert v2 in description


def test_v2_paths_are_not_v1():
    for path in DOCUMENT_PATHS.values():
        assert v1_endpoint(path) is None


def test_v1_paths_do_not_collide_with_v2():
    assert len(V1_PATHS) == 4
    assert not set(V1_PATHS) & {p.lower() for p in DOCUMENT_PATHS.values()}


def test_protocol_types():
    assert (PROTOCOL_TYPE_V1, PROTOCOL_TYPE_V2) == (100, 200)


# --- keepalive flags (protocol.md 1.1) -----------------------------------------------------


def test_keepalive_flags_order_is_the_keepalive_sections():
    assert KEEPALIVE_FLAGS == (
        "UploadWorkParameter",
        "Remote",
        "SyncParameter",
        "DeletePeople",
        "AddPeople",
    )


def test_keepalive_response_lists_the_flags_in_order():
    names = [f.name for f in ENDPOINTS["Keepalive"].response]
    assert [n for n in names if n in KEEPALIVE_FLAGS] == list(KEEPALIVE_FLAGS)


@pytest.mark.parametrize(
    ("flag", "name"),
    [
        ("UploadWorkParameter", "UploadWorkSetting"),
        ("Remote", "RemoteCommand"),
        ("SyncParameter", "DownloadWorkSetting"),
        ("DeletePeople", "DeletePeopleList"),
        ("AddPeople", "DownloadPeopleList"),
    ],
)
def test_endpoint_for_flag(flag, name):
    assert endpoint_for_flag(flag) is ENDPOINTS[name]
    assert ENDPOINTS[name].flag == flag


def test_every_flag_has_an_endpoint_and_unknown_flag_raises():
    assert {e.flag for e in ENDPOINTS.values() if e.flag} == set(KEEPALIVE_FLAGS)
    with pytest.raises(KeyError):
        endpoint_for_flag("syncparameter")
    with pytest.raises(KeyError):
        endpoint_for_flag("Restart")


# --- fields ------------------------------------------------------------------------------


def test_every_field_table_is_a_code_table():
    seen = set()
    for endpoint in ENDPOINTS.values():
        for f in all_fields(endpoint):
            if f.table is not None:
                assert f.table in codes.TABLES, (endpoint.name, f.name, f.table)
                seen.add(f.table)
    # the catalog does label its coded fields
    assert {
        "identify_record_type",
        "alarm",
        "opendoor",
        "register_result",
        "push_type",
        "auth_result",
        "system_record_kind",
        "access_type",
    } <= seen


@pytest.mark.parametrize(
    ("endpoint", "alias", "canonical"),
    [
        ("UploadIdentifyRecord", "recordJson", "RecordDetail"),
        ("RequestAuthorization", "recordJson", "RecordDetail"),
        ("DeletePeopleListResult", "DeletList", "DeleteList"),
    ],
)
def test_request_field_aliases(endpoint, alias, canonical):
    e = ENDPOINTS[endpoint]
    f = e.request_field(alias)
    assert f is not None and f.name == canonical
    assert alias in f.aliases and f.names[0] == canonical
    assert e.request_field(canonical) is f


def test_fail_count_is_both_the_count_and_an_alias_of_fail_list():
    # protocol.md 4.4: the document's example repeats FailCount as the list.
    e = ENDPOINTS["DownloadPeopleListResult"]
    by_name = {f.name: f for f in e.request}
    assert by_name["FailCount"].type == "int"
    assert by_name["FailList"].type == "array"
    assert by_name["FailList"].aliases == ("FailCount",)
    assert e.request_field("FailList") is by_name["FailList"]


def test_download_people_list_count_alias_in_response():
    (count,) = [f for f in ENDPOINTS["DownloadPeopleList"].response if f.name == "PeopleCount"]
    assert count.aliases == ("Count",)


@pytest.mark.parametrize("name", ["UploadIdentifyRecord", "RequestAuthorization"])
def test_record_endpoints_part_names(name):
    e = ENDPOINTS[name]
    assert set(e.json_part) == {"RecordDetail", "recordJson"}
    assert set(e.file_parts) == {"Photo", "pic"}
    assert e.request_field("RecordID").type == "int64"


def test_json_and_file_part_names_of_other_multipart_endpoints():
    assert ENDPOINTS["PushPeople"].json_part == ("Detail",)
    assert ENDPOINTS["PushPeople"].file_parts == ("Photo",)
    assert ENDPOINTS["RegisterIdentifyTicketResult"].json_part == ("ResultJson",)
    assert ENDPOINTS["UploadSnapshoot"].file_parts == ("Photo",)
    for e in ENDPOINTS.values():
        if e.body is Body.JSON:
            assert e.json_part == () and e.file_parts == ()


def test_upload_work_setting_identified_by_device_sn():
    assert ENDPOINTS["UploadWorkSetting"].sn_fields[0] == "DeviceSN"
    for name, e in ENDPOINTS.items():
        if name != "UploadWorkSetting":
            assert "SN" in e.sn_fields


def test_record_uploads_have_the_long_timeout():
    assert ENDPOINTS["UploadIdentifyRecord"].device_timeout == 30.0
    assert ENDPOINTS["UploadSystemRecord"].device_timeout == 30.0
    assert ENDPOINTS["Keepalive"].device_timeout == 2.0


def test_request_field_unknown_is_none():
    assert ENDPOINTS["Keepalive"].request_field("Nope") is None


# --- wire spellings (protocol.md 3.9) ------------------------------------------------------


def _catalog_text() -> str:
    return repr(endpoints._ENDPOINTS) + repr(ENDPOINTS) + repr(V1_PATHS)


def _wire_names() -> set[str]:
    names = set()
    for e in ENDPOINTS.values():
        names.add(e.path)
        names.update(e.json_part + e.file_parts + e.sn_fields)
        for f in all_fields(e):
            names.update(f.names)
    return names


def test_misspelt_wire_names_kept():
    assert ENDPOINTS["UploadSnapshoot"].path == "/Device/UploadSnapshoot"
    assert lookup("/Device/UploadSnapshoot") is ENDPOINTS["UploadSnapshoot"]
    remote = {f.name for f in ENDPOINTS["RemoteCommand"].response}
    assert "Snapshoot" in remote


@pytest.mark.parametrize(
    "fixed",
    [
        "FirmwareVersion",
        "FaceVersion",
        "FingerprintVersion",
        "WiredGateway",
        "WIFIGateway",
        "UploadSnapshot",
        "/Device/UploadSnapshot",
    ],
)
def test_misspelt_wire_names_not_fixed_anywhere_in_the_catalog(fixed):
    assert fixed not in _catalog_text()


def test_no_correctly_spelt_snapshot_wire_name():
    assert not {n for n in _wire_names() if "snapshot" in n.lower()}
    assert lookup("/Device/UploadSnapshot") is None
