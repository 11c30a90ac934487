"""Records of one simulated terminal: the log they wait in, how they are made, how they are uploaded.

`RecordLog` is the terminal's record memory, shared through the context: the identify and
system backlogs, the history of acknowledged records (for RepostRecord) and the RecordID
counter. `Records` is the part that makes access events at --records-per-min (or when a test
asks) and uploads the backlog after the flagged work: identify records one by one, then
system records in batches, pausing after an error as the document says.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facectl.protocol import multipart
from facectl.protocol.limits import MAX_SYSTEM_RECORDS
from facectl.protocol.record_columns import FROM_PERSON, RECORD_COLUMNS

from . import wire
from .codes import KIND_DOOR, KIND_SYSTEM, REC_CARD, REC_FACE, REC_PASSWORD, REC_UNREGISTERED, REC_UNREGISTERED_CARD
from .flow import Flow
from .jpeg import jpeg_size, make_jpeg
from .people import StoredPerson
from .transport import Answer

if TYPE_CHECKING:
    from .auth import Access
    from .context import Context

#: How many uploaded records a device keeps for RepostRecord.
HISTORY_SIZE = 10000


@dataclass(slots=True)
class PendingRecord:
    kind: int | None  # None: identify record; else the UploadSystemRecord kind (1 door, 2 system)
    detail: dict[str, Any]
    photo_seed: int | None = None  # the photo is made at upload time from this seed
    photo_size: int = 0

    def photo(self) -> bytes | None:
        if self.photo_seed is None:
            return None
        return make_jpeg(self.photo_size, self.photo_seed)


class RecordLog:
    """The records a terminal holds: waiting to be uploaded, and uploaded (kept for RepostRecord)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.identify_backlog: deque[PendingRecord] = deque()
        self.system_backlog: dict[int, deque[PendingRecord]] = {KIND_DOOR: deque(), KIND_SYSTEM: deque()}
        self.history: deque[PendingRecord] = deque(maxlen=HISTORY_SIZE)
        self.next_record_id = int(clock()) * 1000

    def next_id(self) -> int:
        self.next_record_id += 1
        return self.next_record_id

    def system_event(self, event: int, when: float | None = None) -> None:
        self._system(KIND_SYSTEM, event, when)

    def door_event(self, event: int, when: float | None = None) -> None:
        self._system(KIND_DOOR, event, when)

    def _system(self, kind: int, event: int, when: float | None) -> None:
        when = self.clock() if when is None else when
        self.system_backlog[kind].append(PendingRecord(
            kind, {"RecordID": self.next_id(), "RecordType": event, "RecordDate": int(when)}))

    def waiting(self) -> list[PendingRecord]:
        """Every record not yet uploaded: identify records first, then door and system records."""
        return [r for q in (self.identify_backlog, *self.system_backlog.values()) for r in q]

    def requeue(self, rec: PendingRecord) -> None:
        """Put a record back in the backlog of its kind (restored from flash, or reposted)."""
        (self.identify_backlog if rec.kind is None else self.system_backlog[rec.kind]).append(rec)

    def clear(self) -> None:
        """Forget every record, waiting or uploaded (ClearRecord, factory reset)."""
        self.identify_backlog.clear()
        for q in self.system_backlog.values():
            q.clear()
        self.history.clear()

    def repost(self) -> int:
        """Queue every uploaded record again (RepostRecord); how many."""
        count = len(self.history)
        for rec in self.history:
            self.requeue(rec)
        self.history.clear()
        return count


def record_parts(ctx: Context, rec: PendingRecord) -> list[multipart.Part]:
    """SN, the record's JSON part and its photo: UploadIdentifyRecord and RequestAuthorization alike."""
    parts = [wire.sn_part(ctx.sn, ctx.variants),
             wire.json_part(ctx.variants.record_json_part, rec.detail, ctx.variants,
                            quirk=ctx.json_part_quirk())]
    photo = rec.photo()
    if photo is not None:
        filename = "Postman_file.jpg" if ctx.variants.record_photo_part != "Photo" else "Photo.jpg"
        parts.append(wire.photo_part(ctx.variants.record_photo_part, photo, filename))
    return parts


