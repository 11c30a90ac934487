"""`facectl watch`: a live dashboard of the fleet, read from the database.

It reads the same database the server writes (WAL lets it read while the
server works), so it runs anywhere the file is reachable and needs no server
API. `dashboard()` builds one frame and is what the tests check; the command
only refreshes it.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from facectl.protocol.codes import ALARMS, DOOR_SENSOR_STATUS, LOCK_STATUS

from .common import console, db_option, emit, fmt_age, fmt_time, open_store, wide_option
from .records import (
    EVENT_TABLES,
    RECEIVED_NOTE,
    decision_label,
    outcome_cell,
    record_name,
    record_time,
)
from .tables import KEEP, Column, FitTable


def _door_cells(row: dict[str, Any]) -> tuple[str, str, Text]:
    door = DOOR_SENSOR_STATUS.label(row["door_sensor_status"]) if row["door_sensor_status"] is not None else "?"
    if row["keep_open_status"] == 1:
        door += " (held open)"
    lock = LOCK_STATUS.label(row["lock_door_status"]) if row["lock_door_status"] is not None else "?"
    alarms = [a for a in (row["alarm_status"] or "").split(",") if a]
    alarm = Text(", ".join(ALARMS.label(a) for a in alarms) or "none", style="bold red" if alarms else "dim")
    return door, lock, alarm


#: The dashboard's device columns; the least useful give way first on a narrow terminal.
DEVICE_COLUMNS = (
    Column("SN", KEEP, no_wrap=True), Column("Name", 3), Column("State", 8, no_wrap=True),
    Column("Link", KEEP, no_wrap=True), Column("Last contact", 7, no_wrap=True), Column("Door", 6),
    Column("Lock", 6, no_wrap=True), Column("Alarm", 6), Column("Pending work", 5), Column("Firmware", 1),
)
#: The dashboard's record columns.
RECORD_COLUMNS = (
    Column("Time", KEEP, no_wrap=True), Column("SN", 9, no_wrap=True), Column("Kind", 2, no_wrap=True),
    Column("Event", 6), Column("Outcome", 8, no_wrap=True),
    Column("User", 7, no_wrap=True), Column("Name", 5), Column("Decision", 4),
)


def devices_table(store: Any, now: float, wide: bool = False) -> FitTable:
    rows = []
    for row in store.devices.list():
        link = Text("online", style="green") if row["online"] else Text("offline", style="red")
        age = fmt_age(now - row["last_seen"]) if row["last_seen"] else "never"
        door, lock, alarm = _door_cells(row)
        state = Text(row["state"], style={"pending": "yellow", "blocked": "red"}.get(row["state"], ""))
        if row["protocol"] == "v1":
            state.append(" (HTTPv1!)", style="bold red")
        if row["clock_warning"]:
            state.append(" (clock wrong!)", style="bold red")
        pending = ", ".join(store.work.flags(row["sn"])) if row["state"] == "approved" else ""
        rows.append((row["sn"], row["device_name"] or "", state, link, age, door, lock, alarm, pending,
                     row["firmware"] or ""))
    return FitTable(DEVICE_COLUMNS, rows, title="Devices", expand=True, wide=wide)


def records_table(store: Any, limit: int, wide: bool = False) -> FitTable:
    rows = []
    records = store.records.list(limit=limit)
    for r in records:
        table = EVENT_TABLES.get(r["kind"])
        event = table.label(r["record_type"]) if table else str(r["record_type"])
        rows.append((record_time(r), r["sn"], r["kind"], event, outcome_cell(r), r["user_id"] or "", record_name(r),
                     decision_label(r)))
    caption = RECEIVED_NOTE if any(r["dated_on_receipt"] for r in records) else None
    return FitTable(RECORD_COLUMNS, rows, title="Latest records", expand=True, wide=wide, caption=caption)


def dashboard(store: Any, now: float | None = None, feed: int = 15, wide: bool = False,
              live: bool = True) -> Group:
    """One frame: a summary line, the devices, and the newest records."""
    now = now or time.time()
    devices = store.devices.list()
    online = sum(1 for d in devices if d["online"])
    pending = sum(1 for d in devices if d["state"] == "pending")
    alarms = sum(1 for d in devices if d["alarm_status"])
    clocks = sum(1 for d in devices if d["clock_warning"])
    quarantined = store.quarantine.count()
    summary = Text.assemble(
        (f"{len(devices)} devices", "bold"), f" · {online} online · {len(devices) - online} offline",
        (f" · {pending} awaiting approval", "yellow") if pending else "",
        (f" · {alarms} in alarm", "bold red") if alarms else "",
        (f" · {clocks} with a wrong clock", "bold red") if clocks else "",
        (f" · {quarantined} in quarantine", "yellow") if quarantined else "",
        f" · {fmt_time(now)}",
    )
    return Group(Panel(summary, title="facectl watch", subtitle="Ctrl-C to quit" if live else None),
                 devices_table(store, now, wide), records_table(store, feed, wide))


@click.command()
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.2, 3600),
              help="Seconds between refreshes.")
@click.option("--feed", default=15, show_default=True, type=click.IntRange(1, 500),
              help="How many of the latest records to show.")
@click.option("--once", is_flag=True, help="Print one frame and exit (for scripts and logs).")
@click.option("--frames", type=click.IntRange(1), help="Stop after this many refreshes.")
@wide_option
@db_option
def watch(interval: float, feed: int, once: bool, frames: int | None, wide: bool, db_path: str) -> None:
    """A live dashboard: devices online/offline, door, lock, alarms, pending work, latest records.

    It refreshes from the database while the server runs; quit with Ctrl-C.

    \b
    Examples:
      facectl watch --db site.db
      facectl watch --once > fleet.txt
    """
    store = open_store(db_path)
    if once:
        emit(dashboard(store, feed=feed, wide=wide, live=False), wide=wide)
        return
    shown = 0
    try:
        with Live(dashboard(store, feed=feed, wide=wide), console=console, refresh_per_second=4, screen=False) as live:
            while frames is None or shown < frames:
                time.sleep(interval)
                live.update(dashboard(store, feed=feed, wide=wide))
                shown += 1
    except KeyboardInterrupt:
        pass
