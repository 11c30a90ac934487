"""Every code table of the vendor document, as data.

The server, the CLI and the inspector all label the same numbers; writing a
label twice is how two screens end up disagreeing, so each table lives here
once, with the document's own Chinese text beside a short English label.
docs/protocol.md section 7 lists the tables; the others are the small enums of the
Keepalive, person and PushPeople tables.

The ``zh`` labels are the document's table cells verbatim (odd spacing and
punctuation included), minus the list markers around them ("0--表示", "1、",
"；"), and with a ``<br>`` and the spaces around it turned into one space.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .identity import clean_text

__all__ = [
    "Code",
    "CodeTable",
    "IDENTIFY_RECORD_TYPES",
    "GRANTED",
    "REFUSED",
    "GRANTED_RECORD_TYPES",
    "REFUSED_RECORD_TYPES",
    "identify_outcome",
    "auth_outcome",
    "SYSTEM_RECORD_KINDS",
    "DOOR_EVENT_TYPES",
    "SYSTEM_EVENT_TYPES",
    "ALARMS",
    "PEOPLE_ERROR_CODES",
    "TRANSIENT_PEOPLE_ERRORS",
    "is_transient_people_error",
    "REGISTER_TYPES",
    "REGISTER_RESULTS",
    "OPENDOOR",
    "FILE_TYPES",
    "AUTH_RESULTS",
    "ACCESS_TYPES",
    "PUSH_TYPES",
    "RELAY_STATUS",
    "KEEP_OPEN_STATUS",
    "DOOR_SENSOR_STATUS",
    "LOCK_STATUS",
    "SUCCESS_CODES",
    "TABLES",
    "parse_alarms",
]


@dataclass(frozen=True, slots=True)
class Code:
    value: int | str
    en: str
    zh: str


class CodeTable:
    """One vendor code table, so server, CLI and inspector share one set of labels.

    Lookups are liberal (wire values arrive as ints, digit strings or stray
    floats); unknown values get a readable "unknown (n)" label instead of an
    error, because a device may send codes newer than the document.
    """

    __slots__ = (
        "name",
        "title",
        "section",
        "_codes",
        "_by_value",
        "_by_en",
        "_by_en_fold",
        "_int_keys",
        "_by_str_fold",
    )

    def __init__(
        self,
        name: str,
        title: str,
        section: str,
        entries: Iterable[tuple[int | str, str, str]],
    ) -> None:
        self.name = name
        self.title = title
        self.section = section
        codes = tuple(Code(value, en, zh) for value, en, zh in entries)
        if not codes:
            raise ValueError(f"{name}: empty code table")
        kinds = {type(c.value) for c in codes}
        if kinds not in ({int}, {str}):
            raise ValueError(f"{name}: values must be all int or all str, got {kinds}")
        self._int_keys = kinds == {int}
        self._codes = codes
        self._by_value: dict[int | str, Code] = {}
        self._by_en: dict[str, Code] = {}
        self._by_en_fold: dict[str, Code] = {}
        self._by_str_fold: dict[str, Code] = {}
        for c in codes:
            if c.value in self._by_value:
                raise ValueError(f"{name}: duplicate value {c.value!r}")
            if c.en.casefold() in self._by_en_fold:
                raise ValueError(f"{name}: duplicate English label {c.en!r}")
            self._by_value[c.value] = c
            self._by_en[c.en] = c
            self._by_en_fold[c.en.casefold()] = c
            if isinstance(c.value, str):
                self._by_str_fold[c.value.casefold()] = c

    def _key(self, value: object) -> int | str | None:
        """Normalise a wire value to this table's key type, or None if it cannot be one."""
        if isinstance(value, bool):  # True is an int; never a code
            return None
        if self._int_keys:
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, (str, bytes)):
                text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
                text = text.strip()
                digits = text[1:] if text[:1] in "+-" else text
                if digits.isascii() and digits.isdigit():
                    return int(text)
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            return value.strip()
        return None

    def get(self, value: object) -> Code | None:
        key = self._key(value)
        if key is None:
            return None
        code = self._by_value.get(key)
        if code is None and isinstance(key, str):
            code = self._by_str_fold.get(key.casefold())
        return code

    def label(self, value: object, lang: str = "en") -> str:
        if lang not in ("en", "zh"):
            raise ValueError(f"lang must be 'en' or 'zh', not {lang!r}")
        code = self.get(value)
        if code is not None:
            return code.en if lang == "en" else code.zh
        return f"unknown ({value})" if lang == "en" else f"未知 ({value})"

    def value_of(self, en_label: str) -> int | str:
        code = self._by_en.get(en_label) or self._by_en_fold.get(en_label.strip().casefold())
        if code is None:
            raise KeyError(f"{self.name}: no code labelled {en_label!r}")
        return code.value

    def __contains__(self, value: object) -> bool:
        return self.get(value) is not None

    def __iter__(self) -> Iterator[Code]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)

    def __repr__(self) -> str:
        return f"CodeTable({self.name!r}, {len(self._codes)} codes)"


