"""Access, door and system records, stored exactly once.

The idempotency key is (SN, kind, RecordID, RecordDate) rather than the
document's (SN, RecordID) alone (protocol.md 5.1): a retried upload repeats both and
is acknowledged without a second row, while a device whose record counter was
reset (ClearRecord, factory reset, a new board with the same SN) reuses IDs with
new dates, and those real events must not be dropped as "duplicates".

A record with an implausible RecordDate (protocol.records.date_as_received) is
stored with the time it was received as its `record_date`, so it is listed and
filtered where it belongs; its retries are recognised by the device's own
RecordDate, kept in the detail. The device's `clock_problem` is set in the same
transaction, for the fleet views.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from facectl.protocol.codes import REFUSED_RECORD_TYPES
from facectl.protocol.numbers import as_int
from facectl.protocol.outcomes import record_outcome
from facectl.protocol.record_columns import COLUMN_NAMES
from facectl.protocol.records import AUTH, IDENTIFY, Record, date_as_received

from .db import now, transaction
from .events import record_stored

_REFUSED_SQL = (f"((kind = '{IDENTIFY}' AND record_type IN ({', '.join(map(str, sorted(REFUSED_RECORD_TYPES)))}))"
                f" OR (kind = '{AUTH}' AND decision = 0))")


def outcome(row: dict[str, Any]) -> str | None:
    """granted / refused for an identify or authorization record; None for door and system records."""
    return record_outcome(row["kind"], row["record_type"], row["decision"] if row["kind"] == AUTH else None)


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
            + ", ".join(COLUMN_NAMES)
            + ", photo, decision, reason, detail, warnings, received_at) VALUES ("
            + ", ".join("?" * (len(COLUMN_NAMES) + 11)) + ")"
        )
        inserted = 0
        clock: str | None = None
        with transaction(self.db):
            for r in records:
                problem = date_as_received(r, t)
                if problem is not None:
                    clock = f"{r.kind} record {r.record_id}: {problem}"
                    if self._seen_as_received(sn, r):
                        continue
                    r.record_date = self._free_second(sn, r)
                cur = self.db.execute(sql, [
                    sn, r.kind, r.record_id, r.record_type, r.record_date,
                    *(r.fields.get(c) for c in COLUMN_NAMES),
                    photo, decision, reason,
                    json.dumps(r.detail, ensure_ascii=False),
                    json.dumps(r.warnings, ensure_ascii=False) if r.warnings else None,
                    t,
                ])
                inserted += cur.rowcount
                if cur.rowcount:  # new, not a retry: its event, in this transaction
                    record_stored(self.db, sn, r, photo, decision, reason, t)
            if clock is not None:
                self.db.execute("UPDATE devices SET clock_problem = ?, clock_problem_at = ? WHERE sn = ?",
                                [clock, t, sn])
        return inserted

    def _free_second(self, sn: str, r: Record) -> int:
        """The received second, or the next one another record of this RecordID does not hold
        (a reused RecordID in the same second is another event, and must not be ignored)."""
        date = r.record_date
        while self.db.execute("SELECT 1 FROM records WHERE sn = ? AND kind = ? AND record_id = ? "
                              "AND record_date = ?", [sn, r.kind, r.record_id, date]).fetchone():
            date += 1
        return date

    def _seen_as_received(self, sn: str, r: Record) -> bool:
        """A retry of a record stored with its received time: same RecordID, same device RecordDate."""
        return any(as_int(json.loads(detail).get("RecordDate"), allow_bool=True) == r.device_date
                   for (detail,) in self.db.execute(
                       "SELECT detail FROM records WHERE sn = ? AND kind = ? AND record_id = ?",
                       [sn, r.kind, r.record_id]))

    def list(self, sn: str | None = None, user: str | None = None, kind: str | None = None,
             since: int | None = None, until: int | None = None, limit: int = 100,
             refused: bool = False) -> list[dict[str, Any]]:
        """Newest first; `refused`: only access refusals (codes.REFUSED_RECORD_TYPES, auth denials).

        Each row gets `outcome` (granted / refused / None), `device_date` (the RecordDate
        as sent) and `dated_on_receipt` (the device's date was implausible).
        """
        where, args = [], []
        for clause, value in (("sn = ?", sn), ("user_id = ?", user), ("kind = ?", kind),
                              ("record_date >= ?", since), ("record_date <= ?", until)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if refused:
            where.append(_REFUSED_SQL)
        sql = "SELECT * FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY record_date DESC, id DESC LIMIT ?"
        rows = list(self.db.query(sql, [*args, limit]))
        for row in rows:
            row["detail"] = json.loads(row["detail"])
            row["warnings"] = json.loads(row["warnings"]) if row["warnings"] else []
            row["device_date"] = as_int(row["detail"].get("RecordDate"), allow_bool=True)
            # dated when received because the device's RecordDate was implausible
            row["dated_on_receipt"] = row["device_date"] != row["record_date"]
            row["outcome"] = outcome(row)
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
