"""`facectl device`: the fleet — approval, state, settings."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from facectl.protocol import settings as setting_rules
from facectl.protocol.codes import ALARMS, DOOR_SENSOR_STATUS, LOCK_STATUS, RELAY_STATUS
from facectl.protocol.endpoints import PROTOCOL_TYPE_V2

from .common import (
    console,
    db_option,
    device_sn,
    emit,
    fail,
    fmt_age,
    fmt_time,
    json_option,
    open_store,
    print_json,
    require_device,
    table,
    wide_option,
)
from .tables import KEEP, Column


@click.group()
def device() -> None:
    """List, approve and configure devices.

    \b
    Examples:
      facectl device list
      facectl device approve FC-8190H24052799
      facectl device set FC-8190H24052799 Volume=3 DeviceName=Lobby
    """


def _pending_work(store: Any, sn: str) -> str:
    flags = store.work.flags(sn)
    return ", ".join(flags) if flags else ""


def door_label(row: dict[str, Any]) -> str:
    """The door as the device last reported it, e.g. "door closed, unlocked" (list and show alike)."""
    parts = []
    if row.get("door_sensor_status") is not None:
        parts.append("door " + DOOR_SENSOR_STATUS.label(row["door_sensor_status"]))
    if row.get("keep_open_status") == 1:
        parts.append("held open")
    if row.get("lock_door_status") is not None:
        parts.append(LOCK_STATUS.label(row["lock_door_status"]))
    return ", ".join(parts)


def alarm_label(row: dict[str, Any]) -> str:
    """Alarm names from the Keepalive's AlarmStatus, by their labels ("fire alarm"); empty when none."""
    return ", ".join(ALARMS.label(a) for a in (row.get("alarm_status") or "").split(",") if a)


#: Raw Keepalive status columns that `device show` gives as the labelled "door", "alarm" and "relay" lines.
STATUS_COLUMNS = ("relay_status", "keep_open_status", "door_sensor_status", "lock_door_status", "alarm_status")
#: `device list` columns; the least useful give way first on a narrow terminal.
LIST_COLUMNS = (
    Column("SN", KEEP, no_wrap=True), Column("Name", 4), Column("State", 9, no_wrap=True),
    Column("Online", KEEP, no_wrap=True), Column("Last seen", 8, no_wrap=True), Column("Door", 6),
    Column("Alarm", 6), Column("Firmware", 2, no_wrap=True), Column("Pending", 5), Column("Note", 3),
)


def _protocol_note(row: dict[str, Any]) -> str:
    if row.get("protocol") == "v1":
        return f"speaks HTTPv1: set HTTPClient_ProtocolType to {PROTOCOL_TYPE_V2}"
    return ""


CLOCK_ACTION = ("the device's clock or firmware is wrong: check its time, NTP and time zone; records "
                "it dates before 2020 or over a day ahead are listed at the time they were received")


def _notes(row: dict[str, Any]) -> str:
    notes = [n for n in (_protocol_note(row), "clock wrong" if row["clock_warning"] else "") if n]
    return "; ".join(notes)


@device.command("list")
@click.option("--state", type=click.Choice(["pending", "approved", "blocked"]), help="Only this state.")
@db_option
@wide_option
@json_option
def list_devices(state: str | None, db_path: str, wide: bool, as_json: bool) -> None:
    """Every device: state, online, last contact, door/lock/alarm, firmware, pending work, notes.

    A note says when a device speaks HTTPv1 or its clock is wrong (`device show` says more);
    --json adds everything else, the time zone its time groups are judged in included.

    \b
    Examples:
      facectl device list
      facectl device list --state pending
      facectl device list --json > devices.json
    """
    store = open_store(db_path)
    rows = store.devices.list(state)
    for row in rows:
        row["pending_work"] = _pending_work(store, row["sn"])
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No devices yet. Point a device at `facectl serve` and it appears here as pending.")
        return
    now = time.time()
    emit(table(None, LIST_COLUMNS, [
        (r["sn"], r["device_name"] or "", r["state"], "online" if r["online"] else "offline",
         fmt_age(now - r["last_seen"]) if r["last_seen"] else "never", door_label(r), alarm_label(r),
         r["firmware"] or "", r["pending_work"], _notes(r))
        for r in rows
    ], wide=wide), wide=wide)


