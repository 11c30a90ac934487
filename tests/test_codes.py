"""The code tables match the vendor document and look up the way wire values arrive."""

from __future__ import annotations

import pytest

from facectl.protocol import codes
from facectl.protocol.codes import (
    ACCESS_TYPES,
    ALARMS,
    AUTH_RESULTS,
    DOOR_EVENT_TYPES,
    DOOR_SENSOR_STATUS,
    FILE_TYPES,
    IDENTIFY_RECORD_TYPES,
    KEEP_OPEN_STATUS,
    LOCK_STATUS,
    OPENDOOR,
    PEOPLE_ERROR_CODES,
    PUSH_TYPES,
    REGISTER_RESULTS,
    REGISTER_TYPES,
    RELAY_STATUS,
    SUCCESS_CODES,
    SYSTEM_EVENT_TYPES,
    SYSTEM_RECORD_KINDS,
    TABLES,
    Code,
    CodeTable,
    parse_alarms,
)


@pytest.mark.parametrize(
    ("table", "values"),
    [
        (IDENTIFY_RECORD_TYPES, list(range(1, 50))),
        (SYSTEM_RECORD_KINDS, [1, 2]),
        (DOOR_EVENT_TYPES, list(range(1, 9))),
        (SYSTEM_EVENT_TYPES, list(range(1, 46))),
        (PEOPLE_ERROR_CODES, [*range(1, 7), *range(20, 33)]),
        (REGISTER_TYPES, list(range(1, 6))),
        (REGISTER_RESULTS, list(range(1, 7))),
        (OPENDOOR, list(range(1, 6))),
        (FILE_TYPES, [1, 2]),
        (AUTH_RESULTS, [0, 1, 2]),
        (ACCESS_TYPES, [0, 1, 2]),
        (PUSH_TYPES, [1, 2, 3, 4]),
        (RELAY_STATUS, [0, 1]),
        (KEEP_OPEN_STATUS, [0, 1]),
        (DOOR_SENSOR_STATUS, [0, 1]),
        (LOCK_STATUS, [0, 1]),
        (SUCCESS_CODES, [1, 0, 400, 401, 403]),
        (ALARMS, ["fire", "blacklist", "anti", "illegal", "password", "openTimeout", "doorSensor"]),
    ],
    ids=lambda x: x.name if isinstance(x, CodeTable) else "",
)
def test_table_values(table: CodeTable, values: list) -> None:
    assert [c.value for c in table] == values
    assert len(table) == len(values)


def test_sizes_named_in_errata() -> None:
    assert len(IDENTIFY_RECORD_TYPES) == 49
    assert len(DOOR_EVENT_TYPES) == 8
    assert len(SYSTEM_EVENT_TYPES) == 45
    assert len(PEOPLE_ERROR_CODES) == 19
    assert len(ALARMS) == 7


def test_tables_registry() -> None:
    assert len(TABLES) == 18
    for name, table in TABLES.items():
        assert table.name == name
        assert table.title and table.section
        assert all(isinstance(c, Code) and c.en and c.zh for c in table)
        # labels are unique, so value_of is a real inverse
        assert len({c.en.casefold() for c in table}) == len(table)
        for c in table:
            assert table.value_of(c.en) == c.value
    exported = {v for v in vars(codes).values() if isinstance(v, CodeTable)}
    assert exported == set(TABLES.values())


