"""A simulated FCARD terminal that follows the document's call flow (调用流程).

Boot: keepalive, then UploadWorkSetting. Every interval: keepalive, then the
work its answer flags, in the Keepalive section's priority (protocol.md 1.1:
UploadWorkParameter, Remote, SyncParameter, DeletePeople, AddPeople), then
pushes the device owes (PushPeople), then the record backlog; and the next
keepalive leaves on time whatever is left (no request waits past it).

The device logic (what to do with an answer) lives in plain methods that take
and return data (`keepalive_doc`, `apply_settings`, `apply_remote`, `enrol`,
`make_identify_record`, ...), so it can be tested without a network; the
async methods per endpoint do the HTTP call and hand the answer to them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from facectl.protocol import multipart
from facectl.protocol.device_rules import flag_set
from facectl.protocol.endpoints import KEEPALIVE_FLAGS, endpoint_for_flag
from facectl.protocol.limits import MAX_PEOPLE_PAGE
from facectl.protocol.numbers import as_int
from facectl.protocol.settings import IDENTITY_SETTING, is_read_only, normalize_value

from . import wire
from .auth import Access, AuthDecision
from .codes import *  # noqa: F403  (the code values, importable from here as before)
from .codes import KIND_DOOR, KIND_SYSTEM, PUSH_DELETED, SYS_FORMATTED, SYS_POWER_ON
from .config import SimConfig
from .context import Context
from .door import Door
from .enrolment import Enrolling, Enrolment
from .flow import DeviceRestart, Flow
from .people import Failure, ImportInterrupted, import_person
from .records import PendingRecord, Records
from .remote import Remote, RemotePlan
from .state import Saved, StateDir
from .stats import Stats
from .transport import Answer, Fetched, SessionFactory, Transport, make_client


@dataclass(slots=True)
class PeoplePage:
    """A DownloadPeopleList page being imported (it may span a keepalive)."""

    people: list[Any]
    done: int = 0
    failures: list[Failure] = field(default_factory=list)


class _Via:
    """An attribute of a part (or of the context), read and set on the device under its own name,
    so callers and tests see one terminal whichever part holds the state."""

    def __init__(self, part: str, attr: str | None = None) -> None:
        self.part, self.attr = part, attr

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = self.attr or name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(getattr(obj, self.part), self.attr)  # type: ignore[arg-type]

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(getattr(obj, self.part), self.attr, value)  # type: ignore[arg-type]


class SimDevice:
    """One simulated terminal. Use `run()`, or `boot()` and `cycle()` to drive it step by step."""

    # The shared context: who the terminal is, its settings and people, the way to the server.
    sn = _Via("ctx")
    config = _Via("ctx")
    stats = _Via("ctx")
    clock = _Via("ctx")
    rng = _Via("ctx")
    variants = _Via("ctx")
    faults = _Via("ctx")
    interval = _Via("ctx")
    settings = _Via("ctx")
    people = _Via("ctx")
    push_queue = _Via("ctx")
    transport = _Via("ctx")
    calls = _Via("ctx")
    last_answer = _Via("ctx")
    # The record log.
    identify_backlog = _Via("log")
    system_backlog = _Via("log")
    history = _Via("log")
    next_record_id = _Via("log")
    next_id = _Via("log")
    # The parts' state and logic, under the names the terminal had before it had parts.
    alarms = _Via("door")
    elevator = _Via("door")
    keep_open = _Via("door")
    locked = _Via("door")
    auth_queue = _Via("access")
    auth_log = _Via("access")
    decide = _Via("access")
    make_identify_record = _Via("records")
    identify_event = _Via("records")
    generate_records = _Via("records")
    enrol = _Via("enrolling")
    apply_remote = _Via("remote", "apply")
    upload_snapshot = _Via("remote")
    last_snapshot = _Via("remote")
    system_files = _Via("remote")
    # Moving to the context (these names go as the parts that use them move out).
    _fresh_settings = _Via("ctx", "fresh_settings")
    _release_seconds = _Via("ctx", "release_seconds")
    _has_time = _Via("ctx", "has_time")
    _fault = _Via("ctx", "fault")
    _json_part_quirk = _Via("ctx", "json_part_quirk")
    _post_json = _Via("ctx", "post_json")
    _post_parts = _Via("ctx", "post_parts")
    _fetch = _Via("ctx", "fetch")
    _failed = _Via("ctx", "failed")
    _system_event = _Via("log", "system_event")
    _door_event = _Via("log", "door_event")

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
        # work the device owes the server
        self.page: PeoplePage | None = None  # a people page not yet finished
        self.settings_uploaded = False
        self.boots = 0
        self._session_factory: SessionFactory | None = None
        #: Flash memory: what survives a reboot (config.state_dir; sim/state.py).
        self.state = StateDir(self.config.state_dir, sn) if self.config.state_dir else None
        if self.state is not None:
            self._restore()
        self._flag_handlers: dict[str, Callable[[float], Awaitable[Flow]]] = {
            "UploadWorkSetting": self.upload_settings,
            "RemoteCommand": self.remote.remote_command,
            "DownloadWorkSetting": self.sync_settings,
            "DeletePeopleList": self.delete_people,
            "DownloadPeopleList": self.download_people,
        }
        for flag in KEEPALIVE_FLAGS:  # every flag of the catalog has a handler
            assert endpoint_for_flag(flag).name in self._flag_handlers, flag

    # ------------------------------------------------------------------ state

    def _restore(self) -> None:
        """Power on with what the terminal kept (sim/state.py): people, settings, RecordID, records."""
        assert self.state is not None
        saved, people = self.state.load()
        if saved is None:
            return
        self.settings = saved.settings
        self.next_record_id = saved.next_record_id
        for kind, detail, seed, size in saved.backlog:
            rec = PendingRecord(kind, detail, seed, size)
            (self.identify_backlog if kind is None else self.system_backlog[kind]).append(rec)
        for person in people:
            self.people.put(person)
        try:
            self.interval = max(1.0, float(self.settings.get("HTTPClient_KeepaliveTime", self.interval)))
        except (TypeError, ValueError):
            pass

    def save_state(self) -> None:
        """Write what a terminal keeps in flash, when the simulator was given a state directory."""
        if self.state is None:
            return
        backlog = [[r.kind, r.detail, r.photo_seed, r.photo_size]
                   for q in (self.identify_backlog, *self.system_backlog.values()) for r in q]
        self.state.save(Saved(self.settings, self.next_record_id, backlog), self.people)

    def keepalive_doc(self) -> dict[str, Any]:
        """The Keepalive request: the serial and the door state as it is now."""
        return {"SN": self.ctx.sn, **self.door.status(), "AlarmStatus": ",".join(self.door.alarms)}

    def settings_doc(self) -> dict[str, Any]:
        """The UploadWorkSetting document with the current state and storage counts."""
        doc = self.settings
        doc[IDENTITY_SETTING] = self.sn
        doc["SystemTime"] = int(self.clock())
        doc.update(self.door.status())
        doc["AlarmStatus"] = ",".join(self.alarms) if self.alarms else '""'  # protocol.md 3.7, as sent
        storage = doc.get("PeopleStorageInfo")
        if isinstance(storage, dict):
            for key, current in self.people.counts().items():
                if isinstance(storage.get(key), dict):
                    storage[key]["Current"] = current
            if isinstance(storage.get("Person"), dict):
                storage["Person"]["Max"] = self.people.capacity
        records = doc.get("RecordStorageInfo")
        if isinstance(records, dict):
            for key, count in (("VerifyRecord", len(self.identify_backlog)),
                               ("DoorRecord", len(self.system_backlog[KIND_DOOR])),
                               ("SystemRecord", len(self.system_backlog[KIND_SYSTEM]))):
                if isinstance(records.get(key), dict):
                    records[key]["Current"] = count
        return doc

    def apply_settings(self, answer: dict[str, Any]) -> list[str]:
        """Apply a DownloadWorkSetting answer; returns the keys that changed.

        Only settings the device has are taken; read-only fields (protocol.md 5.4, 8.5), nulls,
        the identity and the answer's own Success/Message are ignored.
        """
        changed = []
        for key, value in answer.items():
            if key in ("Success", "Message", IDENTITY_SETTING):
                continue
            if is_read_only(key):
                self.stats.count("read-only setting sent by server")
                continue
            if value is None:
                self.stats.count("null setting sent by server (ignored)")
                continue
            if key not in self.settings:
                self.stats.count("unknown setting ignored")
                continue
            value = normalize_value(value)
            if self.settings[key] != value:
                if key == "HTTPClient_KeepaliveTime":
                    try:
                        self.interval = max(1.0, float(value))
                    except (TypeError, ValueError):
                        continue
                self.settings[key] = value
                changed.append(key)
        return changed

    # ---------------------------------------------------------------- records

    # ----------------------------------------------------------- life cycle

    def boot(self) -> None:
        """Power on: settings not uploaded yet, door released, a power-on system record."""
        self.boots += 1
        self.settings_uploaded = False
        self.door.power_on()
        self.settings["BootTime"] = int(self.clock())
        self._system_event(SYS_POWER_ON)
        self.records.pause_until = 0.0
        self.page = None  # a page in progress is lost with the RAM; the server hands it out again

    def factory_reset(self) -> None:
        self.people.clear()
        self.identify_backlog.clear()
        for q in self.system_backlog.values():
            q.clear()
        self.history.clear()
        self.push_queue.clear()
        self.access.auth_queue.clear()
        self.door.factory_reset()
        self.interval = float(self.config.interval)
        self.settings = self._fresh_settings()
        self._system_event(SYS_FORMATTED)

    async def start(self, session_factory: SessionFactory | None = None) -> None:
        """Open the device's connection and power on, as `run()` begins; then drive it with `step()`
        (and `close()` it at the end)."""
        self._session_factory = session_factory or (
            lambda: make_client(self.config.server, max(30.0, 2 * self.interval), self.config.verify_tls))
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
        """Run until loop time `until`: boot, then a keepalive every interval, work in between."""
        loop = asyncio.get_running_loop()
        await self.start(session_factory)
        due = loop.time() if start_at is None else start_at
        try:
            while due < until - self.config.min_request_window:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent_at = loop.time()
                self.stats.keepalive_sent(sent_at - due, self.config.keepalive_slack)
                deadline = min(sent_at + self.interval, until)
                try:
                    await self.cycle(deadline)
                    due = sent_at + self.interval
                except DeviceRestart as exc:
                    await self.restart(str(exc))
                    due = loop.time() + self.config.boot_seconds
        finally:
            await self.close()

    def _open_transport(self) -> None:
        assert self._session_factory is not None
        self.transport = Transport(
            self._session_factory(), self.config.server, self.stats, rng=self.rng,
            timeout_fault=self.faults.timeout, timeout_scale=self.config.timeout_scale,
            min_window=self.config.min_request_window)

    async def close(self) -> None:
        self.save_state()
        if self.transport is not None:
            await self.transport.close()
            self.transport = None

    async def restart(self, reason: str = "") -> None:
        """Drop the connection and boot again (the next call is a keepalive)."""
        self.stats.count("restarts")
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
        ka = await self.keepalive(deadline)
        if not ka.ok:
            self.access.decide_offline()
            return Flow.STOP
        uploaded_now = False
        if not self.settings_uploaded:
            if await self.upload_settings(deadline) is Flow.STOP:
                return Flow.STOP
            uploaded_now = True
        if await self.access.authorize_pending(deadline) is Flow.STOP:
            return Flow.STOP
        for flag in KEEPALIVE_FLAGS:
            name = endpoint_for_flag(flag).name
            if not flag_set(ka.doc, flag) and not (name == "DownloadPeopleList" and self.page):
                continue
            if name == "UploadWorkSetting" and uploaded_now:
                continue
            if await self._flag_handlers[name](deadline) is Flow.STOP:
                return Flow.STOP
        if await self.push_pending(deadline) is Flow.STOP:
            return Flow.STOP
        return await self.records.upload_backlog(deadline)

    # --------------------------------------------------------- plumbing

    # ----------------------------------------------------- endpoint calls

    async def keepalive(self, deadline: float) -> Answer:
        answer = await self._post_json("Keepalive", self.keepalive_doc(), deadline)
        if answer.quiet:
            self.stats.count("quiet until next keepalive")
        elif not answer.ok and not answer.deferred:
            self.stats.count("keepalive failed")
        return answer

    async def upload_settings(self, deadline: float) -> Flow:
        answer = await self._post_json("UploadWorkSetting", self.settings_doc(), deadline)
        if answer.ok:
            self.settings_uploaded = True
            return Flow.CONTINUE
        self.settings_uploaded = False
        return Flow.STOP  # 记录参数上传状态为未上传，通讯进入休眠

    async def download_settings(self, deadline: float) -> Answer:
        return await self._post_json("DownloadWorkSetting", {"SN": self.sn}, deadline)

    async def sync_settings(self, deadline: float) -> Flow:
        """SyncParameter: fetch the settings, apply them, upload the result again."""
        answer = await self.download_settings(deadline)
        if not answer.ok or not isinstance(answer.doc, dict):
            return self._failed(answer)
        changed = self.apply_settings(answer.doc)
        self.stats.count("settings applied", len(changed))
        return await self.upload_settings(deadline)

    async def download_people(self, deadline: float) -> Flow:
        """AddPeople: page through DownloadPeopleList until an empty list, reporting each page.

        A page the keepalive deadline interrupts is kept and finished (and reported)
        after the next keepalive, before a new page is asked for.
        """
        limit = max(1, min(self.config.people_limit, MAX_PEOPLE_PAGE))
        if self.page is not None:
            flow = await self._work_on_page(deadline)
            if flow is not None:
                return flow
        while self._has_time(deadline):
            answer = await self._post_json("DownloadPeopleList", {"SN": self.sn, "Limit": limit}, deadline)
            if not answer.ok or not isinstance(answer.doc, dict):
                return self._failed(answer)
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
        page = self.page
        assert page is not None
        done, failures = await self.import_page(page.people[page.done:], deadline)
        page.done += done
        page.failures += failures
        if page.done < len(page.people):
            self.stats.count("people page continued after the next keepalive")
            return Flow.CONTINUE
        self.page = None
        if self._fault(self.faults.restart_mid_sync, "restart-mid-sync"):
            raise DeviceRestart("injected restart in the middle of a people sync")
        if self._fault(self.faults.drop_result, "drop-result"):
            return None
        doc = {"SN": self.sn, "SuccessCount": len(page.people) - len(page.failures),
               "FailCount": len(page.failures), "FailList": [f.wire() for f in page.failures]}
        result = await self._post_json("DownloadPeopleListResult", doc, deadline)
        if not result.ok:
            return self._failed(result)
        return None

    async def import_page(self, people: list[Any], deadline: float) -> tuple[int, list[Failure]]:
        """Import people in order until done or out of time; (how many were processed, failures)."""
        failures: list[Failure] = []

        async def fetch(url: str, max_bytes: int) -> Fetched:
            return await self._fetch(url, max_bytes, deadline)

        done = 0
        for person in people:
            if not self._has_time(deadline):
                break
            try:
                failure = await import_person(self.people, person, fetch)
            except ImportInterrupted:
                break
            if failure is not None:
                failures.append(failure)
                self.stats.count(f"people import error {failure.code}")
            else:
                self.stats.count("people imported")
            done += 1
        return done, failures

    async def delete_people(self, deadline: float) -> Flow:
        """DeletePeople: page through DeletePeopleList until it is empty, reporting each page."""
        limit = max(1, min(self.config.people_limit, MAX_PEOPLE_PAGE))
        while self._has_time(deadline):
            answer = await self._post_json("DeletePeopleList", {"SN": self.sn, "Limit": limit}, deadline)
            if not answer.ok or not isinstance(answer.doc, dict):
                return self._failed(answer)
            delete_all = as_int(answer.doc.get("DeleteAll")) == 1
            ids = [u for u in (as_int(v) for v in answer.doc.get("DeleteList") or []) if u is not None] \
                if isinstance(answer.doc.get("DeleteList"), list) else []
            if not delete_all and not ids:
                return Flow.CONTINUE
            if delete_all:
                count = self.people.clear()
            else:
                for uid in ids:
                    self.people.delete(uid)
                count = len(ids)
            self.stats.count("people deleted", count)
            if self._fault(self.faults.drop_result, "drop-result"):
                continue
            doc = {"SN": self.sn, "DeleteCount": count, "DeleteAll": 1 if delete_all else 0,
                   self.variants.delete_list_name: [] if delete_all else ids}
            result = await self._post_json("DeletePeopleListResult", doc, deadline)
            if not result.ok:
                return self._failed(result)
            if delete_all:
                return Flow.CONTINUE
        return Flow.CONTINUE

    async def push_pending(self, deadline: float) -> Flow:
        while self.push_queue and self._has_time(deadline):
            push_type, uid = self.push_queue[0]
            answer = await self.push_people(push_type, uid, deadline)
            if not answer.ok:
                flow = self._failed(answer)
                if flow is Flow.STOP:
                    return Flow.STOP  # kept: pushed again after the next keepalive
            self.push_queue.popleft()
        return Flow.CONTINUE

    async def push_people(self, push_type: int, uid: int, deadline: float) -> Answer:
        """PushPeople: SN, PushType, UserID as text; Detail as a gzip file part (protocol.md 6.4)."""
        person = self.people.get(uid) if push_type != PUSH_DELETED else None
        parts = [wire.sn_part(self.sn, self.variants),
                 multipart.text_part("PushType", str(push_type)),
                 multipart.text_part("UserID", str(uid))]
        if person is not None:
            parts.append(wire.json_part("Detail", person.wire(), self.variants, force_gzip=True,
                                        as_file=True, quirk=self._json_part_quirk()))
            if person.photo is not None:
                parts.append(wire.photo_part("Photo", person.photo))
        return await self._post_parts("PushPeople", parts, deadline)





__all__ = ["SimDevice", "Flow", "DeviceRestart", "PendingRecord", "AuthDecision", "Enrolment", "RemotePlan"]
