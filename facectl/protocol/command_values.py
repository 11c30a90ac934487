"""The value types of RemoteCommand fields: each one owns everything its fields do.

A RemoteCommand field's value passes through six steps: it is checked when an
operator queues it (`validate`, giving the stored form), shown to operators
(`describe`), compared with other queued commands (`collides_same`,
`collides_other`), turned into its wire form (`render`), joined with another
command of the same field in one answer (`join`), and read back from an answer
by the simulator, the inspector and the tests (`decode`). Each step is a method
of the field's value type, so a new field is one `CommandSpec` line in
protocol/commands.py naming its type, and a new kind of value is one class here.

Decisions on reading an answer (docs/protocol.md 11.7), where a terminal
must read what a server sends and one parser serves the simulator and the tests:

* Elevator ports: the document sends a comma string ("1,2,3"); a list, a lone
  number (``3``) and spaces (``"1 2"``) mean the same ports and are read as
  such. The server always sends the comma string.
* ``RegisterIdentifyTicket``: the table's object, or the example's flat form
  (the number is the RegisterType, ``RegisterIdentifyUserID`` beside it). The
  document names no flat index key, so none is read. An index on a credential
  that has none (a face with ``RegisterIndex: 0``) means nothing to a terminal
  and is dropped when reading; queuing one is refused.
* ``0``, ``"0"``, ``null``, ``""`` and ``[]`` are "no command" (the document's
  "0: 不处理"); a value that cannot be read is a `CommandError` naming the field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from .codes import FILE_TYPES, OPENDOOR, REGISTER_TYPES, CodeTable
from .items import PUSH_SOFTWARE_FIELDS, PUSH_SYSTEM_FILE_FIELDS, REGISTER_TICKET_FIELDS, REGISTER_TICKET_FLAT_USER
from .limits import MAX_USER_ID


class CommandError(ValueError):
    """A command that cannot be queued, sent or read as given; the message says why."""


#: `resolve(sha256, ext)` -> (URL, MD5) of a stored file, given by the server when it renders.
Resolve = Callable[[str, str], tuple[str, str]]

#: Elevator ports: the settings' ElevatorPorts are numbered 1-64 (document example).
MAX_ELEVATOR_PORT = 64
#: RegisterIndex ranges per credential (document: fingerprints 0-9, palm veins 1-2).
REGISTER_INDEX_RANGES: dict[str, tuple[int, int]] = {"fingerprint": (0, 9), "palm vein": (1, 2)}
#: Standby images take indexes 1-8; the one boot image is sent with index 1 (the
#: document gives it no index; 1 is the first valid one of the other type).
STANDBY_INDEXES = range(1, 9)
BOOT_IMAGE_INDEX = 1
FILE_TYPE_STANDBY = int(FILE_TYPES.value_of("standby image (index 1-8)"))
FILE_TYPE_BOOT = int(FILE_TYPES.value_of("boot image"))

#: Stored (not wire) keys of file-carrying commands: the file is kept by content hash and
#: turned into a URL when the command is sent (docs/protocol.md 5.7).
FILE_KEY = "File"
EXT_KEY = "Ext"

#: Values that mean "no command" in an answer.
NO_COMMAND: tuple[Any, ...] = (None, 0, "0", "", [])

_TICKET_TYPE, _TICKET_USER, _TICKET_INDEX = (f.name for f in REGISTER_TICKET_FIELDS)
_SW_URL, _SW_MD5, _SW_VER = (f.name for f in PUSH_SOFTWARE_FIELDS)
_SF_URL, _SF_MD5, _SF_TYPE, _SF_INDEX, _SF_DELETE = (f.name for f in PUSH_SYSTEM_FILE_FIELDS)


def number(value: Any, what: str, lo: int, hi: int) -> int:
    """A whole number in [lo, hi] from a number or a decimal string, or CommandError saying why."""
    if isinstance(value, bool):
        raise CommandError(f"{what} must be a number, not {value!r}")
    try:
        n = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a number, not {value!r}") from None
    if isinstance(value, float) and not value.is_integer():
        raise CommandError(f"{what} must be a whole number, not {value!r}")
    if not lo <= n <= hi:
        raise CommandError(f"{what} must be {lo}-{hi}, not {n}")
    return n


def _is_set(value: Any) -> bool:
    return value in (1, True, "1")


class ValueType(ABC):
    """A value sent as stored; equal values of one field merge, different ones collide."""

    @abstractmethod
    def validate(self, field: str, value: Any) -> Any:
        """The canonical stored value, or CommandError. Nothing else is ever queued."""

    def decode(self, field: str, value: Any, answer: dict[str, Any]) -> Any:
        """The canonical value read from an answer (`answer` holds the keys beside the field)."""
        return self.validate(field, value)

    def describe(self, title: str, value: Any) -> str:
        """One line for operators."""
        return title

    def render(self, value: Any, resolve: Resolve) -> Any:
        """The wire value of a stored one."""
        return value

    def join(self, field: str, a: Any, b: Any) -> Any:
        """Two wire values of one field in one answer, as one; CommandError when they cannot be."""
        if a != b:
            raise CommandError(f"{field}: {a!r} and {b!r} cannot share an answer")
        return a

    def collides_same(self, a: Any, b: Any) -> bool:
        """True when two stored values of one field cannot share an answer."""
        return a != b

    def collides_other(self, a: Any, other: ValueType, b: Any) -> bool:
        """True when this value and a value of another field (of type `other`) cannot share an answer."""
        return False

    def files(self, value: Any) -> list[str]:
        """Content hashes the stored value refers to (to check they exist, and to keep them)."""
        return []


class Flag(ValueType):
    """The whole value is 1 ("0: 不处理" is the absence of the command)."""

    def validate(self, field: str, value: Any) -> int:
        if not _is_set(value):
            raise CommandError(f"{field} takes 1 (0 means no command)")
        return 1


class TableCode(ValueType):
    """A value from one of the document's code tables (Opendoor 1-5)."""

    def __init__(self, table: CodeTable, noun: str) -> None:
        self.table = table
        self.noun = noun

    def validate(self, field: str, value: Any) -> int:
        values = [int(c.value) for c in self.table]
        n = number(value, field, min(values), max(values))
        if n not in self.table:
            raise CommandError(f"{field} {n} is not in the document's table")
        return n

    def describe(self, title: str, value: Any) -> str:
        return f"{self.noun}: {self.table.label(value)}"


