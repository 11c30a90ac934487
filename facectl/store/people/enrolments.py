"""RegisterIdentifyTicketResult: enrolment results kept, and what a successful one brings to the person.

- **Photos from devices** (enrolments): the photo part of a successful enrolment becomes the
  person's photo when it differs and the device held the current version (so the difference
  is the enrolment, not a stale copy) or the person had none. Card and password from an
  enrolment are adopted on the same "device was in sync" rule. A PushPeople photo:
  device_reports.py.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from facectl.protocol import people as people_rules
from facectl.protocol.codes import REGISTER_RESULTS
from facectl.protocol.numbers import as_uint

from ..db import transaction
from .biometrics import Biometrics
from .context import COLS, PeopleContext, by_device_and_person
from .wants import Wants

#: An identical RegisterIdentifyTicketResult from the same device within this window is a retry.
ENROLMENT_RETRY_SECONDS = 60.0


class Enrolments:
    """Keeps enrolment results once each, merges successful ones, links them to commands."""

    def __init__(self, ctx: PeopleContext, wants: Wants, biometrics: Biometrics) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.wants = wants
        self.biometrics = biometrics

    def record_enrolment(self, sn: str, doc: dict[str, Any], photo: bytes | None) -> int:
        """RegisterIdentifyTicketResult: keep the result; on success merge what the device enrolled.

        Returns the enrolment id (`link_enrolment` links it to the command that asked).
        """
        t = self.ctx.now()
        raw = json.dumps(doc, ensure_ascii=False, sort_keys=True)
        raw_sha = hashlib.sha256(raw.encode() + (photo or b"")).hexdigest()
        uid = as_uint(doc.get("UserID"))
        result = as_uint(doc.get("Result"))
        notes: list[str] = []
        person = people_rules.read_device_person(doc.get("UserDetail"))
        if person is not None:
            notes += person.notes
            if person.user_id is not None and uid is not None and person.user_id != uid:
                notes.append(f"UserDetail.UserID {person.user_id} differs from UserID {uid}; UserID is used")
        with transaction(self.db):
            prior = self.db.execute(
                "SELECT id FROM enrolments WHERE sn = ? AND raw_sha256 = ? AND received_at >= ?",
                [sn, raw_sha, t - ENROLMENT_RETRY_SECONDS]).fetchone()
            if prior:
                return prior[0]
            photo_sha = self.biometrics.keep_device_photo(photo, person, notes)
            enrolment_id = self.db.execute(
                "INSERT INTO enrolments (sn, user_id, result, repetition_user_id, photo, raw, raw_sha256, notes, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [sn, uid, result, as_uint(doc.get("RepetitionUserID")), photo_sha, raw, raw_sha,
                 json.dumps(notes, ensure_ascii=False) if notes else None, t]).fetchone()[0]
            if result == 1 and uid:
                self._merge_enrolment(sn, uid, person, photo_sha, t)
        return enrolment_id

    def _merge_enrolment(self, sn: str, uid: int, person: people_rules.DevicePerson | None, photo_sha: str | None,
                         t: float) -> None:
        known = self.ctx.row(uid)
        changed = False
        for b in person.biometrics if person else ():
            changed |= self.biometrics.put(uid, b.kind, b.num, b.text, sn, t)
        if known is None:
            return
        self.wants.note_holding(sn, uid, True, True)
        dp = self.db.execute("SELECT want, have FROM device_people WHERE sn = ? AND user_id = ?",
                             [sn, uid]).fetchone()
        in_sync = dp is not None and dp[0] is not None and dp[0] == dp[1] == known["version"]
        if photo_sha and photo_sha != known["photo"] and (in_sync or not known["photo"]):
            self.db.execute("UPDATE people SET photo = ?, photo_source = ? WHERE user_id = ?", [photo_sha, sn, uid])
            changed = True
        if in_sync and person is not None:
            for wire in ("CardNum", "Password"):
                value = person.fields.get(wire)
                col = COLS[wire]
                if isinstance(value, str) and value and value != known[col]:
                    try:
                        people_rules.normalize({wire: value})
                    except people_rules.PersonError:
                        continue
                    self.db.execute(f"UPDATE people SET {col} = ? WHERE user_id = ?", [value, uid])
                    changed = True
        if changed:
            self.wants.bump([uid], t)

    def enrolment_results(self, sn: str | None = None, user_id: int | None = None, since_id: int = 0,
                          unlinked_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """Enrolment results, oldest first after `since_id`; for the command queue and the CLI."""
        narrow, narrow_args = by_device_and_person(sn, user_id)
        where, args = ["id > ?", *narrow], [since_id, *narrow_args]
        if unlinked_only:
            where.append("command_id IS NULL")
        rows = list(self.db.query(
            f"SELECT * FROM enrolments WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", [*args, limit]))
        for row in rows:
            row["result_label"] = REGISTER_RESULTS.label(row["result"]) if row["result"] is not None else None
            row["raw"] = json.loads(row["raw"])
            row["notes"] = json.loads(row["notes"]) if row["notes"] else []
        return rows

    def link_enrolment(self, enrolment_id: int, command_id: int) -> bool:
        return self.db.execute("UPDATE enrolments SET command_id = ? WHERE id = ?",
                               [command_id, enrolment_id]).rowcount > 0
