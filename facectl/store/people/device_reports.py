"""PushPeople (protocol.md 6.3-6.5): each device's own word about each person, and where it differs from ours.

- **PushPeople without a Detail** means the device does not hold that user (protocol.md 8.7),
  whatever its PushType: `have` is cleared, so a person it should hold is pending again
  (device_report's docstring); `diff` lists it as missing, or as not held when the server
  agrees.
- **PushPeople of unknown people** is kept in `device_reports` and shown, never adopted into
  `people`, and never deleted from the device unless the operator runs `people rm` for it.
- **Photos from devices** (PushPeople): a PushPeople photo is adopted only when the person
  has none (a device re-encoding an echoed photo cannot start a loop); an enrolment's:
  enrolments.py. Other fields a device reports are never adopted: they are shown by
  `people diff`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from facectl.protocol import people as people_rules

from ..db import transaction
from .biometrics import Biometrics
from .context import COLS, PeopleContext, by_device_and_person
from .implicit import ABOVE, Implicit
from .wants import Wants


class DeviceReports:
    """Keeps PushPeople reports, merges their biometrics, compares them with the server."""

    def __init__(self, ctx: PeopleContext, wants: Wants, biometrics: Biometrics, implicit: Implicit) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.wants = wants
        self.biometrics = biometrics
        self.implicit = implicit

    def device_report(self, sn: str, push_type: int, user_id: int, person: people_rules.DevicePerson | None,
                      photo: bytes | None, notes: Sequence[str] = (), detail: Any = None) -> dict[str, Any]:
        """PushPeople (protocol.md 6.3-6.5, 8.7): keep the device's word; merge biometrics; never adopt the unknown.

        PushType 3 (deleted), and any PushPeople without a Detail, mean the device does not
        hold the person (protocol.md 8.7: the firmware answers a QueryPeople for a UserID it
        lacks with SN, PushType and UserID only); 1, 2 and 4 with a Detail mean it does.
        "Does not hold" clears `have` (module docstring of wants.py): a person the
        device should hold is pending again and goes out with the next AddPeople, unless
        that very version already failed there (then it stays failed, protocol.md 5.3).
        """
        t = self.ctx.now()
        present = push_type != 3 and person is not None
        notes = list(notes) + (person.notes if person else [])
        with transaction(self.db):
            photo_sha = self.biometrics.keep_device_photo(photo, person, notes)
            self.db.execute(
                "INSERT INTO device_reports (sn, user_id, push_type, present, detail, photo, notes, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sn, user_id) DO UPDATE SET "
                "push_type = excluded.push_type, present = excluded.present, detail = excluded.detail, "
                "photo = COALESCE(excluded.photo, device_reports.photo), notes = excluded.notes, "
                "received_at = excluded.received_at",
                [sn, user_id, push_type, int(present),
                 json.dumps(detail, ensure_ascii=False) if detail is not None else None,
                 photo_sha, json.dumps(notes, ensure_ascii=False) if notes else None, t])
            known = self.ctx.row(user_id)
            self.wants.note_holding(sn, user_id, present, known is not None)
            changed = False
            if person is not None and present:
                for b in person.biometrics:
                    changed |= self.biometrics.put(user_id, b.kind, b.num, b.text, sn, t)
            if known is not None and photo_sha and not known["photo"]:
                self.db.execute("UPDATE people SET photo = ?, photo_source = ? WHERE user_id = ?",
                                [photo_sha, sn, user_id])
                changed = True
            if known is not None and changed:
                self.wants.bump([user_id], t)
            wanted = self.db.execute("SELECT 1 FROM device_people WHERE sn = ? AND user_id = ? AND want IS NOT NULL",
                                     [sn, user_id]).fetchone() is not None or self.implicit.holds(sn, user_id)
        return {"known": known is not None, "present": present, "wanted": wanted, "changed": changed,
                "notes": notes}

    def reports(self, sn: str | None = None, user_id: int | None = None) -> list[dict[str, Any]]:
        where, args = by_device_and_person(sn, user_id)
        sql = "SELECT * FROM device_reports" + (" WHERE " + " AND ".join(where) if where else "")
        rows = list(self.db.query(sql + " ORDER BY sn, user_id", args))
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else None
            row["notes"] = json.loads(row["notes"]) if row["notes"] else []
        return rows

    def diff(self, sn: str) -> dict[str, Any]:
        """Where the device's own reports (PushPeople) and the server disagree."""
        out: dict[str, list[dict[str, Any]]] = {"unknown": [], "must_not_hold": [], "missing": [],
                                                "not_held": [], "differs": []}
        rows = self.db.query(
            f"SELECT r.user_id, r.present, r.push_type, r.detail, r.received_at, r.photo AS reported_photo, "
            f"p.user_id AS known, {', '.join('p.' + c for c in COLS.values())}, p.photo, "
            # Without a row, a person above the device's cursor is wanted at its version (implicit.py).
            f"CASE WHEN d.sn IS NULL AND dv.state = 'approved' AND {ABOVE} THEN p.version ELSE d.want END AS want, "
            "d.have, d.have_at FROM device_reports r "
            "LEFT JOIN people p ON p.user_id = r.user_id "
            "LEFT JOIN device_people d ON d.sn = r.sn AND d.user_id = r.user_id "
            "LEFT JOIN devices dv ON dv.sn = r.sn LEFT JOIN people_sync s ON s.sn = r.sn "
            "WHERE r.sn = ? ORDER BY r.user_id", [sn])
        reported = 0
        for r in rows:
            reported += 1
            detail = json.loads(r["detail"]) if r["detail"] else {}
            reported_name = detail.get("Name") if isinstance(detail, dict) else None
            base = {"user_id": r["user_id"], "name": reported_name or r["name"], "reported_at": r["received_at"]}
            if r["present"] and r["known"] is None:
                out["unknown" if r["want"] is None and r["have"] is None else "must_not_hold"].append(base)
                continue
            if r["present"] and r["want"] is None:
                out["must_not_hold"].append(base)
                continue
            if not r["present"]:
                # "missing": wanted but not held, sent again; "not_held": device and server agree.
                out["missing" if r["want"] is not None else "not_held"].append(
                    {**base, "push_type": r["push_type"]})
                continue
            if r["present"] and r["known"] is not None and isinstance(detail, dict):
                person = people_rules.read_device_person(detail)
                fields = {}
                for wire, col in COLS.items():
                    if person is None or wire not in person.fields:
                        continue
                    mine, theirs = r[col], person.fields[wire]
                    if _norm(mine, wire) != _norm(theirs, wire):
                        fields[wire] = {"server": mine, "device": theirs}
                if fields:
                    stale = r["have_at"] is not None and r["have_at"] > r["received_at"]
                    out["differs"].append({**base, "fields": fields, "report_older_than_delivery": stale})
        held_unreported = self.db.execute(
            "SELECT count(*) FROM device_people d WHERE d.sn = ? AND d.have IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM device_reports r WHERE r.sn = d.sn AND r.user_id = d.user_id)", [sn]).fetchone()[0]
        return {"sn": sn, "reported": reported, "held_without_report": held_unreported, **out}


def _norm(value: Any, wire: str) -> Any:
    if value is None:
        return people_rules.SEND_DEFAULTS.get(wire, "")
    return str(value) if wire not in people_rules.INT_FIELDS else int(value)
