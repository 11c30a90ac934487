"""Devices: identity, approval state, last contact and the door state they report.

A device is created *pending* on first contact (or *approved* with open
enrollment) and answered 401 until an operator approves it; nothing a pending or
blocked device sends is applied (protocol.md 5.2). Contact is still recorded, so the
operator can see who is knocking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from . import events
from .db import now

PENDING = "pending"
APPROVED = "approved"
BLOCKED = "blocked"
STATES = (PENDING, APPROVED, BLOCKED)

#: Keepalive interval assumed until the device has uploaded its settings (document example: 30 s).
DEFAULT_INTERVAL = 30
#: Keepalive status columns and the wire fields they come from.
STATUS_FIELDS = {
    "RelayStatus": "relay_status",
    "KeepOpenStatus": "keep_open_status",
    "DoorSensorStatus": "door_sensor_status",
    "LockDoorStatus": "lock_door_status",
    "AlarmStatus": "alarm_status",
}
#: Settings-derived columns (see protocol.settings.summary).
SUMMARY_COLUMNS = (
    "firmware", "face_version", "fingerprint_version", "keepalive_interval", "protocol_type",
    "person_capacity", "face_capacity", "card_capacity", "timezone", "device_name",
)


#: How long the fleet views show a device's last implausible RecordDate (protocol.md 8.4).
CLOCK_PROBLEM_SHOWN_SECONDS = 7 * 86_400


@dataclass(slots=True)
class Contact:
    """What the server knows of a device at the moment a request arrives."""

    sn: str
    state: str
    created: bool


def is_online(last_seen: float | None, interval: int | None, at: float | None = None) -> bool:
    """Online while the last contact is within two keepalive intervals plus slack.

    The device must keepalive within its interval (调用流程); one missed beat
    can be a network blip, two are an outage.
    """
    if last_seen is None:
        return False
    interval = interval or DEFAULT_INTERVAL
    return ((at or now()) - last_seen) <= 2 * interval + 5


class Devices:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def contact(self, sn: str, remote_addr: str | None, endpoint: str, open_enrollment: bool) -> Contact:
        """Record that `sn` called `endpoint`; create it on first contact. One statement when known."""
        t = now()
        row = self.db.execute(
            "UPDATE devices SET last_seen = ?, last_endpoint = ?, remote_addr = ? WHERE sn = ? "
            "RETURNING state",
            [t, endpoint, remote_addr, sn],
        ).fetchone()
        if row is not None:
            if row[0] == APPROVED:
                events.device_seen(self.db, sn, t)
            return Contact(sn, row[0], False)
        state = APPROVED if open_enrollment else PENDING
        self.db.execute(
            "INSERT OR IGNORE INTO devices (sn, state, first_seen, last_seen, last_endpoint, "
            "remote_addr, approved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [sn, state, t, t, endpoint, remote_addr, t if state == APPROVED else None],
        )
        current = self.db.execute("SELECT state FROM devices WHERE sn = ?", [sn]).fetchone()
        if current[0] == APPROVED:
            events.device_seen(self.db, sn, t)
        return Contact(sn, current[0], True)

    def record_status(self, sn: str, status: dict[str, Any]) -> None:
        """Store the door state of a keepalive; a v2 keepalive also proves the device speaks v2."""
        columns = {col: status.get(wire) for wire, col in STATUS_FIELDS.items()}
        sets = ", ".join(f"{col} = ?" for col in columns)
        self.db.execute(
            f"UPDATE devices SET {sets}, status_at = ?, protocol = 'v2' WHERE sn = ?",
            [*columns.values(), now(), sn],
        )
        events.alarms_reported(self.db, sn, filter(None, (status.get("AlarmStatus") or "").split(",")), now())

    def touch(self, contacts: dict[str, tuple[float, str, str | None]], status_at: dict[str, float]) -> None:
        """Write buffered last contacts (sn -> last_seen, endpoint, address) and keepalive times
        (sn -> status_at) of many devices; the caller holds the transaction (store/live.py)."""
        self.db.conn.executemany(
            "UPDATE devices SET last_seen = max(coalesce(last_seen, 0), ?), last_endpoint = ?, remote_addr = ? "
            "WHERE sn = ?", [(t, endpoint, addr, sn) for sn, (t, endpoint, addr) in contacts.items()])
        self.db.conn.executemany("UPDATE devices SET status_at = ? WHERE sn = ?",
                                 [(t, sn) for sn, t in status_at.items()])

    def mark_v1(self, sn: str, path: str) -> None:
        self.db.execute(
            "UPDATE devices SET protocol = 'v1', v1_path = ?, v1_seen_at = ? WHERE sn = ?",
            [path, now(), sn],
        )

    def set_summary(self, sn: str, summary: dict[str, Any]) -> None:
        values = [summary.get(col) for col in SUMMARY_COLUMNS]
        sets = ", ".join(f"{col} = ?" for col in SUMMARY_COLUMNS)
        self.db.execute(f"UPDATE devices SET {sets} WHERE sn = ?", [*values, sn])

    def set_state(self, sn: str, state: str) -> bool:
        if state not in STATES:
            raise ValueError(state)
        cur = self.db.execute(
            "UPDATE devices SET state = ?, approved_at = CASE WHEN ? = 'approved' THEN ? "
            "ELSE approved_at END WHERE sn = ?",
            [state, state, now(), sn],
        )
        return cur.rowcount > 0

    def add(self, sn: str, state: str = APPROVED) -> bool:
        """Pre-register a device before it ever connects (e.g. from an install sheet)."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO devices (sn, state, approved_at) VALUES (?, ?, ?)",
            [sn, state, now() if state == APPROVED else None],
        )
        return cur.rowcount > 0

    def forget(self, sn: str) -> bool:
        cur = self.db.execute("DELETE FROM devices WHERE sn = ?", [sn])
        return cur.rowcount > 0

    def request_settings(self, sn: str, wanted: bool = True) -> None:
        self.db.execute("UPDATE devices SET settings_requested = ? WHERE sn = ?", [int(wanted), sn])

    def get(self, sn: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM devices WHERE sn = ?", [sn]))
        return _with_online(rows[0]) if rows else None

    def spelling(self, sn: str) -> str | None:
        """The known serial that `sn` names when compared case-insensitively (an operator types
        fc-8190h24052799 for FC-8190H24052799); the exact one when it exists, None when none or
        several match. Devices themselves are matched exactly: the serial a device sends is its identity."""
        found = [r[0] for r in self.db.execute("SELECT sn FROM devices WHERE sn = ? COLLATE NOCASE", [sn])]
        if sn in found:
            return sn
        return found[0] if len(found) == 1 else None

    def list(self, state: str | None = None) -> list[dict[str, Any]]:
        if state:
            rows = self.db.query("SELECT * FROM devices WHERE state = ? ORDER BY sn", [state])
        else:
            rows = self.db.query("SELECT * FROM devices ORDER BY sn")
        return [_with_online(row) for row in rows]

    def approved_sns(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT sn FROM devices WHERE state = 'approved' ORDER BY sn")]


def _with_online(row: dict[str, Any]) -> dict[str, Any]:
    row["online"] = is_online(row.get("last_seen"), row.get("keepalive_interval"))
    at = row.get("clock_problem_at")
    recent = at is not None and now() - at <= CLOCK_PROBLEM_SHOWN_SECONDS
    row["clock_warning"] = row.get("clock_problem") if recent else None
    return row
