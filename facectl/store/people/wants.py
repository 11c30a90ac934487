"""Which devices should hold which version of each person (`want`), and what a device's own word does to `have`.

- **Versions** come from one counter (`people_seq`), one value per write transaction. A
  version only has to grow for each person; a global counter also keeps it growing when a
  user id is deleted and added again, so a deleted person needs no tombstone row.
- **Scope**: a person goes to every *approved* device (scope_all) or to the listed devices
  (in any state; they receive people once approved). People for all devices have rows
  only up to each device's cursor; above it they are wanted without a row (implicit.py).
  A device approved after people were added is reconciled at its first keepalive: the
  AddPeople check notices that the device's `approved_at` differs from the one its wants
  were computed for.

A device's own report about a known person (PushPeople, an enrolment) sets `have`: to 0
where it was NULL when the device holds the person (a version the server did not send,
so the next page sends the wanted one, or the person is deleted if the device must not
hold them), to NULL when it does not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..db import transaction
from .context import PeopleContext
from .implicit import ABOVE, Implicit

#: A person's scope: every approved device.
ALL = "all"

#: Set with every new `want`: automatic retries belong to the version that failed.
_NEW_WANT = "retry_at = NULL, retries = 0"


class Wants:
    """Keeps `want` of every (device, person) row equal to what the people, their versions and scopes say.

    Rows of people for all devices exist up to each device's cursor only (implicit.py):
    above it, an approved device's wants are implicit and nothing here writes them.
    """

    def __init__(self, ctx: PeopleContext, implicit: Implicit) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.implicit = implicit

    def reconcile_device(self, sn: str) -> None:
        """Recompute the device's wants from every person's scope (newly approved devices, `sync`).

        People for all devices up to the cursor get rows; above it they stay implicit (a
        newly approved device is handed everyone by its pages). A row above the cursor (the
        device held people while not approved) first catches the device up (implicit.py).
        """
        with transaction(self.db):
            state = self.db.execute("SELECT state, approved_at FROM devices WHERE sn = ?", [sn]).fetchone()
            approved = bool(state and state[0] == "approved")
            self.ctx.ensure_sync_row(sn)
            if approved and self.db.execute(
                    "SELECT EXISTS (SELECT 1 FROM device_people x JOIN people p ON p.user_id = x.user_id "
                    f"JOIN people_sync s ON s.sn = x.sn WHERE x.sn = ? AND {ABOVE})", [sn]).fetchone()[0]:
                self.implicit.catch_up(sn)
            desired = (
                "WITH desired(user_id, version) AS ("
                "SELECT p.user_id, p.version FROM people p JOIN people_sync s ON s.sn = :sn "
                f"WHERE p.scope_all = 1 AND :approved AND NOT ({ABOVE}) "
                "UNION ALL SELECT p.user_id, p.version FROM person_devices s JOIN people p "
                "ON p.user_id = s.user_id WHERE s.sn = :sn AND p.scope_all = 0) "
            )
            args = {"sn": sn, "approved": int(approved)}
            self.db.execute(desired + "UPDATE device_people SET want = NULL, " + _NEW_WANT + " WHERE sn = :sn "
                            "AND want IS NOT NULL AND user_id NOT IN (SELECT user_id FROM desired)", args)
            self.db.execute(desired + "INSERT INTO device_people (sn, user_id, want) "
                            "SELECT :sn, user_id, version FROM desired WHERE true "
                            "ON CONFLICT (sn, user_id) DO UPDATE SET want = excluded.want, " + _NEW_WANT
                            + " WHERE device_people.want IS NOT excluded.want", args)
            self.db.execute("DELETE FROM device_people WHERE sn = ? AND want IS NULL AND have IS NULL "
                            "AND inflight IS NULL", [sn])
            self.db.execute("UPDATE people_sync SET approved_at = ? WHERE sn = ?",
                            [state[1] if approved else None, sn])

    def next_version(self) -> int:
        """A new version for the people of this write transaction (module docstring, Versions)."""
        return self.db.execute("UPDATE people_seq SET value = value + 1 WHERE id = 1 RETURNING value").fetchone()[0]

    def bump(self, user_ids: list[int], t: float) -> None:
        """A new version for people changed by a device report; their wants follow."""
        version = self.next_version()
        js = json.dumps(user_ids)
        self.db.execute("UPDATE people SET version = ?, updated_at = ? WHERE user_id IN "
                        "(SELECT value FROM json_each(?))", [version, t, js])
        self.apply_scope(user_ids)

    def apply_scope(self, user_ids: Sequence[int]) -> None:
        """Make `want` of every (device, person) row for these people match their scope and version.

        People for all devices get rows only on approved devices whose cursor has passed
        them (implicit.py): adding people for everyone writes no row at all. A device that
        has a row for one of them above its cursor (it reported holding a person added
        now, or the scope was widened to all) is caught up first.
        """
        if not user_ids:
            return
        args = {"ids": json.dumps(list(user_ids))}
        for (sn,) in self.db.execute(
                "SELECT DISTINCT x.sn FROM device_people x JOIN people p ON p.user_id = x.user_id "
                "JOIN devices d ON d.sn = x.sn AND d.state = 'approved' LEFT JOIN people_sync s ON s.sn = x.sn "
                f"WHERE x.user_id IN (SELECT value FROM json_each(:ids)) AND {ABOVE}", args).fetchall():
            self.implicit.catch_up(sn)
        # Devices whose cursor may have passed one of these people: none when they are all new.
        args["sns"] = json.dumps([r[0] for r in self.db.execute(
            "SELECT s.sn FROM people_sync s JOIN devices d ON d.sn = s.sn AND d.state = 'approved' "
            "WHERE s.through >= (SELECT min(since) FROM people WHERE scope_all = 1 "
            "AND user_id IN (SELECT value FROM json_each(:ids)))", args)])
        desired = (
            "WITH ids(user_id) AS (SELECT value FROM json_each(:ids)), "
            "desired(sn, user_id, version) AS ("
            "SELECT s.sn, p.user_id, p.version FROM ids JOIN people p ON p.user_id = ids.user_id "
            "JOIN people_sync s ON s.sn IN (SELECT value FROM json_each(:sns)) "
            f"WHERE p.scope_all = 1 AND NOT ({ABOVE}) "
            "UNION ALL SELECT s.sn, p.user_id, p.version FROM ids JOIN people p ON p.user_id = ids.user_id "
            "JOIN person_devices s ON s.user_id = p.user_id WHERE p.scope_all = 0) "
        )
        self.db.execute(
            desired + "UPDATE device_people SET want = NULL, " + _NEW_WANT + " WHERE user_id IN "
            "(SELECT user_id FROM ids) AND want IS NOT NULL AND NOT EXISTS (SELECT 1 FROM desired x "
            "WHERE x.sn = device_people.sn AND x.user_id = device_people.user_id)", args)
        self.db.execute(
            desired + "INSERT INTO device_people (sn, user_id, want) SELECT sn, user_id, version FROM desired "
            "WHERE true ORDER BY sn, user_id "
            "ON CONFLICT (sn, user_id) DO UPDATE SET want = excluded.want, " + _NEW_WANT
            + " WHERE device_people.want IS NOT excluded.want", args)
        self.db.execute(
            "DELETE FROM device_people INDEXED BY device_people_unneeded "
            "WHERE user_id IN (SELECT value FROM json_each(:ids)) "
            "AND want IS NULL AND have IS NULL AND inflight IS NULL", args)

    def note_holding(self, sn: str, uid: int, present: bool, known: bool) -> None:
        """A device's report that it holds (or not) a person updates `have` for known people only."""
        if present:
            if not known:
                return
            cur = self.db.execute("UPDATE device_people SET have = 0 WHERE sn = ? AND user_id = ? AND have IS NULL",
                                  [sn, uid])
            if cur.rowcount == 0 and self.db.execute(
                    "SELECT 1 FROM device_people WHERE sn = ? AND user_id = ?", [sn, uid]).fetchone() is None:
                self.db.execute("INSERT INTO device_people (sn, user_id, want, have) VALUES (?, ?, NULL, 0)",
                                [sn, uid])
                self.apply_scope([uid])
        else:
            self.db.execute("UPDATE device_people SET have = NULL WHERE sn = ? AND user_id = ?", [sn, uid])
            self.db.execute("DELETE FROM device_people WHERE sn = ? AND user_id = ? AND want IS NULL "
                            "AND have IS NULL AND inflight IS NULL", [sn, uid])
