"""People on the wire: checking what an operator enters, encoding PeopleJson, reading device reports.

Pure functions, no I/O. The limits come from `limits.py` (protocol.md 5.8, 6.7); the wire
names from the catalog's `PERSON_FIELDS`. Three directions meet here:

- **Operator input** (`normalize`, `check_photo`, `feature_text`, `parse_expiry`): every
  problem names the field and the limit, e.g. "Name is 70 bytes in UTF-8 ...; the device
  takes at most 63". String limits count UTF-8 bytes (a CJK character is 3 bytes, some
  are 4). All problems of one person are reported together, so an import can say
  everything that is wrong with a row at once.
- **To the device** (`encode_person`, `download_answer`, `delete_answer`): canonical
  PeopleJson. Decisions:
    * UserID and CardNum are sent as strings (the table's type); Elevators as the comma
      string (protocol.md 4.7); `PeopleCount` and `Count` both (protocol.md 4.3).
    * Text fields, Password and CardNum are always sent, "" when unset (the document's
      example sends "" for empty fields). AccessType, ExpirationDate, OpenTimes and KeepOpen
      are always sent, with the neutral defaults 0 (normal), 0 (never expires), 65535
      (unlimited) and 0. Holidays is sent as "" (no holiday restriction) when unset.
      Timegroup and Elevators are left out when unset: the document gives no neutral value
      for them ("0--表示受限制"), so the device keeps its own default.
    * Fingerprints and Palmveins are always sent, [] when none (as the example does).
    * Feature files (face, fingerprint, palm vein) are the base64 *text*, as the document
      says ("下载的文件内容是的base64内容"); their MD5 is the upper-case MD5 of that text
      (protocol.md 5.6), which is what a device computes over the file it downloads.
- **From the device** (`read_device_person`, `read_fail_list`, `read_delete_result`):
  lenient. Biometric data is kept only when it is inline base64: an http(s) URL is most
  likely our own URL echoed back, and a device path (`/data/user_pic/x.jpg`, protocol.md 6.4)
  can never be fetched, so both are noted and skipped. ExpirationDate past the firmware's
  maximum is clamped (protocol.md 6.7).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from .codes import ACCESS_TYPES, is_transient_people_error
from .endpoints import PERSON_FIELDS
from .identity import clean_text
from .limits import (
    MAX_CARD_NUM,
    MAX_EXPIRATION_DATE,
    MAX_INTEGER_DIGITS,
    MAX_PEOPLE_PAGE,
    MAX_PHOTO_BYTES,
    MAX_USER_ID,
    PERSON_TEXT_LIMITS,
)
from .numbers import as_uint

#: Person fields the server keeps: wire name -> store column, in the PeopleJson table's order.
COLUMNS: dict[str, str] = {
    "Code": "code",
    "Name": "name",
    "Job": "job",
    "Department": "department",
    "IdentityCard": "identity_card",
    "Attachment": "attachment",
    "Password": "password",
    "CardNum": "card_num",
    "QRCode": "qrcode",
    "AccessType": "access_type",
    "ExpirationDate": "expiration_date",
    "OpenTimes": "open_times",
    "KeepOpen": "keep_open",
    "Timegroup": "timegroup",
    "Holidays": "holidays",
    "Elevators": "elevators",
}
_WIRE_NAMES = {f.name for f in PERSON_FIELDS}
assert set(COLUMNS) <= _WIRE_NAMES, set(COLUMNS) - _WIRE_NAMES  # the catalog is the source of truth

TEXT_FIELDS: tuple[str, ...] = tuple(PERSON_TEXT_LIMITS)
INT_FIELDS: tuple[str, ...] = ("AccessType", "ExpirationDate", "OpenTimes", "KeepOpen", "Timegroup")
#: Values sent when the operator set nothing (see the module docstring).
SEND_DEFAULTS: dict[str, Any] = {"AccessType": 0, "ExpirationDate": 0, "OpenTimes": 65535, "KeepOpen": 0,
                                 "Holidays": ""}
#: Fields left out of PeopleJson when unset.
OMIT_WHEN_UNSET: frozenset[str] = frozenset({"Timegroup", "Elevators"})

MAX_OPEN_TIMES = 65535
MAX_TIMEGROUP = 64
MAX_LIST_NUMBER = 65535
PASSWORD_LENGTHS = (4, 8)
#: Page size when a DownloadPeopleList request has no usable Limit (the document makes it
#: required; the DeletePeopleList default of 50 is the document's own).
DEFAULT_DOWNLOAD_PAGE = 100
#: With inline (base64) files, a page stops growing past this many bytes of file data, so
#: a 1000-person page of 400 KB photos cannot become a 500 MB answer. At least one
#: person is always sent.
INLINE_PAGE_BYTES = 4 * 1024 * 1024

#: Biometric kinds, as the store keeps them, and the wire names they travel under.
FACE = "face"
FINGERPRINT = "fingerprint"
PALMVEIN = "palmvein"
BIOMETRIC_KINDS: tuple[str, ...] = (FACE, FINGERPRINT, PALMVEIN)
BIOMETRIC_LISTS: dict[str, str] = {FINGERPRINT: "Fingerprints", PALMVEIN: "Palmveins"}

JPEG_START = b"\xff\xd8"
JPEG_END = b"\xff\xd9"


# --- operator input -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # wire name, or "Photo" / "FaceFeature" / "UserID"
    message: str

    def __str__(self) -> str:
        return self.message


class PersonError(ValueError):
    """One or more fields are wrong; `errors` names each field, the message says all."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, field_name: str, message: str) -> PersonError:
        return cls([FieldError(field_name, message)])


