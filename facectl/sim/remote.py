"""RemoteCommand at a simulated terminal: obey the answer, then do the follow-up work.

The answer is read by the protocol's one reader (`commands.read_answer`), as the server's
tests read it. `apply` changes the terminal's state at once (door, alarms, records, people
to push, elevator ports) and returns a `RemotePlan`; `remote_command` then carries out the
plan's calls: a snapshot, enrolment results, firmware and system file downloads, a factory
reset and a restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from facectl.protocol import commands
from facectl.protocol.device_rules import is_url
from facectl.protocol.numbers import as_int
from facectl.protocol.people import md5_hex

from . import wire
from .codes import PUSH_QUERIED, SYS_RECORDS_DELETED
from .enrolment import Enrolling, Enrolment
from .flow import DeviceRestart, Flow
from .jpeg import make_jpeg
from .transport import Fetched

if TYPE_CHECKING:
    from .context import Context
    from .door import Door

#: The largest firmware / system file the simulator downloads.
MAX_DOWNLOAD_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class RemotePlan:
    """What a RemoteCommand answer asks the device to do beyond changing its state."""

    snapshot: bool = False
    enrolments: list[Enrolment] = field(default_factory=list)
    software: dict[str, Any] | None = None
    system_files: list[dict[str, Any]] = field(default_factory=list)
    restart: bool = False
    factory_reset: bool = False
    applied: list[str] = field(default_factory=list)
    #: "field: reason" for each command the answer carried but the device could not read.
    unreadable: list[str] = field(default_factory=list)


class Remote:
    """The RemoteCommand part. `factory_reset` is the terminal's own (it touches every part)."""

    def __init__(self, ctx: Context, door: Door, enrolling: Enrolling,
                 factory_reset: Callable[[], None]) -> None:
        self.ctx = ctx
        self.door = door
        self.enrolling = enrolling
        self.factory_reset = factory_reset
        self.last_snapshot: bytes | None = None  # the photo of the last UploadSnapshoot
        self.system_files: dict[tuple[Any, Any], str] = {}

    def apply(self, answer: dict[str, Any]) -> RemotePlan:
        """Obey a RemoteCommand answer: change state now, return the follow-up work.

        The fields the reader cannot read are named in the plan and the others still
        carried out, in the order below.
        """
        ctx = self.ctx
        read = commands.read_answer(answer)
        plan = RemotePlan(unreadable=[f"{name}: {why}" for name, why in read.unreadable])
        cmds = dict(read.commands)
        door = cmds.get(commands.OPENDOOR_FIELD)
        if door is not None:
            self.door.opendoor(door)
            plan.applied.append(f"Opendoor {door}")
        if commands.CLOSEALARM in cmds:
            self.door.close_alarms()
            plan.applied.append("Closealarm")
        if commands.CLEAR_RECORD in cmds:
            ctx.log.clear()
            ctx.log.system_event(SYS_RECORDS_DELETED)
            plan.applied.append("ClearRecord")
        if commands.REPOST_RECORD in cmds:
            plan.applied.append(f"RepostRecord ({ctx.log.repost()} records)")
        if commands.PUSH_ALL_PEOPLE in cmds:
            for uid in ctx.people.ids():
                ctx.push_queue.append((PUSH_QUERIED, uid))
            plan.applied.append("PushAllPeople")
        query = cmds.get(commands.QUERY_PEOPLE, [])
        ctx.push_queue.extend((PUSH_QUERIED, uid) for uid in query)
        if query:
            plan.applied.append(f"QueryPeople {len(query)}")
        ticket = cmds.get(commands.REGISTER_TICKET)
        if ticket is not None:
            enrolment = self.enrolling.enrol(ticket["RegisterType"], ticket.get("UserID"),
                                             ticket.get("RegisterIndex"))
            plan.enrolments.append(enrolment)
            plan.applied.append("RegisterIdentifyTicket")
        if commands.SNAPSHOT in cmds:
            plan.snapshot = True
            plan.applied.append("Snapshoot")
        if commands.PUSH_SOFTWARE in cmds:
            plan.software = cmds[commands.PUSH_SOFTWARE]
            plan.applied.append("PushSoftware")
        if commands.PUSH_SYSTEM_FILE in cmds:
            plan.system_files = cmds[commands.PUSH_SYSTEM_FILE]
            plan.applied.append("PushSystemFile")
        plan.applied += self.door.elevator_commands(cmds)
        if commands.RECOVER in cmds:
            plan.factory_reset = plan.restart = True
            plan.applied.append("Recover")
        if commands.RESTART in cmds:
            plan.restart = True
            plan.applied.append("Restart")
        return plan

    async def remote_command(self, deadline: float) -> Flow:
        ctx = self.ctx
        answer = await ctx.post_json("RemoteCommand", {"SN": ctx.sn}, deadline)
        if not answer.ok or not isinstance(answer.doc, dict):
            return ctx.failed(answer)
        plan = self.apply(answer.doc)
        for item in plan.applied:
            ctx.stats.count(f"remote: {item.split(' ')[0]}")
        for item in plan.unreadable:
            ctx.stats.count(f"remote: unreadable {item.split(':')[0]}")
        if plan.snapshot and await self.upload_snapshot(deadline) is Flow.STOP:
            return Flow.STOP
        for enrolment in plan.enrolments:
            if await self.enrolling.register_result(enrolment, deadline) is Flow.STOP:
                return Flow.STOP
            if enrolment.push_type is not None:
                ctx.push_queue.appendleft((enrolment.push_type, enrolment.user_id))
        if plan.software is not None:
            plan.restart |= await self._firmware(plan.software, deadline)
        for item in plan.system_files:
            await self._system_file(item, deadline)
        if plan.factory_reset:
            self.factory_reset()
        if plan.restart:
            raise DeviceRestart("remote restart")
        return Flow.CONTINUE

    async def _firmware(self, software: dict[str, Any], deadline: float) -> bool:
        ctx = self.ctx
        url = software.get("SoftwareURL")
        if not is_url(url):
            ctx.stats.count("firmware: bad URL")
            return False
        got = await ctx.fetch(url, MAX_DOWNLOAD_BYTES, deadline)
        if got.data is None or not _md5_matches(got.data, software.get("SoftwareMD5")):
            ctx.stats.count("firmware: download or MD5 failed")
            return False
        ctx.settings["FirmwareVerson"] = str(software.get("SoftwareVer") or ctx.settings["FirmwareVerson"])
        ctx.stats.count("firmware: updated")
        return True

    async def _system_file(self, item: dict[str, Any], deadline: float) -> None:
        key = (item.get("FileType"), item.get("FileIndex"))
        if as_int(item.get("IsDelete")) == 1:
            self.system_files.pop(key, None)
            return
        url = item.get("FileURL")
        got = await self.ctx.fetch(url, MAX_DOWNLOAD_BYTES, deadline) if is_url(url) else Fetched(None, "no URL")
        if got.data is None or not _md5_matches(got.data, item.get("FileMD5")):
            self.ctx.stats.count("system file: download or MD5 failed")
            return
        self.system_files[key] = md5_hex(got.data)

    async def upload_snapshot(self, deadline: float) -> Flow:
        ctx = self.ctx
        photo = make_jpeg(ctx.config.photo_bytes or 20000, ctx.rng.getrandbits(32))
        self.last_snapshot = photo
        parts = [wire.sn_part(ctx.sn, ctx.variants), wire.photo_part("Photo", photo, "snapshot.jpg")]
        answer = await ctx.post_parts("UploadSnapshoot", parts, deadline)
        return Flow.CONTINUE if answer.ok else ctx.failed(answer)


def _md5_matches(data: bytes, expected: Any) -> bool:
    return bool(expected) and hashlib.md5(data).hexdigest().lower() == str(expected).strip().lower()
