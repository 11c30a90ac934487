"""DeletePeople: user ids handed to a device to delete, DeleteAll, and what their results confirm.

- **Deletion results** confirm the whole page: a device lists what it deleted, and the only
  way a listed person is not deleted is that the device did not hold them, which is the
  goal. Ids in DeleteList outside the page are taken as deleted too.
- **DeleteAll** is sent only when an operator asks (`people sync SN --wipe`), because it also
  removes people the server never knew (enrolled at the device). Its result clears every
  `have` of the device; everyone the device should hold is then delivered again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..db import transaction
from .context import PeopleContext
from .factory_reset import FactoryReset
from .state import PENDING_DELETE


@dataclass(slots=True)
class DeletePage:
    number: int
    user_ids: list[int]
    delete_all: bool = False


class DeletePages:
    """The DeletePeople flag, DeletePeopleList pages and DeletePeopleListResult."""

    def __init__(self, ctx: PeopleContext, reset: FactoryReset) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.reset = reset

    def needs_delete(self, sn: str) -> bool:
        """DeletePeople: someone held who must not be, or a DeleteAll waiting."""
        cutoff = self.ctx.now() - self.ctx.redelivery_timeout
        return bool(self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM device_people WHERE sn = :sn AND " + PENDING_DELETE
            + " AND inflight_at <= :cutoff) OR EXISTS (SELECT 1 FROM people_sync WHERE sn = :sn "
            "AND wipe = 1 AND wipe_at <= :cutoff)",
            {"sn": sn, "cutoff": cutoff},
        ).fetchone()[0])

    def take_delete_page(self, sn: str, limit: int, now: float | None = None) -> DeletePage:
        """The next user ids to delete (one numbered page), or DeleteAll when an operator asked."""
        t = self.ctx.now() if now is None else now
        cutoff = t - self.ctx.redelivery_timeout
        with transaction(self.db):
            sync = self.ctx.ensure_sync_row(sn)
            if self.reset.reset_under_way(sn, sync):
                return DeletePage(0, [])
            if sync["wipe"]:
                if sync["wipe_at"] <= cutoff:
                    self.db.execute("UPDATE people_sync SET wipe_at = ? WHERE sn = ?", [t, sn])
                    return DeletePage(0, [], delete_all=True)
                return DeletePage(0, [])
            ids = [r[0] for r in self.db.execute(
                "SELECT user_id FROM device_people WHERE sn = ? AND " + PENDING_DELETE
                + " AND inflight_at <= ? ORDER BY inflight_at LIMIT ?", [sn, cutoff, limit])]
            if not ids:
                return DeletePage(0, [])
            number = self.db.execute(
                "UPDATE people_sync SET delete_page = delete_page + 1 WHERE sn = ? RETURNING delete_page",
                [sn]).fetchone()[0]
            self.db.execute(
                "UPDATE device_people SET inflight = 0, inflight_at = ?, inflight_page = ? "
                "WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?))", [t, number, sn, json.dumps(ids)])
        return DeletePage(number, ids)

    def delete_result(self, sn: str, delete_all: bool, user_ids: Sequence[int],
                      now: float | None = None) -> dict[str, int]:
        """DeletePeopleListResult: the latest page (and any listed id) is gone; DeleteAll: everyone is."""
        t = self.ctx.now() if now is None else now
        with transaction(self.db):
            sync = self.ctx.ensure_sync_row(sn)
            if delete_all:
                cleared = self.reset.holds_nobody(sn, t)
                self.db.execute("UPDATE people_sync SET last_result_at = ? WHERE sn = ?", [t, sn])
                return {"deleted": cleared}
            ids = json.dumps(list(user_ids))
            gone = [r[0] for r in self.db.execute(
                "UPDATE device_people SET have = NULL, have_at = ?, inflight = NULL, inflight_at = 0 "
                "WHERE sn = ? AND ((inflight = 0 AND inflight_page = ?) "
                "OR user_id IN (SELECT value FROM json_each(?))) RETURNING user_id",
                [t, sn, sync["delete_page"], ids])]
            gone_json = json.dumps(gone)
            self.db.execute(
                "DELETE FROM device_people WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?)) "
                "AND want IS NULL AND have IS NULL", [sn, gone_json])
            self.db.execute(
                "UPDATE device_reports SET present = 0, received_at = ? WHERE sn = ? "
                "AND user_id IN (SELECT value FROM json_each(?))", [t, sn, gone_json])
            self.db.execute("UPDATE people_sync SET last_result_at = ? WHERE sn = ?", [t, sn])
        return {"deleted": len(gone)}