# --- Record uploads -------------------------------------------------------------------

IDENTIFY_RECORD_TYPES = CodeTable(
    "identify_record_type",
    "Identify record type (RecordType of UploadIdentifyRecord)",
    "RecordType 事件类型",
    [
        (1, "card verification", "刷卡验证"),
        (2, "fingerprint verification", "指纹验证"),
        (3, "face verification", "人脸验证"),
        (4, "card + fingerprint", "刷卡 + 指纹"),
        (5, "face + fingerprint", "人脸 + 指纹"),
        (6, "card + face", "刷卡 + 人脸"),
        (7, "card + password", "刷卡 + 密码"),
        (8, "face + password", "人脸 + 密码"),
        (9, "fingerprint + password", "指纹 + 密码"),
        (10, "password (user id + password)", "密码验证  用户号加密码"),
        (11, "card + fingerprint + password", "刷卡 + 指纹 + 密码"),
        (12, "card + face + password", "刷卡 + 人脸 + 密码"),
        (13, "fingerprint + face + password", "指纹 + 人脸 + 密码"),
        (14, "card + fingerprint + face", "刷卡 + 指纹 + 人脸"),
        (15, "repeated verification", "重复验证"),
        (16, "validity expired", "有效期过期"),
        (17, "outside access time group", "开门时段过期"),
        (18, "no access on holidays", "节假日时不能开门"),
        (19, "unregistered user", "未注册用户"),
        (20, "detection lockout", "探测锁定"),
        (21, "open count used up", "有效次数已用尽"),
        (22, "door locked, access denied", "锁定时验证，禁止开门"),
        (23, "card reported lost", "挂失卡"),
        (24, "blacklisted card", "黑名单卡"),
        (25, "open without verification", "免验证开门 -- 按指纹时用户号为0，刷卡时用户号是卡号"),
        (26, "card verification disabled", "禁止刷卡验证  --  【权限认证方式】中禁用刷卡时"),
        (27, "fingerprint verification disabled", "禁止指纹验证  --  【权限认证方式】中禁用指纹时"),
        (28, "controller expired", "控制器已过期"),
        (29, "verified, validity expiring soon", "验证通过—有效期即将过期"),
        (30, "abnormal body temperature, denied", "体温异常，拒绝进入"),
        (31, "visitor password", "访客密码开门"),
        (32, "dynamic qr code", "动态二维码扫码开门"),
        (33, "person added on device menu", "在设备菜单中新增人员"),
        (34, "person modified on device menu", "在设备菜单中修改人员"),
        (35, "person deleted on device menu", "在设备菜单中删除人员"),
        (36, "palm vein verification", "掌静脉识别"),
        (37, "card + palm vein + face", "刷卡 + 掌静脉 + 人脸"),
        (38, "palm vein + password", "掌静脉 + 密码"),
        (39, "card + palm vein", "刷卡 + 掌静脉"),
        (40, "face + palm vein", "人脸 + 掌静脉"),
        (41, "card + palm vein + password", "刷卡 + 掌静脉 + 密码"),
        (42, "palm vein + face + password", "掌静脉 + 人脸 + 密码"),
        (43, "fingerprint + palm vein + face", "指纹 + 掌静脉 + 人脸"),
        (44, "multi-person: waiting for next person", "组合验证--等待下一个人员"),
        (45, "multi-person: failed", "组合验证失败"),
        (46, "multi-person: completed", "组合验证完成"),
        (47, "id card to face match", "人证比对"),
        (48, "unregistered card", "卡未注册"),
        (49, "unregistered qr code", "未注册二维码"),
    ],
)

