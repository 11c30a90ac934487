"""People for every device that a device has no row for yet: its wants above its cursor, not written.

With 500 devices, adding 20,000 people for all of them would be 10,000,000 `device_people`
rows (about 65 s of plain SQLite writes on the development machine). Instead a device's
wants for people scoped to all devices are written lazily:

- Each person for all devices has `people.since`: the change (`people_seq`) at which it
  became one (added, or its scope widened to all) times 2**32, plus its user id (a uint32):
  one integer, unique, growing with the change (`since_key`). Later edits keep it (they
  change `version`).
- Each device has a cursor, `people_sync.through`: every person for all devices with
  `since` at or below it has a row for the device (want = the person's version, kept by
  wants.py like any row). Above it there is **no row** for an approved device; each such
  person is wanted by it at the current version, held nowhere, not in flight and not
  failed: pending (implicit). The partial index `people_since` finds them in order: a
  range of one index, which is why the key is one integer and not a pair.
- A page (add_pages.py) takes existing pending rows first, then people above the cursor in
  order; those it hands out become rows (in flight) and the cursor moves past them. So the
  rows of a device are written when it takes them, a page at a time.
- Anything else that needs a row above the cursor (a device's report that it holds such a
  person, a failure reported for one, a scope widened for a device that already has a row)
  first catches the device up (`catch_up`): every person above the cursor gets a row and
  the cursor moves to the end. Rare, and bounded by one device's people.

A cursor only moves forward while the device is approved; what it covers for a device that
is not approved is ignored (wants.py gives such a device no wants for people for all).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from .context import PeopleContext

#: User ids are uint32 (protocol.people.MAX_USER_ID): `since` is change * USER_SPAN + user id.
USER_SPAN = 2**32


def since_key(change: int, user_id: int) -> int:
    """The `since` of a person who becomes one for all devices at `change` (module docstring)."""
    return change * USER_SPAN + user_id


#: A person `p` above the cursor of the device of people_sync row `s` (no row: nothing taken yet).
ABOVE = "p.scope_all = 1 AND p.since > coalesce(s.through, 0)"


class Implicit:
    """Cursors per device over the people for all devices, and the pending people above them."""

    def __init__(self, ctx: PeopleContext) -> None:
        self.ctx = ctx
        self.db = ctx.db

    def cursor(self, sn: str) -> int | None:
        """The device's cursor, None when the device is not approved (it has no implicit wants)."""
        row = self.db.execute(
            "SELECT coalesce(s.through, 0) FROM devices d LEFT JOIN people_sync s ON s.sn = d.sn "
            "WHERE d.sn = ? AND d.state = 'approved'", [sn]).fetchone()
        return row[0] if row else None

    def above(self, sn: str, limit: int = -1) -> list[tuple[int, int, int]]:
        """(user_id, version, since) of the people above the device's cursor, in cursor order."""
        cur = self.cursor(sn)
        if cur is None:
            return []
        return self.db.execute(
            "SELECT user_id, version, since FROM people INDEXED BY people_since WHERE scope_all = 1 "
            "AND since > ? ORDER BY since LIMIT ?", [cur, limit]).fetchall()

    def any_above(self, sn: str) -> bool:
        """Whether the device has an implicit want (the AddPeople check): one indexed probe."""
        return self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM devices d LEFT JOIN people_sync s ON s.sn = d.sn "
            f"JOIN people p INDEXED BY people_since WHERE d.sn = ? AND d.state = 'approved' AND {ABOVE})",
            [sn]).fetchone()[0] == 1

    def holds(self, sn: str, uid: int) -> bool:
        """Whether this person is above this device's cursor (wanted, no row)."""
        cur = self.cursor(sn)
        return cur is not None and self.db.execute(
            "SELECT 1 FROM people WHERE user_id = ? AND scope_all = 1 AND since > ?", [uid, cur]).fetchone() is not None

    def counts(self, sns: Iterable[str] | None = None) -> dict[str, int]:
        """People above the cursor of each approved device (of `sns`, or all): one read of the keys above
        the lowest cursor, then a bisection per device, so 500 devices cost one index range, not 500."""
        cursors = dict(self.db.execute(
            "SELECT d.sn, coalesce(s.through, 0) FROM devices d LEFT JOIN people_sync s ON s.sn = d.sn "
            "WHERE d.state = 'approved'").fetchall())
        if sns is not None:
            wanted = set(sns)
            cursors = {sn: c for sn, c in cursors.items() if sn in wanted}
        if not cursors:
            return {}
        keys = [r[0] for r in self.db.execute(
            "SELECT since FROM people INDEXED BY people_since WHERE scope_all = 1 AND since > ? ORDER BY since",
            [min(cursors.values())])]
        return {sn: len(keys) - bisect.bisect_right(keys, c) for sn, c in cursors.items()}

    def device_counts(self, keys: list[int | None]) -> list[int]:
        """For each `since` of a person for all devices (None: not one): the approved devices below it."""
        cursors = sorted(r[0] for r in self.db.execute(
            "SELECT coalesce(s.through, 0) FROM devices d LEFT JOIN people_sync s ON s.sn = d.sn "
            "WHERE d.state = 'approved'"))
        return [0 if key is None else bisect.bisect_left(cursors, key) for key in keys]

    def devices_above(self, uid: int) -> list[str]:
        """The approved devices for which this person is above the cursor (wanted, no row yet)."""
        return [r[0] for r in self.db.execute(
            "SELECT d.sn FROM people p JOIN devices d ON d.state = 'approved' "
            f"LEFT JOIN people_sync s ON s.sn = d.sn WHERE p.user_id = ? AND {ABOVE} ORDER BY d.sn", [uid])]

    def advance(self, sn: str, since: int) -> None:
        """The device has rows for everyone up to `since`: its cursor moves there."""
        self.ctx.ensure_sync_row(sn)
        self.db.execute("UPDATE people_sync SET through = ? WHERE sn = ?", [since, sn])

    def catch_up(self, sn: str) -> None:
        """Write the device's row for everyone above its cursor, and move the cursor to the end.

        Called inside the caller's transaction after the people rows of that transaction
        are written (a person added later in it would be below the cursor with no row).
        """
        cur = self.cursor(sn)
        if cur is None:
            return
        self.db.execute(
            "INSERT INTO device_people (sn, user_id, want) SELECT ?, user_id, version FROM people "
            "INDEXED BY people_since WHERE scope_all = 1 AND since > ? "
            "ORDER BY user_id ON CONFLICT (sn, user_id) DO UPDATE SET want = excluded.want, retry_at = NULL, "
            "retries = 0 WHERE device_people.want IS NOT excluded.want", [sn, cur])
        change = self.db.execute("SELECT value FROM people_seq WHERE id = 1").fetchone()[0]
        self.advance(sn, since_key(change, USER_SPAN - 1))