def check_user_id(value: Any) -> int:
    """UserID: a uint32 above 0 (the table: 数字 最大值 4294967295), as number or digit string."""
    text = clean_text(value)
    if not text.isascii() or not text.isdigit() or len(text) > MAX_INTEGER_DIGITS:
        raise PersonError.one("UserID", f"UserID must be a whole number from 1 to {MAX_USER_ID}, got {text[:40]!r}")
    number = int(text)
    if not 1 <= number <= MAX_USER_ID:
        raise PersonError.one("UserID", f"UserID must be from 1 to {MAX_USER_ID} (uint32), got {number}")
    return number


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def normalize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check operator values (wire name -> raw value, as typed or read from CSV) and normalise them.

    A value of None means "not given" and is left out of the result; "" clears a text
    field. Raises PersonError naming every bad field with its limit.
    """
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, raw in values.items():
        if name not in COLUMNS:
            errors.append(FieldError(name, f"{name} is not a person field"))
            continue
        if raw is None:
            continue
        if name in _RESET_WHEN_EMPTY and isinstance(raw, str) and not raw.strip():
            out[name] = None  # an empty value resets the number to its default
            continue
        try:
            out[name] = _CHECKS[name](name, raw)
        except _InvalidValue as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise PersonError(errors)
    return out


class _InvalidValue(ValueError):
    """One field's value is unusable; the message says why. Collected into a PersonError."""


#: Number fields an empty value resets to "unset" (sent as the default or left out).
_RESET_WHEN_EMPTY = frozenset({"AccessType", "OpenTimes", "Timegroup"})


def _text(name: str, raw: Any) -> str:
    if not isinstance(raw, str | int):
        raise _InvalidValue(f"{name} must be text")
    text = str(raw).strip()
    limit = PERSON_TEXT_LIMITS[name]
    size = utf8_len(text)
    if size > limit:
        raise _InvalidValue(f"{name} is {size} bytes in UTF-8 ({len(text)} characters; CJK characters take 3 "
                   f"bytes each); the device takes at most {limit}")
    return text


def _digits(raw: Any) -> str:
    if isinstance(raw, bool):
        raise _InvalidValue("not a number")
    return str(raw).strip()


def _password(name: str, raw: Any) -> str:
    text = _digits(raw)
    low, high = PASSWORD_LENGTHS
    if text and (not text.isascii() or not text.isdigit()):
        raise _InvalidValue(f"Password must be digits only, got {text!r}")
    if text and not low <= len(text) <= high:
        raise _InvalidValue(f"Password must be {low} to {high} digits (or empty), got {len(text)} digits")
    return text


