"""A simulated FCARD terminal that follows the document's call flow (调用流程).

Boot: keepalive, then UploadWorkSetting. Every interval: keepalive, then the
work its answer flags, in the Keepalive section's priority (protocol.md 1.1:
UploadWorkParameter, Remote, SyncParameter, DeletePeople, AddPeople), then
pushes the device owes (PushPeople), then the record backlog; and the next
keepalive leaves on time whatever is left (no request waits past it).

`SimDevice` is the coordinator: it owns the life cycle (power on, the period,
restart, factory reset, what survives in flash) and holds the parts, one module
each, which share one `Context` (sim/context.py):

    door.py          relay, sensor, keep-open, lock, alarms, elevator ports
    records.py       the record log; making access events; uploading the backlog
    auth.py          offline judging and online authorization (RequestAuthorization)
    enrolment.py     RegisterIdentifyTicket and its result
    remote.py        RemoteCommand: obeying the answer, the follow-up calls
    people_sync.py   AddPeople, DeletePeople, PushPeople
    work_settings.py UploadWorkSetting and SyncParameter

Callers reach state and logic through the part that holds it (`dev.ctx.sn`,
`dev.door.alarms`, `dev.remote.apply`); code values come from sim/codes.py.
The device logic (what to do with an answer) lives in plain methods that take
and return data (`keepalive_doc`, `work_settings.apply_settings`, `remote.apply`,
`enrolling.enrol`, `records.make_identify_record`, ...), so it can be tested
without a network; the async methods per endpoint do the HTTP call and hand the
answer to them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from facectl.protocol.device_rules import flag_set
from facectl.protocol.endpoints import KEEPALIVE_FLAGS, endpoint_for_flag

from . import wire
from .auth import Access
from .codes import SYS_FORMATTED, SYS_POWER_ON
from .config import SimConfig
from .context import Context
from .door import Door
from .enrolment import Enrolling
from .flow import DeviceRestart, Flow
from .pacer import Pacer
from .people_sync import PeopleSync
from .records import PendingRecord, Records
from .remote import Remote
from .state import Saved, StateDir
from .stats import Stats
from .transport import Answer, SessionFactory, Transport, make_client
from .work_settings import WorkSettings

#: Keepalive flag's endpoint -> the part and its method doing the work (looked up when it runs,
#: so a test may replace a part).
FLAG_WORK: dict[str, tuple[str, str]] = {
    "UploadWorkSetting": ("work_settings", "upload_settings"),
    "RemoteCommand": ("remote", "remote_command"),
    "DownloadWorkSetting": ("work_settings", "sync_settings"),
    "DeletePeopleList": ("people_sync", "delete_people"),
    "DownloadPeopleList": ("people_sync", "download_people"),
}


class SimDevice:
    """One simulated terminal. Use `run()`, or `boot()` and `cycle()` to drive it step by step."""

    def __init__(
        self, sn: str, config: SimConfig | None = None, stats: Stats | None = None, *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx = Context(sn, config or SimConfig(), stats or Stats(), clock)
        self.log = ctx.log
        self.door = Door(ctx)
        self.access = Access(ctx, self.door)
        self.records = Records(ctx, self.access)
        self.enrolling = Enrolling(ctx)
        self.remote = Remote(ctx, self.door, self.enrolling, self.factory_reset)
        self.people_sync = PeopleSync(ctx)
        self.work_settings = WorkSettings(ctx, self.door)
        self.boots = 0
        self._session_factory: SessionFactory | None = None
        # run()'s pacing: when it ends, the current keepalive's due and sent times, the task
        # doing a period's work, and the keepalive request as last built (with its document)
        self._finished: asyncio.Future[None] | None = None
        self._until = self._due = self._sent_at = 0.0
        self._work: asyncio.Task[None] | None = None
        self._ka_doc: dict[str, Any] | None = None
        self._ka_body: wire.Body | None = None
        #: Flash memory: what survives a reboot (config.state_dir; sim/state.py).
        self.state = StateDir(ctx.config.state_dir, sn) if ctx.config.state_dir else None
        if self.state is not None:
            self._restore()
        for flag in KEEPALIVE_FLAGS:  # every flag of the catalog has a part doing its work
            assert endpoint_for_flag(flag).name in FLAG_WORK, flag

    # ------------------------------------------------------------------ state

    def _restore(self) -> None:
        """Power on with what the terminal kept (sim/state.py): people, settings, RecordID, records."""
        assert self.state is not None
        ctx = self.ctx
        saved, people = self.state.load()
        if saved is None:
            return
        ctx.settings = saved.settings
        ctx.log.next_record_id = saved.next_record_id
        for kind, detail, seed, size in saved.backlog:
            ctx.log.requeue(PendingRecord(kind, detail, seed, size))
        for person in people:
            ctx.people.put(person)
        try:
            ctx.interval = max(1.0, float(ctx.settings.get("HTTPClient_KeepaliveTime", ctx.interval)))
        except (TypeError, ValueError):
            pass

    def save_state(self) -> None:
        """Write what a terminal keeps in flash, when the simulator was given a state directory."""
        if self.state is None:
            return
        ctx = self.ctx
        backlog = [[r.kind, r.detail, r.photo_seed, r.photo_size] for r in ctx.log.waiting()]
        self.state.save(Saved(ctx.settings, ctx.log.next_record_id, backlog), ctx.people)

    def keepalive_doc(self) -> dict[str, Any]:
        """The Keepalive request: the serial and the door state as it is now."""
        return {"SN": self.ctx.sn, **self.door.status(), "AlarmStatus": ",".join(self.door.alarms)}

    # ----------------------------------------------------------- life cycle

    def boot(self) -> None:
        """Power on: settings not uploaded yet, door released, a power-on system record."""
        self.boots += 1
        self.work_settings.uploaded = False
        self.door.power_on()
        self.ctx.settings["BootTime"] = int(self.ctx.clock())
        self.log.system_event(SYS_POWER_ON)
        self.records.pause_until = 0.0
        self.people_sync.page = None  # a page in progress is lost with the RAM; the server hands it out again

    def factory_reset(self) -> None:
        ctx = self.ctx
        ctx.people.clear()
        self.log.clear()
        ctx.push_queue.clear()
        self.access.auth_queue.clear()
        self.door.factory_reset()
        ctx.interval = float(ctx.config.interval)
        ctx.settings = ctx.fresh_settings()
        self.log.system_event(SYS_FORMATTED)

    async def start(self, session_factory: SessionFactory | None = None) -> None:
        """Open the device's connection and power on, as `run()` begins; then drive it with `step()`
        (and `close()` it at the end)."""
        config = self.ctx.config
        self._session_factory = session_factory or (
            lambda: make_client(config.server, max(30.0, 2 * self.ctx.interval), config.verify_tls))
        self._open_transport()
        self.boot()

    async def step(self, deadline: float) -> Flow:
        """One keepalive period, `cycle(deadline)`, and the restart it may end with carried out
        (as `run()` does, without the boot delay: the caller paces the next keepalive)."""
        try:
            return await self.cycle(deadline)
        except DeviceRestart as exc:
            await self.restart(str(exc))
            return Flow.STOP

    async def run(self, session_factory: SessionFactory | None, until: float,
                  start_at: float | None = None) -> None:
        """Run until loop time `until`: boot, then a keepalive every interval, work in between.

        The device's clock is the loop's pacer (sim/pacer.py): a period whose keepalive finds
        the connection open and whose answer flags nothing (and the device owes nothing)
        runs without a coroutine; anything else (the boot, flagged work, records, a
        keepalive that fails) runs `cycle`'s steps in a task, exactly as before.
        """
        loop = asyncio.get_running_loop()
        await self.start(session_factory)
        self._until = until
        self._finished = loop.create_future()
        self._schedule(loop.time() if start_at is None else start_at)
        try:
            await self._finished
        finally:
            self._finished = None  # a pacer call still queued finds the run over
            work = self._work
            if work is not None and not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            await self.close()

    # ------------------------------------------------- the period, paced (run)

    def _schedule(self, due: float) -> None:
        """The next keepalive at loop time `due`, or the end of the run."""
        finished = self._finished
        if finished is None or finished.done():
            return
        if due >= self._until - self.ctx.config.min_request_window:
            finished.set_result(None)
            return
        self._due = due
        Pacer.of().at(due, self._period)

    def _period(self) -> None:
        """A keepalive is due: send it on the open connection, else run the period in a task."""
        if self._finished is None or self._finished.done():
            return
        ctx = self.ctx
        sent_at = asyncio.get_running_loop().time()
        ctx.stats.keepalive_sent(sent_at - self._due, ctx.config.keepalive_slack)
        self._sent_at = sent_at
        deadline = min(sent_at + ctx.interval, self._until)
        self.records.generate_records()
        if ctx.transport is not None and not ctx.faults.quirky_json:
            doc = self.keepalive_doc()
            if doc != self._ka_doc:  # the door changed: the request's bytes are made again
                self._ka_doc, self._ka_body = doc, wire.json_body(doc, ctx.variants)
            ctx.calls.append("Keepalive")
            if ctx.transport.start_call("Keepalive", self._ka_body, deadline,
                                        lambda ka, finished: self._answered(ka, finished, deadline)):
                return
            ctx.calls.pop()
        self._spawn(self._keepalive_then_work(deadline, None))

    def _answered(self, ka: Answer, finished: bool, deadline: float) -> None:
        """The keepalive's answer (or its first try's failure): done, unless it asks for work."""
        if self._finished is None or self._finished.done():
            return
        self.ctx.last_answer = ka
        if not finished:
            self._spawn(self._keepalive_then_work(deadline, ka))
            return
        self._keepalive_outcome(ka)
        if ka.ok and not self._work_to_do(ka):
            self.save_state()
            self._schedule(self._sent_at + self.ctx.interval)
        else:
            self._spawn(self._work_then_next(ka, deadline))

    def _work_to_do(self, ka: Answer) -> bool:
        """Whether `_after_keepalive` would send anything after this answer."""
        log = self.log
        return bool(not self.work_settings.uploaded or self.access.auth_queue or self.people_sync.page
                    or self.ctx.push_queue or log.identify_backlog or any(log.system_backlog.values())
                    or any(flag_set(ka.doc, flag) for flag in KEEPALIVE_FLAGS))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._work = asyncio.get_running_loop().create_task(work)
        self._work.add_done_callback(self._work_done)

    def _work_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._finished is None or self._finished.done():
            return
        if task.exception() is not None:
            self._finished.set_exception(task.exception())  # run() raises it, as it always did

    async def _keepalive_then_work(self, deadline: float, resume: Answer | None) -> None:
        """The period in a coroutine: the keepalive (or the tries its first one left) and the work."""
        try:
            ka = await self.keepalive(deadline, resume=resume)
        except BaseException:
            self.save_state()
            raise
        await self._work_then_next(ka, deadline)

    async def _work_then_next(self, ka: Answer, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            try:
                await self._after_keepalive(ka, deadline)
            finally:
                self.save_state()
            due = self._sent_at + self.ctx.interval
        except DeviceRestart as exc:
            await self.restart(str(exc))
            due = loop.time() + self.ctx.config.boot_seconds
        self._schedule(due)

    def _open_transport(self) -> None:
        assert self._session_factory is not None
        ctx = self.ctx
        ctx.transport = Transport(
            self._session_factory(), ctx.config.server, ctx.stats, rng=ctx.rng,
            timeout_fault=ctx.faults.timeout, timeout_scale=ctx.config.timeout_scale,
            min_window=ctx.config.min_request_window)

    async def close(self) -> None:
        self.save_state()
        if self.ctx.transport is not None:
            await self.ctx.transport.close()
            self.ctx.transport = None

    async def restart(self, reason: str = "") -> None:
        """Drop the connection and boot again (the next call is a keepalive)."""
        self.ctx.stats.count("restarts")
        await self.close()
        self._open_transport()
        self.boot()

    async def cycle(self, deadline: float) -> Flow:
        """One keepalive period: keepalive, flagged work in priority order, pushes, records.

        What the terminal keeps in flash is written after each period (with a state directory).
        """
        try:
            return await self._cycle(deadline)
        finally:
            self.save_state()

    async def _cycle(self, deadline: float) -> Flow:
        self.records.generate_records()
        return await self._after_keepalive(await self.keepalive(deadline), deadline)

    async def _after_keepalive(self, ka: Answer, deadline: float) -> Flow:
        """The rest of a period: what the keepalive's answer asks for, pushes, records."""
        if not ka.ok:
            self.access.decide_offline()
            return Flow.STOP
        uploaded_now = False
        if not self.work_settings.uploaded:
            if await self.work_settings.upload_settings(deadline) is Flow.STOP:
                return Flow.STOP
            uploaded_now = True
        if await self.access.authorize_pending(deadline) is Flow.STOP:
            return Flow.STOP
        for flag in KEEPALIVE_FLAGS:
            name = endpoint_for_flag(flag).name
            if not flag_set(ka.doc, flag) and not (name == "DownloadPeopleList" and self.people_sync.page):
                continue
            if name == "UploadWorkSetting" and uploaded_now:
                continue
            part, work = FLAG_WORK[name]
            if await getattr(getattr(self, part), work)(deadline) is Flow.STOP:
                return Flow.STOP
        if await self.people_sync.push_pending(deadline) is Flow.STOP:
            return Flow.STOP
        return await self.records.upload_backlog(deadline)

    async def keepalive(self, deadline: float, *, resume: Answer | None = None) -> Answer:
        """The Keepalive call (`resume`: the remaining tries of one `_period` began)."""
        if resume is None:
            answer = await self.ctx.post_json("Keepalive", self.keepalive_doc(), deadline)
        else:
            answer = await self.ctx.resume_json(resume, self.keepalive_doc(), deadline)
        self._keepalive_outcome(answer)
        return answer

    def _keepalive_outcome(self, answer: Answer) -> None:
        if answer.quiet:
            self.ctx.stats.count("quiet until next keepalive")
        elif not answer.ok and not answer.deferred:
            self.ctx.stats.count("keepalive failed")


__all__ = ["SimDevice"]
