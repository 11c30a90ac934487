"""Records, settings, device identity and canonical answers, fed with the document's examples."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from conftest import PROTOCOL_DOC

from facectl.protocol import lenient_json, responses
from facectl.protocol.identity import DEFAULT_SN_PATTERN, SnRule, clean_text
from facectl.protocol.limits import MAX_SN_BYTES, MAX_SYSTEM_RECORDS
from facectl.protocol.numbers import as_int, as_uint
from facectl.protocol.records import (
    DOOR,
    IDENTIFY,
    SYSTEM,
    RecordError,
    identify_record,
    system_records,
)
from facectl.protocol.settings import (
    QUOTED_EMPTY,
    READ_ONLY_SETTINGS,
    check_change,
    diff,
    downloadable,
    normalize_value,
    summary,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "requests"

#: §API-上传打卡记录, RecordDetail 参数示例.
IDENTIFY_EXAMPLE = """{
    "RecordID":\t120,
    "RecordType":\t3,
    "RecordDate":\t1718616771,
    "UserID":\t"1",
    "Name":\t"1",
    "IdentityCard":\t"",
    "Job":\t"",
    "Department":\t"",
    "CardNum":\t"0",
    "QRCode":\t"",
    "IsEntry":\t1,
    "BodyTemp":\t0,
    "PhotoLen":\t40363
}"""

#: The keys of §API-设备主动拉取工作参数 返回值示例 (DownloadWorkSetting response), in order.
DOWNLOAD_EXAMPLE_KEYS = """
Success DeviceSN FireAlarm DoorLongOpenAlarm DoorLongOpenTime DoorSensorAlarm
DoorSensorAlarmTimegroup BlacklistAlarm AntiDisassemblyAlarm IllegalVerificationAlarm
IllegalVerificationAlarmLimit UseUserCloseAlarm PasswordAlarm PasswordAlarm_Password
PasswordAlarm_Mode AlarmClocks UseBodyTemperature UseFahrenheitDisplay TemperatureCompensate
TemperatureAlarmThreshold TemperatureDisplay CardBytes AccessType WgFormat WGContent ReleaseTime
FreeOpen OpenInterval OpenInterval_SaveRecord Relay ShortMessage VerificationType OverdueRemind
OverdueRemind_Day TimingOpen TimingOpen_mode TimingOpen_timegroup TimingLocked
TimingLocked_timegroup VisitorRootPassword MultiPerson UseElevator ElevatorPorts FaceIR
FaceIRThreshold FaceDistance FaceThreshold FPComparison FaceMask FaceMaskThreshold Holidays
Language SystemTime UseNTP TimeZone Volume Voice ConnectPassword UseWired WiredDHCP WiredIP
WiredIPMask WiredGteway WiredDNS WiredMAC UseWIFI WIFIDHCP WIFIIP WIFIIPMask WIFIGteway WIFIDNS
WIFIMAC WIFIAPName WIFIAPPassword UseWebPage HTTPPort HTTPSPort WebPageUseSSL UseUDP UDPPort
UseTelnet TelnetPort UseRTSP RTSPPort RTSPUser RTSPPassword UseTCPClient UseUDPClient
ServerAddress ServerPort KeepaliveTime UseHTTPClient HTTPClient_ProtocolType
HTTPClient_ServerAddr HTTPClient_KeepaliveTime HTTPClient_UseGZIP UseMQTTClient UseMQTTSSL
MQTTServerAddr MQTTPort MQTTLoginName MQTTLoginPassword MQTTPublishTopic MQTTSubscribeTopic
MQTT_KeepaliveTime MQTT_UseGZIP UseWebsocketClient WebsocketClient_ProtocolType
WebsocketClient_ServerAddr WebsocketClient_UseGZIP WebsocketClient_KeepaliveTime UseYZW YZWAddr
RecordAutoCycle SaveUnregistered SaveRecordPicture DeviceName Manufacturer ManufacturerPhone
Website ProductionDate OEMText AutoRestart AutoRestartTime TimeGroups DisplayBrightness
MenuPassword ShowIR ShowPersonPhoto PlayPersonName RecognitionButton UnregisteredWarn
ShowPersonName FillLight
""".split()

#: protocol.md 5.4, verbatim.
ERRATA_READ_ONLY = (
    "RunDays, FormatCount, WatchDogCount, BootTime, RelayStatus, KeepOpenStatus, "
    "DoorSensorStatus, LockDoorStatus, AlarmStatus, PeopleStorageInfo, RecordStorageInfo, "
    "FirmwareVerson, FingerprintVerson, FaceVerson, FunctionList"
)

#: The document's English test-connection texts (§API-设备心跳保活包, 返回错误代码).
DOC_MSG_401 = "Connected to server, but device is not activated"
DOC_MSG_400 = "Connected to server, but SN does not comply with platform rules"


@pytest.fixture
def upload() -> dict:
    """The document's UploadWorkSetting example as the server reads it."""
    return lenient_json.parse((EXAMPLES / "UploadWorkSetting.json").read_bytes()).value


