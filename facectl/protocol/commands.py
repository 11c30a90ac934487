"""RemoteCommand answers: what each field does, which fields can share one answer, both ticket forms.

The device learns of queued commands from the Keepalive flag ``Remote`` and then
calls ``/Device/RemoteCommand`` once; the answer is one JSON object in which every
command is a field (document, API-远程操作指令). So the server hands out *several*
queued commands in one answer when they can share it, and keeps the rest for the
next poll. These are the rules for that, as pure functions; the store keeps the
queue and the server renders file URLs.

Which commands collide (cannot be in the same answer)
-----------------------------------------------------
The document does not say in which order a device carries out the fields of one
answer, so two commands whose effect depends on their order never share one:

* **Exclusive** — ``Restart``, ``Recover`` (factory reset) and ``PushSoftware``
  (the device reboots into new firmware) end the device's session; anything after
  them in the same answer may never run. They are always sent alone.
* **Same field** — one answer holds one value per field. Two commands of the same
  field merge only where the field's type lets both say what they want:
  ``QueryPeople`` (the id lists are joined), ``PushSystemFile`` (the file lists
  are joined, unless two touch the same (FileType, FileIndex) slot), an elevator
  field (the port lists are joined), and a repeated identical value (two "open
  door" commands become one pulse). ``Opendoor`` 2 then 3 (hold open, then close)
  collide, and so do two ``RegisterIdentifyTicket`` (the device enrols one at a time).
* **Across fields** — ``ClearRecord`` / ``RepostRecord`` (delete then re-send is
  not re-send then delete); ``PushAllPeople`` / ``QueryPeople`` (both answer with
  PushPeople, which then cannot be told apart); ``RegisterIdentifyTicket`` with
  ``Snapshoot``, ``PushAllPeople`` or ``QueryPeople`` (the enrolment screen holds
  the camera and is followed by its own PushPeople); two elevator fields that
  name the same port (open and lock port 3 is order-dependent), while different
  ports never collide.

Commands go out in queue order: a command is handed out only if it collides with
*no earlier command still queued* — neither one already in this answer nor one
left waiting — so a later command never overtakes an earlier one it depends on.

Errata 4.6: ``RegisterIdentifyTicket`` is sent in the table's object form
``{RegisterType, UserID, RegisterIndex}``; ``decode_answer`` also reads the
example's flat form (``RegisterIdentifyTicket: 4, RegisterIdentifyUserID: 1``).
Errata 5.5: door, elevator and alarm commands expire after a short time.
Errata 5.6: MD5 strings are upper-case hex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .codes import FILE_TYPES, OPENDOOR, REGISTER_TYPES
from .endpoints import ENDPOINTS
from .items import PUSH_SOFTWARE_FIELDS, PUSH_SYSTEM_FILE_FIELDS, REGISTER_TICKET_FIELDS, REGISTER_TICKET_FLAT_USER
from .limits import MAX_USER_ID


class CommandError(ValueError):
    """A command that cannot be queued or sent as asked; the message says why."""


# --- The fields (names from the endpoint catalog) ----------------------------------

RESTART = "Restart"
RECOVER = "Recover"
OPENDOOR_FIELD = "Opendoor"
CLOSEALARM = "Closealarm"
REPOST_RECORD = "RepostRecord"
PUSH_ALL_PEOPLE = "PushAllPeople"
QUERY_PEOPLE = "QueryPeople"
CLEAR_RECORD = "ClearRecord"
REGISTER_TICKET = "RegisterIdentifyTicket"
PUSH_SOFTWARE = "PushSoftware"
PUSH_SYSTEM_FILE = "PushSystemFile"
SNAPSHOT = "Snapshoot"  # the wire spelling (errata 3.9)
OPEN_ELEVATOR = "OpenElevatorPort"
KEEP_OPEN_ELEVATOR = "KeepOpenElevatorPort"
CLOSE_ELEVATOR = "CloseElevatorPort"
LOCK_ELEVATOR = "LockElevatorPort"
UNLOCK_ELEVATOR = "UnlockElevatorPort"
ELEVATOR_FIELDS = (OPEN_ELEVATOR, KEEP_OPEN_ELEVATOR, CLOSE_ELEVATOR, LOCK_ELEVATOR, UNLOCK_ELEVATOR)

#: Default lifetimes (errata 5.5): a door that opens a minute late is a door opened for
#: the wrong person; a restart or a snapshot a few hours late is merely late.
DOOR_TTL_SECONDS = 60
DEFAULT_TTL_SECONDS = 24 * 3600

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
#: turned into an absolute, expiring URL when the command is sent (errata 5.7).
FILE_KEY = "File"
EXT_KEY = "Ext"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    field: str
    kind: str  # door | elevator | alarm | device | people | file
    title: str
    #: The device's call that answers this command, if any (linked to it when it comes).
    follow_up: str | None = None
    exclusive: bool = False

    @property
    def default_ttl(self) -> int:
        return DOOR_TTL_SECONDS if self.kind in SHORT_LIVED_KINDS else DEFAULT_TTL_SECONDS


#: Kinds that expire after DOOR_TTL_SECONDS. Closealarm is one of them: clearing an
#: alarm hours late could silence a new, real alarm.
SHORT_LIVED_KINDS = frozenset({"door", "elevator", "alarm"})

SPECS: dict[str, CommandSpec] = {s.field: s for s in (
    CommandSpec(RESTART, "device", "restart", exclusive=True),
    CommandSpec(RECOVER, "device", "factory reset", exclusive=True),
    CommandSpec(OPENDOOR_FIELD, "door", "door"),
    CommandSpec(CLOSEALARM, "alarm", "clear alarms"),
    CommandSpec(REPOST_RECORD, "device", "re-upload all records"),
    CommandSpec(PUSH_ALL_PEOPLE, "people", "upload all people", follow_up="PushPeople"),
    CommandSpec(QUERY_PEOPLE, "people", "upload these people", follow_up="PushPeople"),
    CommandSpec(CLEAR_RECORD, "device", "delete all records"),
    CommandSpec(REGISTER_TICKET, "people", "enrol a credential", follow_up="RegisterIdentifyTicketResult"),
    CommandSpec(PUSH_SOFTWARE, "file", "firmware upgrade", exclusive=True),
    CommandSpec(PUSH_SYSTEM_FILE, "file", "screen images"),
    CommandSpec(SNAPSHOT, "device", "camera snapshot", follow_up="UploadSnapshoot"),
    CommandSpec(OPEN_ELEVATOR, "elevator", "elevator: open ports"),
    CommandSpec(KEEP_OPEN_ELEVATOR, "elevator", "elevator: hold ports open"),
    CommandSpec(CLOSE_ELEVATOR, "elevator", "elevator: end hold-open"),
    CommandSpec(LOCK_ELEVATOR, "elevator", "elevator: lock ports"),
    CommandSpec(UNLOCK_ELEVATOR, "elevator", "elevator: unlock ports"),
)}

_CATALOG = {f.name for f in ENDPOINTS["RemoteCommand"].response} - {"Success", "Message"}
if set(SPECS) != _CATALOG:  # one fact, one place: the catalog names the fields
    raise RuntimeError(f"RemoteCommand fields differ from the catalog: {set(SPECS) ^ _CATALOG}")

#: Fields whose whole value is the flag 1 ("0: 不处理" is the absence of the command).
FLAG_FIELDS = frozenset({RESTART, RECOVER, CLOSEALARM, REPOST_RECORD, PUSH_ALL_PEOPLE, CLEAR_RECORD, SNAPSHOT})

#: CLI words for the five Opendoor values and the matching elevator fields.
DOOR_ACTIONS: dict[str, int] = {
    "open": int(OPENDOOR.value_of("open (pulse relay)")),
    "hold-open": int(OPENDOOR.value_of("keep open")),
    "close": int(OPENDOOR.value_of("close (end keep-open)")),
    "lock": int(OPENDOOR.value_of("lock")),
    "unlock": int(OPENDOOR.value_of("unlock")),
}
ELEVATOR_ACTIONS: dict[str, str] = {
    "open": OPEN_ELEVATOR,
    "hold-open": KEEP_OPEN_ELEVATOR,
    "close": CLOSE_ELEVATOR,
    "lock": LOCK_ELEVATOR,
    "unlock": UNLOCK_ELEVATOR,
}
#: CLI credential words -> REGISTER_TYPES labels.
CREDENTIALS: dict[str, str] = {
    "card": "card", "password": "password", "fingerprint": "fingerprint", "face": "face", "palm": "palm vein",
}

_TICKET_TYPE, _TICKET_USER, _TICKET_INDEX = (f.name for f in REGISTER_TICKET_FIELDS)
_SW_URL, _SW_MD5, _SW_VER = (f.name for f in PUSH_SOFTWARE_FIELDS)
_SF_URL, _SF_MD5, _SF_TYPE, _SF_INDEX, _SF_DELETE = (f.name for f in PUSH_SYSTEM_FILE_FIELDS)
#: Index key of the flat ticket form. The document's example shows only the type and
#: RegisterIdentifyUserID; the index name is our guess by the same pattern.
_FLAT_INDEX = "RegisterIdentifyIndex"


# --- Building and checking commands (the stored form) ------------------------------

def spec(field: str) -> CommandSpec:
    try:
        return SPECS[field]
    except KeyError:
        raise CommandError(f"{field!r} is not a RemoteCommand field") from None


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise CommandError(f"{what} must be a number, not {value!r}")
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a number, not {value!r}") from None
    if isinstance(value, float) and not value.is_integer():
        raise CommandError(f"{what} must be a whole number, not {value!r}")
    if not lo <= number <= hi:
        raise CommandError(f"{what} must be {lo}-{hi}, not {number}")
    return number


def parse_ports(value: Any) -> list[int]:
    """Elevator ports from "1,2,3", [1, 2, 3] or 3 (errata 4.7 accepts both forms); sorted, unique."""
    if isinstance(value, str):
        items: Iterable[Any] = [p for p in value.replace(" ", ",").split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        items = [value]
    ports = sorted({_int(p, "elevator port", 1, MAX_ELEVATOR_PORT) for p in items})
    if not ports:
        raise CommandError("name at least one elevator port (1-64)")
    return ports


def format_ports(ports: Iterable[int]) -> str:
    """The wire form: a comma string (errata 4.7)."""
    return ",".join(str(p) for p in sorted(set(ports)))


def parse_user_ids(values: Iterable[Any]) -> list[int]:
    ids: list[int] = []
    for v in values:
        uid = _int(v, "UserID", 1, MAX_USER_ID)
        if uid not in ids:
            ids.append(uid)
    return ids


def opendoor(action: str | int) -> tuple[str, int]:
    value = DOOR_ACTIONS.get(action) if isinstance(action, str) and not action.isdigit() else action
    if value is None:
        raise CommandError(f"door action must be one of {', '.join(DOOR_ACTIONS)}")
    return OPENDOOR_FIELD, validate(OPENDOOR_FIELD, value)


def elevator(action: str, ports: Any) -> tuple[str, str]:
    field = ELEVATOR_ACTIONS.get(action)
    if field is None:
        raise CommandError(f"elevator action must be one of {', '.join(ELEVATOR_ACTIONS)}")
    return field, format_ports(parse_ports(ports))


def register_ticket(credential: str, user_id: Any, index: int | None = None) -> tuple[str, dict[str, int]]:
    label = CREDENTIALS.get(credential, credential)
    try:
        register_type = int(REGISTER_TYPES.value_of(label))
    except KeyError:
        raise CommandError(f"credential must be one of {', '.join(CREDENTIALS)}") from None
    ticket = {_TICKET_TYPE: register_type, _TICKET_USER: _int(user_id, "UserID", 1, MAX_USER_ID)}
    if index is not None:
        ticket[_TICKET_INDEX] = index
    return REGISTER_TICKET, validate(REGISTER_TICKET, ticket)


def push_software(sha256: str, version: str, ext: str = ".bin") -> tuple[str, dict[str, str]]:
    return PUSH_SOFTWARE, validate(PUSH_SOFTWARE, {FILE_KEY: sha256, EXT_KEY: ext, _SW_VER: version})


def system_file(file_type: int, index: int, sha256: str | None, ext: str = ".jpg") -> tuple[str, list[dict]]:
    """One PushSystemFile entry; no file (`sha256` None) means delete the image at that slot."""
    entry: dict[str, Any] = {_SF_TYPE: file_type, _SF_INDEX: index, _SF_DELETE: 0 if sha256 else 1}
    if sha256:
        entry[FILE_KEY] = sha256
        entry[EXT_KEY] = ext
    return PUSH_SYSTEM_FILE, validate(PUSH_SYSTEM_FILE, [entry])


def validate(field: str, value: Any) -> Any:
    """The canonical stored value of a command, or CommandError. Nothing else is ever queued."""
    spec(field)
    if field in FLAG_FIELDS:
        if value not in (1, True, "1"):
            raise CommandError(f"{field} takes 1 (0 means no command)")
        return 1
    if field == OPENDOOR_FIELD:
        number = _int(value, "Opendoor", 1, 5)
        if number not in OPENDOOR:
            raise CommandError(f"Opendoor {number} is not in the document's table")
        return number
    if field in ELEVATOR_FIELDS:
        return format_ports(parse_ports(value))
    if field == QUERY_PEOPLE:
        ids = parse_user_ids(value if isinstance(value, list | tuple) else [value])
        if not ids:
            raise CommandError("QueryPeople needs at least one UserID")
        return ids
    if field == REGISTER_TICKET:
        return _validate_ticket(value)
    if field == PUSH_SOFTWARE:
        if not isinstance(value, dict) or not _is_sha256(value.get(FILE_KEY)):
            raise CommandError("PushSoftware needs a stored file")
        version = str(value.get(_SW_VER) or "").strip()
        if not version:
            raise CommandError("PushSoftware needs a firmware version (SoftwareVer)")
        return {FILE_KEY: value[FILE_KEY], EXT_KEY: str(value.get(EXT_KEY) or ".bin"), _SW_VER: version}
    if field == PUSH_SYSTEM_FILE:
        entries = value if isinstance(value, list) else [value]
        out = [_validate_system_file(e) for e in entries]
        if not out:
            raise CommandError("PushSystemFile needs at least one file")
        if len({_slot(e) for e in out}) != len(out):
            raise CommandError("PushSystemFile names the same image slot twice")
        return out
    raise CommandError(f"no rule for {field}")  # pragma: no cover - SPECS and rules match


def _validate_ticket(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise CommandError("RegisterIdentifyTicket is an object {RegisterType, UserID, RegisterIndex}")
    register_type = _int(value.get(_TICKET_TYPE), _TICKET_TYPE, 1, 5)
    if register_type not in REGISTER_TYPES:
        raise CommandError(f"RegisterType {register_type} is not in the document's table")
    ticket = {_TICKET_TYPE: register_type}
    if value.get(_TICKET_USER) is not None:
        ticket[_TICKET_USER] = _int(value[_TICKET_USER], "UserID", 1, MAX_USER_ID)
    if value.get(_TICKET_INDEX) is not None:
        label = REGISTER_TYPES.label(register_type)
        bounds = REGISTER_INDEX_RANGES.get(label)
        if bounds is None:
            raise CommandError(f"an index applies to fingerprints (0-9) and palm veins (1-2), not to a {label}")
        ticket[_TICKET_INDEX] = _int(value[_TICKET_INDEX], f"{label} index", *bounds)
    return ticket


def _validate_system_file(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise CommandError("a PushSystemFile entry is an object")
    file_type = _int(entry.get(_SF_TYPE), _SF_TYPE, 1, 2)
    if file_type == FILE_TYPE_STANDBY:
        index = _int(entry.get(_SF_INDEX), "standby image index", STANDBY_INDEXES.start, STANDBY_INDEXES.stop - 1)
    else:
        index = _int(entry.get(_SF_INDEX, BOOT_IMAGE_INDEX), "boot image index", BOOT_IMAGE_INDEX, BOOT_IMAGE_INDEX)
    delete = 1 if entry.get(_SF_DELETE) in (1, True, "1") else 0
    out: dict[str, Any] = {_SF_TYPE: file_type, _SF_INDEX: index, _SF_DELETE: delete}
    if not delete:
        if not _is_sha256(entry.get(FILE_KEY)):
            raise CommandError("a PushSystemFile entry that is not a delete needs a stored file")
        out[FILE_KEY] = entry[FILE_KEY]
        out[EXT_KEY] = str(entry.get(EXT_KEY) or ".jpg")
    return out


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _slot(entry: dict[str, Any]) -> tuple[int, int]:
    return entry[_SF_TYPE], entry[_SF_INDEX]


def files_of(field: str, value: Any) -> list[str]:
    """Content hashes a stored command refers to (to check they exist, and to keep them)."""
    if field == PUSH_SOFTWARE:
        return [value[FILE_KEY]]
    if field == PUSH_SYSTEM_FILE:
        return [e[FILE_KEY] for e in value if FILE_KEY in e]
    return []


def describe(field: str, value: Any) -> str:
    """One line for operators: `Opendoor 1` -> "door: open (pulse relay)"."""
    s = spec(field)
    if field == OPENDOOR_FIELD:
        return f"door: {OPENDOOR.label(value)}"
    if field in ELEVATOR_FIELDS:
        return f"{s.title} {value}"
    if field == QUERY_PEOPLE:
        return f"{s.title}: {', '.join(str(i) for i in value)}"
    if field == REGISTER_TICKET:
        extra = f" #{value[_TICKET_INDEX]}" if _TICKET_INDEX in value else ""
        return f"enrol {REGISTER_TYPES.label(value[_TICKET_TYPE])}{extra} for user {value.get(_TICKET_USER, '?')}"
    if field == PUSH_SOFTWARE:
        return f"{s.title} to {value[_SW_VER]}"
    if field == PUSH_SYSTEM_FILE:
        parts = []
        for e in value:
            what = "boot image" if e[_SF_TYPE] == FILE_TYPE_BOOT else f"standby image {e[_SF_INDEX]}"
            parts.append(f"delete {what}" if e[_SF_DELETE] else f"set {what}")
        return "screen: " + ", ".join(parts)
    return s.title


# --- Merging queued commands into one answer ---------------------------------------

@dataclass(frozen=True, slots=True)
class Queued:
    """A command as the rules see it: its field and stored value (ids and times are the store's)."""

    field: str
    value: Any


#: Pairs of different fields that never share an answer (see the module docstring).
_CROSS_COLLISIONS: frozenset[frozenset[str]] = frozenset(frozenset(p) for p in (
    (CLEAR_RECORD, REPOST_RECORD),
    (PUSH_ALL_PEOPLE, QUERY_PEOPLE),
    (REGISTER_TICKET, SNAPSHOT),
    (REGISTER_TICKET, PUSH_ALL_PEOPLE),
    (REGISTER_TICKET, QUERY_PEOPLE),
))


def collides(a: Queued, b: Queued) -> bool:
    """True when `a` and `b` cannot be in the same answer, or `b` must not overtake `a`."""
    if SPECS[a.field].exclusive or SPECS[b.field].exclusive:
        return True
    if a.field in ELEVATOR_FIELDS and b.field in ELEVATOR_FIELDS:
        if a.field == b.field:
            return False  # same action on more ports: join them
        return bool(set(parse_ports(a.value)) & set(parse_ports(b.value)))
    if a.field == b.field:
        if a.field == QUERY_PEOPLE:
            return False
        if a.field == PUSH_SYSTEM_FILE:
            return bool({_slot(e) for e in a.value} & {_slot(e) for e in b.value})
        if a.field == REGISTER_TICKET:
            return True
        return a.value != b.value
    return frozenset((a.field, b.field)) in _CROSS_COLLISIONS


def select(queue: Sequence[Queued]) -> list[int]:
    """Indexes of the commands that go in the next answer: each collides with no earlier one.

    `queue` is the device's queued, unexpired commands in the order they were queued.
    """
    chosen: list[int] = []
    for i, cmd in enumerate(queue):
        if not any(collides(queue[j], cmd) for j in range(i)):
            chosen.append(i)
    return chosen


def render(field: str, value: Any, resolve: Callable[[str, str], tuple[str, str]]) -> Any:
    """The wire value of a stored command. `resolve(sha256, ext)` gives (absolute URL, upper-case MD5)."""
    if field == PUSH_SOFTWARE:
        url, md5 = resolve(value[FILE_KEY], value[EXT_KEY])
        return {_SW_URL: url, _SW_MD5: md5.upper(), _SW_VER: value[_SW_VER]}
    if field == PUSH_SYSTEM_FILE:
        out = []
        for e in value:
            if e[_SF_DELETE]:
                url, md5 = "", ""
            else:
                url, md5 = resolve(e[FILE_KEY], e[EXT_KEY])
            out.append({_SF_URL: url, _SF_MD5: md5.upper(), _SF_TYPE: e[_SF_TYPE], _SF_INDEX: e[_SF_INDEX],
                        _SF_DELETE: e[_SF_DELETE]})
        return out
    if field == REGISTER_TICKET or field == QUERY_PEOPLE:
        return value.copy() if isinstance(value, dict) else list(value)
    return value


def merge(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Fields of one answer from (field, wire value) pairs that `select` let through together."""
    answer: dict[str, Any] = {}
    for field, value in items:
        if field not in answer:
            answer[field] = value
        elif field == QUERY_PEOPLE:
            answer[field] = answer[field] + [i for i in value if i not in answer[field]]
        elif field == PUSH_SYSTEM_FILE:
            answer[field] = answer[field] + value
        elif field in ELEVATOR_FIELDS:
            answer[field] = format_ports(parse_ports(answer[field]) + parse_ports(value))
        elif answer[field] != value:
            raise CommandError(f"{field}: {answer[field]!r} and {value!r} cannot share an answer")
    return {f: answer[f] for f in SPECS if f in answer}  # the catalog's order, for readable answers


# --- Reading an answer (inspector, simulator, tests) -------------------------------

def decode_answer(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """The commands in a RemoteCommand answer, canonical: both ticket forms (errata 4.6), 0 = none.

    Unknown keys and Success/Message are ignored; values that cannot be read raise CommandError.
    """
    out: list[tuple[str, Any]] = []
    for field in SPECS:
        if field not in doc or doc[field] in (None, 0, "0", "", []):
            continue
        value = doc[field]
        if field == REGISTER_TICKET and not isinstance(value, dict):
            value = {_TICKET_TYPE: value}  # flat form: the number is the RegisterType
            if doc.get(REGISTER_TICKET_FLAT_USER.name) is not None:
                value[_TICKET_USER] = doc[REGISTER_TICKET_FLAT_USER.name]
            if doc.get(_FLAT_INDEX) is not None:
                value[_TICKET_INDEX] = doc[_FLAT_INDEX]
        if field == PUSH_SOFTWARE:
            out.append((field, _decode_software(value)))
        elif field == PUSH_SYSTEM_FILE:
            out.append((field, [_decode_system_file(e) for e in (value if isinstance(value, list) else [value])]))
        else:
            out.append((field, validate(field, value)))
    return out


def _decode_software(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value.get(_SW_URL):
        raise CommandError("PushSoftware needs SoftwareURL, SoftwareMD5 and SoftwareVer")
    return {_SW_URL: str(value[_SW_URL]), _SW_MD5: str(value.get(_SW_MD5, "")), _SW_VER: str(value.get(_SW_VER, ""))}


def _decode_system_file(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise CommandError("a PushSystemFile entry is an object")
    return {
        _SF_URL: str(entry.get(_SF_URL, "")), _SF_MD5: str(entry.get(_SF_MD5, "")),
        _SF_TYPE: _int(entry.get(_SF_TYPE), _SF_TYPE, 1, 2),
        _SF_INDEX: _int(entry.get(_SF_INDEX, 0), _SF_INDEX, 0, 255),
        _SF_DELETE: 1 if entry.get(_SF_DELETE) in (1, True, "1") else 0,
    }
