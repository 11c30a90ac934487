"""AddPeople: people handed to a device as numbered pages, what its result confirms, and retries.

The behaviour an operator sees (in flight, failures, `--retry-failed`) is told once, in
docs/people.md ("How delivery works", "Failures that are retried"); the decisions are
docs/protocol.md 5.3 and 10. How this module keeps it:

- DownloadPeopleListResult names only failures, so each page gets a number and a result
  confirms "the latest page handed to this device, minus FailList"; a page whose result
  never came is handed out again after `redelivery_timeout`.
- A failed row keeps `fail_version = want`, so it counts as failed until the person
  changes or `people sync`; a failure with a passing cause also gets `retry_at` (partial
  index device_people_retry, `retry_delay` doubling up to `retry_limit`), and the page
  that takes it turns it back into a pending row.
- When FailCount says there were failures but none can be read, nothing of the page is
  confirmed (the caller quarantines the body), rather than marking failed people delivered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from facectl.protocol import people as people_rules

from ..db import transaction
from ..events import people_refused
from .context import COLS, PeopleContext
from .factory_reset import FactoryReset
from .implicit import Implicit
from .state import PENDING_ADD
from .wants import Wants

#: The person's fields on a page, in the order of COLS (wire names).
_PAGE_COLUMNS = ", ".join(f"p.{col}" for col in COLS.values())


@dataclass(slots=True)
class PageFile:
    sha256: str
    md5: str
    size: int | None
    data: bytes | None = None  # only in inline mode


@dataclass(slots=True)
class PagePerson:
    user_id: int
    version: int
    fields: dict[str, Any]
    photo: PageFile | None = None
    face: PageFile | None = None
    fingerprints: list[tuple[int, PageFile]] = field(default_factory=list)
    palmveins: list[tuple[int, PageFile]] = field(default_factory=list)


@dataclass(slots=True)
class Page:
    number: int
    people: list[PagePerson]
    inline: bool = False


class AddPages:
    """The AddPeople flag, DownloadPeopleList pages (by URL or inline) and DownloadPeopleListResult."""

    def __init__(self, ctx: PeopleContext, wants: Wants, reset: FactoryReset, implicit: Implicit) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.wants = wants
        self.reset = reset
        self.implicit = implicit

    def needs_add(self, sn: str) -> bool:
        """AddPeople: indexed lookups (pending, retry due, anyone above the cursor); reconciles a newly
        approved device first (rare)."""
        sql = (
            "SELECT EXISTS (SELECT 1 FROM device_people WHERE sn = :sn AND " + PENDING_ADD
            + " AND inflight_at <= :cutoff) OR EXISTS (SELECT 1 FROM device_people WHERE sn = :sn "
            "AND retry_at IS NOT NULL AND retry_at <= :now), "
            "EXISTS (SELECT 1 FROM devices d WHERE d.sn = :sn AND d.state = 'approved' AND NOT EXISTS "
            "(SELECT 1 FROM people_sync s WHERE s.sn = d.sn AND s.approved_at IS d.approved_at))"
        )
        t = self.ctx.now()
        args = {"sn": sn, "cutoff": t - self.ctx.redelivery_timeout, "now": t}
        pending, stale_scope = self.db.execute(sql, args).fetchone()
        if stale_scope:
            self.wants.reconcile_device(sn)
            pending = self.db.execute(sql, args).fetchone()[0]
        return bool(pending) or self.implicit.any_above(sn)

    def take_add_page(self, sn: str, limit: int, now: float | None = None) -> Page:
        """The next people to hand out, marked in flight as one numbered page. A few queries.

        Failures whose retry is due become pending first (and count one retry), so they go
        out in this page or the next ones of the same loop. Pending rows go first, then
        people above the device's cursor, in cursor order: those handed out become rows in
        flight and the cursor moves past them (implicit.py). Nothing goes out to a device
        that was sent a factory reset and has not come back since.
        """
        t = self.ctx.now() if now is None else now
        cutoff = t - self.ctx.redelivery_timeout
        with transaction(self.db):
            sync = self.ctx.ensure_sync_row(sn)
            inline = bool(sync["inline_files"])
            if self.reset.reset_under_way(sn, sync):
                return Page(0, [], inline)
            self.db.execute(
                "UPDATE device_people INDEXED BY device_people_retry SET fail_version = NULL, retry_at = NULL, "
                "retries = retries + 1, inflight_at = 0 WHERE sn = ? AND retry_at IS NOT NULL AND retry_at <= ?",
                [sn, t])
            rows = self.db.execute(
                "SELECT user_id, want FROM device_people WHERE sn = ? AND " + PENDING_ADD
                + " AND inflight_at <= ? ORDER BY inflight_at LIMIT ?", [sn, cutoff, limit]).fetchall()
            above = self.implicit.above(sn, limit - len(rows)) if len(rows) < limit else []
            rows += [(uid, version) for uid, version, _ in above]
            if not rows:
                return Page(0, [], inline)
            ids = json.dumps([r[0] for r in rows])
            # Plain tuples, columns by position: a page of 1,000 is on the device's 2 s clock (protocol.md 1.2).
            people = {r[0]: r for r in self.db.execute(
                f"SELECT p.user_id, p.photo, f.md5, f.size, {_PAGE_COLUMNS} FROM people p "
                "LEFT JOIN files f ON f.sha256 = p.photo WHERE p.user_id IN (SELECT value FROM json_each(?))",
                [ids])}
            bios: dict[int, list[tuple[Any, ...]]] = {}
            for b in self.db.execute(
                "SELECT b.user_id, b.kind, b.num, b.file, b.md5, f.size FROM biometrics b "
                "LEFT JOIN files f ON f.sha256 = b.file "
                "WHERE b.user_id IN (SELECT value FROM json_each(?)) ORDER BY b.user_id, b.kind, b.num", [ids]):
                bios.setdefault(b[0], []).append(b)
            page_people: list[PagePerson] = []
            budget = people_rules.INLINE_PAGE_BYTES
            for uid, want in rows:
                p = people.get(uid)
                if p is None:
                    continue
                person = PagePerson(uid, want, dict(zip(COLS, p[4:], strict=True)))
                if p[1]:
                    person.photo = PageFile(p[1], p[2], p[3])
                for _, kind, num, file, md5, size in bios.get(uid, ()):
                    ref = PageFile(file, md5, size)
                    if kind == people_rules.FACE:
                        person.face = ref
                    elif kind == people_rules.FINGERPRINT:
                        person.fingerprints.append((num, ref))
                    elif kind == people_rules.PALMVEIN:
                        person.palmveins.append((num, ref))
                if inline:
                    size = sum(f.size or 0 for f in _files_of(person)) * 4 // 3
                    if page_people and size > budget:
                        break
                    budget -= size
                page_people.append(person)
            if inline:
                self._fill_inline(page_people)
            number = self.db.execute(
                "UPDATE people_sync SET add_page = add_page + 1, last_page_at = ? WHERE sn = ? RETURNING add_page",
                [t, sn]).fetchone()[0]
            taken = {uid for uid, _, _ in above}
            self.db.execute(
                "UPDATE device_people SET inflight = want, inflight_at = ?, inflight_page = ? "
                "WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?))",
                [t, number, sn, json.dumps([p.user_id for p in page_people if p.user_id not in taken])])
            new = [p for p in page_people if p.user_id in taken]  # a prefix of `above`: pages stop, never skip
            if new:
                self.db.execute(
                    "INSERT INTO device_people (sn, user_id, want, inflight, inflight_at, inflight_page) "
                    "SELECT :sn, json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
                    "json_extract(value, '$[1]'), :t, :page FROM json_each(:new) WHERE true "
                    "ON CONFLICT (sn, user_id) DO UPDATE SET want = excluded.want, inflight = excluded.inflight, "
                    "inflight_at = excluded.inflight_at, inflight_page = excluded.inflight_page",
                    {"sn": sn, "t": t, "page": number, "new": json.dumps([[p.user_id, p.version] for p in new])})
                self.implicit.advance(sn, above[len(new) - 1][2])
        return Page(number, page_people, inline)

    def _fill_inline(self, page_people: list[PagePerson]) -> None:
        files = {f.sha256: f for p in page_people for f in _files_of(p)}
        for sha, data in self.db.execute(
                "SELECT sha256, data FROM files WHERE sha256 IN (SELECT value FROM json_each(?))",
                [json.dumps(list(files))]):
            files[sha].data = data
        for p in page_people:
            for f in _files_of(p):
                f.data = files[f.sha256].data

    def add_result(self, sn: str, failures: Sequence[people_rules.Failure], now: float | None = None) -> dict[str, int]:
        """DownloadPeopleListResult: the latest page is delivered, minus the failures (kept with their code).

        A transient failure (`Failure.transient`) of the version still wanted gets a
        `retry_at`: `retry_delay` doubled for each retry already made, while fewer than
        `retry_limit` were (none by default, protocol.md 5.3). A failure of a version no longer
        wanted needs none: the row is pending for the new version anyway.
        """
        t = self.ctx.now() if now is None else now
        with transaction(self.db):
            sync = self.ctx.ensure_sync_row(sn)
            people_refused(self.db, sn, failures, t)  # before the rows change: retried results make none
            if any(self.implicit.holds(sn, f.user_id) for f in failures):
                self.implicit.catch_up(sn)  # a failure of someone never handed out is kept on their row
            failed = 0
            for f in failures:
                failed += self.db.execute(
                    "UPDATE device_people SET fail_code = :code, fail_repeat = :repeat, fail_message = :message, "
                    "fail_at = :t, fail_version = CASE WHEN inflight > 0 THEN inflight ELSE want END, "
                    "retry_at = CASE WHEN :transient AND retries < :limit "
                    "AND (CASE WHEN inflight > 0 THEN inflight ELSE want END) IS want "
                    "THEN :t + :delay * (1 << retries) END, "
                    "inflight = NULL, inflight_at = 0 WHERE sn = :sn AND user_id = :uid",
                    {"code": f.code, "repeat": f.repeat_id, "message": f.message or None, "t": t,
                     "transient": int(f.transient), "limit": self.ctx.retry_limit, "delay": self.ctx.retry_delay,
                     "sn": sn, "uid": f.user_id}).rowcount
            confirmed = self.db.execute(
                "UPDATE device_people INDEXED BY device_people_inflight SET have = inflight, have_at = ?, "
                "inflight = NULL, inflight_at = 0, fail_version = NULL, fail_code = NULL, fail_message = NULL, "
                "fail_repeat = NULL, retry_at = NULL, retries = 0 WHERE sn = ? AND inflight_page = ? "
                "AND inflight IS NOT NULL AND inflight > 0",
                [t, sn, sync["add_page"]]).rowcount
            if failures:
                self.db.execute(
                    "DELETE FROM device_people WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?)) "
                    "AND want IS NULL AND have IS NULL AND inflight IS NULL",
                    [sn, json.dumps([f.user_id for f in failures])])
            self.db.execute("UPDATE people_sync SET last_result_at = ? WHERE sn = ?", [t, sn])
        return {"confirmed": confirmed, "failed": failed, "unknown": len(failures) - failed}


def _files_of(person: PagePerson) -> list[PageFile]:
    out = [f for f in (person.photo, person.face) if f is not None]
    out += [f for _, f in person.fingerprints] + [f for _, f in person.palmveins]
    return out
