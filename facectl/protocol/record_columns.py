"""The fields of an identify record (RecordDetail / recordJson) the server keeps, one line each.

Everything that knows a record field reads this table: the endpoint catalog (the
fields of UploadIdentifyRecord and RequestAuthorization), the reader that turns the
device's JSON into a `Record` (protocol/records.py), the store's INSERT
(store/records.py), the CSV export of `records list` and the record events
(`export`, `event`), the simulated terminal and the inspector's sample records
(`blank`, `from_person`). Adding a field is one line in `RECORD_COLUMNS` plus an appended
`@migration` in store/migrations.py adding its column, written out literally
(`migration_text("mask")` prints it):

    @migration
    def records_mask(db: sqlite_utils.Database) -> None:
        add_columns(db, "records", {"mask": "INTEGER"})

RecordID, RecordType and RecordDate are not in the table: they are the record's
identity (protocol.md 5.1), required, and read by `protocol.records` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TEXT = "TEXT"
INTEGER = "INTEGER"
#: SQL type -> the catalog's wire type (protocol/endpoints.py `Field.type`).
_WIRE_TYPES = {TEXT: "string", INTEGER: "int"}


@dataclass(frozen=True, slots=True)
class RecordColumn:
    """One record field: on the wire, in the `records` table, and for the readers of a stored record.

    TEXT fields are kept as cleaned text, with a warning over `max_bytes` (the text is kept
    as sent: protocol.md 5.8); INTEGER fields as 64-bit integers or NULL, with a warning
    when the device sent something else.
    """

    wire: str
    column: str
    sql: str  # TEXT | INTEGER
    #: The record table's length in bytes (TEXT only); longer text is kept and reported.
    max_bytes: int | None = None
    #: Other spellings a device sends; the first name present in the JSON is read.
    aliases: tuple[str, ...] = ()
    doc: str = ""
    #: A column of `facectl records list --csv` (the JSON export has every column).
    export: bool = False
    #: Copied into the `record.identify` and `record.auth` events (docs/events.md).
    event: bool = False
    #: What a terminal sends here when it has nothing to say (the document's example
    #: record); None: the field is left out. The simulator and the inspector's samples send it.
    blank: Any = None
    #: The terminal fills it from the recognised person's field of the same name, when set.
    from_person: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.wire, *self.aliases)

    @property
    def wire_type(self) -> str:
        return _WIRE_TYPES[self.sql]

    def present(self, detail: Mapping[str, Any]) -> str | None:
        """The spelling of this field `detail` carries (first of `names`), or None."""
        if self.wire in detail:  # the usual case first: records are the hot path
            return self.wire
        return next((name for name in self.aliases if name in detail), None)


#: In the order of the document's RecordDetail table.
RECORD_COLUMNS: tuple[RecordColumn, ...] = (
    RecordColumn("UserID", "user_id", TEXT, 20, export=True, event=True, blank="0"),
    RecordColumn("Code", "code", TEXT, 64, from_person=True),
    RecordColumn("Name", "name", TEXT, 64, export=True, event=True, from_person=True),
    RecordColumn("IdentityCard", "identity_card", TEXT, 64, blank="", from_person=True),
    RecordColumn("Job", "job", TEXT, 64, blank="", from_person=True),
    RecordColumn("Department", "department", TEXT, 64, blank="", from_person=True),
    RecordColumn("CardNum", "card_num", TEXT, 20, export=True, event=True, blank="0"),
    RecordColumn("QRCode", "qrcode", TEXT, 128, blank=""),
    RecordColumn("IsEntry", "is_entry", INTEGER, doc="1 entry, 0 exit", export=True, event=True, blank=0),
    RecordColumn("BodyTemp", "body_temp", INTEGER, doc="tenths of a degree (protocol.md 5.10)",
                 export=True, event=True, blank=0),
    RecordColumn("PhotoLen", "photo_len", INTEGER, doc="photo length, 0 = none", blank=0),
)
#: Store columns, in INSERT order.
COLUMN_NAMES: tuple[str, ...] = tuple(c.column for c in RECORD_COLUMNS)
#: Columns of the CSV export, and fields of a record event, in the table's order.
EXPORT_COLUMNS: tuple[str, ...] = tuple(c.column for c in RECORD_COLUMNS if c.export)
EVENT_FIELDS: tuple[str, ...] = tuple(c.column for c in RECORD_COLUMNS if c.event)
#: Wire names a terminal fills from the person it recognised.
FROM_PERSON: tuple[str, ...] = tuple(c.wire for c in RECORD_COLUMNS if c.from_person)


def migration_text(*columns: str) -> str:
    """The `@migration` that adds these record columns, to append to store/migrations.py by hand.

    The SQL types are written out literally: a migration that has shipped must never
    change, even if this table does later (`python -c "from facectl.protocol.record_columns
    import migration_text; print(migration_text('mask'))"`).
    """
    by_name = {c.column: c.sql for c in RECORD_COLUMNS}
    types = ", ".join(f'"{name}": "{by_name[name]}"' for name in columns)
    return (f"@migration\ndef records_{'_'.join(columns)}(db: sqlite_utils.Database) -> None:\n"
            f'    add_columns(db, "records", {{{types}}})\n')
