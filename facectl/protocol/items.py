"""The fields inside arrays and objects that the endpoint catalog names but does not spell out.

`endpoints.py` describes each endpoint's top-level fields (and, through `detail`,
one level below). The vendor document has a few more tables one level further
down: the FailList entries of DownloadPeopleListResult, the objects of the
RemoteCommand answer, the fingerprint / palm-vein objects of a person. The
inspector labels every value on the wire, so it needs those tables too; they
live here, beside the catalog, so that no other layer writes a field name twice.

A later revision could move these into `Field` itself (an `items` attribute);
until then `item_fields()` is the one lookup.
"""

from __future__ import annotations

from .endpoints import ENDPOINTS, PERSON_FIELDS, Field

#: One entry of FailList (section "failEmployeeId 数组中失败信息结构").
FAIL_ITEM_FIELDS: tuple[Field, ...] = (
    Field("UserID", "string", True, doc="uint32, as string or number (protocol.md 4.4)"),
    Field("ErrorCode", "int", True, table="people_error_code"),
    Field("RepeatID", "string", True, doc="the user this one duplicates"),
    Field("ErrMsg", "string"),
)

#: RemoteCommand RegisterIdentifyTicket object (protocol.md 4.6: the object form is canonical).
REGISTER_TICKET_FIELDS: tuple[Field, ...] = (
    Field("RegisterType", "uint", True, table="register_type"),
    Field("UserID", "uint"),
    Field("RegisterIndex", "uint", doc="fingerprint 0-9, palm vein 1-2"),
)

#: The flat variant of the document's example (protocol.md 4.6): the number is the RegisterType.
REGISTER_TICKET_FLAT_USER = Field("RegisterIdentifyUserID", "uint", doc="flat variant (protocol.md 4.6)")

#: RemoteCommand PushSoftware object.
PUSH_SOFTWARE_FIELDS: tuple[Field, ...] = (
    Field("SoftwareURL", "string", True, max_bytes=1024),
    Field("SoftwareMD5", "string", True, max_bytes=64, doc="upper-case hex"),
    Field("SoftwareVer", "string", True),
)

#: One entry of RemoteCommand PushSystemFile.
PUSH_SYSTEM_FILE_FIELDS: tuple[Field, ...] = (
    Field("FileURL", "string", True, max_bytes=1024),
    Field("FileMD5", "string", True, max_bytes=64, doc="upper-case hex"),
    Field("FileType", "int", True, table="file_type"),
    Field("FileIndex", "int", True, doc="standby images 1-8"),
    Field("IsDelete", "int", True),
)

#: A fingerprint or palm-vein object of a person (Fingerprints[], Palmveins[]).
BIOMETRIC_FIELDS: tuple[Field, ...] = (
    Field("Num", "int", True),
    Field("Data", "string", True, doc="http(s) URL, else base64"),
    Field("MD5", "string", doc="upper-case hex"),
)

#: Items of a field, by (endpoint name, field name).
_BY_ENDPOINT: dict[tuple[str, str], tuple[Field, ...]] = {
    ("DownloadPeopleList", "PeopleList"): PERSON_FIELDS,
    ("DownloadPeopleListResult", "FailList"): FAIL_ITEM_FIELDS,
    ("RemoteCommand", "RegisterIdentifyTicket"): REGISTER_TICKET_FIELDS,
    ("RemoteCommand", "PushSoftware"): PUSH_SOFTWARE_FIELDS,
    ("RemoteCommand", "PushSystemFile"): PUSH_SYSTEM_FILE_FIELDS,
    ("RegisterIdentifyTicketResult", "UserDetail"): PERSON_FIELDS,
    ("UploadSystemRecord", "Records"): ENDPOINTS["UploadSystemRecord"].detail,
}
#: Items of a field wherever it appears (inside a person).
_ANYWHERE: dict[str, tuple[Field, ...]] = {
    "Fingerprints": BIOMETRIC_FIELDS,
    "Palmveins": BIOMETRIC_FIELDS,
}


def item_fields(endpoint: str, field: str) -> tuple[Field, ...]:
    """The fields of the objects inside `field` (an array of objects or one object); () if unknown."""
    return _BY_ENDPOINT.get((endpoint, field)) or _ANYWHERE.get(field, ())


#: UploadSystemRecord: the code table of Records[].RecordType, by the batch's top-level
#: RecordType (table "system_record_kind": 1 door sensor, 2 system).
EVENT_TABLE_BY_BATCH_TYPE: dict[int, str] = {1: "door_event_type", 2: "system_event_type"}

#: Fields holding unix seconds, shown in the operator's time zone (protocol.md 5.9).
UNIX_TIME_FIELDS: frozenset[str] = frozenset({"RecordDate", "ExpirationDate", "SystemTime"})
#: Fields in tenths of a degree Celsius (protocol.md 5.10).
TENTHS_CELSIUS_FIELDS: frozenset[str] = frozenset({"BodyTemp"})

#: A field that is a URL (or, for some, inline base64) the device downloads, and the
#: field beside it with the MD5 the device checks it against (protocol.md 5.6, 5.7).
MD5_PARTNER: dict[str, str] = {
    "Photo": "PhotoMD5",
    "FaceFeature": "FaceFeatureMD5",
    "Data": "MD5",
    "SoftwareURL": "SoftwareMD5",
    "FileURL": "FileMD5",
}
#: The length field beside a photo.
LENGTH_PARTNER: dict[str, str] = {"Photo": "PhotoLen"}

#: Where an HTTPv1 body carries the serial (protocol.md 2.1: v1 says DeviceID).
V1_SN_FIELDS: tuple[str, ...] = ("DeviceID", "SN")

#: Person value ranges from the PeopleJson table that limits.py does not carry
#: (MAX_USER_ID and MAX_CARD_NUM are there): OpenTimes "0-65535", Timegroup "1-64; 0",
#: Password "纯数字, 长度 0 / 4-8".
MAX_OPEN_TIMES = 65535
MAX_TIMEGROUP = 64
PASSWORD_LENGTHS: frozenset[int] = frozenset({0, 4, 5, 6, 7, 8})
