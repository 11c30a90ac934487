"""What a device should do next: the Keepalive flags, derived from stored state.

Flags are never stored; they are computed at each keepalive from what the
store holds (desired state vs confirmed state), so a lost answer or a restart
cannot make the server forget work. The answer lists the flags in the
document's priority (errata 1.1); the device follows them in that order.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from facectl.protocol.endpoints import KEEPALIVE_FLAGS

from .devices import Devices
from .settings import Settings

FlagCheck = Callable[[str], bool]


class Work:
    def __init__(self, db: sqlite_utils.Database, devices: Devices, settings: Settings) -> None:
        self.db = db
        self.checks: dict[str, FlagCheck] = {
            "UploadWorkParameter": self._needs_settings_upload,
            "SyncParameter": settings.has_pending,
        }

    def register(self, flag: str, check: FlagCheck) -> None:
        """Let a repository (people, commands) say when its flag is due."""
        if flag not in KEEPALIVE_FLAGS:
            raise KeyError(flag)
        self.checks[flag] = check

    def flags(self, sn: str) -> dict[str, int]:
        return {flag: 1 for flag in KEEPALIVE_FLAGS if flag in self.checks and self.checks[flag](sn)}

    def _needs_settings_upload(self, sn: str) -> bool:
        row = self.db.execute(
            "SELECT d.settings_requested, s.sn IS NULL FROM devices d LEFT JOIN settings s ON s.sn = d.sn "
            "WHERE d.sn = ?",
            [sn],
        ).fetchone()
        return bool(row and (row[0] or row[1]))
