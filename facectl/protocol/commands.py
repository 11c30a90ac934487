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

Each field has a value type (protocol/command_values.py) that owns how its value
is checked, shown, compared, sent, joined and read; this module names the fields,
their types and lifetimes, and the rules across fields.

``RegisterIdentifyTicket`` is sent in the table's object form; `decode_answer`
also reads the example's flat form (docs/protocol.md 4.6). Door, elevator and
alarm commands expire after a short time (5.5). MD5 strings are upper-case hex (5.6).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from .codes import OPENDOOR, REGISTER_TYPES
from .command_values import (
    BOOT_IMAGE_INDEX,
    DOOR,
    EXT_KEY,
    FILE_KEY,
    FILE_TYPE_BOOT,
    FILE_TYPE_STANDBY,
    NO_COMMAND,
    CommandError,
    Flag,
    Ports,
    Resolve,
    Software,
    SystemFiles,
    Ticket,
    UserIds,
    ValueType,
    number,
    parse_ports,
    parse_user_ids,
)
from .endpoints import ENDPOINTS
from .items import PUSH_SOFTWARE_FIELDS, PUSH_SYSTEM_FILE_FIELDS, REGISTER_TICKET_FIELDS
from .limits import MAX_USER_ID

#: The RemoteCommand rules the server, store, CLI and simulator use (some names come from command_values).
__all__ = [
    "CommandError", "CommandSpec", "Queued", "ReadAnswer", "SPECS", "ELEVATOR_FIELDS", "DOOR_ACTIONS",
    "ELEVATOR_ACTIONS", "CREDENTIALS", "DOOR_TTL_SECONDS", "DEFAULT_TTL_SECONDS", "SHORT_LIVED_KINDS",
    "RESTART", "RECOVER", "OPENDOOR_FIELD", "CLOSEALARM", "REPOST_RECORD", "PUSH_ALL_PEOPLE", "QUERY_PEOPLE",
    "CLEAR_RECORD", "REGISTER_TICKET", "PUSH_SOFTWARE", "PUSH_SYSTEM_FILE", "SNAPSHOT", "OPEN_ELEVATOR",
    "KEEP_OPEN_ELEVATOR", "CLOSE_ELEVATOR", "LOCK_ELEVATOR", "UNLOCK_ELEVATOR",
    "BOOT_IMAGE_INDEX", "FILE_TYPE_BOOT", "FILE_TYPE_STANDBY", "FILE_KEY", "EXT_KEY", "parse_ports", "parse_user_ids",
    "spec", "validate", "describe", "files_of", "render", "merge", "collides", "select", "read_answer",
    "decode_answer", "opendoor", "elevator", "register_ticket", "push_software", "system_file",
]


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
SNAPSHOT = "Snapshoot"  # the wire spelling (docs/protocol.md 3.9)
OPEN_ELEVATOR = "OpenElevatorPort"
KEEP_OPEN_ELEVATOR = "KeepOpenElevatorPort"
CLOSE_ELEVATOR = "CloseElevatorPort"
LOCK_ELEVATOR = "LockElevatorPort"
UNLOCK_ELEVATOR = "UnlockElevatorPort"
ELEVATOR_FIELDS = (OPEN_ELEVATOR, KEEP_OPEN_ELEVATOR, CLOSE_ELEVATOR, LOCK_ELEVATOR, UNLOCK_ELEVATOR)

#: Default lifetimes (docs/protocol.md 5.5): a door that opens a minute late is a door
#: opened for the wrong person; a restart or a snapshot a few hours late is merely late.
DOOR_TTL_SECONDS = 60
DEFAULT_TTL_SECONDS = 24 * 3600

#: Kinds that expire after DOOR_TTL_SECONDS. Closealarm is one of them: clearing an
#: alarm hours late could silence a new, real alarm.
SHORT_LIVED_KINDS = frozenset({"door", "elevator", "alarm"})