def _card(name: str, raw: Any) -> str:
    text = _digits(raw)
    if not text:
        return ""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_INTEGER_DIGITS:
        raise _InvalidValue(f"CardNum must be a number from 0 to {MAX_CARD_NUM} (uint64), got {text[:40]!r}")
    number = int(text)
    if number > MAX_CARD_NUM:
        raise _InvalidValue(f"CardNum {text} is larger than {MAX_CARD_NUM}, the largest uint64 card number")
    return str(number)


def _int_in(name: str, raw: Any, low: int, high: int, what: str = "") -> int:
    text = _digits(raw)
    digits = text.lstrip("-")
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_INTEGER_DIGITS:
        raise _InvalidValue(f"{name} must be a whole number from {low} to {high}{what}, got {text[:40]!r}")
    number = int(text)
    if not low <= number <= high:
        raise _InvalidValue(f"{name} must be from {low} to {high}{what}, got {number}")
    return number


def _access(name: str, raw: Any) -> int:
    if isinstance(raw, str) and not raw.strip().isdigit():
        try:
            return int(ACCESS_TYPES.value_of(raw.strip()))
        except KeyError:
            labels = ", ".join(c.en for c in ACCESS_TYPES)
            raise _InvalidValue(f"AccessType must be one of {labels} (or 0-2), got {raw!r}") from None
    return _int_in(name, raw, 0, max(int(c.value) for c in ACCESS_TYPES), " (0 normal, 1 admin, 2 blacklist)")


def _expiry(name: str, raw: Any) -> int:
    if isinstance(raw, str) and not raw.strip().isdigit():
        return _parse_expiry(raw, None)
    number = _int_in(name, raw, 0, 2**63)
    if number > MAX_EXPIRATION_DATE:
        raise _InvalidValue(_expiry_message(number))
    return number


def _expiry_message(number: int) -> str:
    return (f"ExpirationDate {number} is after 2099-12-31 23:59:59 UTC+8 ({MAX_EXPIRATION_DATE}), "
            "the latest date the firmware takes")


_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off", ""}


def _flag(name: str, raw: Any) -> int:
    text = str(raw).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise _InvalidValue(f"{name} must be 1 or 0 (yes/no), got {raw!r}")


def _number_list(name: str, raw: Any, allow_star: bool) -> str:
    """A comma list of positive numbers; arrays accepted (protocol.md 4.7); '*' = all holidays."""
    if isinstance(raw, list | tuple):
        items = [str(x).strip() for x in raw]
    else:
        text = str(raw).strip()
        if allow_star and text == "*":
            return "*"
        items = [x.strip() for x in text.replace(";", ",").replace(" ", ",").split(",")]
    numbers: list[int] = []
    for item in items:
        if not item:
            continue
        if not item.isascii() or not item.isdigit() or not 1 <= int(item) <= MAX_LIST_NUMBER:
            star = ", or * for all" if allow_star else ""
            raise _InvalidValue(f"{name} must be a comma list of numbers from 1 to {MAX_LIST_NUMBER}{star}, "
                       f"got {item!r}")
        if int(item) not in numbers:
            numbers.append(int(item))
    return ",".join(str(n) for n in numbers)


_CHECKS: dict[str, Any] = {
    **{name: _text for name in TEXT_FIELDS},
    "Password": _password,
    "CardNum": _card,
    "AccessType": _access,
    "ExpirationDate": _expiry,
    "OpenTimes": lambda n, v: _int_in(n, v, 0, MAX_OPEN_TIMES, " (65535 unlimited, 0 no entry)"),
    "KeepOpen": _flag,
    "Timegroup": lambda n, v: _int_in(n, v, 0, MAX_TIMEGROUP, " (0 restricted)"),
    "Holidays": lambda n, v: _number_list(n, v, True),
    "Elevators": lambda n, v: _number_list(n, v, False),
}


