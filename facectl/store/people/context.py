"""What every part of the people store shares: the connection, the files, the clock, the delivery knobs.

The people store is small classes composed around one `PeopleContext` (the package's
__init__ builds them): each part takes the context and, explicitly, the few other parts
it calls, so what a part depends on is in its constructor. The knobs are read from the
context at each call, so what `facectl serve` and the tests set on `store.people` (a
facade forwarding to the context) reaches every part.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from facectl.protocol import people as people_rules

from ..files import Files

#: Wire name -> column of `people`.
COLS = people_rules.COLUMNS


@dataclass(slots=True)
class PeopleContext:
    """The connection, the files, the clock and the delivery settings every part reads; rows by key."""

    db: sqlite_utils.Database
    files: Files
    #: Seconds before an in-flight person is handed out again (tests set it small).
    redelivery_timeout: float
    #: Seconds before the first automatic retry of a transient failure (tests set it small).
    retry_delay: float
    #: Automatic retries of a transient failure; 0 (protocol.md 5.3): it waits for a change or `people sync`.
    retry_limit: int = 0
    #: Seconds since the epoch, as every part reads the time.
    clock: Callable[[], float] = time.time

    def now(self) -> float:
        return self.clock()

    def row(self, uid: int) -> dict[str, Any] | None:
        """The `people` row of a user id, None when unknown."""
        rows = list(self.db.query("SELECT * FROM people WHERE user_id = ?", [uid]))
        return rows[0] if rows else None

    def scope_devices(self, uid: int) -> list[str]:
        """The devices a person is limited to (empty when the scope is every approved device)."""
        return [r[0] for r in self.db.execute("SELECT sn FROM person_devices WHERE user_id = ? ORDER BY sn", [uid])]

    def ensure_sync_row(self, sn: str) -> dict[str, Any]:
        """The device's `people_sync` row (page numbers, file mode, DeleteAll, reset), made when missing."""
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