@device.command("show")
@click.argument("sn")
@db_option
@json_option
def show(sn: str, db_path: str, as_json: bool) -> None:
    """Everything known about one device, its settings included.

    \b
    Example:
      facectl device show FC-8190H24052799
    """
    store = open_store(db_path)
    row = require_device(store, sn)
    sn = row["sn"]
    info = {
        **row,
        "pending_work": _pending_work(store, sn),
        "settings_uploaded_at": store.settings.uploaded_at(sn),
        "settings": store.settings.document(sn),
        "setting_changes": store.settings.changes(sn, 20),
        "settings_history": store.settings.history(sn, 10),
        "records": store.records.count(sn),
        "people_lost": store.people.storage_lost_note(sn),
    }
    if as_json:
        print_json(info)
        return
    hidden = {"note", "clock_problem", "clock_problem_at", "clock_warning", *STATUS_COLUMNS}
    facts = [(k, v) for k, v in row.items() if v is not None and k not in hidden]
    for key in ("first_seen", "last_seen", "approved_at", "status_at", "v1_seen_at"):
        facts = [(k, fmt_time(v) if k == key else v) for k, v in facts]
    facts = [(k, ("online" if v else "offline") if k == "online" else v) for k, v in facts]
    if row.get("status_at") is not None:
        facts += [("door", door_label(row)), ("alarm", alarm_label(row) or "none")]
        if row.get("relay_status") is not None:
            facts.append(("relay", RELAY_STATUS.label(row["relay_status"])))
    facts += [("pending_work", info["pending_work"]), ("records", info["records"])]
    if row["clock_warning"]:
        facts.append(("clock", f"{row['clock_warning']} (received {fmt_time(row['clock_problem_at'])})"))
        facts.append(("action", CLOCK_ACTION))
    if note := _protocol_note(row):
        facts.append(("action", note))
    if lost := info["people_lost"]:
        facts.append(("people", f"{fmt_time(lost['at'])}: {lost['note']}"))
    emit(table(f"Device {sn}", ["Field", "Value"], facts))
    if info["setting_changes"]:
        emit(table("Setting changes", ["Key", "Value", "State", "Requested", "Device value"], [
            (c["key"], json.dumps(c["value"], ensure_ascii=False), c["state"], fmt_time(c["requested_at"]),
             "" if c["device_value"] is None else json.dumps(c["device_value"], ensure_ascii=False))
            for c in info["setting_changes"]
        ]))
    if info["settings"] is None:
        console.print("No settings uploaded yet; the device is asked for them at its next keepalive.")
    else:
        console.print(f"Settings: {len(info['settings'])} keys, uploaded {fmt_time(info['settings_uploaded_at'])}"
                      f"; `facectl device get {sn}` lists them.")


def _state_command(name: str, state: str, help_text: str) -> click.Command:
    @click.command(name, help=f"{help_text}\n\n\b\nExample:\n  facectl device {name} FC-8190H24052799")
    @click.argument("sns", nargs=-1, required=True, metavar="SN...")
    @db_option
    def command(sns: tuple[str, ...], db_path: str) -> None:
        store = open_store(db_path)
        sns = tuple(device_sn(store, sn) for sn in sns)
        missing = [sn for sn in sns if not store.devices.set_state(sn, state)]
        for sn in sns:
            if sn not in missing:
                console.print(f"{sn}: {state}")
        if missing:
            fail(f"unknown device(s): {', '.join(missing)}; `facectl device add SN` registers one in advance")

    return command


device.add_command(_state_command(
    "approve", "approved", "Let devices in: they get Success 1 from their next request on."))
device.add_command(_state_command(
    "block", "blocked", "Shut devices out: they get Success 403 and nothing they send is applied."))


