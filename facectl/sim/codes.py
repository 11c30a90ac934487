"""The code values the simulated terminal writes and reads, looked up by their English labels
in the document's tables (protocol/codes.py), so the simulator names events as the document does."""

from __future__ import annotations

from facectl.protocol.codes import (
    AUTH_RESULTS,
    DOOR_EVENT_TYPES,
    IDENTIFY_RECORD_TYPES,
    OPENDOOR,
    PUSH_TYPES,
    REGISTER_RESULTS,
    REGISTER_TYPES,
    SYSTEM_EVENT_TYPES,
    SYSTEM_RECORD_KINDS,
)


def _code_of(table, label: str) -> int:
    """A code's value by its English label, so the simulator names events as the document does."""
    return int(table.value_of(label))


REC_CARD = _code_of(IDENTIFY_RECORD_TYPES, "card verification")
REC_FACE = _code_of(IDENTIFY_RECORD_TYPES, "face verification")
REC_PASSWORD = _code_of(IDENTIFY_RECORD_TYPES, "password (user id + password)")
REC_UNREGISTERED = _code_of(IDENTIFY_RECORD_TYPES, "unregistered user")
REC_UNREGISTERED_CARD = _code_of(IDENTIFY_RECORD_TYPES, "unregistered card")
KIND_DOOR = _code_of(SYSTEM_RECORD_KINDS, "door sensor record")
KIND_SYSTEM = _code_of(SYSTEM_RECORD_KINDS, "system record")
DOOR_OPENED = _code_of(DOOR_EVENT_TYPES, "door sensor: open")
DOOR_CLOSED = _code_of(DOOR_EVENT_TYPES, "door sensor: closed")
SYS_OPEN = _code_of(SYSTEM_EVENT_TYPES, "software: open")
SYS_CLOSE = _code_of(SYSTEM_EVENT_TYPES, "software: close")
SYS_KEEP_OPEN = _code_of(SYSTEM_EVENT_TYPES, "software: keep open")
SYS_LOCK = _code_of(SYSTEM_EVENT_TYPES, "software: lock")
SYS_UNLOCK = _code_of(SYSTEM_EVENT_TYPES, "software: unlock")
SYS_POWER_ON = _code_of(SYSTEM_EVENT_TYPES, "power on")
SYS_FORMATTED = _code_of(SYSTEM_EVENT_TYPES, "device formatted")
SYS_RECORDS_DELETED = _code_of(SYSTEM_EVENT_TYPES, "all records deleted")
OPEN_PULSE = _code_of(OPENDOOR, "open (pulse relay)")
OPEN_KEEP = _code_of(OPENDOOR, "keep open")
OPEN_CLOSE = _code_of(OPENDOOR, "close (end keep-open)")
OPEN_LOCK = _code_of(OPENDOOR, "lock")
OPEN_UNLOCK = _code_of(OPENDOOR, "unlock")
REG_CARD = _code_of(REGISTER_TYPES, "card")
REG_PASSWORD = _code_of(REGISTER_TYPES, "password")
REG_FINGERPRINT = _code_of(REGISTER_TYPES, "fingerprint")
REG_FACE = _code_of(REGISTER_TYPES, "face")
REG_PALM = _code_of(REGISTER_TYPES, "palm vein")
RESULT_OK = _code_of(REGISTER_RESULTS, "registered")
RESULT_DUPLICATE = _code_of(REGISTER_RESULTS, "duplicate credential")
RESULT_NO_FINGERPRINT = _code_of(REGISTER_RESULTS, "fingerprint not supported")
RESULT_NO_PALM = _code_of(REGISTER_RESULTS, "palm vein not supported")
PUSH_ADDED = _code_of(PUSH_TYPES, "added")
PUSH_UPDATED = _code_of(PUSH_TYPES, "updated")
PUSH_DELETED = _code_of(PUSH_TYPES, "deleted")
PUSH_QUERIED = _code_of(PUSH_TYPES, "queried")
AUTH_DENY = _code_of(AUTH_RESULTS, "deny")
#: Success values of a RequestAuthorization answer (0 deny, 1 allow with message, 2 allow silently).
AUTH_ANSWERS = frozenset(int(c.value) for c in AUTH_RESULTS)

#: Alarm name -> the system event that records its clearing (Closealarm).
ALARM_CLEARED = {
    name: _code_of(SYSTEM_EVENT_TYPES, label) for name, label in (
        ("fire", "fire alarm cleared"), ("blacklist", "blacklist alarm cleared"),
        ("anti", "tamper alarm cleared"), ("illegal", "illegal verification alarm cleared"),
        ("password", "duress alarm cleared"), ("openTimeout", "door open timeout alarm cleared"),
        ("doorSensor", "door sensor alarm cleared"),
    )
}