GRANTED = "granted"
REFUSED = "refused"
#: Identify record types after which the door opened: every verification method and
#: combination (1-14, 36-43), a completed multi-person check (46), open without
#: verification (25), verified but expiring soon (29), visitor password (31), dynamic QR
#: code (32), and the id-card-to-face match (47, recorded when it matched).
GRANTED_RECORD_TYPES: frozenset[int] = frozenset(
    [*range(1, 15), 25, 29, 31, 32, *range(36, 44), 46, 47])
#: Identify record types after which the door stayed shut: repeated verification within
#: the open interval (15), expired (16), outside the time group (17), holiday (18),
#: unregistered (19, 48, 49), lockout (20), open count used up (21), door locked (22),
#: lost card (23), blacklist (24), method disabled (26, 27), controller expired (28),
#: body temperature (30), multi-person check failed (45).
REFUSED_RECORD_TYPES: frozenset[int] = frozenset([*range(15, 25), 26, 27, 28, 30, 45, 48, 49])
# The rest are no access attempt: people edited on the device's menu (33-35) and a
# multi-person check still waiting for its next person (44).


def identify_outcome(record_type: Any) -> str | None:
    """GRANTED or REFUSED for an identify RecordType, None when it was no access attempt."""
    if record_type in GRANTED_RECORD_TYPES:
        return GRANTED
    if record_type in REFUSED_RECORD_TYPES:
        return REFUSED
    return None


def auth_outcome(decision: Any) -> str | None:
    """GRANTED or REFUSED for the Success the server gave a RequestAuthorization (0 deny)."""
    if decision is None:
        return None
    return REFUSED if decision == 0 else GRANTED


SYSTEM_RECORD_KINDS = CodeTable(
    "system_record_kind",
    "System record kind (top-level RecordType of UploadSystemRecord)",
    "RecordType字段说明",
    [
        (1, "door sensor record", "门磁记录"),
        (2, "system record", "系统记录"),
    ],
)

DOOR_EVENT_TYPES = CodeTable(
    "door_event_type",
    "Door-sensor event type (Records[].RecordType when RecordType is 1)",
    "RecordType -- 门磁记录 事件类型",
    [
        (1, "door sensor: open", "门磁-开门"),
        (2, "door sensor: closed", "门磁-关门"),
        (3, "door sensor alarm armed", "进入门磁报警检测状态"),
        (4, "door sensor alarm disarmed", "退出门磁报警检测状态"),
        (5, "door not closed properly", "门未关好"),
        (6, "exit button: open", "使用按钮开门"),
        (7, "exit button: door locked", "按钮开门时门已锁定"),
        (8, "exit button: controller expired", "按钮开门时控制器已过期"),
    ],
)