def detail(**changes) -> dict:
    doc = json.loads(IDENTIFY_EXAMPLE)
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


# === records ==============================================================================


def test_identify_record_document_example():
    record = identify_record(json.loads(IDENTIFY_EXAMPLE))
    assert record.kind == IDENTIFY
    assert (record.record_id, record.record_type, record.record_date) == (120, 3, 1718616771)
    assert record.fields["user_id"] == "1"
    assert record.fields["name"] == "1"
    assert record.fields["card_num"] == "0"
    assert record.fields["identity_card"] == ""
    assert record.fields["is_entry"] == 1
    assert record.fields["body_temp"] == 0
    assert record.fields["photo_len"] == 40363
    assert record.warnings == []
    assert record.detail == json.loads(IDENTIFY_EXAMPLE)


def test_identify_record_authorization_example_big_record_id():
    record = identify_record(detail(RecordID=1718616771001), kind="auth")
    assert record.record_id == 1718616771001 and record.kind == "auth"


@pytest.mark.parametrize("raw", ["120", " 120 ", 120.0])
def test_record_id_as_numeric_string_accepted(raw):
    assert identify_record(detail(RecordID=raw)).record_id == 120


def test_record_type_and_date_as_strings_accepted():
    record = identify_record(detail(RecordType="3", RecordDate="1718616771"))
    assert (record.record_type, record.record_date) == (3, 1718616771)


def test_user_id_as_number_becomes_a_string():
    assert identify_record(detail(UserID=444, Name=" 张三 ")).fields["user_id"] == "444"
    assert identify_record(detail(Name=" 张三 ")).fields["name"] == "张三"


@pytest.mark.parametrize("key", ["RecordID", "RecordType", "RecordDate"])
def test_missing_required_field_refused(key):
    with pytest.raises(RecordError, match=key):
        identify_record(detail(**{key: ...}))


@pytest.mark.parametrize("bad", ["abc", "", None, 1.5, [], {}, "12a", "1" * 21])
def test_non_integer_record_id_refused(bad):
    with pytest.raises(RecordError, match="RecordID"):
        identify_record(detail(RecordID=bad))


@pytest.mark.parametrize("bad", ["--5", "-", "²", "1-2"])
def test_malformed_numeric_strings_are_record_errors(bad):
    # Anything that is not an integer must be a RecordError (quarantine), never a bare
    # ValueError from int() escaping the module.
    with pytest.raises(RecordError):
        identify_record(detail(RecordID=bad))


@pytest.mark.parametrize("big", [2**63, -(2**63) - 1, 2**64, 1e30, "99999999999999999999"])
def test_record_id_beyond_64_bits_refused(big):
    with pytest.raises(RecordError, match="RecordID is not a 64-bit integer"):
        identify_record(detail(RecordID=big))


def test_record_id_at_the_64_bit_limits_accepted():
    assert identify_record(detail(RecordID=2**63 - 1)).record_id == 2**63 - 1
    assert identify_record(detail(RecordID=str(-(2**63)))).record_id == -(2**63)


