"""Device settings: the last uploaded document, its change history, and operator changes.

An operator's change is *pending* until a DownloadWorkSetting delivers it, then
*delivered* until the device's next upload shows whether it took: *applied* or
*not_applied* (with the value the device reported). A newer change of the same
key supersedes an older undelivered one.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from facectl.protocol import settings as setting_rules

from .db import now, transaction
from .devices import Devices

PENDING = "pending"
DELIVERED = "delivered"
APPLIED = "applied"
NOT_APPLIED = "not_applied"
SUPERSEDED = "superseded"


class Settings:
    def __init__(self, db: sqlite_utils.Database, devices: Devices) -> None:
        self.db = db
        self.devices = devices

    def document(self, sn: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT document FROM settings WHERE sn = ?", [sn]).fetchone()
        return json.loads(row[0]) if row else None

    def uploaded_at(self, sn: str) -> float | None:
        row = self.db.execute("SELECT uploaded_at FROM settings WHERE sn = ?", [sn]).fetchone()
        return row[0] if row else None

    def upload(self, sn: str, raw: dict[str, Any]) -> dict[str, list[Any]]:
        """Store an uploaded document; returns what changed since the previous upload."""
        doc = {key: setting_rules.normalize_value(value) for key, value in raw.items()}
        doc[setting_rules.IDENTITY_SETTING] = sn  # as identified (stripped, protocol.md 3.6), not as padded on the wire
        t = now()
        with transaction(self.db):
            previous = self.document(sn)
            changes = setting_rules.diff(previous, doc) if previous is not None else {}
            self.db.execute(
                "INSERT INTO settings (sn, document, uploaded_at) VALUES (?, ?, ?) "
                "ON CONFLICT(sn) DO UPDATE SET document = excluded.document, uploaded_at = excluded.uploaded_at",
                [sn, json.dumps(doc, ensure_ascii=False), t],
            )
            if changes:
                self.db.execute(
                    "INSERT INTO settings_history (sn, at, changes) VALUES (?, ?, ?)",
                    [sn, t, json.dumps(changes, ensure_ascii=False)],
                )
            self.devices.set_summary(sn, setting_rules.summary(doc))
            self.devices.request_settings(sn, False)
            self._check_delivered(sn, doc, t)
        return changes

    def _check_delivered(self, sn: str, doc: dict[str, Any], t: float) -> None:
        rows = self.db.execute(
            "SELECT id, key, value FROM setting_changes WHERE sn = ? AND state = ?", [sn, DELIVERED]
        ).fetchall()
        for change_id, key, value in rows:
            took = doc.get(key) == json.loads(value)
            self.db.execute(
                "UPDATE setting_changes SET state = ?, checked_at = ?, device_value = ? WHERE id = ?",
                [APPLIED if took else NOT_APPLIED, t, json.dumps(doc.get(key), ensure_ascii=False), change_id],
            )

    def needs_upload(self, sn: str) -> bool:
        """UploadWorkParameter: no settings held yet (protocol.md 1.3), or an operator asked for them."""
        row = self.db.execute(
            "SELECT d.settings_requested, s.sn IS NULL FROM devices d LEFT JOIN settings s ON s.sn = d.sn "
            "WHERE d.sn = ?",
            [sn],
        ).fetchone()
        return bool(row and (row[0] or row[1]))

    def history(self, sn: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT at, changes FROM settings_history WHERE sn = ? ORDER BY at DESC, id DESC LIMIT ?",
            [sn, limit],
        )
        return [{"at": r["at"], "changes": json.loads(r["changes"])} for r in rows]

    def request_change(self, sn: str, changes: dict[str, Any]) -> None:
        """Queue already-validated changes; the next keepalive answers SyncParameter: 1."""
        t = now()
        with transaction(self.db):
            for key, value in changes.items():
                self.db.execute(
                    "UPDATE setting_changes SET state = ? WHERE sn = ? AND key = ? AND state = ?",
                    [SUPERSEDED, sn, key, PENDING],
                )
                self.db.execute(
                    "INSERT INTO setting_changes (sn, key, value, state, requested_at) VALUES (?, ?, ?, ?, ?)",
                    [sn, key, json.dumps(value, ensure_ascii=False), PENDING, t],
                )

    def pending(self, sn: str) -> dict[str, Any]:
        rows = self.db.execute(
            "SELECT key, value FROM setting_changes WHERE sn = ? AND state = ? ORDER BY id", [sn, PENDING]
        ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def has_pending(self, sn: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM setting_changes WHERE sn = ? AND state = ? LIMIT 1", [sn, PENDING]
        ).fetchone() is not None

    def take_for_download(self, sn: str) -> dict[str, Any]:
        """Build the DownloadWorkSetting answer and mark the pending changes delivered."""
        t = now()
        with transaction(self.db):
            current = self.document(sn) or {}
            pending = self.pending(sn)
            self.db.execute(
                "UPDATE setting_changes SET state = ?, delivered_at = ? WHERE sn = ? AND state = ?",
                [DELIVERED, t, sn, PENDING],
            )
        body = setting_rules.downloadable(current, pending)
        body[setting_rules.IDENTITY_SETTING] = sn
        return body

    def changes(self, sn: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT id, key, value, state, requested_at, delivered_at, checked_at, device_value "
            "FROM setting_changes WHERE sn = ? ORDER BY id DESC LIMIT ?",
            [sn, limit],
        )
        out = []
        for r in rows:
            r["value"] = json.loads(r["value"])
            r["device_value"] = json.loads(r["device_value"]) if r["device_value"] is not None else None
            out.append(r)
        return out
