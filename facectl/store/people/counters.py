"""Per-device delivery counters, so `people status` costs one row per device, not one per (device, person).

With 500 devices and 20,000 people `device_people` holds 10,000,000 rows; grouping them
took 15 s. `people_counts` keeps, per device, the rows in each state of state.py, and
triggers on `device_people` keep it exact whatever writes the rows (every write path, the
CLI's and the server's, in the same transaction as the change). What depends on the clock
or is rare is read from small partial indexes at status time instead:

- in flight: rows with `inflight` set (device_people_inflight), compared with the cutoff;
- retrying and the next retry: device_people_retry;
- failure reasons: device_people_failed (below), the failed rows only.

A trigger costs a few µs per changed row; the UPDATE trigger runs only when a row changes
state (a page handed out changes `inflight` only, and does not run it). `sn` and `user_id`
of a row never change. People for all devices above a device's cursor have no row
(implicit.py): status adds them to `wanted` and `pending` (status.py).
"""

from __future__ import annotations

import sqlite_utils

from .state import FAILED

#: (counter column, SQL term over a row's columns with `{r}.` for OLD or NEW).
STATES = {
    "wanted": "{r}.want IS NOT NULL",
    "delivered": "{r}.want IS NOT NULL AND {r}.want IS {r}.have",
    "failed": "{r}.want IS NOT NULL AND {r}.want IS NOT {r}.have AND {r}.fail_version IS {r}.want",
    "pending": "{r}.want IS NOT NULL AND {r}.want IS NOT {r}.have AND {r}.fail_version IS NOT {r}.want",
    "to_delete": "{r}.want IS NULL AND {r}.have IS NOT NULL",
}


def _terms(row: str) -> list[str]:
    return [f"({term.format(r=row)})" for term in STATES.values()]


def insert_trigger() -> str:
    """The trigger that counts a new row (also recreated by a migration that changed it)."""
    names = ", ".join(STATES)
    added = ", ".join(f"{c} = {c} + excluded.{c}" for c in STATES)
    return (f"CREATE TRIGGER people_counts_insert AFTER INSERT ON device_people BEGIN "
            f"INSERT INTO people_counts (sn, rows, {names}) VALUES (NEW.sn, 1, {', '.join(_terms('NEW'))}) "
            f"ON CONFLICT (sn) DO UPDATE SET rows = rows + 1, {added}; END")


def create_counters(db: sqlite_utils.Database) -> None:
    """Create the counters, their triggers and the failed-rows index, and count the rows there are.

    Run by a migration (store/migrations.py), inside its one write transaction, so no
    write of another process falls between the count and the first trigger.
    """
    cols = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in STATES)
    names = ", ".join(STATES)
    new, old = _terms("NEW"), _terms("OLD")
    removed = ", ".join(f"{c} = {c} - {t}" for c, t in zip(STATES, old, strict=True))
    moved = ", ".join(f"{c} = {c} + {n} - {o}" for c, n, o in zip(STATES, new, old, strict=True))
    drop = f"UPDATE people_counts SET rows = rows - 1, {removed} WHERE sn = OLD.sn"
    changed = " OR ".join(f"{n} IS NOT {o}" for n, o in zip(new, old, strict=True))
    statements = [
        f"CREATE TABLE people_counts (sn TEXT PRIMARY KEY, rows INTEGER NOT NULL DEFAULT 0, {cols}) WITHOUT ROWID",
        insert_trigger(),
        f"CREATE TRIGGER people_counts_delete AFTER DELETE ON device_people BEGIN {drop}; END",
        f"CREATE TRIGGER people_counts_update AFTER UPDATE OF want, have, fail_version ON device_people "
        f"WHEN {changed} BEGIN UPDATE people_counts SET {moved} WHERE sn = NEW.sn; END",
        f"CREATE INDEX IF NOT EXISTS device_people_failed ON device_people(sn, fail_code) WHERE {FAILED}",
        f"INSERT INTO people_counts (sn, rows, {names}) SELECT sn, count(*), "
        + ", ".join(f"total({t.format(r='device_people')})" for t in STATES.values())
        + " FROM device_people GROUP BY sn",
    ]
    for sql in statements:  # not executescript: it would commit the open transaction first
        db.execute(sql)