@pytest.mark.parametrize("big", [2**64, -(2**64), 1e30])
def test_optional_integer_beyond_64_bits_kept_as_unknown_with_a_warning(big):
    # The store cannot bind it (SQLite INTEGER is 64-bit): NULL column, the value stays in the detail.
    record = identify_record(detail(IsEntry=big, BodyTemp=big))
    assert record.fields["is_entry"] is None and record.fields["body_temp"] is None
    assert record.detail["IsEntry"] == big
    assert any("IsEntry is not a 64-bit integer" in w for w in record.warnings)


@pytest.mark.parametrize("value, expected", [
    (2**63 - 1, 2**63 - 1), (-(2**63), -(2**63)), (2**63, None), (-(2**63) - 1, None), (10**30, None),
    (1e19, None), (7.0, 7), (" 42 ", 42), ("١٢٣", None), ("²", None), (float("nan"), None),
    (float("inf"), None), (True, None), ([1], None),
])
def test_as_int_reads_64_bit_integers_only(value, expected):
    assert as_int(value) == expected


def test_as_uint_refuses_negative_and_beyond_64_bits():
    assert (as_uint("5"), as_uint(-1), as_uint(2**64), as_uint(True)) == (5, None, None, None)


def test_settings_summary_ignores_numbers_beyond_64_bits():
    doc = {"HTTPClient_KeepaliveTime": 2**64, "TimeZone": "99999999999999999999999", "HTTPClient_ProtocolType": 200,
           "PeopleStorageInfo": {"Person": {"Max": 10**30}}}
    got = summary(doc)
    assert (got["keepalive_interval"], got["timezone"], got["protocol_type"], got["person_capacity"]) == \
        (None, "UTC+08:00 (assumed)", 200, None)


@pytest.mark.parametrize("bad", [None, [], "text", 5])
def test_record_detail_must_be_an_object(bad):
    with pytest.raises(RecordError):
        identify_record(bad)


def test_over_long_name_kept_with_a_warning():
    name = "张" * 30  # 90 UTF-8 bytes, over the 64 of the record table
    record = identify_record(detail(Name=name))
    assert record.fields["name"] == name
    assert len(record.warnings) == 1
    assert "Name" in record.warnings[0] and "90" in record.warnings[0]


def test_name_at_the_limit_no_warning():
    assert identify_record(detail(Name="a" * 64)).warnings == []
    assert identify_record(detail(Name="a" * 65)).warnings


def test_non_integer_optional_field_kept_with_a_warning():
    record = identify_record(detail(BodyTemp="hot", IsEntry=""))
    assert record.fields["body_temp"] is None
    assert record.fields["is_entry"] is None
    assert any("BodyTemp" in w for w in record.warnings)
    assert not any("IsEntry" in w for w in record.warnings)


def test_system_records_document_example_door_batch():
    body = lenient_json.parse((EXAMPLES / "UploadSystemRecord.json").read_bytes()).value
    good, bad = system_records(body)
    assert bad == []
    assert [(r.kind, r.record_id, r.record_type, r.record_date) for r in good] == [
        (DOOR, 1, 1, 1718616771),
        (DOOR, 2, 1, 1718616772),
    ]


def test_system_records_system_batch():
    body = {
        "SN": "FC-8380T12345678",
        "RecordType": 2,
        "Records": [{"RecordID": 9, "RecordType": 45, "RecordDate": 1718616771}],
    }
    good, bad = system_records(body)
    assert [(r.kind, r.record_id, r.record_type) for r in good] == [(SYSTEM, 9, 45)]
    assert bad == []


def test_system_records_batch_type_as_string():
    good, _ = system_records({"RecordType": "2", "Records": []})
    assert good == []


def test_system_records_bad_items_returned_good_kept():
    items = [
        {"RecordID": 1, "RecordType": 1, "RecordDate": 1718616771},
        {"RecordType": 1, "RecordDate": 1718616771},
        "not a record",
        {"RecordID": "x", "RecordType": 1, "RecordDate": 1718616771},
        {"RecordID": "4", "RecordType": 2, "RecordDate": 1718616774},
    ]
    good, bad = system_records({"RecordType": 1, "Records": items})
    assert [r.record_id for r in good] == [1, 4]
    assert [item for item, _ in bad] == [items[1], items[2], items[3]]
    assert "RecordID" in bad[0][1]
    assert all(isinstance(reason, str) and reason for _, reason in bad)


