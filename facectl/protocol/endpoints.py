"""The endpoint catalog: every endpoint of the HTTPv2 document, as data.

The server's routes, the simulator's requests, the inspector's labels and the
docs all read this table, so a path, a field name or a name variant is written
once. Sections are the vendor document's headings, so a finding or an error can
point the reader at the right page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .limits import (
    MAX_PAGE_RESULT_BYTES,
    MAX_PERSON_JSON_BYTES,
    MAX_PERSON_UPLOAD_BYTES,
    MAX_PHOTO_UPLOAD_BYTES,
    MAX_POLL_BYTES,
    MAX_RECORD_JSON_BYTES,
    MAX_SETTINGS_BYTES,
    MAX_SN_BYTES,
    MAX_SYSTEM_RECORD_BYTES,
)
from .record_columns import RECORD_COLUMNS


class Body(StrEnum):
    JSON = "json"
    MULTIPART = "multipart"


@dataclass(frozen=True, slots=True)
class Field:
    """One wire field. `aliases` are the other spellings devices or the document use."""

    name: str
    type: str  # string | int | uint | int64 | float | object | array | file | bool
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_bytes: int | None = None
    table: str | None = None  # name of a code table in codes.TABLES
    doc: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    body: Body
    title: str
    section: str
    flag: str | None = None
    #: Where the device's serial is; first found wins. For multipart, a text part.
    sn_fields: tuple[str, ...] = ("SN",)
    #: Multipart only: the part that carries JSON, with its name variants (protocol.md 4.1).
    json_part: tuple[str, ...] = ()
    #: Multipart only: the file part names (protocol.md 4.2); any other file part counts too.
    file_parts: tuple[str, ...] = ()
    request: tuple[Field, ...] = ()
    response: tuple[Field, ...] = ()
    #: JSON fields inside the JSON part (multipart) or list items (system records).
    detail: tuple[Field, ...] = field(default=())
    #: Device answer timeout for this call (seconds): 30 for record uploads, else 2.
    device_timeout: float = 2.0
    #: Largest body this endpoint reads, on the wire and again after inflation (limits.py).
    max_body: int = MAX_POLL_BYTES
    #: Multipart only: largest JSON part (or other text part) after inflation.
    max_json: int = MAX_RECORD_JSON_BYTES

    def request_field(self, name: str) -> Field | None:
        for f in (*self.request, *self.detail):
            if name in f.names:
                return f
        return None


SUCCESS = Field("Success", "int", True, doc="1 ok; otherwise an error code with Message")
MESSAGE = Field("Message", "string", doc="error description, shown by the device")
SN = Field("SN", "string", True, max_bytes=MAX_SN_BYTES, doc="device serial")
PLAIN_RESPONSE = (SUCCESS, MESSAGE)

#: RecordDetail / recordJson: the record's identity, then the kept fields (record_columns.py).
RECORD_DETAIL_FIELDS = (
    Field("RecordID", "int64", True, doc="record serial; idempotency key with SN"),
    Field("RecordType", "int", True, table="identify_record_type"),
    Field("RecordDate", "int64", True, doc="unix seconds"),
    *(Field(c.wire, c.wire_type, aliases=c.aliases, max_bytes=c.max_bytes, doc=c.doc) for c in RECORD_COLUMNS),
)

PERSON_FIELDS = (
    Field("UserID", "string", True, doc="uint32"),
    Field("Code", "string", max_bytes=63),
    Field("Name", "string", max_bytes=63),
    Field("Job", "string", max_bytes=63),
    Field("Department", "string", max_bytes=63),
    Field("IdentityCard", "string", max_bytes=63),
    Field("Attachment", "string", max_bytes=199),
    Field("Photo", "string", doc="http(s) URL, else base64"),
    Field("PhotoMD5", "string", max_bytes=32, doc="upper-case hex (protocol.md 5.6)"),
    Field("PhotoLen", "int", doc="at most 400 KB"),
    Field("Password", "string", doc="digits, length 0 or 4-8"),
    Field("CardNum", "string", doc="uint64"),
    Field("QRCode", "string", max_bytes=127),
    Field("AccessType", "int", table="access_type"),
    Field("ExpirationDate", "uint", doc="unix seconds, 0 = never, max 4102412399"),
    Field("OpenTimes", "int", doc="0-65535, 65535 unlimited, 0 forbidden"),
    Field("KeepOpen", "int"),
    Field("Timegroup", "int", doc="1-64; 0 restricted"),
    Field("Holidays", "string", doc="comma list, * = all"),
    Field("Elevators", "string", doc="comma list; arrays accepted (protocol.md 4.7)"),
    Field("FaceFeature", "string", doc="URL or base64"),
    Field("FaceFeatureMD5", "string"),
    Field("Fingerprints", "array", doc="[{Num, Data, MD5}]"),
    Field("Palmveins", "array", doc="[{Num, Data, MD5}]"),
)

#: Keepalive answer flags in the priority the device follows them (protocol.md 1.1).
KEEPALIVE_FLAGS: tuple[str, ...] = (
    "UploadWorkParameter",
    "Remote",
    "SyncParameter",
    "DeletePeople",
    "AddPeople",
)

_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "Keepalive", "/Device/Keepalive", Body.JSON,
        "Device heartbeat; the answer's flags tell the device what to do next",
        "API-设备心跳保活包",
        request=(
            SN,
            Field("RelayStatus", "int", table="relay_status"),
            Field("KeepOpenStatus", "int", table="keep_open_status"),
            Field("DoorSensorStatus", "int", table="door_sensor_status"),
            Field("LockDoorStatus", "int", table="lock_status"),
            Field("AlarmStatus", "string", doc="comma list of alarm names", table="alarm"),
        ),
        response=(
            SUCCESS,
            MESSAGE,
            *(Field(flag, "int") for flag in KEEPALIVE_FLAGS),
        ),
    ),
    Endpoint(
        "UploadWorkSetting", "/Device/UploadWorkSetting", Body.JSON,
        "Device uploads its whole settings document (at boot and on change)",
        "API-上传当前设备参数", flag="UploadWorkParameter",
        sn_fields=("DeviceSN", "SN"),
        request=(Field("DeviceSN", "string", True, max_bytes=MAX_SN_BYTES),),
        response=PLAIN_RESPONSE,
        max_body=MAX_SETTINGS_BYTES,
    ),
    Endpoint(
        "DownloadWorkSetting", "/Device/DownloadWorkSetting", Body.JSON,
        "Device fetches the settings the server wants it to hold",
        "API-设备主动拉取工作参数", flag="SyncParameter",
        request=(SN,),
        response=PLAIN_RESPONSE,
    ),
    Endpoint(
        "RemoteCommand", "/Device/RemoteCommand", Body.JSON,
        "Device fetches queued remote commands",
        "API-远程操作指令", flag="Remote",
        request=(SN,),
        response=(
            SUCCESS, MESSAGE,
            Field("Restart", "int"),
            Field("Recover", "int", doc="factory reset"),
            Field("Opendoor", "int", table="opendoor"),
            Field("Closealarm", "int"),
            Field("RepostRecord", "int"),
            Field("PushAllPeople", "int"),
            Field("QueryPeople", "array", doc="[uint] user ids"),
            Field("ClearRecord", "int"),
            Field("RegisterIdentifyTicket", "object", doc="{RegisterType, UserID, RegisterIndex}"),
            Field("PushSoftware", "object", doc="{SoftwareURL, SoftwareMD5, SoftwareVer}"),
            Field("PushSystemFile", "array", doc="[{FileURL, FileMD5, FileType, FileIndex, IsDelete}]"),
            Field("Snapshoot", "int"),
            Field("OpenElevatorPort", "string"),
            Field("KeepOpenElevatorPort", "string"),
            Field("CloseElevatorPort", "string"),
            Field("LockElevatorPort", "string"),
            Field("UnlockElevatorPort", "string"),
        ),
    ),
    Endpoint(
        "RegisterIdentifyTicketResult", "/Device/RegisterIdentifyTicketResult", Body.MULTIPART,
        "Device reports the result of a credential enrolment",
        "API-反馈人员注册凭证的结果",
        json_part=("ResultJson",), file_parts=("Photo",),
        request=(Field("ResultJson", "string", True), Field("Photo", "file")),
        detail=(
            SN,
            Field("UserID", "uint", True),
            Field("Result", "int", True, table="register_result"),
            Field("RepetitionUserID", "uint"),
            Field("UserDetail", "object"),
        ),
        response=PLAIN_RESPONSE,
        max_body=MAX_PERSON_UPLOAD_BYTES, max_json=MAX_PERSON_JSON_BYTES,
    ),
    Endpoint(
        "UploadSnapshoot", "/Device/UploadSnapshoot", Body.MULTIPART,
        "Device uploads a camera snapshot",
        "API-上传设备摄像头快照",
        file_parts=("Photo",),
        request=(SN, Field("Photo", "file")),
        response=PLAIN_RESPONSE,
        max_body=MAX_PHOTO_UPLOAD_BYTES,
    ),
    Endpoint(
        "DownloadPeopleList", "/People/DownloadPeopleList", Body.JSON,
        "Device fetches the next page of people to add or update",
        "API-拉取人员授权信息", flag="AddPeople",
        request=(SN, Field("Limit", "int", True, doc="at most 1000")),
        response=(
            SUCCESS, MESSAGE,
            Field("PeopleCount", "int", True, aliases=("Count",), doc="send both (protocol.md 4.3)"),
            Field("PeopleList", "array", True),
        ),
        detail=PERSON_FIELDS,
    ),
    Endpoint(
        "DownloadPeopleListResult", "/People/DownloadPeopleListResult", Body.JSON,
        "Device reports which people of the last page it stored",
        "API-反馈拉取人员存储结果",
        request=(
            SN,
            Field("SuccessCount", "int", True),
            Field("FailCount", "int", True),
            Field("FailList", "array", True, aliases=("FailCount",), doc="list under FailCount too (4.4)"),
        ),
        response=PLAIN_RESPONSE,
        max_body=MAX_PAGE_RESULT_BYTES,
    ),
    Endpoint(
        "DeletePeopleList", "/People/DeletePeopleList", Body.JSON,
        "Device fetches the next page of people to delete",
        "API-拉取待删除人员", flag="DeletePeople",
        request=(SN, Field("Limit", "int", doc="default 50, at most 1000")),
        response=(
            SUCCESS, MESSAGE,
            Field("DeleteAll", "int"),
            Field("DeleteCount", "int", True),
            Field("DeleteList", "array"),
        ),
    ),
    Endpoint(
        "DeletePeopleListResult", "/People/DeletePeopleListResult", Body.JSON,
        "Device reports which people it deleted",
        "API-反馈删除人员操作结果",
        request=(
            SN,
            Field("DeleteCount", "int", True),
            Field("DeleteAll", "int", True),
            Field("DeleteList", "array", True, aliases=("DeletList",), doc="protocol.md 4.5"),
        ),
        response=PLAIN_RESPONSE,
        max_body=MAX_PAGE_RESULT_BYTES,
    ),
    Endpoint(
        "PushPeople", "/People/PushPeople", Body.MULTIPART,
        "Device reports a person it added, changed, deleted or was asked about",
        "API-推送人员信息",
        json_part=("Detail",), file_parts=("Photo",),
        request=(
            SN,
            Field("PushType", "int", True, table="push_type"),
            Field("UserID", "uint", True),
            Field("Detail", "object"),
            Field("Photo", "file"),
        ),
        detail=PERSON_FIELDS,
        response=PLAIN_RESPONSE,
        max_body=MAX_PERSON_UPLOAD_BYTES, max_json=MAX_PERSON_JSON_BYTES,
    ),
    Endpoint(
        "RequestAuthorization", "/Device/RequestAuthorization", Body.MULTIPART,
        "Device asks the server whether to open for this person (online authorization)",
        "API-请求服务器鉴权",
        json_part=("RecordDetail", "recordJson"), file_parts=("Photo", "pic"),
        request=(SN, Field("RecordDetail", "string", True, aliases=("recordJson",)), Field("Photo", "file")),
        detail=RECORD_DETAIL_FIELDS,
        response=(Field("Success", "int", True, table="auth_result"), MESSAGE),
        max_body=MAX_PHOTO_UPLOAD_BYTES,
    ),
    Endpoint(
        "UploadIdentifyRecord", "/Record/UploadIdentifyRecord", Body.MULTIPART,
        "Device uploads one access record with its photo",
        "API-上传打卡记录",
        json_part=("RecordDetail", "recordJson"), file_parts=("Photo", "pic"),
        request=(SN, Field("RecordDetail", "string", True, aliases=("recordJson",)), Field("Photo", "file")),
        detail=RECORD_DETAIL_FIELDS,
        response=PLAIN_RESPONSE,
        device_timeout=30.0,
        max_body=MAX_PHOTO_UPLOAD_BYTES,
    ),
    Endpoint(
        "UploadSystemRecord", "/Record/UploadSystemRecord", Body.JSON,
        "Device uploads a batch of door-sensor or system records",
        "API-上传系统记录",
        request=(
            SN,
            Field("RecordType", "int", True, table="system_record_kind"),
            Field("Records", "array", True, doc="[{RecordID, RecordType, RecordDate}], at most 1000"),
        ),
        detail=(
            Field("RecordID", "int64", True),
            Field("RecordType", "int", True, doc="door or system event type, by the batch's kind"),
            Field("RecordDate", "int64", True),
        ),
        response=PLAIN_RESPONSE,
        device_timeout=30.0,
        max_body=MAX_SYSTEM_RECORD_BYTES,
    ),
)

ENDPOINTS: dict[str, Endpoint] = {e.name: e for e in _ENDPOINTS}

#: Paths of the older HTTPv1 protocol that the document's flag table still names
#: (protocol.md 2.1), plus the record path its raw examples show (2.3). A device calling
#: these speaks v1 (HTTPClient_ProtocolType 100) and must be switched to 200.
V1_PATHS: dict[str, str] = {
    "/devicepass/selectpassinfo": "HTTPv1 people download (v2: /People/DownloadPeopleList)",
    "/devicepass/selectdeleteinfo": "HTTPv1 people delete (v2: /People/DeletePeopleList)",
    "/device/selectrestart": "HTTPv1 remote command (v2: /Device/RemoteCommand)",
    "/note/insertnoteface": "HTTPv1 record upload (v2: /Record/UploadIdentifyRecord)",
}

#: Protocol type values of the device setting HTTPClient_ProtocolType.
PROTOCOL_TYPE_V1 = 100
PROTOCOL_TYPE_V2 = 200

_BY_PATH = {e.path.lower(): e for e in _ENDPOINTS}


def normalize_path(path: str) -> str:
    """Case-insensitive, trailing slash optional, duplicate slashes folded (protocol.md 2.2)."""
    path = path.split("?", 1)[0].strip().lower()
    while "//" in path:
        path = path.replace("//", "/")
    if len(path) > 1:
        path = path.rstrip("/")
    return path if path.startswith("/") else "/" + path


def lookup(path: str) -> Endpoint | None:
    return _BY_PATH.get(normalize_path(path))


def v1_endpoint(path: str) -> str | None:
    """The v1 endpoint's description when `path` is an HTTPv1 path, else None."""
    return V1_PATHS.get(normalize_path(path))


def endpoint_for_flag(flag: str) -> Endpoint:
    for endpoint in _ENDPOINTS:
        if endpoint.flag == flag:
            return endpoint
    raise KeyError(flag)
