"""Rules for the settings document (UploadWorkSetting / DownloadWorkSetting).

The document says DownloadWorkSetting returns "all modifiable parameters"
without listing them; its response example is the upload minus the fields
below, which errata 5.4 therefore takes as the read-only set.
"""

from __future__ import annotations

import json
from typing import Any

from .numbers import as_int

READ_ONLY_SETTINGS: frozenset[str] = frozenset({
    "RunDays", "FormatCount", "WatchDogCount", "BootTime", "RelayStatus", "KeepOpenStatus",
    "DoorSensorStatus", "LockDoorStatus", "AlarmStatus", "PeopleStorageInfo",
    "RecordStorageInfo", "FirmwareVerson", "FingerprintVerson", "FaceVerson", "FunctionList",
})

#: The identity key: it is echoed in downloads but is not a setting one can change.
IDENTITY_SETTING = "DeviceSN"
#: The empty-string spelling some firmware uses: a string of two quote characters (errata 3.7).
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
        "timezone": as_int(doc.get("TimeZone")),
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
    if key in READ_ONLY_SETTINGS:
        return None, f"{key} is read-only: the device reports it, it cannot be set (errata 5.4)"
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


def downloadable(current: dict[str, Any], pending: dict[str, Any]) -> dict[str, Any]:
    """The DownloadWorkSetting body: last upload with pending changes applied, minus read-only."""
    merged = {**current, **pending}
    return {k: v for k, v in merged.items() if k not in READ_ONLY_SETTINGS}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
