"""Rules for the settings document (UploadWorkSetting / DownloadWorkSetting).

The document says DownloadWorkSetting returns "all modifiable parameters"
without listing them; its response example is the upload minus the fields in
READ_ONLY_SETTINGS, which protocol.md 5.4 therefore takes as the read-only set.
Firmware 9.25 (protocol.md 8.5) reports more that the document lacks
(`PalmveinVerson`, `HTTPClientStatus`, ...), and later firmware will add
others, so `is_read_only` also goes by the name's shape: every `…Status`,
`…Verson` / `…Version` and `…StorageInfo` key, and `FunctionList`, is
something the device reports, never something it is told.
"""

from __future__ import annotations

import json
from typing import Any

from .numbers import as_int
from .zones import device_zone

READ_ONLY_SETTINGS: frozenset[str] = frozenset({
    "RunDays", "FormatCount", "WatchDogCount", "BootTime", "RelayStatus", "KeepOpenStatus",
    "DoorSensorStatus", "LockDoorStatus", "AlarmStatus", "PeopleStorageInfo",
    "RecordStorageInfo", "FirmwareVerson", "FingerprintVerson", "FaceVerson", "FunctionList",
    # firmware 9.25 (protocol.md 8.5); each also matches a suffix below, listed for the record
    "PalmveinVerson", "OnecardCloudStatus", "HTTPClientStatus", "MQTTClientStatus",
    "WebsocketClientStatus", "YZWClientStatus",
})
#: Name endings of read-only keys: states, versions (with the firmware's misspelling), storage.
READ_ONLY_SUFFIXES = ("Status", "Verson", "Version", "StorageInfo")

#: The identity key: it is echoed in downloads but is not a setting one can change.
IDENTITY_SETTING = "DeviceSN"
#: The empty-string spelling some firmware uses: a string of two quote characters (protocol.md 3.7).
QUOTED_EMPTY = '""'


def normalize_value(value: Any) -> Any:
    if value == QUOTED_EMPTY:
        return ""
    return value


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """What the fleet views need from a settings document, under stable names."""
    storage = doc.get("PeopleStorageInfo") if isinstance(doc.get("PeopleStorageInfo"), dict) else {}

    def cap(kind: str) -> int | None:
        entry = storage.get(kind)
        return as_int(entry.get("Max")) if isinstance(entry, dict) else None

    return {
        "firmware": _str(doc.get("FirmwareVerson")),
        "face_version": _str(doc.get("FaceVerson")),
        "fingerprint_version": _str(doc.get("FingerprintVerson")),
        "keepalive_interval": as_int(doc.get("HTTPClient_KeepaliveTime")),
        "protocol_type": as_int(doc.get("HTTPClient_ProtocolType")),
        "person_capacity": cap("Person"),
        "face_capacity": cap("Face"),
        "card_capacity": cap("Card"),
        "timezone": zone_summary(doc),
        "device_name": _str(doc.get("DeviceName")),
    }


def people_held(doc: dict[str, Any]) -> int | None:
    """How many people the device says it holds: PeopleStorageInfo.Person.Current (None when absent).

    The document's settings example carries `{"Person": {"Max": 20000, "Current": 1}}`;
    a firmware that leaves the count out, or sends something that is not a number,
    says nothing here rather than "zero".
    """
    storage = doc.get("PeopleStorageInfo")
    person = storage.get("Person") if isinstance(storage, dict) else None
    if not isinstance(person, dict):
        return None
    count = as_int(person.get("Current"))
    return count if count is not None and count >= 0 else None


def zone_summary(doc: dict[str, Any]) -> str:
    """The zone the device is judged in, as the fleet views show it: `UTC+05:30`, or
    `UTC+08:00 (assumed)` when neither TimeZone nor UTCTimeZone could be read."""
    zone = device_zone(doc)
    return zone.label if zone.source else f"{zone.label} (assumed)"


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, list[Any]]:
    """Top-level keys whose values changed: {key: [old, new]} (None for absent)."""
    old = old or {}
    changed: dict[str, list[Any]] = {}
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            changed[key] = [old.get(key), new.get(key)]
    return changed


def check_change(current: dict[str, Any], key: str, value: Any) -> tuple[Any, str | None]:
    """Validate an operator's change against the uploaded document.

    Returns (typed value, None) or (None, reason). The device's own upload is the
    schema: only keys it reported may be set, and a value keeps the JSON type the
    device used (an int stays an int), so a device never receives a type it
    did not send.
    """
    if key == IDENTITY_SETTING:
        return None, "DeviceSN identifies the device and cannot be changed"
    if is_read_only(key):
        return None, f"{key} is read-only: the device reports it, it cannot be set (protocol.md 5.4, 8.5)"
    if key not in current:
        return None, f"{key} is not a setting this device reported; see `facectl device get SN`"
    old = current[key]
    return _coerce(key, old, value)


def _coerce(key: str, old: Any, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and not isinstance(old, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None, f"{key} takes {type(old).__name__} values like {json.dumps(old)}; got {value!r}"
    if isinstance(old, bool):
        ok = isinstance(value, bool)
    elif isinstance(old, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(old, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(old, str):
        ok = isinstance(value, str)
    elif isinstance(old, list):
        ok = isinstance(value, list)
    elif isinstance(old, dict):
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        return None, f"{key} takes {type(old).__name__} values like {json.dumps(old)}; got {value!r}"
    return value, None


def is_read_only(key: str) -> bool:
    """A key the device reports but never takes: never echoed, never set by an operator."""
    return key in READ_ONLY_SETTINGS or key.endswith(READ_ONLY_SUFFIXES)


def downloadable(current: dict[str, Any], pending: dict[str, Any]) -> dict[str, Any]:
    """The DownloadWorkSetting body: last upload with pending changes applied, minus read-only
    keys and minus every `null` (protocol.md 8.5: firmware uploads nulls; what it would do with
    one sent back is unknown, and a null sets nothing). Unknown keys are kept as uploaded."""
    merged = {**current, **pending}
    return {k: _without_nulls(v) for k, v in merged.items() if v is not None and not is_read_only(k)}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