class Ports(ValueType):
    """Elevator ports, stored and sent as a sorted comma string; one action on more ports joins."""

    def validate(self, field: str, value: Any) -> str:
        return format_ports(parse_ports(value))

    def describe(self, title: str, value: Any) -> str:
        return f"{title} {value}"

    def join(self, field: str, a: Any, b: Any) -> str:
        return format_ports(parse_ports(a) + parse_ports(b))

    def collides_same(self, a: Any, b: Any) -> bool:
        return False

    def collides_other(self, a: Any, other: ValueType, b: Any) -> bool:
        # two elevator actions on one port depend on their order; on different ports they never do
        return isinstance(other, Ports) and bool(set(parse_ports(a)) & set(parse_ports(b)))


class UserIds(ValueType):
    """A list of UserIDs (QueryPeople); two lists join."""

    def validate(self, field: str, value: Any) -> list[int]:
        ids = parse_user_ids(value if isinstance(value, list | tuple) else [value])
        if not ids:
            raise CommandError(f"{field} needs at least one UserID")
        return ids

    def describe(self, title: str, value: Any) -> str:
        return f"{title}: {', '.join(str(i) for i in value)}"

    def render(self, value: Any, resolve: Resolve) -> list[int]:
        return list(value)

    def join(self, field: str, a: Any, b: Any) -> list[int]:
        return a + [i for i in b if i not in a]

    def collides_same(self, a: Any, b: Any) -> bool:
        return False


