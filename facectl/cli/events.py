"""`facectl events`: the event outbox (what `serve --event-webhook` delivers), read from the database."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

import click

from facectl.store.events import TYPES

from .common import console, db_option, device_sn, emit, fail, fmt_time, open_store, print_json, table, wide_option

#: How often `events follow` looks for new rows: one indexed query, cheap next to a keepalive.
FOLLOW_POLL_SECONDS = 0.5
_TYPE_HELP = "Only this type, or a family: record, device, alarm, person (" + ", ".join(TYPES) + ")."


@click.group()
def events() -> None:
    """Events for other systems: records, devices online/offline, alarms, refused people.

    \b
    Examples:
      facectl events list --type record --limit 20
      facectl events follow --json | my-attendance-importer     # live, one JSON object a line
      facectl events status                                     # how far the webhook has got
      facectl events prune --older-than 30                      # delivered events older than 30 days
    """


def _check_type(value: str | None) -> None:
    if value is None:
        return
    families = {t.split(".", 1)[0] for t in TYPES}
    if value not in TYPES and value not in families:
        fail(f"--type {value!r} is not an event type; use one of {', '.join(sorted(families))} "
             f"or {', '.join(TYPES)}", 2)


def summary(event: dict[str, Any]) -> str:
    """One readable line of an event's fields (the table's last column, `follow` without --json)."""
    kind = event["type"]
    if kind.startswith("record."):
        parts = [f"#{event['record_id']} type {event['record_type']}"]
        if event.get("user_id"):
            parts.append(f"{event['user_id']} {event.get('name') or ''}".strip())
        if event.get("outcome"):
            parts.append(event["outcome"])
        return ", ".join(parts)
    if kind.startswith("alarm."):
        return event["label"]
    if kind == "person.refused":
        return f"{event['user_id']} {event.get('name') or ''}: {event.get('error') or event.get('code')}"
    return f"last contact {event.get('last_seen') or 'never'}"


@events.command("list")
@click.option("--since-id", type=click.IntRange(0), help="Events after this id, oldest first "
              "(default: the newest --limit).")
@click.option("--type", "event_type", metavar="T", help=_TYPE_HELP)
@click.option("--sn", help="Only this device.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts (the webhook's event objects).")
@wide_option
@db_option
def list_events(since_id: int | None, event_type: str | None, sn: str | None, limit: int, as_json: bool,
                wide: bool, db_path: str) -> None:
    """Stored events, oldest first.

    \b
    Examples:
      facectl events list
      facectl events list --type alarm --sn FC-8190H24052799
      facectl events list --since-id 1200 --json
    """
    _check_type(event_type)
    store = open_store(db_path)
    sn = device_sn(store, sn) if sn else None
    rows = store.events.after(since_id or 0, limit, [event_type] if event_type else (), sn,
                              newest=since_id is None)
    if as_json:
        print_json(rows)
    elif not rows:
        console.print("No events match.")
    else:
        emit(table(None, ["ID", "Time", "Type", "SN", "What"], [
            (e["id"], fmt_time(_unix(e["time"])), e["type"], e["sn"] or "", summary(e)) for e in rows],
            wide=wide), wide=wide)


@events.command("follow")
@click.option("--since-id", type=click.IntRange(0),
              help="Start after this id (resume where a reader stopped); default: only new events.")
@click.option("--type", "event_type", metavar="T", help=_TYPE_HELP)
@click.option("--sn", help="Only this device.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, for piping into a program.")
@db_option
def follow(since_id: int | None, event_type: str | None, sn: str | None, as_json: bool, db_path: str) -> None:
    """Print events as they are stored, until Ctrl-C (exit 0).

    A reader that keeps the last id it handled resumes with --since-id after a
    restart and misses nothing (ids only grow).

    \b
    Examples:
      facectl events follow
      facectl events follow --json --since-id 1200 | my-importer
    """
    _check_type(event_type)
    store = open_store(db_path)
    sn = device_sn(store, sn) if sn else None
    after = store.events.last_id() if since_id is None else since_id
    types = [event_type] if event_type else ()
    try:
        while True:
            batch = store.events.after(after, 500)
            for event in batch:
                after = event["id"]
                if types and not any(event["type"] == t or event["type"].startswith(t + ".") for t in types):
                    continue
                if sn and (event["sn"] or "").upper() != sn.upper():
                    continue
                if as_json:
                    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
                else:
                    sys.stdout.write(f"{event['id']} {fmt_time(_unix(event['time']))} {event['type']} "
                                     f"{event['sn'] or ''} {summary(event)}\n")
            if batch:
                sys.stdout.flush()
            else:
                time.sleep(FOLLOW_POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # the reading program went away: nothing more to say
        sys.stderr.close()


@events.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@db_option
def status(as_json: bool, db_path: str) -> None:
    """The webhook receiver, its backlog, the last event it took and the last error.

    \b
    Example:
      facectl events status
    """
    store = open_store(db_path)
    cursor = store.events.cursor()
    last = store.events.last_id()
    delivered = cursor["delivered_id"] if cursor else 0
    info = {
        "receiver": cursor["url"] if cursor else None,
        "last_event": last,
        "delivered_id": delivered if cursor else None,
        "backlog": store.events.count_after(delivered) if cursor else None,
        "delivered_at": cursor["delivered_at"] if cursor else None,
        "skipped": cursor["skipped"] if cursor else 0,
        "last_error": cursor["last_error"] if cursor else None,
        "last_error_at": cursor["last_error_at"] if cursor else None,
    }
    if as_json:
        print_json(info)
        return
    if cursor is None:
        console.print(f"No webhook receiver yet (start `facectl serve --event-webhook URL`); "
                      f"{last} events stored, `facectl events list` shows them.")
        return
    failing = cursor["last_error_at"] and (cursor["delivered_at"] or 0) < cursor["last_error_at"]
    view = table(None, ["", ""], [
        ("receiver", info["receiver"]),
        ("backlog", f"{info['backlog']} events" + (" (failing, retrying)" if failing else "")),
        ("delivered up to", f"event {delivered} of {last}" + (f", at {fmt_time(info['delivered_at'])}"
                                                                 if info["delivered_at"] else "")),
        ("skipped (refused 4xx)", info["skipped"]),
        ("last error", f"{fmt_time(info['last_error_at'])}: {info['last_error']}" if info["last_error"] else "none"),
    ])
    view.show_header = False
    emit(view)


@events.command("prune")
@click.option("--older-than", "days", required=True, type=click.FloatRange(0), metavar="DAYS",
              help="Delete events stored more than DAYS days ago (never ones the receiver has not taken).")
@click.option("--include-undelivered", is_flag=True,
              help="Also events the webhook receiver has not taken (when the webhook is retired).")
@db_option
def prune(days: float, include_undelivered: bool, db_path: str) -> None:
    """Delete old events the webhook receiver already has.

    Events are copies: the records they describe stay until `records prune` removes them.

    \b
    Examples:
      facectl events prune --older-than 30
      facectl events prune --older-than 30 --include-undelivered   # the webhook is no longer used
    """
    store = open_store(db_path)
    removed = store.events.prune(time.time() - days * 86400, include_undelivered)
    console.print(f"deleted {removed} events older than {days:g} days")


def _unix(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
