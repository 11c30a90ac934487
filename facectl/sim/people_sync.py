"""People traffic of a simulated terminal: AddPeople, DeletePeople and the PushPeople it owes.

AddPeople pages through DownloadPeopleList until an empty list, importing each person
(sim/people.py) and reporting each page; a page the keepalive deadline interrupts is kept
and finished after the next keepalive. DeletePeople pages through DeletePeopleList.
PushPeople reports what changed at the terminal (enrolment, QueryPeople, PushAllPeople),
oldest first, from the context's push queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from facectl.protocol import multipart
from facectl.protocol.limits import MAX_PEOPLE_PAGE
from facectl.protocol.numbers import as_int

from . import wire
from .codes import PUSH_DELETED
from .flow import DeviceRestart, Flow
from .people import Failure, ImportInterrupted, import_person
from .transport import Answer, Fetched

if TYPE_CHECKING:
    from .context import Context


@dataclass(slots=True)
class PeoplePage:
    """A DownloadPeopleList page being imported (it may span a keepalive)."""

    people: list[Any]
    done: int = 0
    failures: list[Failure] = field(default_factory=list)


class PeopleSync:
    """The people part: downloading, deleting and pushing people."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.page: PeoplePage | None = None  # a people page not yet finished

    def _limit(self) -> int:
        return max(1, min(self.ctx.config.people_limit, MAX_PEOPLE_PAGE))

    async def download_people(self, deadline: float) -> Flow:
        """AddPeople: page through DownloadPeopleList until an empty list, reporting each page.

        A page the keepalive deadline interrupts is kept and finished (and reported)
        after the next keepalive, before a new page is asked for.
        """
        ctx = self.ctx
        limit = self._limit()
        if self.page is not None:
            flow = await self._work_on_page(deadline)
            if flow is not None:
                return flow
        while ctx.has_time(deadline):
            answer = await ctx.post_json("DownloadPeopleList", {"SN": ctx.sn, "Limit": limit}, deadline)
            if not answer.ok or not isinstance(answer.doc, dict):
                return ctx.failed(answer)
            people = answer.doc.get("PeopleList")
            if not isinstance(people, list) or not people:
                return Flow.CONTINUE
            self.page = PeoplePage(people)
            flow = await self._work_on_page(deadline)
            if flow is not None:
                return flow
        return Flow.CONTINUE

    async def _work_on_page(self, deadline: float) -> Flow | None:
        """Import the rest of the current page and report it; None: ask for the next page."""
        ctx, page = self.ctx, self.page
        assert page is not None
        done, failures = await self.import_page(page.people[page.done:], deadline)
        page.done += done
        page.failures += failures
        if page.done < len(page.people):
            ctx.stats.count("people page continued after the next keepalive")
            return Flow.CONTINUE
        self.page = None
        if ctx.fault(ctx.faults.restart_mid_sync, "restart-mid-sync"):
            raise DeviceRestart("injected restart in the middle of a people sync")
        if ctx.fault(ctx.faults.drop_result, "drop-result"):
            return None
        doc = {"SN": ctx.sn, "SuccessCount": len(page.people) - len(page.failures),
               "FailCount": len(page.failures), "FailList": [f.wire() for f in page.failures]}
        result = await ctx.post_json("DownloadPeopleListResult", doc, deadline)
        if not result.ok:
            return ctx.failed(result)
        return None

    async def import_page(self, people: list[Any], deadline: float) -> tuple[int, list[Failure]]:
        """Import people in order until done or out of time; (how many were processed, failures)."""
        ctx = self.ctx
        failures: list[Failure] = []

        async def fetch(url: str, max_bytes: int) -> Fetched:
            return await ctx.fetch(url, max_bytes, deadline)

        done = 0
        for person in people:
            if not ctx.has_time(deadline):
                break
            try:
                failure = await import_person(ctx.people, person, fetch)
            except ImportInterrupted:
                break
            if failure is not None:
                failures.append(failure)
                ctx.stats.count(f"people import error {failure.code}")
            else:
                ctx.stats.count("people imported")
            done += 1
        return done, failures

    async def delete_people(self, deadline: float) -> Flow:
        """DeletePeople: page through DeletePeopleList until it is empty, reporting each page."""
        ctx = self.ctx
        limit = self._limit()
        while ctx.has_time(deadline):
            answer = await ctx.post_json("DeletePeopleList", {"SN": ctx.sn, "Limit": limit}, deadline)
            if not answer.ok or not isinstance(answer.doc, dict):
                return ctx.failed(answer)
            delete_all = as_int(answer.doc.get("DeleteAll")) == 1
            ids = [u for u in (as_int(v) for v in answer.doc.get("DeleteList") or []) if u is not None] \
                if isinstance(answer.doc.get("DeleteList"), list) else []
            if not delete_all and not ids:
                return Flow.CONTINUE
            if delete_all:
                count = ctx.people.clear()
            else:
                for uid in ids:
                    ctx.people.delete(uid)
                count = len(ids)
            ctx.stats.count("people deleted", count)
            if ctx.fault(ctx.faults.drop_result, "drop-result"):
                continue
            doc = {"SN": ctx.sn, "DeleteCount": count, "DeleteAll": 1 if delete_all else 0,
                   ctx.variants.delete_list_name: [] if delete_all else ids}
            result = await ctx.post_json("DeletePeopleListResult", doc, deadline)
            if not result.ok:
                return ctx.failed(result)
            if delete_all:
                return Flow.CONTINUE
        return Flow.CONTINUE

    async def push_pending(self, deadline: float) -> Flow:
        """The PushPeople the device owes, oldest first; one that fails stays for the next period."""
        ctx = self.ctx
        while ctx.push_queue and ctx.has_time(deadline):
            push_type, uid = ctx.push_queue[0]
            answer = await self.push_people(push_type, uid, deadline)
            if not answer.ok:
                flow = ctx.failed(answer)
                if flow is Flow.STOP:
                    return Flow.STOP  # kept: pushed again after the next keepalive
            ctx.push_queue.popleft()
        return Flow.CONTINUE

    async def push_people(self, push_type: int, uid: int, deadline: float) -> Answer:
        """PushPeople: SN, PushType, UserID as text; Detail as a gzip file part (protocol.md 6.4)."""
        ctx = self.ctx
        person = ctx.people.get(uid) if push_type != PUSH_DELETED else None
        parts = [wire.sn_part(ctx.sn, ctx.variants),
                 multipart.text_part("PushType", str(push_type)),
                 multipart.text_part("UserID", str(uid))]
        if person is not None:
            parts.append(wire.json_part("Detail", person.wire(), ctx.variants, force_gzip=True,
                                        as_file=True, quirk=ctx.json_part_quirk()))
            if person.photo is not None:
                parts.append(wire.photo_part("Photo", person.photo))
        return await ctx.post_parts("PushPeople", parts, deadline)