class Ticket(ValueType):
    """An enrolment ticket {RegisterType, UserID, RegisterIndex}; the device enrols one at a time."""

    def validate(self, field: str, value: Any) -> dict[str, int]:
        return self._read(value, drop_index=False)

    def decode(self, field: str, value: Any, answer: dict[str, Any]) -> dict[str, int]:
        if not isinstance(value, dict):  # the example's flat form: the number is the RegisterType
            value = {_TICKET_TYPE: value, _TICKET_USER: answer.get(REGISTER_TICKET_FLAT_USER.name)}
        return self._read(value, drop_index=True)

    def _read(self, value: Any, *, drop_index: bool) -> dict[str, int]:
        if not isinstance(value, dict):
            raise CommandError("RegisterIdentifyTicket is an object {RegisterType, UserID, RegisterIndex}")
        register_type = number(value.get(_TICKET_TYPE), _TICKET_TYPE, 1, 5)
        if register_type not in REGISTER_TYPES:
            raise CommandError(f"RegisterType {register_type} is not in the document's table")
        ticket = {_TICKET_TYPE: register_type}
        if value.get(_TICKET_USER) is not None:
            ticket[_TICKET_USER] = number(value[_TICKET_USER], "UserID", 1, MAX_USER_ID)
        if value.get(_TICKET_INDEX) is not None:
            label = REGISTER_TYPES.label(register_type)
            bounds = REGISTER_INDEX_RANGES.get(label)
            if bounds is not None:
                ticket[_TICKET_INDEX] = number(value[_TICKET_INDEX], f"{label} index", *bounds)
            elif not drop_index:
                raise CommandError(f"an index applies to fingerprints (0-9) and palm veins (1-2), not to a {label}")
        return ticket

    def describe(self, title: str, value: Any) -> str:
        extra = f" #{value[_TICKET_INDEX]}" if _TICKET_INDEX in value else ""
        return f"enrol {REGISTER_TYPES.label(value[_TICKET_TYPE])}{extra} for user {value.get(_TICKET_USER, '?')}"

    def render(self, value: Any, resolve: Resolve) -> dict[str, int]:
        return dict(value)

    def collides_same(self, a: Any, b: Any) -> bool:
        return True