def test_system_records_malformed_numeric_string_is_a_bad_item():
    items = [
        {"RecordID": 1, "RecordType": 1, "RecordDate": 1718616771},
        {"RecordID": "--1", "RecordType": 1, "RecordDate": 1718616771},
    ]
    good, bad = system_records({"RecordType": 1, "Records": items})
    assert [r.record_id for r in good] == [1]
    assert [item for item, _ in bad] == [items[1]]


@pytest.mark.parametrize("batch_type", [3, 0, "3", None])
def test_system_records_batch_type_other_than_1_or_2_refused(batch_type):
    with pytest.raises(RecordError, match="RecordType"):
        system_records({"RecordType": batch_type, "Records": []})


def test_system_records_too_many_refused():
    item = {"RecordID": 1, "RecordType": 1, "RecordDate": 1718616771}
    good, _ = system_records({"RecordType": 1, "Records": [item] * MAX_SYSTEM_RECORDS})
    assert len(good) == MAX_SYSTEM_RECORDS
    with pytest.raises(RecordError, match=str(MAX_SYSTEM_RECORDS)):
        system_records({"RecordType": 1, "Records": [item] * (MAX_SYSTEM_RECORDS + 1)})


@pytest.mark.parametrize("body", [[], {"RecordType": 1}, {"RecordType": 1, "Records": {}}])
def test_system_records_shape_refused(body):
    with pytest.raises(RecordError):
        system_records(body)


# === settings =============================================================================


def test_normalize_value_quoted_empty():
    assert QUOTED_EMPTY == '""'
    assert normalize_value('""') == ""
    assert normalize_value("") == ""
    assert normalize_value('"a"') == '"a"'
    assert normalize_value(0) == 0
    assert normalize_value(None) is None


def test_upload_example_alarm_status_normalizes_to_empty(upload):
    assert upload["AlarmStatus"] == '""'
    assert normalize_value(upload["AlarmStatus"]) == ""


ERRATA_8_5_READ_ONLY = ("PalmveinVerson, OnecardCloudStatus, HTTPClientStatus, MQTTClientStatus, "
                        "WebsocketClientStatus, YZWClientStatus")


def test_read_only_settings_exactly_errata_5_4_and_8_5():
    assert READ_ONLY_SETTINGS == frozenset(ERRATA_READ_ONLY.split(", ")) | frozenset(ERRATA_8_5_READ_ONLY.split(", "))


def test_read_only_list_is_the_one_protocol_md_5_4_gives():
    assert ERRATA_READ_ONLY in PROTOCOL_DOC.read_text(encoding="utf-8")


def test_read_only_list_matches_the_vendor_errata(vendor_errata: str):
    assert ERRATA_READ_ONLY in vendor_errata


def test_embedded_download_keys_are_the_documents(vendor_doc: str):
    text = vendor_doc
    section = text[text.index("## **API-设备主动拉取工作参数**") : text.index("# 远程控制")]
    block = section[section.index("**返回值示例**") :]
    block = block[block.index("{") : block.rindex("}") + 1]
    pairs = json.loads(block, object_pairs_hook=lambda p: p)
    assert [k for k, _ in pairs] == DOWNLOAD_EXAMPLE_KEYS


def test_downloadable_of_upload_example_is_the_download_example(upload):
    out = downloadable(upload, {})
    assert set(out) == set(DOWNLOAD_EXAMPLE_KEYS) - {"Success"}
    # the keys the download example lacks are exactly the read-only ones
    assert set(upload) - set(DOWNLOAD_EXAMPLE_KEYS) == READ_ONLY_SETTINGS & set(upload)
    assert out["DeviceSN"] == "FC-8190H24052799"
    assert "AlarmStatus" not in out and "FirmwareVerson" not in out


def test_downloadable_applies_pending_changes(upload):
    out = downloadable(upload, {"Volume": 3, "DeviceName": "Gate 1"})
    assert out["Volume"] == 3 and out["DeviceName"] == "Gate 1"
    assert upload["DeviceName"] == ""  # the upload itself is untouched


