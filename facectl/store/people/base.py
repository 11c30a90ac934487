"""What every part of People shares: the connection, the delivery knobs, and rows by key.

`People` (the package's __init__) is one class made of one mixin per concern, so
`store.people` stays a single object and every part reads the knobs that `facectl
serve` and the tests set on it. A mixin inherits the mixins whose methods it calls,
so what it depends on is in its class line.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from facectl.protocol import people as people_rules

from ..files import Files

#: Wire name -> column of `people`.
COLS = people_rules.COLUMNS


class PeopleBase:
    """The attributes People.__init__ sets (documented there), and the rows every part reads."""

    db: sqlite_utils.Database
    files: Files
    redelivery_timeout: float
    retry_limit: int
    retry_delay: float

    def _row(self, uid: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM people WHERE user_id = ?", [uid]))
        return rows[0] if rows else None

    def _scope_devices(self, uid: int) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT sn FROM person_devices WHERE user_id = ? ORDER BY sn", [uid])]

    def _ensure_sync_row(self, sn: str) -> dict[str, Any]:
        self.db.execute("INSERT OR IGNORE INTO people_sync (sn) VALUES (?)", [sn])
        return next(iter(self.db.query("SELECT * FROM people_sync WHERE sn = ?", [sn])))


def by_device_and_person(sn: str | None, user_id: int | None) -> tuple[list[str], list[Any]]:
    """WHERE terms and their arguments for the device and the person asked for, if any (reports, enrolments)."""
    where: list[str] = []
    args: list[Any] = []
    if sn:
        where.append("sn = ?")
        args.append(sn)
    if user_id is not None:
        where.append("user_id = ?")
        args.append(user_id)
    return where, args