SYSTEM_EVENT_TYPES = CodeTable(
    "system_event_type",
    "System event type (Records[].RecordType when RecordType is 2)",
    "RecordType -- 系统记录 事件类型",
    [
        (1, "software: open", "软件开门"),
        (2, "software: close", "软件关门"),
        (3, "software: keep open", "软件常开"),
        (4, "controller: auto keep open", "控制器自动进入常开"),
        (5, "controller: auto close", "控制器自动关闭门"),
        (6, "exit button held: keep open", "长按出门按钮常开"),
        (7, "exit button held: close", "长按出门按钮常闭"),
        (8, "software: lock", "软件锁定"),
        (9, "software: unlock", "软件解除锁定"),
        (10, "timed lock: locked", "控制器定时锁定--到时间自动锁定"),
        (11, "timed lock: unlocked", "控制器定时锁定--到时间自动解除锁定"),
        (12, "alarm: locked", "报警--锁定"),
        (13, "alarm: unlocked", "报警--解除锁定"),
        (14, "illegal verification alarm", "非法认证报警"),
        (15, "door sensor alarm", "门磁报警"),
        (16, "duress alarm", "胁迫报警"),
        (17, "door open timeout alarm", "开门超时报警"),
        (18, "blacklist alarm", "黑名单报警"),
        (19, "fire alarm", "消防报警"),
        (20, "tamper alarm", "防拆报警"),
        (21, "illegal verification alarm cleared", "非法认证报警解除"),
        (22, "door sensor alarm cleared", "门磁报警解除"),
        (23, "duress alarm cleared", "胁迫报警解除"),
        (24, "door open timeout alarm cleared", "开门超时报警解除"),
        (25, "blacklist alarm cleared", "黑名单报警解除"),
        (26, "fire alarm cleared", "消防报警解除"),
        (27, "tamper alarm cleared", "防拆报警解除"),
        (28, "power on", "系统加电"),
        (29, "watchdog reset", "系统错误复位（看门狗）"),
        (30, "device formatted", "设备格式化记录"),
        (31, "card reader wired in reverse", "读卡器接反。"),
        (32, "card reader not connected", "读卡器线路未接好。"),
        (33, "unrecognised card reader", "无法识别的读卡器"),
        (34, "network cable unplugged", "网线已断开"),
        (35, "network cable plugged in", "网线已插入"),
        (36, "wifi connected", "WIFI 已连接"),
        (37, "wifi disconnected", "WIFI 已断开"),
        (38, "bluetooth open", "蓝牙开门"),
        (39, "roll call timeout", "点名超时"),
        (40, "all people cleared on device menu", "在设备菜单中清空所有人员"),
        (41, "people backed up to usb on device menu", "在设备菜单中备份人员到U盘"),
        (42, "people imported from usb on device menu", "在设备菜单中从U盘导入人员"),
        (43, "indoor unit remote open", "室内机远程开门"),
        (44, "all records deleted", "删除所有记录"),
        (45, "all people deleted", "删除所有人员"),
    ],
)

# --- Keepalive ------------------------------------------------------------------------

ALARMS = CodeTable(
    "alarm",
    "Alarm names (comma-separated in Keepalive AlarmStatus)",
    "API-设备心跳保活包 / 请求参数",
    [
        ("fire", "fire alarm", "消防报警"),
        ("blacklist", "blacklist alarm", "黑名单报警"),
        ("anti", "tamper alarm", "防拆报警"),
        ("illegal", "illegal verification", "非法验证"),
        ("password", "duress password", "胁迫报警密码"),
        ("openTimeout", "door open timeout", "开门超时报警"),
        ("doorSensor", "door sensor alarm", "门磁报警"),
    ],
)

# The Keepalive status cells read "0--表示COM和NC常闭"; "表示" ("means") is dropped.
# RelayStatus 1 says COM-NO "常闭" (closed) in the document, i.e. the relay is energised.
RELAY_STATUS = CodeTable(
    "relay_status",
    "Relay status (Keepalive RelayStatus)",
    "API-设备心跳保活包 / 请求参数",
    [
        (0, "released (com-nc closed)", "COM和NC常闭"),
        (1, "energised (com-no closed)", "COM和NO常闭"),
    ],
)

KEEP_OPEN_STATUS = CodeTable(
    "keep_open_status",
    "Keep-open status (Keepalive KeepOpenStatus)",
    "API-设备心跳保活包 / 请求参数",
    [
        (0, "not kept open", "常闭"),
        (1, "kept open", "常开"),
    ],
)

DOOR_SENSOR_STATUS = CodeTable(
    "door_sensor_status",
    "Door sensor status (Keepalive DoorSensorStatus)",
    "API-设备心跳保活包 / 请求参数",
    [
        (0, "closed", "关"),
        (1, "open", "开"),
    ],
)

LOCK_STATUS = CodeTable(
    "lock_status",
    "Door lock status (Keepalive LockDoorStatus)",
    "API-设备心跳保活包 / 请求参数",
    [
        (0, "unlocked", "未锁定"),
        (1, "locked", "已锁定"),
    ],
)