def test_downloadable_never_sends_read_only_keys_even_from_pending(upload):
    # protocol.md 5.4: last upload, pending changes applied, *minus* the read-only fields.
    out = downloadable(upload, {"RunDays": 5, "Volume": 3})
    assert "RunDays" not in out
    assert out["Volume"] == 3


def test_check_change_refuses_read_only_keys(upload):
    for key in sorted(READ_ONLY_SETTINGS):
        value, reason = check_change(upload, key, "1")
        assert value is None
        assert reason and "read-only" in reason and key in reason


def test_check_change_refuses_unknown_keys(upload):
    value, reason = check_change(upload, "FirmwareVersion", "9.0")
    assert value is None and reason and "FirmwareVersion" in reason
    value, reason = check_change(upload, "volume", "3")  # keys are case-sensitive
    assert value is None and reason


def test_check_change_refuses_device_sn(upload):
    value, reason = check_change(upload, "DeviceSN", "FC-8190H25061293")
    assert value is None and reason and "DeviceSN" in reason


def test_check_change_coerces_int(upload):
    assert isinstance(upload["Volume"], int)
    value, reason = check_change(upload, "Volume", "3")
    assert (value, reason) == (3, None)
    assert type(value) is int
    assert check_change(upload, "Volume", 7) == (7, None)


@pytest.mark.parametrize("bad", ["abc", "3.5", "true", "[3]", True, "", '"3"'])
def test_check_change_refuses_non_int_for_int_setting(upload, bad):
    value, reason = check_change(upload, "Volume", bad)
    assert value is None
    assert reason and "Volume" in reason


def test_check_change_keeps_strings_as_strings(upload):
    assert isinstance(upload["DeviceName"], str)
    assert check_change(upload, "DeviceName", "3") == ("3", None)
    assert check_change(upload, "DeviceName", "[1, 2]") == ("[1, 2]", None)
    assert check_change(upload, "DeviceName", "门禁 1") == ("门禁 1", None)
    value, reason = check_change(upload, "DeviceName", 3)
    assert value is None and reason


def test_check_change_accepts_json_for_list_settings(upload):
    assert isinstance(upload["Holidays"], list)
    value, reason = check_change(upload, "Holidays", '[{"Start": 1, "End": 2}]')
    assert reason is None and value == [{"Start": 1, "End": 2}]
    value, reason = check_change(upload, "Holidays", '{"a": 1}')
    assert value is None and reason
    value, reason = check_change(upload, "Holidays", "[1,")
    assert value is None and reason


def test_check_change_accepts_json_for_object_settings(upload):
    assert isinstance(upload["DoorSensorAlarmTimegroup"], dict)
    value, reason = check_change(upload, "DoorSensorAlarmTimegroup", '{"Week1": "1"}')
    assert reason is None and value == {"Week1": "1"}
    value, reason = check_change(upload, "DoorSensorAlarmTimegroup", "[]")
    assert value is None and reason


def test_summary_of_the_upload_example(upload):
    s = summary(upload)
    assert s["firmware"] == "8.46"
    assert s["face_version"] == "6.01"
    assert s["fingerprint_version"] == "-"
    assert s["keepalive_interval"] == 30
    assert s["protocol_type"] == 100
    assert s["person_capacity"] == 20000
    assert s["face_capacity"] == 20000
    assert s["card_capacity"] == 20000
    assert s["timezone"] == "UTC+08:00"
    assert s["device_name"] == ""


def test_summary_of_an_empty_document():
    s = summary({})
    assert s["firmware"] is None and s["person_capacity"] is None
    assert s["keepalive_interval"] is None
    assert summary({"PeopleStorageInfo": "junk", "HTTPClient_KeepaliveTime": "x"})["person_capacity"] is None


def test_diff(upload):
    new = copy.deepcopy(upload)
    new["Volume"] = upload["Volume"] + 1
    new["DoorSensorAlarmTimegroup"]["Week1"] = "1"
    del new["FillLight"]
    new["NewKey"] = 1
    assert diff(upload, new) == {
        "DoorSensorAlarmTimegroup": [
            upload["DoorSensorAlarmTimegroup"],
            new["DoorSensorAlarmTimegroup"],
        ],
        "FillLight": [upload["FillLight"], None],
        "NewKey": [None, 1],
        "Volume": [upload["Volume"], upload["Volume"] + 1],
    }
    assert list(diff(upload, new)) == sorted(diff(upload, new))
    assert diff(upload, copy.deepcopy(upload)) == {}


