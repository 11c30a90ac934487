"""The operator's `people sync` (reconcile now, retry failures, resend, DeleteAll) and file mode.

A sync is the operator asking of protocol.md 5.3: failed people go out again (add_pages.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..db import transaction
from .context import PeopleContext
from .implicit import Implicit
from .state import FAILED, PENDING_DELETE
from .wants import Wants


class Sync:
    """Plans per device, for real or (dry run) in a transaction rolled back."""

    def __init__(self, ctx: PeopleContext, wants: Wants, implicit: Implicit) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.wants = wants
        self.implicit = implicit

    def sync(self, sns: Sequence[str], full: bool = False, wipe: bool = False,
             dry_run: bool = False) -> list[dict[str, Any]]:
        """Reconcile devices with the server; returns each device's plan.

        Every sync recomputes the device's wants from the people and their scopes and
        lets failed people be tried again (the operator asking, protocol.md 5.3). `full`
        re-sends everyone, in flight or delivered; `wipe` first sends DeleteAll. With
        `dry_run` the same work runs inside a transaction that is rolled back, so the
        plan shown is exactly what would happen.
        """
        plans = []
        for sn in sns:
            with self._tx(rollback=dry_run):
                plans.append(self._sync_one(sn, full, wipe))
        return plans

    def _sync_one(self, sn: str, full: bool, wipe: bool) -> dict[str, Any]:
        self.wants.reconcile_device(sn)
        retry = self.db.execute(
            "UPDATE device_people SET fail_version = NULL, retry_at = NULL, retries = 0 WHERE sn = ? "
            "AND want IS NOT NULL AND fail_version IS want AND want IS NOT have", [sn]).rowcount
        resend = 0
        if full:
            resend = self.db.execute(
                "UPDATE device_people SET have = 0, inflight_at = 0 WHERE sn = ? AND want IS NOT NULL "
                "AND have IS want", [sn]).rowcount
            self.db.execute("UPDATE device_people SET inflight_at = 0 WHERE sn = ? AND inflight IS NOT NULL", [sn])
        if wipe:
            self.ctx.ensure_sync_row(sn)
            self.db.execute("UPDATE people_sync SET wipe = 1, wipe_at = 0 WHERE sn = ?", [sn])
        row = self.db.execute(
            f"SELECT total(want IS NOT NULL AND have IS NULL), "
            f"total(want IS NOT NULL AND have IS NOT NULL AND want IS NOT have), "
            f"total({PENDING_DELETE}), total(want IS NOT NULL AND want IS have), "
            f"total({FAILED}) "
            "FROM device_people WHERE sn = ?", [sn]).fetchone()
        above = self.implicit.counts([sn]).get(sn, 0)  # people above the cursor: added by the next pages
        return {"sn": sn, "add": int(row[0]) + above, "update": int(row[1]), "delete": int(row[2]),
                "in_sync": int(row[3]), "failed": int(row[4]), "retry_failed": retry, "resend": resend,
                "wipe": wipe}

    def set_file_mode(self, sns: Sequence[str], inline: bool) -> None:
        """Send photos and features to these devices inline (base64) instead of as URLs."""
        with transaction(self.db):
            for sn in sns:
                self.ctx.ensure_sync_row(sn)
                self.db.execute("UPDATE people_sync SET inline_files = ? WHERE sn = ?", [int(inline), sn])

    @contextmanager
    def _tx(self, rollback: bool) -> Iterator[None]:
        if not rollback:
            with transaction(self.db):
                yield
            return
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