def parse_expiry(text: str, tz: tzinfo | None = None) -> int:
    """An expiry as an operator writes it -> unix seconds (protocol.md 5.9: shown and read in local time).

    "" / "never" / "0" = no expiry; unix seconds; a date (2026-12-31 = the end of that day);
    an ISO date-time (2026-12-31T18:00, with or without a zone). Past the firmware's
    maximum (protocol.md 6.7) is an error that says so (PersonError for ExpirationDate).
    """
    try:
        return _parse_expiry(text, tz)
    except _InvalidValue as exc:
        raise PersonError.one("ExpirationDate", str(exc)) from None


def _parse_expiry(text: str, tz: tzinfo | None) -> int:
    value = text.strip()
    if value.lower() in ("", "0", "never", "none"):
        return 0
    if value.isdigit():
        number = int(value)
    else:
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                moment = datetime.combine(day, time(23, 59, 59))
            else:
                moment = datetime.fromisoformat(value)
        except ValueError:
            raise _InvalidValue(f"ExpirationDate {value!r} is not a date: write 2026-12-31, 2026-12-31T18:00, "
                       "unix seconds, or never") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz) if tz else moment.astimezone()
        number = int(moment.timestamp())
    if number > MAX_EXPIRATION_DATE:
        raise _InvalidValue(_expiry_message(number))
    return number


def check_photo(data: bytes, source: str = "photo") -> None:
    """A person photo: a JPEG of at most 400 KB (protocol.md 5.8). Raises PersonError for field Photo."""
    if not data:
        raise PersonError.one("Photo", f"{source} is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise PersonError.one("Photo", f"{source} is {len(data)} bytes; the device takes at most "
                                       f"{MAX_PHOTO_BYTES} ({MAX_PHOTO_BYTES // 1024} KB)")
    if not is_jpeg(data):
        raise PersonError.one("Photo", f"{source} is not a JPEG image (devices take JPEG only)")


def is_jpeg(data: bytes) -> bool:
    return data.startswith(JPEG_START) and data.rstrip(b"\x00\r\n").endswith(JPEG_END)


def feature_text(data: bytes, source: str = "face feature", field_name: str = "FaceFeature") -> str:
    """A feature file as the base64 text devices download: kept when it already is base64, else encoded."""
    stripped = data.strip()
    if not stripped:
        raise PersonError.one(field_name, f"{source} is empty")
    text = as_base64(stripped)
    if text is not None:
        return text
    return base64.b64encode(data).decode("ascii")


def as_base64(data: bytes | str) -> str | None:
    """The value as canonical base64 text, or None when it is not base64."""
    try:
        raw = data.encode("ascii") if isinstance(data, str) else data
        compact = b"".join(raw.split())
        if not compact:
            return None
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return compact.decode("ascii")


def md5_hex(data: bytes | str) -> str:
    """Upper-case hex MD5 (protocol.md 5.6)."""
    return hashlib.md5(data.encode("ascii") if isinstance(data, str) else data).hexdigest().upper()


# --- to the device --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FileRef:
    """A file as PeopleJson carries it: `value` is a URL (root-relative unless the operator
    gave a public URL) or inline base64."""

    value: str
    md5: str
    size: int | None = None


def encode_person(
    user_id: int,
    fields: Mapping[str, Any],
    photo: FileRef | None = None,
    face: FileRef | None = None,
    fingerprints: list[tuple[int, FileRef]] | None = None,
    palmveins: list[tuple[int, FileRef]] | None = None,
) -> dict[str, Any]:
    """One canonical PeopleJson object (see the module docstring for what is sent when unset)."""
    out: dict[str, Any] = {"UserID": str(user_id)}
    for name in COLUMNS:
        value = fields.get(name)
        if value is None or (value == "" and name in OMIT_WHEN_UNSET):
            if name in OMIT_WHEN_UNSET:
                continue
            value = SEND_DEFAULTS.get(name, "")
        if name == "ExpirationDate":
            value = min(int(value), MAX_EXPIRATION_DATE)
        out[name] = value
        if name == "Attachment":
            # The table's order puts the photo between Attachment and Password.
            out["Photo"] = photo.value if photo else ""
            out["PhotoMD5"] = photo.md5 if photo else ""
            out["PhotoLen"] = (photo.size or 0) if photo else 0
    if face is not None:
        out["FaceFeature"] = face.value
        out["FaceFeatureMD5"] = face.md5
    out["Fingerprints"] = [{"Num": num, "Data": ref.value, "MD5": ref.md5} for num, ref in fingerprints or ()]
    out["Palmveins"] = [{"Num": num, "Data": ref.value, "MD5": ref.md5} for num, ref in palmveins or ()]
    return out


