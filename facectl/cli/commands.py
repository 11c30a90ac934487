"""`facectl commands`: the remote-command queue, and what the door/device/people commands share.

Commands are queued in the database and handed to the device when it next
polls (Keepalive -> `Remote: 1` -> RemoteCommand). The database is the only
channel between the CLI and the server, so `--wait` polls it: a short interval,
bounded by the command's lifetime. A door command that could not be delivered
in time expires instead of firing late (protocol.md 5.5).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import click

from facectl.protocol import commands as command_rules

from .common import (
    console,
    db_option,
    device_sn,
    emit,
    err_console,
    fail,
    fmt_duration,
    fmt_time,
    json_option,
    no_device,
    open_store,
    print_json,
    require_device,
    table,
)
from .tables import KEEP, Column

#: How often `--wait` looks at the database.
POLL_SECONDS = 0.1

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> float:
    """60s, 5m, 24h, 1d, 500ms, or plain seconds -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration like 60s, 5m, 24h")
    seconds = float(m.group(1)) * _UNITS[m.group(2).lower() if m.group(2) else None]
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return seconds


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def ttl_option(default_help: str) -> Callable[..., Any]:
    return click.option("--ttl", type=Duration(), default=None,
                        help=f"Expire if not delivered within this time (60s, 5m, 24h; default {default_help}).")


def wait_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--wait", is_flag=True,
                        help="Block until the device has taken the command or it expired, and say which.")(func)


# --- queueing and waiting ------------------------------------------------------------

def queue(store: Any, sn: str, field: str, value: Any, ttl: float | None) -> dict[str, Any]:
    """Queue one command, warn when it is unlikely to be delivered, print what was queued."""
    from facectl.store.commands import UnknownDevice

    device = require_device(store, sn)
    sn = device["sn"]
    try:
        row = store.commands.enqueue(sn, field, value, ttl)
    except UnknownDevice:  # removed since require_device looked
        fail(no_device(sn))
    except command_rules.CommandError as exc:
        fail(str(exc), 2)
    lifetime = fmt_duration(row["expires_at"] - row["created_at"])
    console.print(f"{sn}: queued #{row['id']} {command_rules.describe(field, row['value'])} (expires in {lifetime})",
                  highlight=False)
    if device["state"] != "approved":
        err_console.print(f"[yellow]warning:[/] {sn} is {device['state']}: it is not served commands until "
                          f"`facectl device approve {sn}`", highlight=False)
    elif not device["online"]:
        err_console.print(f"[yellow]warning:[/] {sn} is offline (last seen {fmt_time(device['last_seen']) or 'never'})"
                          f"; the command waits for its next keepalive", highlight=False)
    return row


def wait(store: Any, ids: list[int], timeout: float | None = None,
         until: Callable[[dict[str, Any]], bool] | None = None) -> dict[int, dict[str, Any]]:
    """Poll until each command is no longer queued (or `until(row)` holds), its expiry, or `timeout`."""
    done = until or (lambda row: row["state"] != "queued")
    started = time.monotonic()
    rows: dict[int, dict[str, Any]] = {}
    while True:
        now = time.time()
        pending = []
        for command_id in ids:
            row = store.commands.get(command_id)
            if row["state"] == "queued" and now >= row["expires_at"]:
                store.commands.expire_due(row["sn"])
                row = store.commands.get(command_id)
            rows[command_id] = row
            if not done(row) and row["state"] not in ("expired", "cancelled", "failed"):
                pending.append(row)
        if not pending:
            return rows
        if timeout is not None and time.monotonic() - started >= timeout:
            return rows
        # Never sleep past the earliest expiry: an expired command is reported promptly.
        next_expiry = min((r["expires_at"] for r in pending if r["state"] == "queued"), default=now + POLL_SECONDS)
        time.sleep(min(POLL_SECONDS, max(0.0, next_expiry - now)) or 0.001)


def outcome(row: dict[str, Any]) -> tuple[bool, str]:
    """(delivered?, a line saying what happened and after how long)."""
    state = row["state"]
    if row.get("sent_at"):
        delay = fmt_duration(row["sent_at"] - row["created_at"])
        if state == "failed":
            return False, f"#{row['id']} delivered after {delay}, then failed: {row.get('note') or ''}"
        return True, f"#{row['id']} delivered after {delay}" + (" (done)" if state == "done" else "")
    if state == "expired":
        return False, (f"#{row['id']} expired after {fmt_duration(row['expires_at'] - row['created_at'])} "
                       "without being delivered (the device did not poll in time)")
    if state == "cancelled":
        return False, f"#{row['id']} cancelled before delivery"
    if state == "failed":
        return False, f"#{row['id']} failed: {row.get('note') or ''}"
    return False, f"#{row['id']} still queued"


