"""Who a simulated terminal lets in: decided offline like firmware, or asked of the server.

Offline the terminal judges a person it holds by the rules of protocol/access.py (a refusal
becomes the record's type; a granted open uses one of the person's counted opens). With
online authorization (config.online_auth) each identify event waits for a RequestAuthorization
answer, and is decided offline when none comes. Either way the event is then logged and
uploaded like any other, and the door opens for whoever is let in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facectl.protocol import access
from facectl.protocol.identity import clean_text
from facectl.protocol.numbers import as_int

from .codes import AUTH_ANSWERS, AUTH_DENY
from .flow import Flow
from .people import StoredPerson
from .records import HISTORY_SIZE, PendingRecord, record_parts
from .transport import Answer

if TYPE_CHECKING:
    from .context import Context
    from .door import Door


@dataclass(slots=True)
class AuthDecision:
    """One identify event in online-authorization mode, and what came of it."""

    record: PendingRecord
    success: int | None  # the server's Success (0 deny, 1 or 2 allow); None: no answer, decided offline
    message: str = ""
    opened: bool = False


class Access:
    """The access part: judging, asking the server, and letting people through the door."""

    def __init__(self, ctx: Context, door: Door) -> None:
        self.ctx = ctx
        self.door = door
        #: Events waiting for the server's decision (online authorization), and the decisions.
        self.auth_queue: deque[PendingRecord] = deque()
        self.auth_log: deque[AuthDecision] = deque(maxlen=HISTORY_SIZE)

    def queue_event(self, rec: PendingRecord, when: float) -> None:
        """An identify event: to the server for a decision first (online auth), else decided here."""
        if self.ctx.config.online_auth:
            self.auth_queue.append(rec)
            return
        self.ctx.log.identify_backlog.append(rec)
        if granted(rec):
            self.door.passed(when)

    def judge(self, rec: PendingRecord, person: StoredPerson, when: float) -> None:
        """Decide offline like a terminal (protocol/access.py): a refusal becomes the record's type;
        a granted open uses one of the person's counted opens."""
        refusal = access.offline_refusal(person.detail, self.ctx.settings, when)
        if refusal is not None:
            rec.detail["RecordType"] = refusal
            self.ctx.stats.count("refused offline")
            return
        before = person.detail.get("OpenTimes")
        access.after_open(person.detail)
        if person.detail.get("OpenTimes") != before:
            self.ctx.people.touch()

    def decide(self, rec: PendingRecord, answer: Answer | None) -> AuthDecision:
        """Act on a RequestAuthorization answer; no usable answer: the device decides offline, as
        it does without online authorization (people it holds pass). The event is then logged
        (uploaded with UploadIdentifyRecord) like any other."""
        stats = self.ctx.stats
        success = answer.success if answer is not None and answer.status == 200 else None
        if answer is not None and success in AUTH_ANSWERS:
            message = clean_text(answer.doc.get("Message")) if isinstance(answer.doc, dict) else ""
            decision = AuthDecision(rec, success, message, success != AUTH_DENY)
            stats.count("authorization: " + ("allowed" if decision.opened else "denied"))
        else:
            person = self.ctx.people.get(as_int(rec.detail.get("UserID")) or 0)
            if person is not None:
                self.judge(rec, person, rec.detail["RecordDate"])
            decision = AuthDecision(rec, None, "", granted(rec))
            stats.count("authorization: no answer, decided offline")
        self.auth_log.append(decision)
        self.ctx.log.identify_backlog.append(rec)
        if decision.opened:
            self.door.passed(rec.detail["RecordDate"])
        return decision

    def decide_offline(self) -> None:
        """The server is out of reach: nobody waits at the door for it."""
        while self.auth_queue:
            self.decide(self.auth_queue.popleft(), None)

    async def authorize_pending(self, deadline: float) -> Flow:
        """Online authorization: ask the server about each waiting identify event, oldest first."""
        while self.auth_queue and self.ctx.has_time(deadline):
            answer = await self.request_authorization(self.auth_queue[0], deadline)
            if answer.deferred:
                return Flow.STOP
            self.decide(self.auth_queue.popleft(), answer)
            if answer.quiet:
                self.ctx.stats.count("quiet until next keepalive")
                return Flow.STOP
        return Flow.CONTINUE

    async def request_authorization(self, rec: PendingRecord, deadline: float) -> Answer:
        """RequestAuthorization (在线鉴权): the record, as uploaded later, with its photo."""
        return await self.ctx.post_parts("RequestAuthorization", record_parts(self.ctx, rec), deadline,
                                         answers=AUTH_ANSWERS)


def registered(rec: PendingRecord) -> bool:
    """A record of a person the device holds (a stranger's UserID is "0")."""
    return as_int(rec.detail.get("UserID")) not in (None, 0)


def granted(rec: PendingRecord) -> bool:
    """A record of a person the device holds and did not refuse (protocol/access.py)."""
    return registered(rec) and as_int(rec.detail.get("RecordType")) not in access.OFFLINE_REFUSALS