def download_answer(people: list[dict[str, Any]]) -> dict[str, Any]:
    """DownloadPeopleList fields: PeopleCount (table) and Count (example) both (protocol.md 4.3)."""
    return {"PeopleCount": len(people), "Count": len(people), "PeopleList": people}


def delete_answer(user_ids: list[int], delete_all: bool = False) -> dict[str, Any]:
    """DeletePeopleList fields. With DeleteAll the list is empty: it is unused then (the table)."""
    if delete_all:
        return {"DeleteAll": 1, "DeleteCount": 0, "DeleteList": []}
    return {"DeleteAll": 0, "DeleteCount": len(user_ids), "DeleteList": list(user_ids)}


def page_limit(value: Any, default: int, maximum: int = MAX_PEOPLE_PAGE) -> int:
    """Limit of DownloadPeopleList / DeletePeopleList: 1..1000; missing or unusable = default."""
    number = as_uint(value)
    if number is None or number < 1:
        return default
    return min(number, maximum)



# --- from the device ------------------------------------------------------------------

@dataclass(slots=True)
class Biometric:
    kind: str
    num: int
    text: str  # base64 text, as a device downloads it
    md5: str  # upper-case MD5 of `text`


@dataclass(slots=True)
class DevicePerson:
    """A person as a device reports it (PushPeople Detail, RegisterIdentifyTicketResult UserDetail)."""

    user_id: int | None
    fields: dict[str, Any] = field(default_factory=dict)
    biometrics: list[Biometric] = field(default_factory=list)
    photo_inline: bytes | None = None  # a base64 photo in the JSON, decoded
    notes: list[str] = field(default_factory=list)


def read_device_person(detail: Any) -> DevicePerson | None:
    """Leniently read a device's person object; None when it is not an object."""
    if not isinstance(detail, dict):
        return None
    person = DevicePerson(user_id=as_uint(detail.get("UserID")))
    for name in COLUMNS:
        if name not in detail or detail[name] is None:
            continue
        raw = detail[name]
        try:
            value = _CHECKS[name](name, raw)
        except _InvalidValue as exc:
            if name == "ExpirationDate" and as_uint(raw) is not None:
                value = MAX_EXPIRATION_DATE  # protocol.md 6.7: clamp what a device reports
                person.notes.append(f"ExpirationDate {raw} clamped to {MAX_EXPIRATION_DATE}")
            else:
                person.notes.append(str(exc))
                value = raw if isinstance(raw, str | int) else str(raw)
        person.fields[name] = value
    photo = detail.get("Photo")
    if isinstance(photo, str) and photo.strip():
        kind = _value_kind(photo)
        if kind == "base64":
            data = base64.b64decode(as_base64(photo) or "")
            if is_jpeg(data):
                person.photo_inline = data
            else:
                person.notes.append("Photo is base64 but not a JPEG; not kept")
        elif kind == "path":
            person.notes.append(f"Photo is a path on the device ({photo.strip()[:80]}); the photo part is used")
    face = detail.get("FaceFeature")
    if isinstance(face, str) and face.strip():
        _add_biometric(person, FACE, 0, face, detail.get("FaceFeatureMD5"), "FaceFeature")
    for kind, wire in BIOMETRIC_LISTS.items():
        items = detail.get(wire)
        if items in (None, "", []):
            continue
        if not isinstance(items, list):
            person.notes.append(f"{wire} is not a list")
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                person.notes.append(f"{wire}[{i}] is not an object")
                continue
            num = as_uint(item.get("Num"))
            if num is None:
                person.notes.append(f"{wire}[{i}] has no usable Num")
                continue
            data = item.get("Data")
            if isinstance(data, str) and data.strip():
                _add_biometric(person, kind, num, data, item.get("MD5"), f"{wire}[{i}]")
    return person