class Software(ValueType):
    """A firmware file: stored by content hash and version, sent as {SoftwareURL, SoftwareMD5, SoftwareVer}."""

    def validate(self, field: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not _is_sha256(value.get(FILE_KEY)):
            raise CommandError(f"{field} needs a stored file")
        version = str(value.get(_SW_VER) or "").strip()
        if not version:
            raise CommandError(f"{field} needs a firmware version ({_SW_VER})")
        return {FILE_KEY: value[FILE_KEY], EXT_KEY: str(value.get(EXT_KEY) or ".bin"), _SW_VER: version}

    def decode(self, field: str, value: Any, answer: dict[str, Any]) -> dict[str, str]:
        if not isinstance(value, dict) or not value.get(_SW_URL):
            raise CommandError(f"{field} needs {_SW_URL}, {_SW_MD5} and {_SW_VER}")
        return {_SW_URL: str(value[_SW_URL]), _SW_MD5: str(value.get(_SW_MD5, "")),
                _SW_VER: str(value.get(_SW_VER, ""))}

    def describe(self, title: str, value: Any) -> str:
        return f"{title} to {value[_SW_VER]}"

    def render(self, value: Any, resolve: Resolve) -> dict[str, str]:
        url, md5 = resolve(value[FILE_KEY], value[EXT_KEY])
        return {_SW_URL: url, _SW_MD5: md5.upper(), _SW_VER: value[_SW_VER]}

    def files(self, value: Any) -> list[str]:
        return [value[FILE_KEY]]


class SystemFiles(ValueType):
    """Screen images by (FileType, FileIndex) slot; lists join unless two touch one slot."""

    def validate(self, field: str, value: Any) -> list[dict[str, Any]]:
        out = [_stored_system_file(e) for e in (value if isinstance(value, list) else [value])]
        if not out:
            raise CommandError(f"{field} needs at least one file")
        if len({_slot(e) for e in out}) != len(out):
            raise CommandError(f"{field} names the same image slot twice")
        return out

    def decode(self, field: str, value: Any, answer: dict[str, Any]) -> list[dict[str, Any]]:
        return [_wire_system_file(e) for e in (value if isinstance(value, list) else [value])]

    def describe(self, title: str, value: Any) -> str:
        parts = []
        for e in value:
            what = "boot image" if e[_SF_TYPE] == FILE_TYPE_BOOT else f"standby image {e[_SF_INDEX]}"
            parts.append(f"delete {what}" if e[_SF_DELETE] else f"set {what}")
        return "screen: " + ", ".join(parts)

    def render(self, value: Any, resolve: Resolve) -> list[dict[str, Any]]:
        out = []
        for e in value:
            url, md5 = ("", "") if e[_SF_DELETE] else resolve(e[FILE_KEY], e[EXT_KEY])
            out.append({_SF_URL: url, _SF_MD5: md5.upper(), _SF_TYPE: e[_SF_TYPE], _SF_INDEX: e[_SF_INDEX],
                        _SF_DELETE: e[_SF_DELETE]})
        return out

    def join(self, field: str, a: Any, b: Any) -> list[dict[str, Any]]:
        return a + b

    def collides_same(self, a: Any, b: Any) -> bool:
        return bool({_slot(e) for e in a} & {_slot(e) for e in b})

    def files(self, value: Any) -> list[str]:
        return [e[FILE_KEY] for e in value if FILE_KEY in e]


# --- Helpers the value types and the command builders share ------------------------

def parse_ports(value: Any) -> list[int]:
    """Elevator ports from "1,2,3", "1 2", [1, 2, 3] or 3 (docs/protocol.md 11.7); sorted, unique."""
    if isinstance(value, str):
        items: Iterable[Any] = [p for p in value.replace(" ", ",").split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        items = [value]
    ports = sorted({number(p, "elevator port", 1, MAX_ELEVATOR_PORT) for p in items})
    if not ports:
        raise CommandError(f"name at least one elevator port (1-{MAX_ELEVATOR_PORT})")
    return ports


def format_ports(ports: Iterable[int]) -> str:
    """The wire form: the document's comma string (docs/protocol.md 11.7)."""
    return ",".join(str(p) for p in sorted(set(ports)))


def parse_user_ids(values: Iterable[Any]) -> list[int]:
    """UserIDs in order, without repeats, each 1-4294967295."""
    ids: list[int] = []
    for v in values:
        uid = number(v, "UserID", 1, MAX_USER_ID)
        if uid not in ids:
            ids.append(uid)
    return ids


def _stored_system_file(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise CommandError("a PushSystemFile entry is an object")
    file_type = number(entry.get(_SF_TYPE), _SF_TYPE, 1, 2)
    if file_type == FILE_TYPE_STANDBY:
        index = number(entry.get(_SF_INDEX), "standby image index", STANDBY_INDEXES.start, STANDBY_INDEXES.stop - 1)
    else:
        index = number(entry.get(_SF_INDEX, BOOT_IMAGE_INDEX), "boot image index", BOOT_IMAGE_INDEX, BOOT_IMAGE_INDEX)
    delete = 1 if _is_set(entry.get(_SF_DELETE)) else 0
    out: dict[str, Any] = {_SF_TYPE: file_type, _SF_INDEX: index, _SF_DELETE: delete}
    if not delete:
        if not _is_sha256(entry.get(FILE_KEY)):
            raise CommandError("a PushSystemFile entry that is not a delete needs a stored file")
        out[FILE_KEY] = entry[FILE_KEY]
        out[EXT_KEY] = str(entry.get(EXT_KEY) or ".jpg")
    return out


def _wire_system_file(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise CommandError("a PushSystemFile entry is an object")
    return {
        _SF_URL: str(entry.get(_SF_URL, "")), _SF_MD5: str(entry.get(_SF_MD5, "")),
        _SF_TYPE: number(entry.get(_SF_TYPE), _SF_TYPE, 1, 2),
        _SF_INDEX: number(entry.get(_SF_INDEX, 0), _SF_INDEX, 0, 255),
        _SF_DELETE: 1 if _is_set(entry.get(_SF_DELETE)) else 0,
    }


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _slot(entry: dict[str, Any]) -> tuple[int, int]:
    return entry[_SF_TYPE], entry[_SF_INDEX]


#: The one Opendoor value type (the CLI's door words map onto its table).
DOOR = TableCode(OPENDOOR, "door")