# The Success codes a server answers with. 400/401 texts are the device's
# "test connection" prompts from Keepalive's 返回错误代码. The document gives
# no text for 403 (only "401/403 ... 拒绝后续连接"); its labels are ours.
SUCCESS_CODES = CodeTable(
    "success_code",
    "Success code of server answers",
    "API-设备心跳保活包 / 返回错误代码",
    [
        (1, "ok", "成功"),
        (0, "failed", "失败"),
        (
            400,
            "Connected to server, but SN does not comply with platform rules",
            "已连接服务器，但SN不符合平台规则",
        ),
        (401, "Connected to server, but device is not activated", "已连接服务器，但是该设备未激活"),
        (403, "Connected to server, but device is blocked", "已连接服务器，但是该设备已被禁用"),
    ],
)

# --- Online authorisation -------------------------------------------------------------

AUTH_RESULTS = CodeTable(
    "auth_result",
    "Authorisation result (Success of RequestAuthorization answers)",
    "Success 返回结果",
    [
        (0, "deny", "鉴权失败，拒绝开门"),
        (1, "allow and show message", "鉴权成功，开门并显示鉴权消息"),
        (2, "allow silently", "鉴权成功，开门，不显示消息"),
    ],
)

# --- Remote commands ------------------------------------------------------------------

# 0 ("不处理", do nothing) is the absence of a command, not a command.
OPENDOOR = CodeTable(
    "opendoor",
    "Door command (RemoteCommand Opendoor)",
    "API-远程操作指令 / 返回值参数说明",
    [
        (1, "open (pulse relay)", "打开继电器"),
        (2, "keep open", "使门常开"),
        (3, "close (end keep-open)", "关闭门(解除常开)"),
        (4, "lock", "锁定门"),
        (5, "unlock", "解除门锁定"),
    ],
)

REGISTER_TYPES = CodeTable(
    "register_type",
    "Credential type to enrol (RegisterIdentifyTicket RegisterType)",
    "RegisterType 注册类型",
    [
        (1, "card", "注册卡"),
        (2, "password", "注册密码"),
        (3, "fingerprint", "注册指纹"),
        (4, "face", "注册人脸"),
        (5, "palm vein", "注册掌静脉"),
    ],
)

# protocol.md 4.8: the example shows a duplicate as Result 2; the table (3) is trusted.
REGISTER_RESULTS = CodeTable(
    "register_result",
    "Enrolment result (RegisterIdentifyTicketResult Result)",
    "API-反馈人员注册凭证的结果 / ResultJson 结构",
    [
        (1, "registered", "注册成功"),
        (2, "cancelled by user", "用户取消操作"),
        (3, "duplicate credential", "注册信息重复"),
        (4, "fingerprint not supported", "不支持指纹"),
        (5, "palm vein not supported", "不支持掌静脉"),
        (6, "device busy", "设备正在忙"),
    ],
)

FILE_TYPES = CodeTable(
    "file_type",
    "System file type (PushSystemFile FileType)",
    "FileType文件类型",
    [
        (1, "standby image (index 1-8)", "待机图片 可以有8张图 支持索引范围 1-8"),
        (2, "boot image", "开机图片 只有一张图"),
    ],
)

# --- People ---------------------------------------------------------------------------

# Code 3's "500kb" is the document's; the person table says 400 KB (limits.py).
PEOPLE_ERROR_CODES = CodeTable(
    "people_error_code",
    "Person import error code (DownloadPeopleListResult FailList ErrorCode)",
    "errorCode 人员失败错误码",
    [
        (1, "invalid person parameters", "人员信息参数异常，具体原因参考"),
        (2, "photo download failed", "人员照片URL下载失败"),
        (3, "photo too large", "人员照片图像太大不符合要求,需要小于500kb"),
        (4, "face feature download failed", "人脸特征码下载失败"),
        (5, "fingerprint download failed", "指纹特征码下载失败"),
        (6, "palm vein download failed", "掌静脉特征码下载失败"),
        (20, "duplicate face", "人脸特征码重复"),
        (21, "duplicate fingerprint", "指纹特征码重复"),
        (22, "duplicate palm vein", "掌静脉特征码重复"),
        (23, "duplicate card number", "卡号重复"),
        (24, "person storage full", "人员已存满"),
        (25, "query error", "查询数据时发生错误"),
        (26, "error saving photo", "保存人员照片时发生错误"),
        (27, "invalid face feature format", "人脸特征码格式错误"),
        (28, "invalid fingerprint format", "指纹特征码格式错误"),
        (29, "invalid palm vein format", "掌静脉特征码格式错误"),
        (30, "photo not recognisable", "照片不可识别"),
        (31, "error saving fingerprint", "保存指纹特征码时发生错误"),
        (32, "error saving palm vein", "保存掌静脉特征码时发生错误"),
    ],
)

