"""A device that holds nobody: after a factory reset (Recover), and after DeleteAll (delete_pages.py).

- **After a factory reset**: the document's Recover is "恢复出厂设置", restore the factory
  state; the device then holds no people (its settings: store/__init__.py asks for them).
  The protocol has no acknowledgement for it, so the answer that carries Recover is the
  moment the server acts on (`factory_reset`, called in the transaction that marks the
  command sent): every `have` of the device is cleared, like after DeleteAll, with its
  failures and a waiting DeleteAll, and its own reports are marked not present. Until the
  device's next keepalive (`devices.status_at` later than `reset_at`) no page is handed
  out: a firmware that went on with the flags of the keepalive that led to Recover would
  otherwise confirm people it is about to wipe. If the device ignored the command, the
  resend costs a full sync and loses nothing (every biometric is sent with every person).
  ClearRecord and RepostRecord touch records only: no effect here.
- **After a factory reset at the terminal's own menu**: no command tells the server, but
  the settings the device uploads after it boots say how many people it holds
  (`PeopleStorageInfo.Person.Current`). When that count is less than half of the people
  the server counts as delivered there (`have` set), the device has lost them
  (`storage_lost`): it is treated as holding nobody, as above, but with no wait for
  a keepalive (it has already reset), and the reason is kept in `people_sync.lost_at`
  / `lost_note` for `device show`. Half, because a device that was not reset holds at
  least every person it confirmed (it confirms a page after storing it) plus the
  people enrolled at it, so its count is never below the delivered count; a partial
  loss (some people deleted at the menu) is left to `people push` / `people diff`.
  A count of 0 against 1 delivered person is a reset too. The check cannot fire twice
  for one loss: after it, nothing counts as delivered until the device confirms again.
"""

from __future__ import annotations

from typing import Any

from ..db import transaction
from .context import PeopleContext
from .implicit import Implicit

#: A device that reports holding fewer than delivered / LOST_RATIO people has lost them (module docstring).
LOST_RATIO = 2

#: What a device that holds nobody any more (DeleteAll done, factory reset) has of each row.
_HOLDS_NOBODY = ("have = NULL, have_at = :t, inflight = NULL, inflight_at = 0, fail_version = NULL, "
                 "fail_code = NULL, fail_message = NULL, fail_repeat = NULL, retry_at = NULL, retries = 0")


class FactoryReset:
    """Empties a device's rows, and holds its pages back until it has reset."""

    def __init__(self, ctx: PeopleContext, implicit: Implicit) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.implicit = implicit

    def factory_reset(self, sn: str, at: float | None = None) -> int:
        """A factory reset was handed to the device: it holds nobody now; returns the rows cleared.

        Called by the command store in the transaction that marks Recover sent (module
        docstring, "After a factory reset"): everyone the device should hold is pending
        again, and no page goes out until the device's next keepalive.
        """
        t = self.ctx.now() if at is None else at
        with transaction(self.db):
            cleared = self.holds_nobody(sn, t)
            self.db.execute("UPDATE people_sync SET reset_at = ? WHERE sn = ?", [t, sn])
        return cleared

    def storage_lost(self, sn: str, held: int | None, at: float | None = None) -> str | None:
        """Settings say the device holds `held` people: if far fewer than delivered, send everyone again.

        Returns the note kept for `device show` when it acted (module docstring, "At the
        terminal's own menu"), else None.
        """
        if held is None:
            return None
        t = self.ctx.now() if at is None else at
        with transaction(self.db):
            delivered = self.db.execute("SELECT count(*) FROM device_people WHERE sn = ? AND have IS NOT NULL",
                                        [sn]).fetchone()[0]
            if delivered == 0 or held * LOST_RATIO >= delivered:
                return None
            resend = self.db.execute("SELECT count(*) FROM device_people WHERE sn = ? AND want IS NOT NULL",
                                     [sn]).fetchone()[0] + self.implicit.counts([sn]).get(sn, 0)
            self.holds_nobody(sn, t)
            note = (f"the device reported holding {held} people while {delivered} were delivered to it "
                    f"(factory reset at the terminal?); {resend} are being sent again")
            self.db.execute("UPDATE people_sync SET lost_at = ?, lost_note = ? WHERE sn = ?", [t, note, sn])
        return note

    def storage_lost_note(self, sn: str) -> dict[str, Any] | None:
        """The last time the device was found to have lost its people, and why (for `device show`)."""
        row = self.db.execute("SELECT lost_at, lost_note FROM people_sync WHERE sn = ? AND lost_at IS NOT NULL",
                              [sn]).fetchone()
        return {"at": row[0], "note": row[1]} if row else None

    def holds_nobody(self, sn: str, t: float) -> int:
        """The device is empty (DeleteAll done, factory reset): nothing held, failed or in flight, no DeleteAll due."""
        cleared = self.db.execute(f"UPDATE device_people SET {_HOLDS_NOBODY} WHERE sn = :sn",
                                  {"sn": sn, "t": t}).rowcount
        self.db.execute("DELETE FROM device_people WHERE sn = ? AND want IS NULL", [sn])
        self.ctx.ensure_sync_row(sn)
        self.db.execute("UPDATE people_sync SET wipe = 0, wipe_at = 0 WHERE sn = ?", [sn])
        self.db.execute("UPDATE device_reports SET present = 0, received_at = ? WHERE sn = ? AND present = 1",
                        [t, sn])
        return cleared

    def reset_under_way(self, sn: str, sync: dict[str, Any]) -> bool:
        """Recover was sent and the device has not sent a keepalive since: it has not reset yet."""
        if sync.get("reset_at") is None:
            return False
        row = self.db.execute("SELECT status_at FROM devices WHERE sn = ?", [sn]).fetchone()
        return row is not None and (row[0] or 0) <= sync["reset_at"]
