"""Access, door and system records, stored exactly once.

The idempotency key is (SN, kind, RecordID, RecordDate) rather than the
document's (SN, RecordID) alone (errata 5.1): a retried upload repeats both and
is acknowledged without a second row, while a device whose record counter was
reset (ClearRecord, factory reset, a new board with the same SN) reuses IDs with
new dates, and those real events must not be dropped as "duplicates".
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from facectl.protocol.records import Record

from .db import now, transaction
from .events import record_stored

_COLUMNS = (
    "user_id", "code", "name", "identity_card", "job", "department", "card_num", "qrcode",
    "is_entry", "body_temp", "photo_len",
)


class Records:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def add(self, sn: str, record: Record, photo: str | None = None,
            decision: int | None = None, reason: str | None = None) -> bool:
        """Store one record; False when it was already stored (a retry)."""
        return self.add_many(sn, [record], photo, decision, reason) == 1

    def add_many(self, sn: str, records: list[Record], photo: str | None = None,
                 decision: int | None = None, reason: str | None = None) -> int:
        """Store a batch in one transaction; returns how many were new."""
        t = now()
        sql = (
            "INSERT OR IGNORE INTO records (sn, kind, record_id, record_type, record_date, "
            + ", ".join(_COLUMNS)
            + ", photo, decision, reason, detail, warnings, received_at) VALUES ("
            + ", ".join("?" * (len(_COLUMNS) + 11)) + ")"
        )
        inserted = 0
        with transaction(self.db):
            for r in records:
                cur = self.db.execute(sql, [
                    sn, r.kind, r.record_id, r.record_type, r.record_date,
                    *(r.fields.get(c) for c in _COLUMNS),
                    photo, decision, reason,
                    json.dumps(r.detail, ensure_ascii=False),
                    json.dumps(r.warnings, ensure_ascii=False) if r.warnings else None,
                    t,
                ])
                inserted += cur.rowcount
                if cur.rowcount:  # new, not a retry: its event, in this transaction
                    record_stored(self.db, sn, r, photo, decision, reason, t)
        return inserted

    def list(self, sn: str | None = None, user: str | None = None, kind: str | None = None,
             since: int | None = None, until: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        where, args = [], []
        for clause, value in (("sn = ?", sn), ("user_id = ?", user), ("kind = ?", kind),
                              ("record_date >= ?", since), ("record_date <= ?", until)):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = "SELECT * FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY record_date DESC, id DESC LIMIT ?"
        rows = list(self.db.query(sql, [*args, limit]))
        for row in rows:
            row["detail"] = json.loads(row["detail"])
            row["warnings"] = json.loads(row["warnings"]) if row["warnings"] else []
        return rows

    def get(self, sn: str, record_id: int, kind: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM records WHERE sn = ? AND record_id = ?"
        args: list[Any] = [sn, record_id]
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        rows = list(self.db.query(sql + " ORDER BY id DESC LIMIT 1", args))
        return rows[0] if rows else None

    def count(self, sn: str | None = None) -> int:
        if sn is None:
            return self.db.execute("SELECT count(*) FROM records").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM records WHERE sn = ?", [sn]).fetchone()[0]
