"""`facectl records`: access, door and system records."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from facectl.protocol.codes import (
    AUTH_RESULTS,
    DOOR_EVENT_TYPES,
    IDENTIFY_RECORD_TYPES,
    REFUSED,
    SYSTEM_EVENT_TYPES,
)
from facectl.protocol.record_columns import EXPORT_COLUMNS
from facectl.protocol.records import RECORD_KINDS

from .common import (
    console,
    db_option,
    device_sn,
    emit,
    fail,
    fmt_time,
    open_store,
    print_csv,
    print_json,
    table,
    wide_option,
)
from .retention import prune
from .tables import KEEP, Column

EVENT_TABLES = {"identify": IDENTIFY_RECORD_TYPES, "auth": IDENTIFY_RECORD_TYPES,
                "door": DOOR_EVENT_TYPES, "system": SYSTEM_EVENT_TYPES}
#: `records list` columns; the least useful give way first on a narrow terminal.
LIST_COLUMNS = (
    Column("Time", KEEP, no_wrap=True), Column("SN", 9, no_wrap=True), Column("Kind", 3, no_wrap=True),
    Column("ID", 2, no_wrap=True, justify="right"), Column("Event", 7), Column("Outcome", 8, no_wrap=True),
    Column("User", 8, no_wrap=True),
    Column("Name", 6), Column("Photo", 1, no_wrap=True),
)
#: Shown when the rows hold authorization decisions.
DECISION_COLUMN = Column("Decision", 5)
#: `records list --csv`: the record's identity and outcome, the fields marked `export` in
#: protocol/record_columns.py, then the photo and the authorization decision.
CSV_COLUMNS = ("sn", "kind", "record_id", "record_type", "event", "outcome", "record_date", "time", "device_date",
               *EXPORT_COLUMNS, "photo", "decision", "reason")
#: Marks a time that is when the record was received, because the device's RecordDate was implausible.
RECEIVED_MARK = "*"
RECEIVED_NOTE = (f"{RECEIVED_MARK} dated when received: the device's RecordDate was implausible "
                 "(its clock or firmware is wrong); --json shows the device_date it sent")


@click.group()
def records() -> None:
    """Read records uploaded by devices.

    \b
    Examples:
      facectl records list --sn FC-8190H24052799 --since 2026-11-01
      facectl records list --kind identify --csv > records.csv
      facectl records photo FC-8190H24052799 120 -o face.jpg
      facectl records prune --older-than 90d --dry-run
    """


def _timestamp(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value).astimezone().timestamp())
    except ValueError:
        fail(f"{option} takes a date like 2026-11-29 or 2026-11-29T08:00, or unix seconds; got {value!r}", 2)
        raise


def decision_label(row: dict[str, Any]) -> str:
    """Authorization records only: the answer the device got, and why."""
    if row["decision"] is None:
        return ""
    label = AUTH_RESULTS.label(row["decision"])
    return f"{label}: {row['reason']}" if row["reason"] else label


def record_time(row: dict[str, Any]) -> str:
    """The record's time for tables; marked when it is the time it was received."""
    return fmt_time(row["record_date"]) + (RECEIVED_MARK if row["dated_on_receipt"] else "")


def outcome_cell(row: dict[str, Any]) -> Text:
    return Text(row["outcome"] or "", style="red" if row["outcome"] == REFUSED else "")


def record_name(row: dict[str, Any]) -> str:
    """The person's name as the record gives it, but not a bare repeat of the UserID: firmware fills
    Name with the UserID for a person it holds no name for (the document's own example does), and
    "1" under Name reads as a name the server does not have."""
    name = (row.get("name") or "").strip()
    return "" if name == str(row.get("user_id") or "").strip() else name


def _event(row: dict[str, Any]) -> str:
    return EVENT_TABLES[row["kind"]].label(row["record_type"]) if row["kind"] in EVENT_TABLES else ""


@records.command("list")
@click.option("--sn", help="Only this device.")
@click.option("--user", help="Only this UserID.")
@click.option("--since", help="From this date/time (local) or unix seconds.")
@click.option("--until", help="Up to this date/time (local) or unix seconds.")
@click.option("--kind", type=click.Choice(RECORD_KINDS), help="identify, door, system or auth.")
@click.option("--refused", is_flag=True,
              help="Only refusals: identify records of a refused type (expired, outside time group, "
                   "unregistered, ...) and denied authorizations.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV for spreadsheets.")
@wide_option
@db_option
def list_records(sn: str | None, user: str | None, since: str | None, until: str | None, kind: str | None,
                 refused: bool, limit: int, as_json: bool, as_csv: bool, wide: bool, db_path: str) -> None:
    """Newest first, event types by name, granted / refused, times in the local time zone.

    A record whose device clock was wrong (dated before 2020 or over a day ahead)
    is listed, and filtered, at the time it was received, marked with *.

    \b
    Examples:
      facectl records list --limit 20
      facectl records list --sn FC-8190H24052799 --since 2026-11-01 --kind identify
      facectl records list --refused --since 2026-11-29
      facectl records list --kind auth --csv > decisions.csv
    """
    store = open_store(db_path)
    sn = device_sn(store, sn) if sn else None
    rows = store.records.list(sn=sn, user=user, kind=kind, since=_timestamp(since, "--since"),
                              until=_timestamp(until, "--until"), limit=limit, refused=refused)
    for row in rows:
        row["event"] = _event(row)
        row["time"] = fmt_time(row["record_date"])
    if as_json:
        print_json(rows)
    elif as_csv:
        print_csv(rows, CSV_COLUMNS)
    elif not rows:
        console.print("No records match.")
    else:
        with_decisions = any(r["decision"] is not None for r in rows)
        emit(table(None, LIST_COLUMNS + ((DECISION_COLUMN,) if with_decisions else ()), [
            (record_time(r), r["sn"], r["kind"], r["record_id"], r["event"], outcome_cell(r), r["user_id"] or "",
             record_name(r), _photo_cell(r), *([decision_label(r)] if with_decisions else [])) for r in rows
        ], wide=wide), wide=wide)
        if any(r["dated_on_receipt"] for r in rows):
            console.print(RECEIVED_NOTE)


def _photo_cell(row: dict[str, Any]) -> str:
    """"yes", or "as sent" when the photo is not a JPEG or not PhotoLen bytes (its warning is in --json)."""
    if not row["photo"]:
        return ""
    return "as sent (!)" if any("kept as sent" in w for w in row["warnings"]) else "yes"


@records.command("photo")
@click.argument("sn")
@click.argument("record_id", type=int)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="File to write the JPEG to.")
@db_option
def photo(sn: str, record_id: int, output: str, db_path: str) -> None:
    """Save the photo of an identify record.

    \b
    Example:
      facectl records photo FC-8190H24052799 120 -o face.jpg
    """
    store = open_store(db_path)
    sn = device_sn(store, sn)
    row = store.records.get(sn, record_id)
    if row is None:
        fail(f"no record {record_id} from {sn}; `facectl records list --sn {sn}` lists them")
    if not row["photo"]:
        fail(f"record {record_id} from {sn} has no photo")
    found = store.files.get(row["photo"])
    if found is None:
        fail(f"the photo of record {record_id} is missing from the database")
    Path(output).write_bytes(found[1])
    console.print(f"wrote {len(found[1])} bytes to {output}", highlight=False)
    for warning in (w for w in json.loads(row["warnings"] or "[]") if "kept as sent" in w):
        console.print(f"note: {warning} ({found[0].content_type})", highlight=False)


records.add_command(prune)
