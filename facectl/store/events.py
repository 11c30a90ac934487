"""The event outbox: what happened, in order, written in the same transaction as its cause.

Other systems (attendance, visitors, alarm panels) learn what happened from this
table: `facectl serve --event-webhook` delivers it (server/event_delivery.py),
`facectl events list|follow` reads it. Every event is inserted inside the
transaction that stores its cause, so a crash keeps both or neither, and a cause
stored once (a record a device sends again is not stored again) makes one event.
The ids only grow (AUTOINCREMENT: never reused, even after a prune removed the
newest rows), so "everything after id N" is a complete, resumable cursor.

This module is the one definition of the event schema: `TYPES` names every type
and its fields, and `to_json` is the one shape every reader sees (webhook body,
`events list --json`, `events follow`). docs/events.md writes it down.

Online and offline: a device is *online* from its first contact as an approved
device; the server's sweep (`sweep`, every few seconds) marks it *offline* once its
last contact is older than the rule every view uses (`devices.is_online`: two
keepalive intervals plus slack). The state is kept in `event_presence`, so a
restart neither repeats nor loses a change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from facectl.protocol.codes import ALARMS, AUTH_RESULTS, PEOPLE_ERROR_CODES
from facectl.protocol.outcomes import record_outcome
from facectl.protocol.record_columns import EVENT_FIELDS
from facectl.protocol.records import Record

from . import devices
from .db import transaction

#: Every event type, with the fields its JSON carries besides id, type, sn and time.
TYPES: dict[str, tuple[str, ...]] = {
    "record.identify": ("record_id", "record_type", "record_date", *EVENT_FIELDS, "outcome", "photo_sha256",
                        "photo"),
    "record.auth": ("record_id", "record_type", "record_date", *EVENT_FIELDS, "outcome", "decision",
                    "decision_label", "reason", "photo_sha256", "photo"),
    "record.door": ("record_id", "record_type", "record_date"),
    "record.system": ("record_id", "record_type", "record_date"),
    "device.online": ("last_seen",),
    "device.offline": ("last_seen", "keepalive_interval"),
    "alarm.raised": ("alarm", "label"),
    "alarm.cleared": ("alarm", "label"),
    "person.refused": ("user_id", "name", "code", "error", "message", "repeat_id"),
}


def matches_type(event_type: str, wanted: str) -> bool:
    """`--type record` selects record.identify, record.auth, …; `--type record.door` only that one."""
    return event_type == wanted or event_type.startswith(wanted + ".")


class Events:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    # --- reading ---------------------------------------------------------------------------

    def after(self, since_id: int = 0, limit: int = 100, types: Sequence[str] = (),
              sn: str | None = None, newest: bool = False) -> list[dict[str, Any]]:
        """Events with id > since_id, oldest first, as `to_json` shapes them (photo URL left out).

        `newest`: the last `limit` of them rather than the first (still printed oldest first).
        """
        where, args = ["id > ?"], [since_id]
        if sn is not None:
            where.append("sn = ? COLLATE NOCASE")
            args.append(sn)
        if types:
            where.append("(" + " OR ".join("type = ? OR type LIKE ?" for _ in types) + ")")
            for t in types:
                args += [t, t + ".%"]
        rows = self.db.execute(f"SELECT id, type, sn, at, data FROM events WHERE {' AND '.join(where)} "
                               f"ORDER BY id {'DESC' if newest else ''} LIMIT ?", [*args, limit]).fetchall()
        return [to_json(*row) for row in sorted(rows)]

    def last_id(self) -> int:
        return self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]

    def count_after(self, since_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM events WHERE id > ?", [since_id]).fetchone()[0]

    # --- delivery cursor -------------------------------------------------------------------

    def cursor(self, receiver: str = "webhook") -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM event_delivery WHERE receiver = ?", [receiver]))
        return rows[0] if rows else None

    def set_receiver(self, url: str, receiver: str = "webhook") -> dict[str, Any]:
        """Register the receiver; a first one starts at the oldest event kept, so it gets the history."""
        self.db.execute("INSERT INTO event_delivery (receiver, url) VALUES (?, ?) "
                        "ON CONFLICT(receiver) DO UPDATE SET url = excluded.url", [receiver, url])
        return self.cursor(receiver) or {}

    def delivered(self, up_to: int, skipped: int = 0, error: str | None = None,
                  receiver: str = "webhook") -> None:
        """Move the cursor past `up_to` (never backwards); `skipped` counts a batch given up on (a 4xx)."""
        self.db.execute(
            "UPDATE event_delivery SET delivered_id = max(delivered_id, ?), delivered_at = ?, "
            "skipped = skipped + ?, last_error = coalesce(?, last_error), "
            "last_error_at = CASE WHEN ? IS NULL THEN last_error_at ELSE ? END WHERE receiver = ?",
            [up_to, time.time(), skipped, error, error, time.time(), receiver])

    def failed(self, error: str, receiver: str = "webhook") -> None:
        self.db.execute("UPDATE event_delivery SET last_error = ?, last_error_at = ? WHERE receiver = ?",
                        [error, time.time(), receiver])

    # --- retention -------------------------------------------------------------------------

    def prune(self, older_than: float, undelivered: bool = False, receiver: str = "webhook") -> int:
        """Delete events stored before `older_than` (unix s) that the receiver already has, if one is set.

        `undelivered`: those it has not taken too (a webhook that was retired would keep them for ever).
        """
        cursor = None if undelivered else self.cursor(receiver)
        limit = cursor["delivered_id"] if cursor is not None else None
        with transaction(self.db):
            return self.db.execute(
                "DELETE FROM events WHERE at < ? AND (? IS NULL OR id <= ?)", [older_than, limit, limit]
            ).rowcount

    # --- the offline sweep -----------------------------------------------------------------

    def sweep(self, at: float | None = None) -> int:
        """Mark offline every device the online rule no longer holds for; returns how many (module docstring)."""
        t = time.time() if at is None else at
        rows = self.db.execute(
            "SELECT p.sn, d.state, d.last_seen, d.keepalive_interval FROM event_presence p "
            "LEFT JOIN devices d ON d.sn = p.sn WHERE p.online = 1").fetchall()
        gone = 0
        for sn, state, last_seen, interval in rows:
            if state == devices.APPROVED and devices.is_online(last_seen, interval, t):
                continue
            with transaction(self.db):
                # A contact may have arrived since the SELECT: check again inside the write lock.
                again = self.db.execute(
                    "SELECT d.state, d.last_seen FROM event_presence p LEFT JOIN devices d ON d.sn = p.sn "
                    "WHERE p.sn = ? AND p.online = 1", [sn]).fetchone()
                if again is None or (again[0] == devices.APPROVED and devices.is_online(again[1], interval, t)):
                    continue
                self.db.execute("UPDATE event_presence SET online = 0, changed_at = ? WHERE sn = ?", [t, sn])
                emit(self.db, "device.offline", sn, {"last_seen": _iso(last_seen),
                                                     "keepalive_interval": interval}, t)
                gone += 1
        return gone


# --- emitting (called by the store code that stores the cause, inside its transaction) ------

def emit(db: sqlite_utils.Database, event_type: str, sn: str | None, fields: dict[str, Any],
         at: float | None = None) -> None:
    if event_type not in TYPES:
        raise ValueError(f"unknown event type {event_type}")
    db.execute("INSERT INTO events (type, sn, at, data) VALUES (?, ?, ?, ?)",
               [event_type, sn, time.time() if at is None else at,
                json.dumps(fields, ensure_ascii=False, default=str)])


def record_stored(db: sqlite_utils.Database, sn: str, record: Record, photo: str | None,
                  decision: int | None, reason: str | None, at: float) -> None:
    """A new record (not a device's retry): one event with the person's name and the outcome."""
    fields: dict[str, Any] = {"record_id": record.record_id, "record_type": record.record_type,
                              "record_date": record.record_date}
    if record.kind in ("identify", "auth"):
        # the fields marked `event` in protocol/record_columns.py; the rest, and the detail, stay in `records`
        fields.update({c: record.fields.get(c) for c in EVENT_FIELDS})
        if not fields["name"] and fields["user_id"]:
            fields["name"] = _person_name(db, fields["user_id"])
        fields["outcome"] = record_outcome(record.kind, record.record_type, decision)
        fields["photo_sha256"] = photo
        if record.kind == "auth":
            fields.update(decision=decision, reason=reason,
                          decision_label=AUTH_RESULTS.label(decision) if decision is not None else None)
    emit(db, f"record.{record.kind}", sn, fields, at)


def device_seen(db: sqlite_utils.Database, sn: str, at: float) -> None:
    """An approved device called: device.online when it was not online (cheap read when it was)."""
    row = db.execute("SELECT online FROM event_presence WHERE sn = ?", [sn]).fetchone()
    if row is not None and row[0] == 1:
        return
    with transaction(db):
        changed = db.execute(
            "INSERT INTO event_presence (sn, online, changed_at) VALUES (?, 1, ?) "
            "ON CONFLICT(sn) DO UPDATE SET online = 1, changed_at = excluded.changed_at WHERE online = 0 "
            "RETURNING sn", [sn, at]).fetchone()
        if changed is not None:
            emit(db, "device.online", sn, {"last_seen": _iso(at)}, at)


def alarms_reported(db: sqlite_utils.Database, sn: str, alarms: Iterable[str], at: float) -> None:
    """A keepalive's AlarmStatus: alarm.raised for each new name, alarm.cleared for each gone one."""
    now_set = sorted(set(alarms))
    row = db.execute("SELECT alarms FROM event_presence WHERE sn = ?", [sn]).fetchone()
    before = json.loads(row[0]) if row is not None and row[0] else []
    if row is not None and before == now_set:
        return
    with transaction(db):
        db.execute("INSERT INTO event_presence (sn, online, alarms, changed_at) VALUES (?, 0, ?, ?) "
                   "ON CONFLICT(sn) DO UPDATE SET alarms = excluded.alarms",
                   [sn, json.dumps(now_set), at])
        for name in now_set:
            if name not in before:
                emit(db, "alarm.raised", sn, {"alarm": name, "label": ALARMS.label(name)}, at)
        for name in before:
            if name not in now_set:
                emit(db, "alarm.cleared", sn, {"alarm": name, "label": ALARMS.label(name)}, at)


def people_refused(db: sqlite_utils.Database, sn: str, failures: Sequence[Any], at: float) -> None:
    """DownloadPeopleListResult failures of people handed out and not yet answered for: one event each.

    Called before the result is applied: a device sending the same result again finds
    them no longer in flight, so a failure reported twice makes one event.
    """
    for f in failures:
        row = db.execute(
            "SELECT p.name FROM device_people d LEFT JOIN people p ON p.user_id = d.user_id "
            "WHERE d.sn = ? AND d.user_id = ? AND d.inflight > 0", [sn, f.user_id]).fetchone()
        if row is None:
            continue
        emit(db, "person.refused", sn, {
            "user_id": f.user_id, "name": row[0], "code": f.code,
            "error": PEOPLE_ERROR_CODES.label(f.code) if f.code is not None else None,
            "message": f.message or None, "repeat_id": f.repeat_id}, at)


def to_json(event_id: int, event_type: str, sn: str | None, at: float, data: str) -> dict[str, Any]:
    """The one outward shape of an event (docs/events.md): id, type, sn, time, then the type's fields."""
    event = {"id": event_id, "type": event_type, "sn": sn, "time": _iso(at), **json.loads(data)}
    if "photo_sha256" in event:
        event["photo"] = None  # a signed URL, filled in by the webhook delivery (it knows the server's address)
    return event


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _person_name(db: sqlite_utils.Database, user_id: str) -> str | None:
    if not str(user_id).isdigit():
        return None
    row = db.execute("SELECT name FROM people WHERE user_id = ?", [int(user_id)]).fetchone()
    return row[0] if row else None
