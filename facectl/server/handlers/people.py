"""People endpoints: pages handed out by reconciliation, their results, device reports, enrolments.

Every handler is a few store calls (no per-person queries), so a 1000-person page is
answered well inside the device's 2 s timeout (protocol.md 1.2). Photos and feature files go
out as absolute, expiring, signed URLs (protocol.md 5.7) built from `--public-url` or the
request's Host header, or inline as base64 for devices set to it (`people sync --files
inline`). What a device sends that cannot be used is kept in quarantine and
acknowledged, so the device's loop ends (protocol.md 5.1).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from facectl.protocol import people as people_rules
from facectl.protocol import responses
from facectl.protocol.codes import PUSH_TYPES
from facectl.protocol.limits import DEFAULT_DELETE_PAGE
from facectl.protocol.numbers import as_uint
from facectl.store.people import PageFile, PagePerson

from ..file_urls import file_url
from ..registry import Context, handles

log = logging.getLogger("facectl.server.people")

PHOTO_EXT = ".jpg"
FEATURE_EXT = ".dat"


@handles("DownloadPeopleList")
async def download_people_list(ctx: Context) -> dict[str, Any]:
    """The next page (Limit, at most 1000); an empty list ends the device's loop."""
    doc = ctx.decoded.document
    limit = people_rules.page_limit(doc.get("Limit"), people_rules.DEFAULT_DOWNLOAD_PAGE)
    page = ctx.store.people.take_add_page(ctx.sn, limit)
    if not page.people:
        return responses.ok(**people_rules.download_answer([]))
    refs = _Refs(ctx)
    people = [_encode(person, refs) for person in page.people]
    return responses.ok(**people_rules.download_answer(people))