def queue_and_report(store: Any, sns: tuple[str, ...], field: str, value: Any, ttl: float | None,
                     wait_for: bool) -> None:
    rows = [queue(store, sn, field, value, ttl) for sn in sns]
    if not wait_for:
        console.print("The device takes it at its next keepalive; `facectl commands list` follows it.")
        return
    results = wait(store, [r["id"] for r in rows])
    failed = False
    for row in rows:
        delivered, line = outcome(results[row["id"]])
        failed |= not delivered
        console.print(f"{row['sn']}: {line}", highlight=False)
    if failed:
        raise SystemExit(1)


#: `commands list` columns; the least useful give way first on a narrow terminal.
LIST_COLUMNS = (
    Column("ID", KEEP, no_wrap=True, justify="right"), Column("SN", 8, no_wrap=True), Column("Command", 9),
    Column("State", 9, no_wrap=True), Column("Queued", 3, no_wrap=True), Column("Sent / ended", 5, no_wrap=True),
    Column("Delay", 2, no_wrap=True), Column("Note", 4),
)


# --- `facectl commands` ----------------------------------------------------------------

@click.group("commands")
def commands() -> None:
    """Follow and cancel queued remote commands.

    \b
    Examples:
      facectl commands list --state queued
      facectl commands list --sn FC-8190H24052799
      facectl commands cancel 42
    """


def _row_view(row: dict[str, Any]) -> dict[str, Any]:
    view = dict(row)
    view["command"] = command_rules.describe(row["field"], row["value"])
    view["delay"] = (row["sent_at"] - row["created_at"]) if row.get("sent_at") else None
    return view


@commands.command("list")
@click.option("--sn", help="Only this device.")
@click.option("--state", type=click.Choice(["queued", "sent", "done", "expired", "cancelled", "failed"]),
              help="Only commands in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@db_option
@json_option
def list_commands(sn: str | None, state: str | None, limit: int, db_path: str, as_json: bool) -> None:
    """Newest first: what was asked, its state, and when it was queued, sent or finished.

    \b
    Examples:
      facectl commands list --state queued
      facectl commands list --sn FC-8190H24052799 --limit 10
    """
    store = open_store(db_path)
    sn = device_sn(store, sn) if sn else None
    rows = [_row_view(r) for r in store.commands.list(sn=sn, state=state, limit=limit)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No commands match.")
        return
    emit(table(None, LIST_COLUMNS, [
        (r["id"], r["sn"], r["command"], r["state"], fmt_time(r["created_at"]),
         fmt_time(r["sent_at"] or r["finished_at"] or r["expires_at"]) if r["state"] != "queued"
         else f"expires {fmt_time(r['expires_at'])}",
         fmt_duration(r["delay"]), r["note"] or "")
        for r in rows
    ]))


@commands.command("show")
@click.argument("command_id", type=int, metavar="ID")
@db_option
@json_option
def show_command(command_id: int, db_path: str, as_json: bool) -> None:
    """One command with the device calls that answered it (snapshot, enrolment result, people).

    \b
    Example:
      facectl commands show 42
    """
    store = open_store(db_path)
    store.commands.expire_due()
    row = store.commands.get(command_id)
    if row is None:
        fail(f"no command #{command_id}; `facectl commands list` shows them")
    view = _row_view(row)
    view["followups"] = store.commands.followups(command_id)
    if as_json:
        print_json(view)
        return
    facts = [(k, view[k]) for k in ("id", "sn", "command", "field", "state", "batch", "note") if view.get(k)]
    for key in ("created_at", "expires_at", "sent_at", "finished_at"):
        if view.get(key):
            facts.append((key, fmt_time(view[key])))
    if view["delay"] is not None:
        facts.append(("delay", fmt_duration(view["delay"])))
    emit(table(f"Command #{command_id}", ["Field", "Value"], facts))
    if view["followups"]:
        emit(table("Answered by", ["Time", "Call", "Detail"], [
            (fmt_time(f["at"]), f["endpoint"], ", ".join(f"{k}={v}" for k, v in f["detail"].items()
                                                        if k != "UserDetail"))
            for f in view["followups"]
        ]))


@commands.command("cancel")
@click.argument("command_ids", nargs=-1, required=True, type=int, metavar="ID...")
@db_option
def cancel_command(command_ids: tuple[int, ...], db_path: str) -> None:
    """Cancel queued commands; a command already sent cannot be called back.

    \b
    Example:
      facectl commands cancel 42 43
    """
    store = open_store(db_path)
    problems = []
    for command_id in command_ids:
        ok, state = store.commands.cancel(command_id)
        if ok:
            console.print(f"#{command_id}: cancelled")
        elif state is None:
            problems.append(f"#{command_id} does not exist")
        else:
            problems.append(f"#{command_id} is {state}, not queued: it cannot be cancelled")
    if problems:
        fail("; ".join(problems) + "; `facectl commands list --state queued` shows what can be cancelled")