class Records:
    """The part that makes access events and uploads the record backlog."""

    def __init__(self, ctx: Context, access: Access) -> None:
        self.ctx = ctx
        self.access = access
        self.pause_until = 0.0  # loop time: after an error the device waits before trying again
        self._carry = ctx.rng.random()  # a random phase, so a fleet does not fire in step
        self._last_generated: float | None = None

    # ---------------------------------------------------------------- making events

    def make_identify_record(self, when: float) -> PendingRecord:
        """One access event: a known person (face, card or password) or a stranger."""
        rng = self.ctx.rng
        person = self.ctx.people.pick(rng.random()) if rng.random() < 0.9 else None
        return self._identify_record(person, when)

    def identify_event(self, user_id: int | None = None, *, card: str | None = None,
                       when: float | None = None) -> PendingRecord:
        """Someone presents themselves now: the person `user_id` held by the device, else a stranger
        (with `card`: an unregistered card). The record is queued as `generate_records` queues its own
        (asked to the server first in online-authorization mode)."""
        when = self.ctx.clock() if when is None else when
        person = self.ctx.people.get(user_id) if user_id is not None else None
        rec = self._identify_record(person, when, card)
        self.access.queue_event(rec, when)
        return rec

    def _identify_record(self, person: StoredPerson | None, when: float, card: str | None = None) -> PendingRecord:
        ctx = self.ctx
        detail: dict[str, Any] = {"RecordID": ctx.log.next_id(), "RecordDate": int(when)}
        if person is None:
            kind = REC_UNREGISTERED_CARD if card else REC_UNREGISTERED
            detail.update(RecordType=kind, UserID="0", Name="", CardNum=card or "0")
        else:
            d = person.detail
            kind = REC_FACE
            if not (person.photo or person.face_feature):
                kind = REC_CARD if person.card else REC_PASSWORD
            detail.update(RecordType=kind, UserID=str(person.user_id))
            for key in FROM_PERSON:
                if d.get(key):
                    detail[key] = d[key]
            detail["CardNum"] = person.card or "0"
        for column in RECORD_COLUMNS:  # what a terminal sends for a field it has nothing for
            if column.blank is not None:
                detail.setdefault(column.wire, column.blank)
        detail["IsEntry"] = 1 if ctx.rng.random() < 0.6 else 0
        detail["BodyTemp"] = ctx.rng.randrange(360, 373) if ctx.settings.get("UseBodyTemperature") else 0
        rec = PendingRecord(None, detail)
        if ctx.settings.get("SaveRecordPicture", 1) and ctx.config.photo_bytes > 0:
            rec.photo_seed = ctx.rng.getrandbits(32)
            rec.photo_size = ctx.config.photo_bytes
        detail["PhotoLen"] = jpeg_size(rec.photo_size) if rec.photo_seed is not None else 0
        if person is not None and not ctx.config.online_auth:
            self.access.judge(rec, person, when)
        return rec

    def generate_records(self, now: float | None = None) -> int:
        """Produce the records of the time since the last call at --records-per-min."""
        ctx = self.ctx
        now = ctx.clock() if now is None else now
        if self._last_generated is None or ctx.config.records_per_min <= 0:
            self._last_generated = now
            return 0
        elapsed = max(0.0, now - self._last_generated)
        self._last_generated = now
        self._carry += elapsed * ctx.config.records_per_min / 60.0
        count = int(self._carry)
        self._carry -= count
        for i in range(count):
            when = now - elapsed + elapsed * (i + 1) / (count + 1)
            self.access.queue_event(self.make_identify_record(when), when)
        if count:
            ctx.stats.count("records generated", count)
        return count

    # ---------------------------------------------------------------- uploading

    async def upload_backlog(self, deadline: float) -> Flow:
        """Records after the flagged work: identify records one by one, then system batches."""
        ctx, log = self.ctx, self.ctx.log
        loop = asyncio.get_running_loop()
        while ctx.has_time(deadline):
            if not (log.identify_backlog or any(log.system_backlog.values())):
                return Flow.CONTINUE
            if loop.time() < self.pause_until:
                # After an error the device waits before trying again (10 s by the document).
                if self.pause_until >= deadline - ctx.config.min_request_window:
                    return Flow.CONTINUE
                await asyncio.sleep(self.pause_until - loop.time())
                continue
            if log.identify_backlog:
                flow = await self.upload_identify_record(log.identify_backlog[0], deadline)
            else:
                kind = KIND_DOOR if log.system_backlog[KIND_DOOR] else KIND_SYSTEM
                flow = await self.upload_system_records(kind, deadline)
            if flow is Flow.STOP:
                return Flow.STOP
        return Flow.CONTINUE

    def _failed(self, answer: Answer) -> Flow:
        if answer.deferred:
            return Flow.STOP
        if answer.quiet:
            self.ctx.stats.count("quiet until next keepalive")
            return Flow.STOP
        self.pause_until = asyncio.get_running_loop().time() + self.ctx.config.record_retry_pause
        self.ctx.stats.count("record upload failed; retry after pause")
        return Flow.CONTINUE

    async def upload_identify_record(self, rec: PendingRecord, deadline: float) -> Flow:
        ctx = self.ctx
        answer = await self._send_identify(rec, deadline)
        if not answer.ok:
            return self._failed(answer)
        ctx.log.identify_backlog.popleft()
        ctx.log.history.append(rec)
        ctx.stats.count("identify records uploaded")
        if ctx.fault(ctx.faults.duplicate_records, "duplicate-records"):
            await self._send_identify(rec, deadline)
        return Flow.CONTINUE

    async def _send_identify(self, rec: PendingRecord, deadline: float) -> Answer:
        return await self.ctx.post_parts("UploadIdentifyRecord", record_parts(self.ctx, rec), deadline)

    async def upload_system_records(self, kind: int, deadline: float) -> Flow:
        ctx = self.ctx
        queue = ctx.log.system_backlog[kind]
        batch = [queue[i] for i in range(min(len(queue), ctx.config.system_batch, MAX_SYSTEM_RECORDS))]
        doc = {"SN": ctx.sn, "RecordType": kind, "Records": [r.detail for r in batch]}
        answer = await ctx.post_json("UploadSystemRecord", doc, deadline)
        if not answer.ok:
            return self._failed(answer)
        for _ in batch:
            ctx.log.history.append(queue.popleft())
        ctx.stats.count("system records uploaded", len(batch))
        if ctx.fault(ctx.faults.duplicate_records, "duplicate-records"):
            await ctx.post_json("UploadSystemRecord", doc, deadline)
        return Flow.CONTINUE