def _value_kind(value: str) -> str:
    """'url' (http/https: "http或https开头表示使用url地址"), 'base64', 'path' (a device file) or 'other'.

    Base64 is tested before paths: every base64 JPEG starts with "/9j/", while a device
    path such as /data/user_pic/x.jpg is never valid base64 (it has '.' or '_').
    """
    text = value.strip()
    if text.lower().startswith(("http://", "https://")):
        return "url"
    if as_base64(text) is not None:
        return "base64"
    if text.startswith(("/", "./")):
        return "path"
    return "other"


def _add_biometric(person: DevicePerson, kind: str, num: int, value: str, md5: Any, where: str) -> None:
    value_kind = _value_kind(value)
    if value_kind != "base64":
        what = {"url": "a URL", "path": "a path on the device"}.get(value_kind, "not base64")
        person.notes.append(f"{where} is {what}; not kept")
        return
    text = as_base64(value) or ""
    actual = md5_hex(text)
    if isinstance(md5, str) and md5.strip() and md5.strip().upper() != actual:
        person.notes.append(f"{where} MD5 {md5.strip()} differs from the data's MD5 {actual}; the data's is used")
    person.biometrics.append(Biometric(kind, num, text, actual))


@dataclass(frozen=True, slots=True)
class Failure:
    """One FailList entry of a DownloadPeopleListResult."""

    user_id: int
    code: int | None
    repeat_id: str | None
    message: str

    @property
    def transient(self) -> bool:
        """A passing cause (a download, the device's storage): the server retries it by itself."""
        return is_transient_people_error(self.code)


def read_fail_list(doc: Mapping[str, Any]) -> tuple[list[Failure], list[str]]:
    """FailList, or a list under FailCount (protocol.md 4.4); UserID/RepeatID as string or number."""
    notes: list[str] = []
    items = doc.get("FailList")
    if not isinstance(items, list):
        items = doc.get("FailCount") if isinstance(doc.get("FailCount"), list) else None
        if items is not None:
            notes.append("failures listed under FailCount (protocol.md 4.4)")
    failures: list[Failure] = []
    for i, item in enumerate(items or ()):
        if not isinstance(item, dict):
            notes.append(f"FailList[{i}] is not an object")
            continue
        uid = as_uint(item.get("UserID"))
        if uid is None:
            notes.append(f"FailList[{i}] has no usable UserID: {item.get('UserID')!r}")
            continue
        repeat = clean_text(item.get("RepeatID")) or None
        failures.append(Failure(uid, as_uint(item.get("ErrorCode")), repeat, clean_text(item.get("ErrMsg"))))
    return failures, notes


def declared_fail_count(doc: Mapping[str, Any]) -> int:
    value = doc.get("FailCount")
    if isinstance(value, list):
        return len(value)
    return as_uint(value) or 0


def read_delete_result(doc: Mapping[str, Any]) -> tuple[bool, list[int], list[str]]:
    """(DeleteAll, user ids, notes) of DeletePeopleListResult; DeleteList or DeletList (protocol.md 4.5)."""
    notes: list[str] = []
    delete_all = as_uint(doc.get("DeleteAll")) == 1
    items = doc.get("DeleteList")
    if items is None and "DeletList" in doc:
        items = doc.get("DeletList")
        notes.append("list sent as DeletList (protocol.md 4.5)")
    ids: list[int] = []
    if isinstance(items, str):
        items = [x for x in items.split(",") if x.strip()]
    elif items is not None and not isinstance(items, list):
        items = [items]  # one id sent bare instead of in a list; anything else is noted below
    for item in items or ():
        uid = as_uint(item)
        if uid is None:
            notes.append(f"DeleteList item {item!r:.40} is not a user id")
        else:
            ids.append(uid)
    return delete_all, ids, notes