class _Refs:
    """File references for one page: one secret read, one signed URL per distinct file."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.secret: bytes | None = None
        self.cache: dict[tuple[str, str], str] = {}

    def url(self, sha256: str, ext: str) -> str:
        key = (sha256, ext)
        if key not in self.cache:
            if self.secret is None:
                self.secret = self.ctx.store.meta.secret()
            self.cache[key] = file_url(self.ctx.config.public_url, self.secret, sha256, ext)
        return self.cache[key]

    def photo(self, f: PageFile | None) -> people_rules.FileRef | None:
        if f is None:
            return None
        value = base64.b64encode(f.data).decode("ascii") if f.data is not None else self.url(f.sha256, PHOTO_EXT)
        return people_rules.FileRef(value, f.md5, f.size)

    def feature(self, f: PageFile | None) -> people_rules.FileRef | None:
        if f is None:
            return None
        value = f.data.decode("ascii") if f.data is not None else self.url(f.sha256, FEATURE_EXT)
        return people_rules.FileRef(value, f.md5, f.size)


def _encode(person: PagePerson, refs: _Refs) -> dict[str, Any]:
    return people_rules.encode_person(
        person.user_id, person.fields,
        photo=refs.photo(person.photo),
        face=refs.feature(person.face),
        fingerprints=[(num, refs.feature(f)) for num, f in person.fingerprints],
        palmveins=[(num, refs.feature(f)) for num, f in person.palmveins],
    )


@handles("DownloadPeopleListResult")
async def download_people_list_result(ctx: Context) -> dict[str, Any]:
    """The last page is stored, minus FailList (both shapes, protocol.md 4.4)."""
    doc = ctx.decoded.document
    failures, notes = people_rules.read_fail_list(doc)
    declared = people_rules.declared_fail_count(doc)
    if declared and not failures:
        # Which people failed is unknown: confirm nothing, the page is handed out again later.
        return ctx.quarantine(f"FailCount is {declared} but no failure could be read"
                              + (f" ({'; '.join(notes)})" if notes else ""))
    outcome = ctx.store.people.add_result(ctx.sn, failures)
    if notes or outcome["unknown"]:
        log.info("%s DownloadPeopleListResult: %s%s", ctx.sn, "; ".join(notes),
                 f"; {outcome['unknown']} failures for people not on this device" if outcome["unknown"] else "")
    return responses.ok()


@handles("DeletePeopleList")
async def delete_people_list(ctx: Context) -> dict[str, Any]:
    """The next page of user ids to delete (Limit default 50), or DeleteAll when an operator asked."""
    limit = people_rules.page_limit(ctx.decoded.document.get("Limit"), DEFAULT_DELETE_PAGE)
    page = ctx.store.people.take_delete_page(ctx.sn, limit)
    return responses.ok(**people_rules.delete_answer(page.user_ids, page.delete_all))


@handles("DeletePeopleListResult")
async def delete_people_list_result(ctx: Context) -> dict[str, Any]:
    """DeleteList or DeletList (protocol.md 4.5); DeleteAll 1 = the device is empty."""
    delete_all, ids, notes = people_rules.read_delete_result(ctx.decoded.document)
    ctx.store.people.delete_result(ctx.sn, delete_all, ids)
    if notes:
        log.info("%s DeletePeopleListResult: %s", ctx.sn, "; ".join(notes))
    return responses.ok()


@handles("PushPeople")
async def push_people(ctx: Context) -> dict[str, Any]:
    """A device's own report about one person (protocol.md 6.3, 6.4): kept, biometrics merged.

    Without a Detail part it says the device does not hold that UserID (protocol.md 8.7).
    """
    decoded = ctx.decoded
    doc = decoded.document if isinstance(decoded.document, dict) else None
    push_type = as_uint(decoded.form.get("PushType", doc.get("PushType") if doc else None))
    if push_type is None or push_type not in PUSH_TYPES:
        return ctx.quarantine(f"PushType {decoded.form.get('PushType')!r} is not one of 1-4")
    raw_uid = decoded.form.get("UserID") or (doc.get("UserID") if doc else None)
    try:
        user_id = people_rules.check_user_id(raw_uid)
    except people_rules.PersonError as exc:
        return ctx.quarantine(str(exc))
    person = people_rules.read_device_person(doc) if doc is not None else None
    notes = list(decoded.quirks)
    if person is not None and person.user_id is not None and person.user_id != user_id:
        notes.append(f"Detail.UserID {person.user_id} differs from UserID {user_id}; UserID is used")
    photo = decoded.photo
    outcome = ctx.store.people.device_report(ctx.sn, push_type, user_id, person,
                                             photo.data if photo is not None and photo.data else None,
                                             notes, doc)
    # A PushType 4 answers the QueryPeople / PushAllPeople command that asked.
    ctx.store.commands.people_pushed(ctx.sn, user_id, push_type,
                                     {k: outcome[k] for k in ("known", "present", "wanted")})
    if not outcome["present"] and outcome["wanted"]:
        # protocol.md 8.7: no Detail = the device does not hold this user; it is sent again.
        log.info("%s does not hold person %s; it is sent again at the next keepalive", ctx.sn, user_id)
    elif not outcome["known"] and outcome["present"]:
        log.info("%s holds person %s whom the operator has not added; see `facectl people diff %s`",
                 ctx.sn, user_id, ctx.sn)
    return responses.ok()


@handles("RegisterIdentifyTicketResult")
async def register_identify_ticket_result(ctx: Context) -> dict[str, Any]:
    """An enrolment result (table: Result 1-6; protocol.md 4.8): kept; on success its biometrics and photo merged.

    A photo with no usable ResultJson is a snapshot sent this way (protocol.md 4.9) and is kept
    as one.
    """
    doc = ctx.decoded.document
    photo = ctx.decoded.photo
    data = photo.data if photo is not None and photo.data else None
    is_snapshot = data is not None and people_rules.is_jpeg(data) and (
        not isinstance(doc, dict) or (doc.get("UserID") is None and doc.get("Result") is None))
    if is_snapshot:
        stored = ctx.store.files.put(data, photo.content_type or "image/jpeg")
        ctx.store.commands.snapshot_uploaded(ctx.sn, ctx.store.snapshots.add(ctx.sn, stored.sha256))
        return responses.ok()
    if not isinstance(doc, dict):
        return ctx.quarantine("no ResultJson part")
    enrolment_id = ctx.store.people.record_enrolment(ctx.sn, doc, data)
    # The result completes the RegisterIdentifyTicket command that asked for it.
    user_id, result = as_uint(doc.get("UserID")), as_uint(doc.get("Result"))
    detail = {"enrolment": enrolment_id}
    if as_uint(doc.get("RepetitionUserID")) is not None:
        detail["RepetitionUserID"] = as_uint(doc.get("RepetitionUserID"))
    command_ids = ctx.store.commands.ticket_result(ctx.sn, user_id, result, detail)
    if command_ids:
        ctx.store.people.link_enrolment(enrolment_id, command_ids[0])
    return responses.ok()