@pytest.mark.parametrize(
    ("table", "value", "en", "zh"),
    [
        (IDENTIFY_RECORD_TYPES, 1, "card verification", "刷卡验证"),
        (IDENTIFY_RECORD_TYPES, 3, "face verification", "人脸验证"),
        (IDENTIFY_RECORD_TYPES, 7, "card + password", "刷卡 + 密码"),
        (IDENTIFY_RECORD_TYPES, 36, "palm vein verification", "掌静脉识别"),
        (IDENTIFY_RECORD_TYPES, 49, "unregistered qr code", "未注册二维码"),
        (DOOR_EVENT_TYPES, 1, "door sensor: open", "门磁-开门"),
        (DOOR_EVENT_TYPES, 8, "exit button: controller expired", "按钮开门时控制器已过期"),
        (SYSTEM_EVENT_TYPES, 28, "power on", "系统加电"),
        (SYSTEM_EVENT_TYPES, 29, "watchdog reset", "系统错误复位（看门狗）"),
        (SYSTEM_EVENT_TYPES, 45, "all people deleted", "删除所有人员"),
        (SYSTEM_RECORD_KINDS, 1, "door sensor record", "门磁记录"),
        (PEOPLE_ERROR_CODES, 23, "duplicate card number", "卡号重复"),
        (REGISTER_TYPES, 4, "face", "注册人脸"),
        (REGISTER_RESULTS, 3, "duplicate credential", "注册信息重复"),
        (OPENDOOR, 1, "open (pulse relay)", "打开继电器"),
        (OPENDOOR, 3, "close (end keep-open)", "关闭门(解除常开)"),
        (FILE_TYPES, 2, "boot image", "开机图片 只有一张图"),
        (AUTH_RESULTS, 0, "deny", "鉴权失败，拒绝开门"),
        (AUTH_RESULTS, 2, "allow silently", "鉴权成功，开门，不显示消息"),
        (ACCESS_TYPES, 2, "blacklist", "黑名单"),
        (PUSH_TYPES, 4, "queried", "查询"),
        (DOOR_SENSOR_STATUS, 1, "open", "开"),
        (LOCK_STATUS, 0, "unlocked", "未锁定"),
        (ALARMS, "openTimeout", "door open timeout", "开门超时报警"),
        (ALARMS, "anti", "tamper alarm", "防拆报警"),
        (
            SUCCESS_CODES,
            401,
            "Connected to server, but device is not activated",
            "已连接服务器，但是该设备未激活",
        ),
        (
            SUCCESS_CODES,
            400,
            "Connected to server, but SN does not comply with platform rules",
            "已连接服务器，但SN不符合平台规则",
        ),
        (
            SUCCESS_CODES,
            403,
            "Connected to server, but device is blocked",
            "已连接服务器，但是该设备已被禁用",
        ),
    ],
)
def test_spot_labels(table: CodeTable, value, en: str, zh: str) -> None:
    assert table.label(value) == en
    assert table.label(value, "en") == en
    assert table.label(value, lang="zh") == zh
    assert table.get(value) == Code(value, en, zh)


def test_opendoor_and_access_labels_are_exact() -> None:
    assert [c.en for c in OPENDOOR] == [
        "open (pulse relay)",
        "keep open",
        "close (end keep-open)",
        "lock",
        "unlock",
    ]
    assert [c.en for c in ACCESS_TYPES] == ["normal", "admin", "blacklist"]


def test_unknown_values() -> None:
    assert IDENTIFY_RECORD_TYPES.get(99) is None
    assert 99 not in IDENTIFY_RECORD_TYPES
    assert IDENTIFY_RECORD_TYPES.label(99) == "unknown (99)"
    assert IDENTIFY_RECORD_TYPES.label(99, "zh") == "未知 (99)"
    assert IDENTIFY_RECORD_TYPES.label("99") == "unknown (99)"
    assert PEOPLE_ERROR_CODES.label(10) == "unknown (10)"  # the gap between 6 and 20
    assert ALARMS.label("smoke") == "unknown (smoke)"
    assert ALARMS.label("smoke", "zh") == "未知 (smoke)"
    for junk in (None, "", "abc", "3.5", 3.5, [], True, False):
        assert IDENTIFY_RECORD_TYPES.get(junk) is None
        assert junk not in IDENTIFY_RECORD_TYPES
    assert 0 not in IDENTIFY_RECORD_TYPES


def test_bad_lang() -> None:
    with pytest.raises(ValueError):
        IDENTIFY_RECORD_TYPES.label(3, "fr")