_FLAG, _PORTS = Flag(), Ports()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One RemoteCommand field: its value type does the per-value work, the rest is said here."""

    field: str
    kind: str  # door | elevator | alarm | device | people | file
    title: str
    value: ValueType = dataclass_field(repr=False)
    #: The device's call that answers this command, if any (linked to it when it comes).
    follow_up: str | None = None
    exclusive: bool = False

    @property
    def default_ttl(self) -> int:
        return DOOR_TTL_SECONDS if self.kind in SHORT_LIVED_KINDS else DEFAULT_TTL_SECONDS


#: Every field, in the catalog's order (answers list their fields in it).
SPECS: dict[str, CommandSpec] = {s.field: s for s in (
    CommandSpec(RESTART, "device", "restart", _FLAG, exclusive=True),
    CommandSpec(RECOVER, "device", "factory reset", _FLAG, exclusive=True),
    CommandSpec(OPENDOOR_FIELD, "door", "door", DOOR),
    CommandSpec(CLOSEALARM, "alarm", "clear alarms", _FLAG),
    CommandSpec(REPOST_RECORD, "device", "re-upload all records", _FLAG),
    CommandSpec(PUSH_ALL_PEOPLE, "people", "upload all people", _FLAG, follow_up="PushPeople"),
    CommandSpec(QUERY_PEOPLE, "people", "upload these people", UserIds(), follow_up="PushPeople"),
    CommandSpec(CLEAR_RECORD, "device", "delete all records", _FLAG),
    CommandSpec(REGISTER_TICKET, "people", "enrol a credential", Ticket(), follow_up="RegisterIdentifyTicketResult"),
    CommandSpec(PUSH_SOFTWARE, "file", "firmware upgrade", Software(), exclusive=True),
    CommandSpec(PUSH_SYSTEM_FILE, "file", "screen images", SystemFiles()),
    CommandSpec(SNAPSHOT, "device", "camera snapshot", _FLAG, follow_up="UploadSnapshoot"),
    CommandSpec(OPEN_ELEVATOR, "elevator", "elevator: open ports", _PORTS),
    CommandSpec(KEEP_OPEN_ELEVATOR, "elevator", "elevator: hold ports open", _PORTS),
    CommandSpec(CLOSE_ELEVATOR, "elevator", "elevator: end hold-open", _PORTS),
    CommandSpec(LOCK_ELEVATOR, "elevator", "elevator: lock ports", _PORTS),
    CommandSpec(UNLOCK_ELEVATOR, "elevator", "elevator: unlock ports", _PORTS),
)}

_CATALOG = {f.name for f in ENDPOINTS["RemoteCommand"].response} - {"Success", "Message"}
if set(SPECS) != _CATALOG:  # one fact, one place: the catalog names the fields
    raise RuntimeError(f"RemoteCommand fields differ from the catalog: {set(SPECS) ^ _CATALOG}")

#: Pairs of different fields that never share an answer (see the module docstring); two
#: elevator fields on one port are the value type's rule (`Ports.collides_other`).
_CROSS_COLLISIONS: frozenset[frozenset[str]] = frozenset(frozenset(p) for p in (
    (CLEAR_RECORD, REPOST_RECORD),
    (PUSH_ALL_PEOPLE, QUERY_PEOPLE),
    (REGISTER_TICKET, SNAPSHOT),
    (REGISTER_TICKET, PUSH_ALL_PEOPLE),
    (REGISTER_TICKET, QUERY_PEOPLE),
))

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
_SW_VER = PUSH_SOFTWARE_FIELDS[2].name
_SF_TYPE, _SF_INDEX, _SF_DELETE = (f.name for f in PUSH_SYSTEM_FILE_FIELDS[2:])


# --- Building and checking commands (the stored form) ------------------------------

def spec(field: str) -> CommandSpec:
    try:
        return SPECS[field]
    except KeyError:
        raise CommandError(f"{field!r} is not a RemoteCommand field") from None


def validate(field: str, value: Any) -> Any:
    """The canonical stored value of a command, or CommandError. Nothing else is ever queued."""
    return spec(field).value.validate(field, value)


def describe(field: str, value: Any) -> str:
    """One line for operators: `Opendoor 1` -> "door: open (pulse relay)"."""
    s = spec(field)
    return s.value.describe(s.title, value)


def files_of(field: str, value: Any) -> list[str]:
    """Content hashes a stored command refers to (to check they exist, and to keep them)."""
    return spec(field).value.files(value)


def opendoor(action: str | int) -> tuple[str, int]:
    value = DOOR_ACTIONS.get(action) if isinstance(action, str) and not action.isdigit() else action
    if value is None:
        raise CommandError(f"door action must be one of {', '.join(DOOR_ACTIONS)}")
    return OPENDOOR_FIELD, validate(OPENDOOR_FIELD, value)


def elevator(action: str, ports: Any) -> tuple[str, str]:
    field = ELEVATOR_ACTIONS.get(action)
    if field is None:
        raise CommandError(f"elevator action must be one of {', '.join(ELEVATOR_ACTIONS)}")
    return field, validate(field, ports)


def register_ticket(credential: str, user_id: Any, index: int | None = None) -> tuple[str, dict[str, int]]:
    label = CREDENTIALS.get(credential, credential)
    try:
        register_type = int(REGISTER_TYPES.value_of(label))
    except KeyError:
        raise CommandError(f"credential must be one of {', '.join(CREDENTIALS)}") from None
    ticket = {_TICKET_TYPE: register_type, _TICKET_USER: number(user_id, "UserID", 1, MAX_USER_ID)}
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


# --- Merging queued commands into one answer ---------------------------------------

@dataclass(frozen=True, slots=True)
class Queued:
    """A command as the rules see it: its field and stored value (ids and times are the store's)."""

    field: str
    value: Any


def collides(a: Queued, b: Queued) -> bool:
    """True when `a` and `b` cannot be in the same answer, or `b` must not overtake `a`."""
    sa, sb = SPECS[a.field], SPECS[b.field]
    if sa.exclusive or sb.exclusive:
        return True
    if a.field == b.field:
        return sa.value.collides_same(a.value, b.value)
    return frozenset((a.field, b.field)) in _CROSS_COLLISIONS or sa.value.collides_other(a.value, sb.value, b.value)


def select(queue: Sequence[Queued]) -> list[int]:
    """Indexes of the commands that go in the next answer: each collides with no earlier one.

    `queue` is the device's queued, unexpired commands in the order they were queued.
    """
    chosen: list[int] = []
    for i, cmd in enumerate(queue):
        if not any(collides(queue[j], cmd) for j in range(i)):
            chosen.append(i)
    return chosen


def render(field: str, value: Any, resolve: Resolve) -> Any:
    """The wire value of a stored command. `resolve(sha256, ext)` gives (URL, MD5)."""
    return spec(field).value.render(value, resolve)


def merge(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Fields of one answer from (field, wire value) pairs that `select` let through together."""
    answer: dict[str, Any] = {}
    for field, value in items:
        answer[field] = spec(field).value.join(field, answer[field], value) if field in answer else value
    return {f: answer[f] for f in SPECS if f in answer}  # the catalog's order, for readable answers


# --- Reading an answer (simulator, inspector, tests) -------------------------------

@dataclass(slots=True)
class ReadAnswer:
    """The commands of an answer that could be read, and why the others could not."""

    commands: list[tuple[str, Any]] = dataclass_field(default_factory=list)
    #: (field, reason) for each field whose value cannot be read; the rest still stand.
    unreadable: list[tuple[str, str]] = dataclass_field(default_factory=list)


def read_answer(doc: dict[str, Any]) -> ReadAnswer:
    """Each command of a RemoteCommand answer, canonical (command_values: the reading decisions).

    A terminal carries out the fields it can read, so one unreadable field does not
    hide the others. Unknown keys and Success/Message are ignored.
    """
    out = ReadAnswer()
    for field, s in SPECS.items():
        value = doc.get(field)
        if value in NO_COMMAND:
            continue
        try:
            out.commands.append((field, s.value.decode(field, value, doc)))
        except CommandError as e:
            out.unreadable.append((field, str(e)))
    return out


def decode_answer(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """The commands in a RemoteCommand answer, canonical; CommandError if any value cannot be read."""
    read = read_answer(doc)
    if read.unreadable:
        field, reason = read.unreadable[0]
        raise CommandError(f"{field}: {reason}")
    return read.commands
