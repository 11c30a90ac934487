"""Camera snapshots per device (UploadSnapshoot, protocol.md 4.9)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from .db import now


class Snapshots:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def add(self, sn: str, photo: str) -> int:
        return self.db.execute(
            "INSERT INTO snapshots (sn, photo, received_at) VALUES (?, ?, ?) RETURNING id",
            [sn, photo, now()],
        ).fetchone()[0]

    def latest(self, sn: str) -> dict[str, Any] | None:
        rows = list(self.db.query(
            "SELECT * FROM snapshots WHERE sn = ? ORDER BY received_at DESC, id DESC LIMIT 1", [sn]))
        return rows[0] if rows else None

    def list(self, sn: str, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT * FROM snapshots WHERE sn = ? ORDER BY received_at DESC, id DESC LIMIT ?", [sn, limit]))