def test_str_and_int_lookup() -> None:
    assert IDENTIFY_RECORD_TYPES.get("3") is IDENTIFY_RECORD_TYPES.get(3)
    assert IDENTIFY_RECORD_TYPES.get(" 3 ").value == 3
    assert IDENTIFY_RECORD_TYPES.get(b"3").value == 3
    assert IDENTIFY_RECORD_TYPES.get(3.0).value == 3
    assert "3" in IDENTIFY_RECORD_TYPES
    assert 3 in IDENTIFY_RECORD_TYPES
    assert IDENTIFY_RECORD_TYPES.label("3", "zh") == "人脸验证"
    assert SUCCESS_CODES.get("401").value == 401
    # string tables: exact key, tolerant of whitespace and case
    assert ALARMS.get("fire").value == "fire"
    assert ALARMS.get(" openTimeout ").value == "openTimeout"
    assert ALARMS.get("opentimeout").value == "openTimeout"
    assert ALARMS.get(3) is None


def test_reverse_lookup() -> None:
    assert IDENTIFY_RECORD_TYPES.value_of("face verification") == 3
    assert IDENTIFY_RECORD_TYPES.value_of("Face Verification ") == 3
    assert OPENDOOR.value_of("keep open") == 2
    assert ALARMS.value_of("fire alarm") == "fire"
    assert AUTH_RESULTS.value_of("allow and show message") == 1
    with pytest.raises(KeyError):
        IDENTIFY_RECORD_TYPES.value_of("teleportation")


def test_iteration_in_document_order() -> None:
    assert [c.value for c in SYSTEM_EVENT_TYPES][:3] == [1, 2, 3]
    assert list(IDENTIFY_RECORD_TYPES)[2].zh == "人脸验证"


def test_code_is_frozen() -> None:
    code = IDENTIFY_RECORD_TYPES.get(3)
    with pytest.raises(AttributeError):
        code.en = "x"  # type: ignore[misc]


def test_table_validation() -> None:
    with pytest.raises(ValueError):
        CodeTable("t", "T", "s", [(1, "a", "甲"), (1, "b", "乙")])
    with pytest.raises(ValueError):
        CodeTable("t", "T", "s", [(1, "a", "甲"), (2, "A", "乙")])
    with pytest.raises(ValueError):
        CodeTable("t", "T", "s", [(1, "a", "甲"), ("2", "b", "乙")])
    with pytest.raises(ValueError):
        CodeTable("t", "T", "s", [])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ('""', []),
        ('  ""  ', []),
        ("   ", []),
        ("fire", ["fire"]),
        ("fire,blacklist", ["fire", "blacklist"]),
        (" fire , openTimeout ,", ["fire", "openTimeout"]),
        ("fire,,doorSensor", ["fire", "doorSensor"]),
        ('"fire,anti"', ["fire", "anti"]),
        ("smoke", ["smoke"]),  # unknown names are kept, not dropped
        # a type-confused firmware: never an error, the keepalive still gets its flags
        (None, []),
        (["fire", " anti ", {"x": 1}], ["fire", "anti"]),
        (7, ["7"]),
        (True, ["1"]),
        ({"fire": 1}, []),
    ],
)
def test_parse_alarms(raw: object, expected: list[str]) -> None:
    assert parse_alarms(raw) == expected


def test_parsed_alarms_label() -> None:
    assert [ALARMS.label(a) for a in parse_alarms("fire,blacklist")] == [
        "fire alarm",
        "blacklist alarm",
    ]


def test_zh_labels_come_from_document(vendor_doc: str) -> None:
    doc = vendor_doc
    flat = " ".join(doc.replace("<br>", " ").split())
    for table in TABLES.values():
        for part in table.section.split(" / "):
            assert part in doc, (table.name, part)
        for c in table:
            if table is SUCCESS_CODES and c.value == 403:
                continue  # the document has no text for 403
            assert c.zh in doc or " ".join(c.zh.split()) in flat, (table.name, c.value, c.zh)