def test_diff_from_nothing():
    assert diff(None, {"b": 1, "a": 2}) == {"a": [None, 2], "b": [None, 1]}


# === identity =============================================================================


@pytest.mark.parametrize("sn", ["FC-8190H25061293", "FC-8190H24052799", "FC-8380T12345678"])
def test_sn_rule_accepts_field_serials(sn):
    assert SnRule().check(sn) is None


@pytest.mark.parametrize(
    "sn",
    [
        "",
        " FC-8190H24052799",
        "FC-8190H24052799 ",
        "FC-8190 H24052799",
        "FC-" + "1" * (MAX_SN_BYTES - 2),
        "hello",
        "FC8190H24052799",
        "F-8190H24052799",
        "FC-819",
        "FC-8190H2405279é",
    ],
)
def test_sn_rule_refuses(sn):
    reason = SnRule().check(sn)
    assert reason is not None and isinstance(reason, str)


def test_sn_rule_reasons():
    assert "missing" in SnRule().check("")
    assert str(MAX_SN_BYTES) in SnRule().check("FC-" + "1" * 28)
    assert len(("FC-" + "1" * 28).encode()) == MAX_SN_BYTES + 1
    assert SnRule().check("FC-" + "1" * 27) is None  # exactly 30 bytes
    assert DEFAULT_SN_PATTERN in SnRule().check("hello")


def test_sn_rule_custom_pattern():
    rule = SnRule(r"\d{8}")
    assert rule.pattern == r"\d{8}"
    assert rule.check("12345678") is None
    assert rule.check("FC-8190H24052799") is not None
    assert rule.check("123456789") is not None  # full match, not search
    assert SnRule(r"\d+").check("1" * (MAX_SN_BYTES + 1)) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" FC-8190H24052799", "FC-8190H24052799"),
        ("FC-8190H24052799\r\n", "FC-8190H24052799"),
        ("\t 3 ", "3"),
        (444, "444"),
        (0, "0"),
        (12.0, "12.0"),
        (None, ""),
        (True, "1"),
        ("", ""),
    ],
)
def test_clean_text(value, expected):
    assert clean_text(value) == expected


# === responses ============================================================================


def test_encode_compact_utf8_keeps_cjk():
    body = responses.encode({"Success": 1, "Message": "张三 已删除", "List": [1, 2]})
    assert body == '{"Success":1,"Message":"张三 已删除","List":[1,2]}'.encode()
    assert b"\\u" not in body
    assert isinstance(body, bytes)
    assert json.loads(body) == {"Success": 1, "Message": "张三 已删除", "List": [1, 2]}


def test_ok_and_fail():
    assert responses.ok() == {"Success": 1}
    assert responses.ok(AddPeople=1) == {"Success": 1, "AddPeople": 1}
    assert responses.fail("no") == {"Success": 0, "Message": "no"}
    assert responses.fail(responses.MSG_NOT_ACTIVATED, responses.NOT_ACTIVATED) == {
        "Success": 401,
        "Message": DOC_MSG_401,
    }


def test_codes_and_messages_match_the_document():
    assert (responses.OK, responses.FAILED) == (1, 0)
    assert (responses.BAD_SN, responses.NOT_ACTIVATED, responses.BLOCKED) == (400, 401, 403)
    assert responses.MSG_NOT_ACTIVATED == DOC_MSG_401
    assert responses.MSG_BAD_SN == DOC_MSG_400
    # The document gives no English text for 403; ours follows the same pattern.
    assert responses.MSG_BLOCKED.startswith("Connected to server, but ")
    assert len({responses.MSG_BLOCKED, DOC_MSG_400, DOC_MSG_401}) == 3


def test_embedded_messages_are_the_documents(vendor_doc: str):
    english = re.findall(r"②英文：(.+)", vendor_doc)
    assert DOC_MSG_401 in english and DOC_MSG_400 in english
