"""Enrolment at a simulated terminal (RegisterIdentifyTicket): a credential taken as if the
person stood in front of it, and the RegisterIdentifyTicketResult report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facectl.protocol.people import md5_hex

from . import wire
from .codes import (
    PUSH_ADDED,
    PUSH_UPDATED,
    REG_CARD,
    REG_FACE,
    REG_FINGERPRINT,
    REG_PALM,
    REG_PASSWORD,
    RESULT_DUPLICATE,
    RESULT_NO_FINGERPRINT,
    RESULT_NO_PALM,
    RESULT_OK,
)
from .flow import Flow
from .jpeg import make_jpeg
from .people import StoredPerson, random_feature

if TYPE_CHECKING:
    from .context import Context


@dataclass(slots=True)
class Enrolment:
    """The outcome of a RegisterIdentifyTicket command."""

    user_id: int
    result: int
    register_type: int
    repetition: int | None = None
    push_type: int | None = None  # PushPeople to send afterwards, when registered


class Enrolling:
    """The enrolment part: taking a credential and reporting the result."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def enrol(self, register_type: int, user_id: int | None, index: int | None) -> Enrolment:
        """Enrol a credential at the device, as if the person stood in front of it."""
        ctx, people, rng = self.ctx, self.ctx.people, self.ctx.rng
        functions = ctx.settings.get("FunctionList") or {}
        uid = user_id if user_id else (max(people.ids(), default=0) + 1)
        if register_type == REG_FINGERPRINT and not functions.get("Fingerprint", False):
            return Enrolment(uid, RESULT_NO_FINGERPRINT, register_type)
        if register_type == REG_PALM and not functions.get("Palmvein", False):
            return Enrolment(uid, RESULT_NO_PALM, register_type)
        person = people.get(uid)
        push_type = PUSH_UPDATED
        if person is None:
            person = StoredPerson(uid, {"UserID": str(uid), "Name": f"Enrolled {uid}"})
            push_type = PUSH_ADDED
        if register_type == REG_CARD:
            card = str(rng.randrange(10**7, 10**9))
            owner = people.cards.get(card)
            if owner is not None and owner != uid:
                return Enrolment(uid, RESULT_DUPLICATE, register_type, repetition=owner)
            person.detail["CardNum"] = card
        elif register_type == REG_PASSWORD:
            person.detail["Password"] = str(rng.randrange(100000, 999999))
        elif register_type == REG_FACE:
            person.photo = make_jpeg(ctx.config.photo_bytes, rng.getrandbits(32))
            person.face_feature = random_feature(rng.randbytes(96))
        elif register_type in (REG_FINGERPRINT, REG_PALM):
            target = person.fingerprints if register_type == REG_FINGERPRINT else person.palmveins
            num = index if index is not None else len(target) + 1
            data = random_feature(rng.randbytes(96))
            target[:] = [t for t in target if t.get("Num") != num]
            target.append({"Num": num, "Data": data, "MD5": md5_hex(data.encode())})
        people.put(person)
        return Enrolment(uid, RESULT_OK, register_type, push_type=push_type)

    async def register_result(self, enrolment: Enrolment, deadline: float) -> Flow:
        """RegisterIdentifyTicketResult: the outcome, with the person and photo when registered."""
        ctx = self.ctx
        if ctx.fault(ctx.faults.drop_result, "drop-result"):
            return Flow.CONTINUE
        doc: dict[str, Any] = {"SN": ctx.sn, "UserID": enrolment.user_id, "Result": enrolment.result}
        if enrolment.repetition is not None:
            doc["RepetitionUserID"] = enrolment.repetition
        parts = []
        person = ctx.people.get(enrolment.user_id) if enrolment.result == RESULT_OK else None
        if person is not None:
            doc["UserDetail"] = person.wire()
        parts.append(wire.json_part("ResultJson", doc, ctx.variants, quirk=ctx.json_part_quirk()))
        if person is not None and person.photo is not None:
            parts.append(wire.photo_part("Photo", person.photo))
        answer = await ctx.post_parts("RegisterIdentifyTicketResult", parts, deadline)
        return Flow.CONTINUE if answer.ok else ctx.failed(answer)
