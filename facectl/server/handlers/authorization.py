"""RequestAuthorization: decide at the door, store the decision, answer within the device's timeout.

The person is found by UserID, else CardNum, else QRCode (a QR code is also
matched against card numbers, because the device itself does that, protocol.md 6.6).
The built-in rules, in order (the first that denies wins; 2-6 are protocol/access.py,
the same rules the simulated terminal applies offline):

1. unknown person (nobody matches, or a card/QR matches several people) -> deny
2. AccessType 2 (blacklist) -> deny
3. ExpirationDate set and passed -> deny
4. OpenTimes 0 ("禁止通行") -> deny. Other values are not counted down here: the
   device keeps its own count, and the server never sees the uses it allows offline.
5. Timegroup: absent = no time restriction; 0 = "受限制" (restricted: the
   document's words, read literally as no access at any time); 1-64 = the device's
   TimeGroups entry of that number, read at the device's local time (its
   TimeZone or UTCTimeZone, protocol.zones; Week1 = Monday, see protocol.timegroups).
   A group the device does not define, or a device whose settings the server has
   not received, denies.
6. Holidays: restricted on a holiday the device's Holidays define for today -> deny.
7. otherwise allow: Success 1 with "Welcome, NAME", or Success 2 (open, show
   nothing) with `--auth-silent`.

Admins (AccessType 1) follow the same rules: the document gives them no exemption.

The moment judged is the request's RecordDate (the device's clock, which its own
offline decisions use too), unless it is more than MAX_CLOCK_SKEW from the
server's clock, in which case the server's clock is used and the reason says so.

With `--auth-webhook` the operator's service decides (server/webhook.py), and
the rules' decision is used when it does not answer in time. Every decision is
stored as a record of kind "auth" with `decision` (the Success value) and
`reason`; a request that cannot be read is kept in quarantine and denied, never
allowed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from facectl.protocol import access
from facectl.protocol.codes import AUTH_RESULTS
from facectl.protocol.identity import clean_text
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.protocol.records import AUTH, RecordError, identify_record

from .. import webhook
from ..registry import Context, handles

log = logging.getLogger("facectl.server.auth")

DENY = int(AUTH_RESULTS.value_of("deny"))
ALLOW = int(AUTH_RESULTS.value_of("allow and show message"))
ALLOW_SILENT = int(AUTH_RESULTS.value_of("allow silently"))
#: RecordDate further than this from the server's clock is not trusted for time rules.
MAX_CLOCK_SKEW = 600

#: Short texts the device shows (English, like the document's own prompts).
MSG_UNKNOWN = "Not registered"
MSG_DENIED = "Access denied"
MSG_EXPIRED = "Access expired"
MSG_NO_ACCESS = "No access"
MSG_TIME = "Not allowed at this time"
MSG_HOLIDAY = "Not allowed on holidays"
MSG_UNREADABLE = "Request not readable"
#: What the device shows for each refusal of the rules (protocol/access.py).
_REFUSAL_MESSAGES = {
    access.REFUSED_BLACKLIST: MSG_DENIED,
    access.REFUSED_EXPIRED: MSG_EXPIRED,
    access.REFUSED_OPEN_TIMES: MSG_NO_ACCESS,
    access.REFUSED_TIME_GROUP: MSG_TIME,
    access.REFUSED_HOLIDAY: MSG_HOLIDAY,
}


@dataclass(slots=True)
class Verdict:
    allow: bool
    message: str
    reason: str
    person: dict[str, Any] | None = None
    matched_by: str = ""
    notes: list[str] = field(default_factory=list)


def _present(value: Any) -> str:
    """An identifier from the record, or "" when absent ("" and "0" mean none)."""
    text = clean_text(value)
    return "" if text in ("", "0") else text


def evaluate(matches: list[dict[str, Any]], matched_by: str, ident: str, settings: dict[str, Any] | None,
             at: float) -> Verdict:
    """The built-in rules (module docstring) for the people found; pure, for tests and the bench."""
    if not matches:
        what = f"{matched_by} {ident}" if matched_by else "no UserID, CardNum or QRCode"
        return Verdict(False, MSG_UNKNOWN, f"unknown person ({what})", None, matched_by)
    if len(matches) > 1:
        ids = ", ".join(str(m.get("UserID")) for m in matches)
        return Verdict(False, MSG_UNKNOWN, f"{matched_by} {ident} matches several people ({ids})", None, matched_by)
    person = matches[0]
    uid = person.get("UserID")
    judgement = access.judge(person, settings, at)
    if judgement.refusal is not None:
        return Verdict(False, _REFUSAL_MESSAGES[judgement.refusal], f"user {uid}: {judgement.reason}", person,
                       matched_by, judgement.notes)
    reason = f"user {uid}: allowed by the rules (matched by {matched_by})"
    return Verdict(True, _welcome(person), reason, person, matched_by, judgement.notes)


def _welcome(person: dict[str, Any] | None) -> str:
    if person is None:
        return "Welcome"
    return f"Welcome, {clean_text(person.get('Name')) or 'user ' + clean_text(person.get('UserID'))}"


def clock_offset(seconds: float) -> str:
    """A clock difference an operator can read: "2 days 3 hours ahead of", "5 min 12 s behind"."""
    direction = "ahead of" if seconds > 0 else "behind"
    left = int(abs(seconds))
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if days:
        text = f"{days} day{'s' if days != 1 else ''} {hours} hour{'s' if hours != 1 else ''}"
    elif hours:
        text = f"{hours} hour{'s' if hours != 1 else ''} {minutes} min"
    else:
        text = f"{minutes} min {secs} s"
    return f"{text} {direction}"


def _deny_unreadable(ctx: Context, reason: str) -> dict[str, Any]:
    """Keep the raw request for review, and deny: an unreadable request never opens a door."""
    return ctx.quarantine(reason, {"Success": DENY, "Message": MSG_UNREADABLE})


@handles("RequestAuthorization")
async def request_authorization(ctx: Context) -> dict[str, Any]:
    started = time.perf_counter()
    decoded = ctx.decoded
    if decoded.document is None:
        return _deny_unreadable(ctx, f"no JSON part ({' or '.join(decoded.endpoint.json_part)})")
    try:
        record = identify_record(decoded.document, AUTH)
    except RecordError as exc:
        return _deny_unreadable(ctx, str(exc))

    at, server_now = float(record.record_date), time.time()
    skew_note = None
    if abs(at - server_now) > MAX_CLOCK_SKEW:
        skew_note = (f"RecordDate {record.record_date}: the device clock is {clock_offset(at - server_now)} "
                     "the server clock; judged now")
        at = server_now
    detail = decoded.document
    user_id, card, qrcode = (_present(detail.get(k)) for k in ("UserID", "CardNum", "QRCode"))
    matches, matched_by = ctx.store.people.find_by_credential(user_id, card, qrcode)
    ident = {"UserID": user_id, "CardNum": card, "QRCode": qrcode}.get(matched_by, "")
    verdict = evaluate(matches, matched_by, ident, ctx.store.settings.document(ctx.sn), at)
    reason = verdict.reason
    allow, message = verdict.allow, verdict.message

    photo_hash, photo = None, decoded.photo
    if photo is not None and photo.data:
        if len(photo.data) > MAX_PHOTO_BYTES:
            record.warnings.append(f"photo of {len(photo.data)} bytes over the limit; not kept")
        else:
            photo_hash = ctx.store.files.put(photo.data, photo.content_type or "image/jpeg").sha256

    if ctx.config.auth_webhook:
        payload = {
            "sn": ctx.sn, "record": detail,
            "photo": {"size": len(photo.data), "sha256": photo_hash} if photo is not None and photo.data else None,
            "person": verdict.person, "matched_by": verdict.matched_by,
            "rules": {"allow": verdict.allow, "message": verdict.message, "reason": verdict.reason},
        }
        try:
            answer = await webhook.ask(ctx.config.auth_webhook, payload, ctx.config.auth_timeout)
        except webhook.WebhookError as exc:
            reason = f"webhook failed: {exc}; rules: {verdict.reason}"
            log.warning("auth webhook for %s: %s; decided by the rules", ctx.sn, exc)
        else:
            allow = answer.allow
            message = answer.message or (_welcome(verdict.person) if allow else MSG_DENIED)
            reason = f"webhook: {'allowed' if allow else 'denied'}" + (f" ({answer.message})" if answer.message else "")
            reason += f"; rules would have {'allowed' if verdict.allow else 'denied'}: {verdict.reason}"

    code = (ALLOW_SILENT if ctx.config.auth_silent else ALLOW) if allow else DENY
    notes = [n for n in (skew_note, *verdict.notes) if n]
    if notes:
        reason += " [" + "; ".join(notes) + "]"
    record.warnings.extend(decoded.quirks)
    ctx.store.records.add(ctx.sn, record, photo=photo_hash, decision=code, reason=reason)
    log.debug("auth %s record %s: %s in %.1f ms", ctx.sn, record.record_id, reason,
              (time.perf_counter() - started) * 1000)
    if code == ALLOW_SILENT:
        return {"Success": code}
    return {"Success": code, "Message": message}