#: FailList error codes with a passing cause, which the server retries by itself after a
#: backoff (store/people/add_pages.py). The document gives no such split; this is the project's reading:
#:
#: - the downloads (2, 4, 5, 6): the device could not fetch a file the server linked, because
#:   the server was down or restarting, the network dropped, or the signed link expired
#:   while the device worked through a long page (protocol.md 5.7). The same data succeeds later.
#: - the device's own storage errors (25, 26, 31, 32): a query or a write that failed on
#:   the device; nothing in the person causes them, and a bounded retry is cheap.
#:
#: Every other code is about the person's data or the device's contents (bad parameters,
#: photo too large or not recognisable, bad feature format, a duplicate face, card or
#: finger, storage full): sending the same data again fails the same way, so those stay
#: failed until the person changes or the operator asks (protocol.md 5.3). So does a code the
#: table does not know.
TRANSIENT_PEOPLE_ERRORS: frozenset[int] = frozenset(int(PEOPLE_ERROR_CODES.value_of(label)) for label in (
    "photo download failed",
    "face feature download failed",
    "fingerprint download failed",
    "palm vein download failed",
    "query error",
    "error saving photo",
    "error saving fingerprint",
    "error saving palm vein",
))


def is_transient_people_error(code: object) -> bool:
    """True when a FailList ErrorCode (int, digit string, ...) is one the server retries by itself."""
    known = PEOPLE_ERROR_CODES.get(code)
    return known is not None and known.value in TRANSIENT_PEOPLE_ERRORS

ACCESS_TYPES = CodeTable(
    "access_type",
    "Person role (AccessType)",
    "API-拉取人员授权信息 / PeopleJson人员数据格式",
    [
        (0, "normal", "普通人员"),
        (1, "admin", "管理员"),
        (2, "blacklist", "黑名单"),
    ],
)

PUSH_TYPES = CodeTable(
    "push_type",
    "Person change type (PushPeople PushType)",
    "API-推送人员信息 / 请求参数",
    [
        (1, "added", "新增"),
        (2, "updated", "更新"),
        (3, "deleted", "删除"),
        (4, "queried", "查询"),
    ],
)

TABLES: dict[str, CodeTable] = {
    t.name: t
    for t in (
        IDENTIFY_RECORD_TYPES,
        SYSTEM_RECORD_KINDS,
        DOOR_EVENT_TYPES,
        SYSTEM_EVENT_TYPES,
        ALARMS,
        PEOPLE_ERROR_CODES,
        REGISTER_TYPES,
        REGISTER_RESULTS,
        OPENDOOR,
        FILE_TYPES,
        AUTH_RESULTS,
        ACCESS_TYPES,
        PUSH_TYPES,
        RELAY_STATUS,
        KEEP_OPEN_STATUS,
        DOOR_SENSOR_STATUS,
        LOCK_STATUS,
        SUCCESS_CODES,
    )
}


def parse_alarms(value: Any) -> list[str]:
    """Split Keepalive AlarmStatus into alarm names.

    Names are kept as sent (unknown ones too) so nothing a device reports is
    lost; label them with ``ALARMS.label``. protocol.md 3.7: '""' means no alarm.
    Decision: the field is a comma string, but a type-confused firmware may send
    a list of names (read item by item) or a bare number or bool (read as one
    name, its text); an object names no alarm. A keepalive must still get its
    flags, so no value of the wrong type is an error here.
    """
    if isinstance(value, list):
        items = [clean_text(v) for v in value if not isinstance(v, dict | list)]
    elif isinstance(value, str):
        items = value.strip().split(",")
    elif value is None or isinstance(value, dict):
        items = []
    else:
        items = [clean_text(value)]
    names = []
    for part in items:  # '""' strips to nothing: no alarm (protocol.md 3.7)
        name = part.strip().strip('"').strip()
        if name:
            names.append(name)
    return names