@device.command("add")
@click.argument("sns", nargs=-1, required=True, metavar="SN...")
@db_option
def add(sns: tuple[str, ...], db_path: str) -> None:
    """Register and approve devices before they first connect (e.g. from an install sheet).

    \b
    Example:
      facectl device add FC-8190H24052799 FC-8190H25061293
    """
    from facectl.protocol.identity import SnRule

    store = open_store(db_path)
    rule = SnRule()
    for typed in sns:
        sn = device_sn(store, typed)  # a device already known in another case is that device
        if reason := rule.check(sn):
            fail(f"{reason}; serials look like FC-8190H24052799")
        console.print(f"{sn}: {'added (approved)' if store.devices.add(sn) else 'already known'}")


@device.command("forget")
@click.argument("sn")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def forget(sn: str, yes: bool, db_path: str) -> None:
    """Remove a device and its settings; its records stay. If it calls again it is pending.

    \b
    Example:
      facectl device forget FC-8190H24052799 --yes
    """
    store = open_store(db_path)
    sn = require_device(store, sn)["sn"]
    if not yes:
        click.confirm(f"Forget {sn} and its settings?", abort=True)
    store.devices.forget(sn)
    console.print(f"{sn}: forgotten (its records are kept)")


@device.command("get")
@click.argument("sn")
@click.argument("keys", nargs=-1)
@db_option
@json_option
def get(sn: str, keys: tuple[str, ...], db_path: str, as_json: bool) -> None:
    """Settings the device last uploaded (all, or the KEYS named).

    \b
    Examples:
      facectl device get FC-8190H24052799
      facectl device get FC-8190H24052799 Volume DeviceName
    """
    store = open_store(db_path)
    sn = require_device(store, sn)["sn"]
    doc = store.settings.document(sn)
    if doc is None:
        fail(f"{sn} has not uploaded its settings yet; `facectl device refresh {sn}` asks for them")
    unknown = [k for k in keys if k not in doc]
    if unknown:
        fail(f"{sn} reported no setting named {', '.join(unknown)}; `facectl device get {sn}` lists them")
    selected = {k: doc[k] for k in keys} if keys else doc
    pending = store.settings.pending(sn)
    if as_json:
        print_json(selected)
        return
    emit(table(f"Settings of {sn}", ["Key", "Value", "Pending", "Access"], [
        (k, json.dumps(v, ensure_ascii=False), json.dumps(pending[k], ensure_ascii=False) if k in pending else "",
         "read-only" if setting_rules.is_read_only(k) else "")
        for k, v in selected.items()
    ]))


@device.command("set")
@click.argument("sn")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@db_option
def set_(sn: str, assignments: tuple[str, ...], db_path: str) -> None:
    """Queue setting changes; the device fetches them at its next keepalive.

    Keys and types are checked against what the device uploaded: numbers stay
    numbers, JSON values (lists, objects) are written as JSON.

    \b
    Example:
      facectl device set FC-8190H24052799 Volume=3 DeviceName=Lobby ReleaseTime=5
    """
    store = open_store(db_path)
    sn = require_device(store, sn)["sn"]
    doc = store.settings.document(sn)
    if doc is None:
        fail(f"{sn} has not uploaded its settings yet, so its keys are unknown; wait for its next "
             f"keepalive or run `facectl device refresh {sn}`")
    changes: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"{item!r} is not KEY=VALUE", 2)
        value, reason = setting_rules.check_change(doc, key.strip(), raw)
        if reason:
            fail(reason)
        changes[key.strip()] = value
    store.settings.request_change(sn, changes)
    for key, value in changes.items():
        console.print(f"{sn}: {key} = {json.dumps(value, ensure_ascii=False)} queued")
    console.print("Delivered at the device's next keepalive; `facectl device show SN` follows it.")


@device.command("refresh")
@click.argument("sn")
@db_option
def refresh(sn: str, db_path: str) -> None:
    """Ask the device to upload its settings at its next keepalive.

    \b
    Example:
      facectl device refresh FC-8190H24052799
    """
    store = open_store(db_path)
    sn = require_device(store, sn)["sn"]
    store.devices.request_settings(sn)
    console.print(f"{sn}: settings upload requested")
