"""Delivery state for the operator: per person and device (`people show`), per device (`people status`).

Both use the redelivery timeout that hands pages out again, so what shows as "in flight"
is exactly what is not handed out again yet.
"""

from __future__ import annotations

from typing import Any

from facectl.protocol.codes import PEOPLE_ERROR_CODES

from .context import PeopleContext
from .implicit import Implicit
from .state import FAILED, PENDING_ADD, delivery_state


class Status:
    """Counts and state words from `device_people` and the people above each cursor, with the devices'
    own reports beside them."""

    def __init__(self, ctx: PeopleContext, implicit: Implicit) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.implicit = implicit

    def deliveries(self, user_id: int) -> list[dict[str, Any]]:
        """Per device: want/have/in flight/failure and a state word, plus the device's own report.

        A device whose cursor has not reached a person for all devices has no row for them:
        it is listed as the row would be, wanted at the current version and pending (implicit.py).
        """
        cutoff = self.ctx.now() - self.ctx.redelivery_timeout
        reports = {r.pop("sn"): r for r in self.db.query(
            "SELECT sn, present AS reported_present, push_type AS reported_type, received_at AS reported_at "
            "FROM device_reports WHERE user_id = ?", [user_id])}
        no_report = {"reported_present": None, "reported_type": None, "reported_at": None}
        rows = [{**r, **reports.get(r["sn"], no_report)} for r in self.db.query(
            "SELECT * FROM device_people WHERE user_id = ?", [user_id])]
        person = self.ctx.row(user_id)
        for sn in self.implicit.devices_above(user_id):
            rows.append({"sn": sn, "user_id": user_id, "want": person["version"] if person else None, "have": None,
                         "have_at": None, "inflight": None, "inflight_at": 0, "inflight_page": None,
                         "fail_code": None, "fail_version": None, "fail_repeat": None, "fail_message": None,
                         "fail_at": None, "retry_at": None, "retries": 0, **reports.get(sn, no_report)})
        seen = {r["sn"] for r in rows}
        rows.sort(key=lambda r: r["sn"])
        for sn, r in reports.items():
            if sn not in seen:
                rows.append({"sn": sn, "want": None, "have": None, "inflight": None, "inflight_at": 0,
                             "fail_code": None, "fail_version": None, **r})
        for row in rows:
            row["state"] = delivery_state(row, cutoff)
            row["fail_label"] = PEOPLE_ERROR_CODES.label(row["fail_code"]) if row.get("fail_code") is not None \
                else None
        return rows

    def status(self, sn: str | None = None) -> list[dict[str, Any]]:
        """Per device: wanted, delivered, pending, in flight, failed (with reasons), to delete.

        `retrying` counts the failed people that go out again by themselves (transient
        failures within their retry budget), the first at `next_retry_at`; each reason
        says how many of its people are retried that way.
        """
        cutoff = self.ctx.now() - self.ctx.redelivery_timeout
        only = "AND sn = :sn" if sn else ""
        args = {"sn": sn, "cutoff": cutoff}
        # Counters kept by triggers (counters.py); in flight and retries from their small partial indexes.
        counts = {r["sn"]: r for r in self.db.query(
            f"SELECT * FROM people_counts WHERE rows > 0 {only}", args)}
        for name, n in self.implicit.counts([sn] if sn else None).items():  # people above the cursor: pending
            if n:
                c = counts.setdefault(name, {"sn": name, "wanted": 0, "pending": 0})
                c["wanted"] += n
                c["pending"] += n
        for r in self.db.query(
                "SELECT sn, count(*) AS n FROM device_people INDEXED BY device_people_inflight "
                f"WHERE inflight IS NOT NULL {only} AND inflight > 0 AND inflight_at > :cutoff AND {PENDING_ADD} "
                "GROUP BY sn", args):
            c = counts.get(r["sn"])
            if c:
                c["in_flight"] = r["n"]
                c["pending"] -= r["n"]
        for r in self.db.query(
                "SELECT sn, count(*) AS n, min(retry_at) AS next_retry_at FROM device_people "
                f"INDEXED BY device_people_retry WHERE retry_at IS NOT NULL {only} AND {FAILED} GROUP BY sn", args):
            c = counts.get(r["sn"])
            if c:
                c["retrying"], c["next_retry_at"] = r["n"], r["next_retry_at"]
        reasons: dict[str, list[dict[str, Any]]] = {}
        for r in self.db.query(
            f"SELECT sn, fail_code, count(*) AS n, min(fail_message) AS example, "
            f"total(retry_at IS NOT NULL) AS retrying FROM device_people INDEXED BY device_people_failed "
            f"{'WHERE sn = :sn AND' if sn else 'WHERE'} "
            f"{FAILED} "
            "GROUP BY sn, fail_code ORDER BY n DESC", {"sn": sn}):
            reasons.setdefault(r["sn"], []).append({
                "code": r["fail_code"], "label": PEOPLE_ERROR_CODES.label(r["fail_code"])
                if r["fail_code"] is not None else "no error code", "count": r["n"], "example": r["example"],
                "retrying": int(r["retrying"])})
        unknown = {r["sn"]: r["n"] for r in self.db.query(
            "SELECT r.sn, count(*) AS n FROM device_reports r WHERE r.present = 1 "
            f"{'AND r.sn = :sn' if sn else ''} AND NOT EXISTS (SELECT 1 FROM people p WHERE p.user_id = r.user_id) "
            "GROUP BY r.sn", {"sn": sn})}
        syncs = {r["sn"]: r for r in self.db.query(
            f"SELECT * FROM people_sync {'WHERE sn = :sn' if sn else ''}", {"sn": sn})}
        devices = {r["sn"]: r for r in self.db.query(
            f"SELECT sn, state FROM devices {'WHERE sn = :sn' if sn else ''}", {"sn": sn})}
        out = []
        for name in sorted(set(counts) | set(devices) | set(unknown)):
            c = counts.get(name, {})
            s = syncs.get(name, {})
            if name not in counts and devices.get(name, {}).get("state") != "approved" and name not in unknown:
                continue
            out.append({
                "sn": name,
                "device_state": devices.get(name, {}).get("state", "unknown"),
                **{k: int(c.get(k) or 0) for k in ("wanted", "delivered", "pending", "in_flight", "failed",
                                                    "retrying", "to_delete")},
                "next_retry_at": c.get("next_retry_at"),
                "failures": reasons.get(name, []),
                "unknown_reported": unknown.get(name, 0),
                "wipe_requested": bool(s.get("wipe")),
                "files": "inline" if s.get("inline_files") else "url",
                "last_page_at": s.get("last_page_at"),
                "last_result_at": s.get("last_result_at"),
            })
        return out
