"""Access and system records as the store keeps them, from the device's JSON.

A record is stored once per (SN, kind, RecordID) (protocol.md 5.1), so RecordID,
RecordType and RecordDate must be readable integers; anything else makes the
record unusable and it goes to quarantine (acknowledged, raw bytes kept).
Over-long strings are kept as sent and reported: dropping a real access event
over a name one byte too long would lose evidence.

A RecordDate no clock could have produced (protocol.md 8.4: a 9.x terminal sent
`1781080`, its upload time divided by 1000) is not shown as if it were true:
the record is kept, dated when it was received, and says so (`date_as_received`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .identity import clean_text
from .limits import MAX_SYSTEM_RECORDS
from .numbers import as_int
from .people import JPEG_START, is_jpeg
from .record_columns import RECORD_COLUMNS, TEXT, RecordColumn

IDENTIFY = "identify"
DOOR = "door"
SYSTEM = "system"
AUTH = "auth"
#: UploadSystemRecord's top-level RecordType -> record kind.
SYSTEM_KIND_BY_TYPE = {1: DOOR, 2: SYSTEM}
RECORD_KINDS = (IDENTIFY, DOOR, SYSTEM, AUTH)

#: Identify RecordTypes (code table "identify_record_type") where the device let the person
#: through, and where it refused them; the rest (device-menu edits, "waiting for the next
#: person" of a multi-person check) are neither.
GRANTED_TYPES = frozenset({*range(1, 15), 25, 29, 31, 32, *range(36, 44), 46, 47})
REFUSED_TYPES = frozenset({*range(15, 25), 26, 27, 28, 30, 45, 48, 49})
GRANTED = "granted"
REFUSED = "refused"


def identify_outcome(record_type: Any) -> str:
    """"granted", "refused", or "" for an identify RecordType (by the code table's meaning)."""
    code = as_int(record_type)
    if code in GRANTED_TYPES:
        return GRANTED
    if code in REFUSED_TYPES:
        return REFUSED
    return ""


#: No terminal of this protocol recorded anything before 2020-01-01 00:00 UTC (protocol.md 8.4).
EARLIEST_PLAUSIBLE_DATE = 1_577_836_800
#: How far ahead of the server's clock a RecordDate may be (time zones, a drifting clock).
MAX_CLOCK_AHEAD_SECONDS = 86_400


class RecordError(ValueError):
    """The record cannot be stored as a record; it will be quarantined."""


@dataclass(slots=True)
class Record:
    kind: str
    record_id: int
    record_type: int
    record_date: int
    fields: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: The RecordDate the device sent, when it was implausible and `record_date` is the
    #: time the server received the record instead (`date_as_received`).
    device_date: int | None = None


def clock_problem(record_date: int, received_at: float) -> str | None:
    """Why a RecordDate cannot be true (before 2020, or more than a day ahead), else None."""
    if record_date < EARLIEST_PLAUSIBLE_DATE:
        return f"RecordDate {record_date} ({_utc(record_date)}) is before 2020-01-01"
    if record_date > received_at + MAX_CLOCK_AHEAD_SECONDS:
        days = (record_date - received_at) / 86_400
        return f"RecordDate {record_date} ({_utc(record_date)}) is {days:.1f} days ahead of the server clock"
    return None


def date_as_received(record: Record, received_at: float) -> str | None:
    """Date an implausible record by when it was received; returns the problem, else None.

    The device's own value stays in `device_date` and in the detail as sent, so a
    retry is still recognised (same RecordID and RecordDate) and nothing is lost.
    """
    problem = clock_problem(record.record_date, received_at)
    if problem is None:
        return None
    record.device_date = record.record_date
    record.record_date = int(received_at)
    record.warnings.append(f"{problem}: the device's clock or firmware is wrong; dated when received")
    return problem


def _utc(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"


def identify_record(detail: Any, kind: str = IDENTIFY) -> Record:
    """Read one RecordDetail / recordJson object (UploadIdentifyRecord, RequestAuthorization)."""
    if not isinstance(detail, dict):
        raise RecordError(f"record detail must be a JSON object, got {type(detail).__name__}")
    record = Record(
        kind=kind,
        record_id=_required_int(detail, "RecordID"),
        record_type=_required_int(detail, "RecordType"),
        record_date=_required_int(detail, "RecordDate"),
        detail=detail,
    )
    for column in RECORD_COLUMNS:
        _read_field(detail, column, record)
    return record


def _read_field(detail: dict[str, Any], column: RecordColumn, record: Record) -> None:
    """Keep one field of the detail by its column's type; what is odd about it becomes a warning."""
    wire = column.present(detail)
    if wire is None:
        return
    value = detail[wire]
    if column.sql == TEXT:
        if value is None:
            return
        text = clean_text(value)
        record.fields[column.column] = text
        size = len(text.encode("utf-8"))
        if column.max_bytes and size > column.max_bytes:
            record.warnings.append(f"{wire} is {size} bytes, over {column.max_bytes}")
        return
    number = as_int(value, allow_bool=True)
    if number is None and value not in (None, ""):
        record.warnings.append(f"{wire} is not a 64-bit integer: {value!r:.80}")
    record.fields[column.column] = number


def photo_warnings(data: bytes, photo_len: int | None) -> list[str]:
    """What is odd about a record's photo part; the bytes themselves are always kept as sent.

    A photo that is not a JPEG, or whose size differs from the record's PhotoLen, is
    still evidence of an access event: the record and its bytes are stored, and the
    operator is told what the device sent instead of the server guessing a repair.
    PhotoLen absent or 0 with a photo attached is reported too (0 means "no photo").
    """
    warnings: list[str] = []
    if not is_jpeg(data):
        what = ("a JPEG cut short (no end marker)" if data.startswith(JPEG_START)
                else f"not a JPEG (starts {data[:4].hex(' ').upper()})")
        warnings.append(f"photo is {what}; kept as sent")
    if photo_len is not None and photo_len != len(data):
        warnings.append(f"photo is {len(data)} bytes but PhotoLen says {photo_len}; kept as sent")
    return warnings


def photo_content_type(data: bytes, declared: str | None) -> str:
    """The type a stored record photo is served with: JPEG by its bytes, else what the part said."""
    if is_jpeg(data) or data.startswith(JPEG_START):
        return "image/jpeg"
    return declared if declared and declared.lower() != "image/jpeg" else "application/octet-stream"


def system_records(body: Any) -> tuple[list[Record], list[tuple[Any, str]]]:
    """Read an UploadSystemRecord body into records, and the items that could not be read.

    Bad items are returned with their reason rather than failing the batch, so a
    single broken entry does not hold a thousand good ones hostage.
    """
    if not isinstance(body, dict):
        raise RecordError("body must be a JSON object")
    batch_type = _required_int(body, "RecordType")
    kind = SYSTEM_KIND_BY_TYPE.get(batch_type)
    if kind is None:
        raise RecordError(f"RecordType {batch_type} is neither 1 (door sensor) nor 2 (system)")
    items = body.get("Records")
    if not isinstance(items, list):
        raise RecordError("Records must be a JSON array")
    if len(items) > MAX_SYSTEM_RECORDS:
        raise RecordError(f"Records holds {len(items)} entries, more than {MAX_SYSTEM_RECORDS}")
    good: list[Record] = []
    bad: list[tuple[Any, str]] = []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise RecordError("record is not a JSON object")
            good.append(Record(
                kind=kind,
                record_id=_required_int(item, "RecordID"),
                record_type=_required_int(item, "RecordType"),
                record_date=_required_int(item, "RecordDate"),
                detail=item,
            ))
        except RecordError as exc:
            bad.append((item, str(exc)))
    return good, bad


def _required_int(obj: dict[str, Any], key: str) -> int:
    if key not in obj:
        raise RecordError(f"{key} is missing")
    value = as_int(obj[key], allow_bool=True)
    if value is None:
        raise RecordError(f"{key} is not a 64-bit integer: {obj[key]!r:.80}")
    return value
