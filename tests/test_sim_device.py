"""The simulated device over real HTTP, against a small scripted server written here.

The fake server is the *test double for the server*: the client under test is
the simulator. It decodes every request with the project's decoder, logs it
with the client port it came on (to count connections), and answers from a
little state: people to hand out, deletes, commands, settings, record failures.
Every test is bounded in time (asyncio.wait_for) and uses no sleeps to wait.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from conftest import timed

from facectl.cli.sim import sim as sim_command
from facectl.protocol import multipart, responses
from facectl.protocol.decode import DecodeError, decode_request
from facectl.protocol.endpoints import KEEPALIVE_FLAGS, endpoint_for_flag, lookup, v1_endpoint
from facectl.protocol.identity import SnRule
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.sim.check import run_check
from facectl.sim.config import Faults, SimConfig, Variants
from facectl.sim.device import SimDevice
from facectl.sim.fleet import run_fleet, serials
from facectl.sim.flow import DeviceRestart, Flow
from facectl.sim.jpeg import make_jpeg
from facectl.sim.transport import make_session

SN = "FC-8190H24052799"


@dataclass
class Req:
    endpoint: str
    sn: str
    port: int
    doc: Any
    form: dict[str, str]
    files: dict[str, bytes]
    json_part: str | None
    json_part_file: bool
    body_gzip: bool
    at: float


@dataclass
class FakeServer:
    log: list[Req] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    people: list[dict] = field(default_factory=list)  # waiting to be handed out
    deletes: list[int] = field(default_factory=list)
    delete_all: bool = False
    commands: list[dict] = field(default_factory=list)
    pending_settings: dict = field(default_factory=dict)
    settings: dict | None = None
    record_failures: int = 0  # answer Success 0 to this many record uploads
    keepalive_code: int = 1
    hang: set[str] = field(default_factory=set)  # endpoints that never answer
    broken: set[str] = field(default_factory=set)  # endpoints answered with non-JSON
    on_request: Callable[[Req], None] | None = None
    devices: list[SimDevice] = field(default_factory=list)
    url: str = ""
    runner: web.AppRunner | None = None

    def names(self, sn: str | None = None) -> list[str]:
        return [r.endpoint for r in self.log if sn is None or r.sn == sn]

    async def start(self) -> FakeServer:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_route("POST", "/{tail:.*}", self._post)
        self.runner = web.AppRunner(app, access_log=None, auto_decompress=False,
                                    handler_cancellation=True, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def add_file(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.url}/files/{name}"

    async def _file(self, request: web.Request) -> web.StreamResponse:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/jpeg")

    async def _post(self, request: web.Request) -> web.StreamResponse:
        if v1_endpoint(request.path):
            return web.json_response({"Success": 400, "Message": "speak v2"}, status=400)
        endpoint = lookup(request.path)
        if endpoint is None:
            return web.json_response({"Success": 0, "Message": "unknown"}, status=404)
        body = await request.read()
        try:
            decoded = decode_request(endpoint, body, request.headers.get("Content-Type"),
                                     request.headers.get("Content-Encoding"))
        except DecodeError as exc:
            if endpoint.name == "UploadIdentifyRecord":
                return web.json_response({"Success": 1, "Message": f"kept: {exc.message}"})
            return web.json_response({"Success": 0, "Message": exc.message})
        peer = request.transport.get_extra_info("peername") if request.transport else None
        files = {p.name or "": p.data for p in decoded.files}
        req = Req(endpoint.name, decoded.sn, peer[1] if peer else 0, decoded.document, decoded.form,
                  files, decoded.json_part.name if decoded.json_part else None,
                  bool(decoded.json_part and decoded.json_part.is_file), decoded.body_gzip,
                  asyncio.get_running_loop().time())
        self.log.append(req)
        if self.on_request is not None:
            self.on_request(req)
        if endpoint.name in self.hang:
            await asyncio.Event().wait()  # never answers; cancelled when the client gives up
        if endpoint.name in self.broken:
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if SnRule().check(decoded.sn) is not None:
            return web.json_response({"Success": responses.BAD_SN, "Message": responses.MSG_BAD_SN})
        return web.json_response(self.answer(endpoint.name, decoded.document))

    def answer(self, name: str, doc: Any) -> dict[str, Any]:
        doc = doc if isinstance(doc, dict) else {}
        if name == "Keepalive":
            if self.keepalive_code != 1:
                return {"Success": self.keepalive_code, "Message": responses.MSG_NOT_ACTIVATED}
            flags = {"UploadWorkParameter": self.settings is None, "Remote": bool(self.commands),
                     "SyncParameter": bool(self.pending_settings),
                     "DeletePeople": bool(self.deletes) or self.delete_all,
                     "AddPeople": bool(self.people)}
            return {"Success": 1, **{k: 1 for k, v in flags.items() if v}}
        if name == "UploadWorkSetting":
            self.settings = doc
        elif name == "DownloadWorkSetting":
            out, self.pending_settings = dict(self.pending_settings), {}
            return {"Success": 1, **out}
        elif name == "RemoteCommand":
            return {"Success": 1, **(self.commands.pop(0) if self.commands else {})}
        elif name == "DownloadPeopleList":
            limit = int(doc.get("Limit") or 50)
            page, self.people = self.people[:limit], self.people[limit:]
            return {"Success": 1, "PeopleCount": len(page), "Count": len(page), "PeopleList": page}
        elif name == "DeletePeopleList":
            if self.delete_all:
                self.delete_all = False
                return {"Success": 1, "DeleteAll": 1, "DeleteCount": 0}
            limit = int(doc.get("Limit") or 50)
            page, self.deletes = self.deletes[:limit], self.deletes[limit:]
            return {"Success": 1, "DeleteAll": 0, "DeleteCount": len(page), "DeleteList": page}
        elif name in ("UploadIdentifyRecord", "UploadSystemRecord") and self.record_failures > 0:
            self.record_failures -= 1
            return {"Success": 0, "Message": "database busy"}
        return {"Success": 1}


def arun(coro: Awaitable[Any], timeout: float = 20.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def with_server(test: Callable[[FakeServer], Awaitable[Any]], timeout: float = 20.0,
                **state: Any) -> Any:
    async def main() -> Any:
        server = await FakeServer(**state).start()
        try:
            return await test(server)
        finally:
            for dev in server.devices:
                await dev.close()
            await server.stop()
    return arun(main(), timeout)


def make_device(server: FakeServer, **options: Any) -> SimDevice:
    options.setdefault("seed", 7)
    options.setdefault("photo_bytes", 2000)
    dev = SimDevice(options.pop("sn", SN), SimConfig(server=server.url, **options))
    dev._session_factory = lambda: make_session(60.0)
    dev._open_transport()
    server.devices.append(dev)
    return dev


def ready(dev: SimDevice, server: FakeServer) -> None:
    """Skip the boot: the device has uploaded its settings and the server has them."""
    dev.work_settings.uploaded = True
    if server.settings is None:
        server.settings = {}


async def cycles(dev: SimDevice, n: int = 1, seconds: float = 10.0) -> list[Flow]:
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(n):
        out.append(await dev.cycle(loop.time() + seconds))
    return out


def person(server: FakeServer, uid: int, photo: bytes | None = None, **extra: Any) -> dict:
    p = {"UserID": str(uid), "Name": f"Person {uid}", **extra}
    if photo is not None:
        p.update(Photo=server.add_file(f"{uid}.jpg", photo),
                 PhotoMD5=hashlib.md5(photo).hexdigest().upper(), PhotoLen=len(photo))
    return p


# ------------------------------------------------------------------- flow


def test_boot_then_flags_in_priority_order_then_records() -> None:
    async def test(server: FakeServer) -> None:
        dev = make_device(server)
        dev.boot()
        await cycles(dev)  # boot cycle: keepalive, settings (+ the power-on record)
        assert server.names()[:2] == ["Keepalive", "UploadWorkSetting"]
        server.log.clear()
        server.people = [person(server, 1)]
        server.deletes = [99]
        server.commands = [{"Opendoor": 1}]
        server.pending_settings = {"Volume": 3}
        server.settings = None  # asks for UploadWorkParameter again
        dev.log.identify_backlog.append(dev.records.make_identify_record(dev.ctx.clock()))
        await cycles(dev)
        names = server.names()
        expected_order = [endpoint_for_flag(f).name for f in KEEPALIVE_FLAGS]
        firsts = [names.index(n) for n in expected_order]
        assert firsts == sorted(firsts), names
        assert names[0] == "Keepalive"
        assert names.index("UploadIdentifyRecord") > names.index("DownloadPeopleListResult")
        # settings applied and uploaded again (SyncParameter)
        assert names[names.index("DownloadWorkSetting") + 1] == "UploadWorkSetting"
        assert server.settings["Volume"] == 3
        await dev.close()
    with_server(test)


def test_one_keep_alive_connection_for_everything() -> None:
    async def test(server: FakeServer) -> None:
        photo = make_jpeg(5000, 1)
        server.people = [person(server, i, photo) for i in range(1, 31)]
        dev = make_device(server, records_per_min=600, people_limit=10)
        dev.boot()
        dev.records.generate_records(dev.ctx.clock() - 6)
        await cycles(dev, 3)
        ports = {r.port for r in server.log}
        assert len(ports) == 1, f"{len(ports)} connections for {len(server.log)} requests"
        assert dev.ctx.transport.session.connector.limit == 1
        assert len(dev.ctx.people) == 30
        await dev.close()
    with_server(test)


def test_people_sync_pages_photos_and_failures() -> None:
    async def test(server: FakeServer) -> None:
        good = make_jpeg(4000, 1)
        people = [person(server, i, good) for i in range(1, 251)]
        people[3]["PhotoMD5"] = "0" * 32  # corrupt download -> 2
        people[4]["Photo"] = server.add_file("big.jpg", make_jpeg(MAX_PHOTO_BYTES + 100, 2))
        people[4].pop("PhotoMD5")
        people[5]["Name"] = "名" * 30  # 90 bytes -> 1
        people[6]["Photo"] = server.url + "/files/missing.jpg"  # 404 -> 2
        server.people = people
        dev = make_device(server, people_limit=100)
        ready(dev, server)
        await cycles(dev)
        names = server.names()
        assert names.count("DownloadPeopleList") == 4  # 100 + 100 + 50 + the empty page
        assert names.count("DownloadPeopleListResult") == 3
        assert [r.doc["Limit"] for r in server.log if r.endpoint == "DownloadPeopleList"] == [100] * 4
        results = [r.doc for r in server.log if r.endpoint == "DownloadPeopleListResult"]
        fails = {f["UserID"]: f["ErrorCode"] for r in results for f in r["FailList"]}
        assert fails == {"4": 2, "5": 3, "6": 1, "7": 2}
        assert sum(r["SuccessCount"] for r in results) == 246
        assert len(dev.ctx.people) == 246 and dev.ctx.people.get(1).photo == good
        await dev.close()
    with_server(test)


def test_delete_people_and_delete_all() -> None:
    async def test(server: FakeServer) -> None:
        dev = make_device(server, variants=Variants(delete_list_name="DeletList"))
        ready(dev, server)
        from facectl.sim.people import StoredPerson
        for uid in range(1, 6):
            dev.ctx.people.put(StoredPerson(uid, {"UserID": str(uid)}))
        server.deletes = [2, 4]
        await cycles(dev)
        assert dev.ctx.people.ids() == [1, 3, 5]
        (result,) = [r.doc for r in server.log if r.endpoint == "DeletePeopleListResult"]
        assert result == {"SN": SN, "DeleteCount": 2, "DeleteAll": 0, "DeletList": [2, 4]}
        server.delete_all = True
        await cycles(dev)
        assert len(dev.ctx.people) == 0
        assert [r.doc["DeleteAll"] for r in server.log if r.endpoint == "DeletePeopleListResult"] == [0, 1]
        await dev.close()
    with_server(test)


def test_remote_commands_are_obeyed_and_reported() -> None:
    async def test(server: FakeServer) -> None:
        dev = make_device(server)
        ready(dev, server)
        from facectl.sim.people import StoredPerson
        dev.ctx.people.put(StoredPerson(1, {"UserID": "1", "Name": "A"}, photo=make_jpeg(3000, 3)))
        dev.ctx.people.put(StoredPerson(2, {"UserID": "2", "Name": "B"}))
        server.commands = [{"Opendoor": 2, "Snapshoot": 1, "PushAllPeople": 1,
                            "RegisterIdentifyTicket": 4, "RegisterIdentifyUserID": 2}]
        await cycles(dev)
        names = server.names()
        assert names[:2] == ["Keepalive", "RemoteCommand"]
        assert names[2:4] == ["UploadSnapshoot", "RegisterIdentifyTicketResult"]
        snap = next(r for r in server.log if r.endpoint == "UploadSnapshoot")
        assert snap.files["Photo"].startswith(b"\xff\xd8")
        reg = next(r for r in server.log if r.endpoint == "RegisterIdentifyTicketResult")
        assert reg.doc["Result"] == 1 and reg.doc["UserDetail"]["UserID"] == "2"
        assert reg.files["Photo"].startswith(b"\xff\xd8")
        pushes = [r for r in server.log if r.endpoint == "PushPeople"]
        # the enrolled person first (PushType 2), then everyone (4)
        assert [(r.form["PushType"], r.form["UserID"]) for r in pushes] == [("2", "2"), ("4", "1"),
                                                                            ("4", "2")]
        for r in pushes:
            assert r.json_part == "Detail" and r.json_part_file
            assert r.doc["UserID"] == r.form["UserID"]
        server.log.clear()
        await cycles(dev)
        keepalive = server.log[0]
        assert keepalive.doc["KeepOpenStatus"] == 1 and keepalive.doc["RelayStatus"] == 1
        await dev.close()
    with_server(test)


def test_answers_the_two_readers_read_differently_are_read_one_way() -> None:
    """The simulator reads answers with the protocol's reader: ports as a lone number or with
    spaces are ports, a flat ticket's guessed index key is not read, a face's RegisterIndex is
    dropped, and a value it cannot read is counted, not silently ignored (docs/protocol.md 4.6, 11.7)."""
    async def test(server: FakeServer) -> None:
        dev = make_device(server)
        ready(dev, server)
        server.commands = [{"KeepOpenElevatorPort": 3, "LockElevatorPort": "1 2", "Opendoor": 9,
                            "RegisterIdentifyTicket": 4, "RegisterIdentifyUserID": 5, "RegisterIdentifyIndex": 0}]
        await cycles(dev)
        assert dev.door.elevator == {"keep_open": {3}, "locked": {1, 2}}
        assert dev.keepalive_doc()["RelayStatus"] == 0 and dev.ctx.stats.events.get("remote: unreadable Opendoor") == 1
        reg = next(r for r in server.log if r.endpoint == "RegisterIdentifyTicketResult")
        assert (reg.doc["Result"], reg.doc["UserID"]) == (1, 5)
        server.log.clear()
        server.commands = [{"RegisterIdentifyTicket": {"RegisterType": 4, "UserID": 6, "RegisterIndex": 0}}]
        await cycles(dev)
        reg = next(r for r in server.log if r.endpoint == "RegisterIdentifyTicketResult")
        assert (reg.doc["Result"], reg.doc["UserID"]) == (1, 6)
        await dev.close()
    with_server(test)


def test_restart_command_reboots_with_keepalive_then_settings() -> None:
    async def test(server: FakeServer) -> None:
        dev = make_device(server)
        ready(dev, server)
        server.commands = [{"Restart": 1}]
        with pytest.raises(DeviceRestart):
            await cycles(dev)
        await dev.restart()
        server.log.clear()
        await cycles(dev)
        assert server.names()[:2] == ["Keepalive", "UploadWorkSetting"]
        power_on = next(r for r in server.log if r.endpoint == "UploadSystemRecord")
        assert power_on.doc["RecordType"] == 2 and power_on.doc["Records"][-1]["RecordType"] == 28
        await dev.close()
    with_server(test)


# ----------------------------------------------------- errors and retries


def test_401_on_keepalive_keeps_the_device_quiet() -> None:
    async def test(server: FakeServer) -> None:
        server.keepalive_code = 401
        dev = make_device(server, records_per_min=600)
        dev.boot()
        dev.records.generate_records(dev.ctx.clock() - 6)
        assert await cycles(dev, 2) == [Flow.STOP, Flow.STOP]
        assert server.names() == ["Keepalive", "Keepalive"]  # nothing else, but keepalives go on
        server.keepalive_code = 1
        await cycles(dev)
        assert server.names()[2:4] == ["Keepalive", "UploadWorkSetting"]
        assert "UploadIdentifyRecord" in server.names()
        await dev.close()
    with_server(test)


def test_401_on_a_record_stops_until_the_next_keepalive() -> None:
    async def test(server: FakeServer) -> None:
        dev = make_device(server, records_per_min=600)
        ready(dev, server)
        dev.records.generate_records(dev.ctx.clock() - 1)
        dev.records.generate_records(dev.ctx.clock())

        def refuse(req: Req) -> None:
            if req.endpoint == "UploadIdentifyRecord":
                server.keepalive_code = 401  # the server now refuses this device
        server.on_request = refuse
        original = server.answer

        def answer(name: str, doc: Any) -> dict:
            if name == "UploadIdentifyRecord":
                return {"Success": 401, "Message": "not activated"}
            return original(name, doc)
        server.answer = answer  # type: ignore[method-assign]
        assert await cycles(dev) == [Flow.STOP]
        assert server.names() == ["Keepalive", "UploadIdentifyRecord"]
        await dev.close()
    with_server(test)


def test_record_error_pauses_then_retries_the_same_record() -> None:
    async def test(server: FakeServer) -> None:
        server.record_failures = 1
        dev = make_device(server, records_per_min=60, record_retry_pause=0.2, door_records=False)
        ready(dev, server)
        dev.log.system_backlog[2].clear()
        dev.records.generate_records(dev.ctx.clock() - 2)
        dev.records.generate_records(dev.ctx.clock())
        assert len(dev.log.identify_backlog) == 2
        await cycles(dev)
        uploads = [r for r in server.log if r.endpoint == "UploadIdentifyRecord"]
        ids = [r.doc["RecordID"] for r in uploads]
        assert len(ids) == 3 and ids[0] == ids[1] != ids[2]
        assert uploads[1].at - uploads[0].at >= 0.2  # the pause after an error
        assert not dev.log.identify_backlog
        await dev.close()
    with_server(test)


@timed
def test_record_pause_longer_than_the_interval_waits_for_the_next_cycle(timed: bool) -> None:
    async def test(server: FakeServer) -> None:
        server.record_failures = 1
        dev = make_device(server, records_per_min=60, door_records=False)  # pause: 10 s
        ready(dev, server)
        dev.records.generate_records(dev.ctx.clock() - 2)
        dev.records.generate_records(dev.ctx.clock())
        loop = asyncio.get_running_loop()
        started = loop.time()
        await dev.cycle(loop.time() + 1.0)
        assert not timed or loop.time() - started < 1.0  # the next keepalive is not held up by the pause
        assert server.names().count("UploadIdentifyRecord") == 1
        await dev.close()
    with_server(test)


@timed
def test_timeouts_are_retried_three_times_within_the_deadline(timed: bool) -> None:
    async def test(server: FakeServer) -> None:
        server.hang = {"Keepalive"}
        dev = make_device(server, timeout_scale=0.05)  # 2 s -> 0.1 s
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await cycles(dev) == [Flow.STOP]
        assert server.names() == ["Keepalive"] * 3
        stats = dev.ctx.stats.endpoint("Keepalive")
        assert (stats.calls, stats.tries, stats.retries, stats.timeouts, stats.ok) == (1, 3, 2, 3, 0)
        assert not timed or loop.time() - started < 1.0
        # no try waits past the next keepalive
        server.log.clear()
        await dev.cycle(loop.time() + 0.15)
        assert len(server.log) <= 2
        await dev.close()
    with_server(test)


def test_non_json_answer_is_a_failed_call() -> None:
    async def test(server: FakeServer) -> None:
        server.broken = {"UploadWorkSetting"}
        dev = make_device(server)
        assert await cycles(dev) == [Flow.STOP]
        assert not dev.work_settings.uploaded
        assert server.names() == ["Keepalive", "UploadWorkSetting"]
        await dev.close()
    with_server(test)


# -------------------------------------------------------------- faults


def test_fault_restart_mid_sync_does_not_report_the_page() -> None:
    async def test(server: FakeServer) -> None:
        server.people = [person(server, i) for i in range(1, 4)]
        dev = make_device(server, faults=Faults(restart_mid_sync=1.0))
        ready(dev, server)
        with pytest.raises(DeviceRestart):
            await cycles(dev)
        assert "DownloadPeopleListResult" not in server.names()
        assert len(dev.ctx.people) == 3  # imported, never confirmed: the server hands them out again
        await dev.restart()
        server.log.clear()
        await cycles(dev)
        assert server.names()[:2] == ["Keepalive", "UploadWorkSetting"]
        await dev.close()
    with_server(test)


def test_faults_drop_result_duplicate_records_and_timeouts() -> None:
    async def test(server: FakeServer) -> None:
        server.people = [person(server, i) for i in range(1, 4)]
        dev = make_device(server, records_per_min=60, door_records=False,
                          faults=Faults(drop_result=1.0, duplicate_records=1.0, quirky_json=1.0))
        ready(dev, server)
        dev.records.generate_records(dev.ctx.clock() - 1)
        dev.records.generate_records(dev.ctx.clock())
        await cycles(dev)
        names = server.names()
        assert "DownloadPeopleList" in names and "DownloadPeopleListResult" not in names
        uploads = [r.doc["RecordID"] for r in server.log if r.endpoint == "UploadIdentifyRecord"]
        assert len(uploads) == 2 and uploads[0] == uploads[1]
        assert any(k.startswith("quirky json") for k in dev.ctx.stats.events)
        await dev.close()

        # timeout fault: the answer is thrown away and the same request sent again
        server.log.clear()
        dev = make_device(server, faults=Faults(timeout=1.0))
        await cycles(dev)
        assert server.names() == ["Keepalive"] * 3
        assert dev.ctx.stats.endpoint("Keepalive").injected == 3
        await dev.close()
    with_server(test)


@pytest.mark.parametrize("variants", [
    Variants(gzip="body"), Variants(gzip="parts", json_part_as_file=True), Variants.document_examples()])
def test_variants_reach_the_server_intact(variants: Variants) -> None:
    async def test(server: FakeServer) -> None:
        dev = make_device(server, records_per_min=60, variants=variants)
        dev.boot()
        dev.records.generate_records(dev.ctx.clock() - 1)
        dev.records.generate_records(dev.ctx.clock())
        await cycles(dev)
        rec = next(r for r in server.log if r.endpoint == "UploadIdentifyRecord")
        assert rec.sn == SN and rec.json_part == variants.record_json_part
        assert variants.record_photo_part in rec.files
        assert rec.body_gzip == (variants.gzip == "body")
        assert rec.json_part_file == variants.json_part_as_file
        assert server.settings is not None and server.settings["DeviceSN"] == SN
        await dev.close()
    with_server(test)


# -------------------------------------------------------- run loop, fleet


def test_run_loop_keeps_keepalives_on_time() -> None:
    async def test(server: FakeServer) -> None:
        photo = make_jpeg(2000, 1)
        server.people = [person(server, i, photo) for i in range(1, 401)]
        config = SimConfig(server=server.url, interval=0.5, records_per_min=240, photo_bytes=2000,
                           people_limit=20, seed=3)
        dev = SimDevice(SN, config)
        loop = asyncio.get_running_loop()
        await dev.run(None, loop.time() + 2.2)
        keepalives = [r.at for r in server.log if r.endpoint == "Keepalive"]
        assert 4 <= len(keepalives) <= 6
        gaps = [b - a for a, b in zip(keepalives, keepalives[1:], strict=False)]
        assert max(gaps) < 0.5 + config.keepalive_slack, gaps
        assert dev.ctx.stats.missed_keepalives == 0
        assert server.names()[:2] == ["Keepalive", "UploadWorkSetting"]
        assert dev.ctx.transport is None  # closed at the end
    with_server(test)


def test_fleet_report_and_cli(tmp_path: Path) -> None:
    async def test(server: FakeServer) -> dict:
        config = SimConfig(server=server.url, interval=0.5, records_per_min=120, photo_bytes=1000, seed=1)
        run = await run_fleet(config, serials(25, "FC-8190H"), 1.5)
        report = run.report()
        assert report["devices"] == 25 and report["boots"] == 25
        assert report["keepalives"] >= 50
        assert report["missed_keepalive_deadlines"] == 0
        keepalive = report["endpoints"]["Keepalive"]
        assert keepalive["p50_ms"] is not None and keepalive["p99_ms"] >= keepalive["p50_ms"]
        assert {r.sn for r in server.log} == set(serials(25, "FC-8190H"))
        per_sn_ports: dict[str, set[int]] = {}
        for r in server.log:
            per_sn_ports.setdefault(r.sn, set()).add(r.port)
        assert max(len(p) for p in per_sn_ports.values()) == 1
        json.dumps(report)

        # the command, in another thread so this loop keeps serving
        report_file = tmp_path / "report.json"
        result = await asyncio.to_thread(
            CliRunner().invoke, sim_command,
            ["--server", server.url, "--devices", "3", "--interval", "0.5", "--duration", "1.2",
             "--records-per-min", "60", "--photo-bytes", "500", "--report", str(report_file),
             "--doc-examples", "--gzip", "parts", "--fault", "duplicate-records=0.5", "--json"])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output)
        assert json.loads(report_file.read_text()) == printed
        assert printed["config"]["variants"]["json_part"] == "recordJson"
        return printed
    with_server(test)


def test_cli_rejects_bad_options() -> None:
    runner = CliRunner()
    result = runner.invoke(sim_command, ["--server", "127.0.0.1:8080"])
    assert result.exit_code == 2 and "http(s) URL" in result.output
    result = runner.invoke(sim_command, ["--server", "http://127.0.0.1:9", "--sn", SN, "--devices", "2"])
    assert result.exit_code == 2
    result = runner.invoke(sim_command, ["--server", "http://127.0.0.1:9", "--fault", "nope"])
    assert result.exit_code == 2 and "unknown fault" in result.output


# ------------------------------------------------------------------ check


def test_check_against_a_conforming_server() -> None:
    async def test(server: FakeServer) -> None:
        photo = make_jpeg(3000, 5)
        server.people = [person(server, 1, photo)]
        report = await run_check(server.url, SN)
        failed = [c for c in report.checks if c.passed is False]
        assert not failed, [(c.name, c.detail) for c in failed]
        assert len(report.checks) >= 35
        assert all(c.section for c in report.checks)
        assert {r.port for r in server.log if r.sn == SN} and len({r.port for r in server.log}) == 1
    with_server(test)


def test_check_reports_what_a_server_gets_wrong() -> None:
    async def test(server: FakeServer) -> None:
        original = server.answer

        def answer(name: str, doc: Any) -> dict:
            if name == "DownloadPeopleList":
                return {"Success": 1, "Count": 0, "PeopleList": []}  # no PeopleCount
            return original(name, doc)
        server.answer = answer  # type: ignore[method-assign]
        server.broken = {"RemoteCommand"}
        report = await run_check(server.url, SN)
        failed = {c.name for c in report.checks if c.passed is False}
        assert "RemoteCommand answered Success 1" in failed
        assert "DownloadPeopleList sends both PeopleCount and Count" in failed
        assert report.must_failures >= 1
    with_server(test)


def test_check_reports_a_command_value_a_terminal_cannot_read() -> None:
    async def test(server: FakeServer) -> None:
        original = server.answer

        def answer(name: str, doc: Any) -> dict:
            if name == "RemoteCommand":
                return {"Success": 1, "OpenElevatorPort": "65", "Closealarm": 1}
            return original(name, doc)
        server.answer = answer  # type: ignore[method-assign]
        report = await run_check(server.url, SN)
        (check,) = [c for c in report.checks if c.name == "RemoteCommand values are readable"]
        assert check.passed is False and "OpenElevatorPort" in check.detail and "1-64" in check.detail
    with_server(test)


def test_check_stops_when_the_device_is_not_accepted() -> None:
    async def test(server: FakeServer) -> None:
        server.keepalive_code = 401
        report = await run_check(server.url, SN)
        first_fail = next(c for c in report.checks if c.passed is False)
        assert "approve" in first_fail.detail
        assert all(c.passed is None for c in report.checks[report.checks.index(first_fail) + 1:])
    with_server(test)


def test_gzip_detail_is_real_gzip_on_the_wire() -> None:
    """PushPeople's Detail leaves the device as gzip bytes in a file part (protocol.md 6.3, 6.4)."""
    seen: list[bytes] = []

    async def test(server: FakeServer) -> None:
        dev = make_device(server)
        from facectl.sim.people import StoredPerson
        dev.ctx.people.put(StoredPerson(8, {"UserID": "8"}))
        original = dev.ctx.transport.call

        async def spy(name, body, deadline, **kw):
            if name == "PushPeople":
                seen.append(body.data)
            return await original(name, body, deadline, **kw)
        dev.ctx.transport.call = spy  # type: ignore[method-assign]
        answer = await dev.people_sync.push_people(4, 8, asyncio.get_running_loop().time() + 5)
        assert answer.ok
        await dev.close()
    with_server(test)
    body = seen[0]
    boundary = body.split(b"\r\n", 1)[0][2:].decode()
    (detail,) = [p for p in multipart.parse(body, boundary) if p.name == "Detail"]
    assert detail.is_file and detail.declared_gzip and detail.data[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(detail.data))["UserID"] == "8"


def test_cli_check_prints_a_table_and_json() -> None:
    async def test(server: FakeServer) -> None:
        runner = CliRunner()
        result = await asyncio.to_thread(runner.invoke, sim_command,
                                         ["--check", "--server", server.url, "--sn", SN, "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["failed"] == 0 and data["passed"] >= 30
        assert {"check", "section", "level", "result", "detail"} <= set(data["checks"][0])
        server.broken = {"UploadIdentifyRecord"}
        result = await asyncio.to_thread(runner.invoke, sim_command, ["--check", "--server", server.url])
        assert result.exit_code == 1
        assert "FAIL" in result.output and "API-上传打卡记录" in result.output
    with_server(test)


def test_a_page_cut_by_the_keepalive_deadline_is_finished_after_it() -> None:
    async def test(server: FakeServer) -> None:
        photo = make_jpeg(2000, 4)
        server.people = [person(server, i, photo) for i in range(1, 11)]
        dev = make_device(server, people_limit=10)
        ready(dev, server)
        budget = iter(range(1000))
        real_has_time = dev.ctx.has_time

        def has_time(deadline: float) -> bool:  # the deadline "arrives" after 6 checks
            return next(budget) < 6 and real_has_time(deadline)
        dev.ctx.has_time = has_time  # type: ignore[method-assign]
        await cycles(dev)
        assert dev.people_sync.page is not None and 0 < dev.people_sync.page.done < 10
        assert "DownloadPeopleListResult" not in server.names()
        dev.ctx.has_time = real_has_time  # type: ignore[method-assign]
        server.log.clear()
        await cycles(dev)  # no AddPeople flag any more: the device finishes its page anyway
        names = server.names()
        assert names[:3] == ["Keepalive", "DownloadPeopleListResult", "DownloadPeopleList"]
        (result,) = [r.doc for r in server.log if r.endpoint == "DownloadPeopleListResult"]
        assert result["SuccessCount"] == 10 and result["FailCount"] == 0
        assert len(dev.ctx.people) == 10 and dev.people_sync.page is None
    with_server(test)
