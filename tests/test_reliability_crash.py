"""Crash safety with a simulated fleet: SIGKILL mid-upload and mid-sync, the CLI writing all along.

A real `facectl serve` runs as a subprocess; simulated terminals (facectl.sim) run in
this process against it. Half the fleet pages through a people sync (photos and face
features fetched by signed URL), the other half uploads record backlogs with photos,
and a CLI process changes people and queues door commands at the same time. When the
fleet has had a chosen number of record uploads and file downloads answered, the
server is SIGKILLed from inside the HTTP client's trace hook (a point chosen by a
count, not by a clock), restarted on the same database and port, and the devices carry
on as terminals do: they retry what was not answered.

Then, after the fleet has drained its backlogs:
- every record a device saw acknowledged is stored, exactly once, and nothing else is;
- every device of the people half holds every person at the version the store wants
  (the CLI's renames included), with the store agreeing (nothing pending, in flight or
  failed);
- no device was ever answered "database is locked" or "storage unavailable", the CLI
  never failed, and neither server logged a traceback.

Two knobs differ from production: the server subprocess starts with the people
redelivery timeout at 2 s instead of 120 s (facectl.store.people.REDELIVERY_SECONDS),
so a page handed out just before the kill, whose answer never reached the device, is
handed out again within the test's time rather than two minutes later; and with
`--retry-failed 5` and the first retry after 0.5 s instead of 60 s (RETRY_SECONDS), so a
photo download the kill cut short (error 2) is retried by the server rather than waiting
for an operator's `people sync`, as protocol.md 5.3 has it by default. The mechanisms are the
ones production relies on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_reliability import _free_port

from facectl.sim.codes import KIND_DOOR
from facectl.sim.config import SimConfig
from facectl.sim.device import SimDevice
from facectl.sim.fleet import serials
from facectl.sim.jpeg import make_jpeg
from facectl.sim.people import random_feature
from facectl.sim.transport import USER_AGENT, Answer
from facectl.store import Store
from facectl.store.people import PersonInput

pytestmark = pytest.mark.timeout(120)

#: Starts `facectl serve` with a short people redelivery timeout (module docstring).
LAUNCH = (
    "import sys\n"
    "import facectl.store.people as people\n"
    "people.REDELIVERY_SECONDS = float(sys.argv[1])\n"
    "people.RETRY_SECONDS = 0.5\n"
    "from facectl.cli.main import cli\n"
    "cli.main(sys.argv[2:], prog_name='facectl')\n"
)
REDELIVERY_SECONDS = 2.0
PEOPLE = 240
BACKLOG = 250  # identify records waiting on each record device at the start
#: (record uploads, file downloads) answered: each kill comes with the answer that reaches both counts.
KILL_POINTS = [(30, 60), (150, 350), (300, 700)]
ROUND_SECONDS = 2.0
MAX_ROUNDS = 15


class ServerProcess:
    """`facectl serve` in a subprocess; every line it prints is kept."""

    def __init__(self, db: str, port: int) -> None:
        self.db, self.port = db, port
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.starts = 0
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LAUNCH, str(REDELIVERY_SECONDS), "serve", "--db", self.db,
            "--host", "127.0.0.1", "--port", str(self.port), "--retry-failed", "5", "-v",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert self.proc.stdout is not None
        while True:  # wait for the announcement, not for a fixed time
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 20)).decode("utf-8", "replace")
            assert line, f"server exited before listening: {self.lines[-5:]}"
            self.lines.append(line)
            if "listening on" in line:
                break
        self.starts += 1
        self._reader = asyncio.create_task(self._read(self.proc.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.lines.append(line.decode("utf-8", "replace"))

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)

    async def restart(self) -> None:
        assert self.proc is not None and self._reader is not None
        await self.proc.wait()
        await self._reader
        await self.start()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)
        if self._reader is not None:
            await self._reader


class WatchedDevice(SimDevice):
    """A simulated terminal that also keeps every answer that was not Success 1."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusals: list[str] = []
        post_json, post_parts = self.ctx.post_json, self.ctx.post_parts

        async def watched_json(name: str, doc: dict[str, Any], deadline: float) -> Answer:
            return self._note(await post_json(name, doc, deadline))

        async def watched_parts(name: str, parts: list, deadline: float, **kw: Any) -> Answer:
            return self._note(await post_parts(name, parts, deadline, **kw))

        self.ctx.post_json = watched_json  # type: ignore[method-assign]
        self.ctx.post_parts = watched_parts  # type: ignore[method-assign]

    def _note(self, answer: Answer) -> Answer:
        if answer.answered and not answer.ok:
            self.refusals.append(f"{answer.endpoint}: HTTP {answer.status} {answer.raw[:200]!r}")
        return answer


@dataclass
class Killer:
    """Counts answered uploads and downloads; kills and restarts the server at each chosen pair of counts."""

    server: ServerProcess
    people_devices: list[SimDevice]
    record_devices: list[SimDevice]
    records: int = 0
    files: int = 0
    restart: asyncio.Task | None = None
    kills: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.kills) == len(KILL_POINTS) and self.restart is not None and self.restart.done()

    async def on_request_end(self, session: aiohttp.ClientSession, ctx: Any,
                             params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status != 200:
            return
        path = params.url.path
        self.records += path.endswith("/UploadIdentifyRecord")
        self.files += path.startswith("/files/")
        if len(self.kills) == len(KILL_POINTS) or (self.restart is not None and not self.restart.done()):
            return
        records, files = KILL_POINTS[len(self.kills)]
        if self.records >= records and self.files >= files:
            self.server.kill()
            self.kills.append({
                "records_answered": self.records, "files_answered": self.files,
                "people_held": sum(len(d.ctx.people) for d in self.people_devices),
                "records_waiting": sum(len(d.log.identify_backlog) for d in self.record_devices),
            })
            self.restart = asyncio.create_task(self.server.restart())

    def session_factory(self) -> aiohttp.ClientSession:
        """The simulator's own session (transport.make_session), with the trace hook."""
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self.on_request_end)
        connector = aiohttp.TCPConnector(limit=1, limit_per_host=1, keepalive_timeout=30.0)
        return aiohttp.ClientSession(connector=connector, trace_configs=[trace], timeout=aiohttp.ClientTimeout(None),
                                     headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"})


def _kind(rec: Any) -> str:
    return "identify" if rec.kind is None else "door" if rec.kind == KIND_DOOR else "system"


def _seed(db: str, people_sns: list[str], record_sns: list[str]) -> None:
    store = Store(db)
    for sn in people_sns + record_sns:
        store.devices.add(sn)
    store.people.save_many([
        PersonInput(uid, {"Name": f"Person {uid}", "CardNum": str(500_000 + uid), "Password": f"{4000 + uid}"},
                    photo=make_jpeg(900, uid),
                    face_feature=random_feature(hashlib.sha256(str(uid).encode()).digest() * 3) if uid % 3 == 0
                    else None,
                    scope=people_sns)
        for uid in range(1, PEOPLE + 1)])
    store.close()


#: The CLI's writes while the fleet runs: renames (new people versions) and door commands.
CLI_WRITER = """
import sys
from facectl.cli.main import cli
db, record_sns, people_sns = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
jobs = [["people", "update", str(uid), "--name", f"Renamed {uid}"] for uid in range(1, 41)]
jobs += [["door", "open", sn, "--ttl", "60s"] for sn in record_sns]
jobs += [["device", "refresh", sn] for sn in people_sns]
for job in jobs:
    try:
        cli.main([*job, "--db", db], prog_name="facectl", standalone_mode=False)
    except Exception as exc:
        print("CLI FAILED", job, repr(exc))
        sys.exit(1)
print("CLI DONE", len(jobs))
"""


def _converged(store: Store, people_devices: list[SimDevice], devices: list[SimDevice]) -> bool:
    if any(d.log.identify_backlog or any(d.log.system_backlog.values()) or d.ctx.push_queue for d in devices):
        return False
    for d in people_devices:
        (status,) = store.people.status(d.ctx.sn)
        if (status["delivered"], status["pending"], status["in_flight"], status["failed"]) != (PEOPLE, 0, 0, 0):
            return False
        if d.ctx.people.ids() != list(range(1, PEOPLE + 1)):
            return False
    return True


def test_sigkill_while_a_fleet_uploads_and_syncs_people_and_the_cli_writes(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    people_sns, record_sns = serials(4, "FC-8190P"), serials(4, "FC-8190R")
    _seed(db, people_sns, record_sns)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    people_config = SimConfig(server=url, interval=0.5, records_per_min=0, people_limit=25, seed=3,
                              record_retry_pause=0.2, photo_bytes=0)
    record_config = SimConfig(server=url, interval=0.5, records_per_min=0, photo_bytes=1200, seed=4,
                              record_retry_pause=0.2, system_batch=40)
    people_devices = [WatchedDevice(sn, people_config) for sn in people_sns]
    record_devices = [WatchedDevice(sn, record_config) for sn in record_sns]
    devices = people_devices + record_devices
    for d in record_devices:
        for i in range(BACKLOG):
            d.log.identify_backlog.append(d.records.make_identify_record(d.ctx.clock() - BACKLOG + i))

    async def scenario() -> tuple[ServerProcess, Killer, bytes, int]:
        server = ServerProcess(db, port)
        await server.start()
        killer = Killer(server, people_devices, record_devices)
        loop = asyncio.get_running_loop()
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI_WRITER, db, ",".join(record_sns), ",".join(people_sns),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        store = Store(db)
        rounds = 0
        try:
            # The devices poll in rounds, as terminals do, until every kill has happened, the CLI is
            # done and everything converged; bounded by MAX_ROUNDS.
            while rounds < MAX_ROUNDS and not (killer.done and writer.returncode is not None
                                               and _converged(store, people_devices, devices)):
                rounds += 1
                until = loop.time() + ROUND_SECONDS
                await asyncio.gather(*(d.run(killer.session_factory, until) for d in devices))
                if killer.restart is not None:
                    await killer.restart
                if writer.returncode is None and rounds >= 2:
                    await asyncio.wait_for(writer.wait(), 60)
            cli_output = await asyncio.wait_for(writer.stdout.read(), 10) if writer.stdout else b""
        finally:
            store.close()
            if writer.returncode is None:
                writer.kill()
                await writer.wait()
            await server.stop()
        return server, killer, cli_output, rounds

    server, killer, cli_output, rounds = asyncio.run(asyncio.wait_for(scenario(), 100))

    # Every kill landed mid-sync and mid-upload, and the server came back each time.
    assert len(killer.kills) == len(KILL_POINTS), (killer.records, killer.files, killer.kills)
    for kill in killer.kills:
        assert 0 < kill["people_held"] < len(people_devices) * PEOPLE, killer.kills
        assert kill["records_waiting"] > 0, killer.kills
    assert server.starts == 1 + len(KILL_POINTS)
    assert b"CLI DONE" in cli_output, cli_output[-2000:]

    store = Store(db)
    assert _converged(store, people_devices, devices), (
        f"not converged after {rounds} rounds", [store.people.status(d.ctx.sn)[0] for d in people_devices],
        [(d.ctx.sn, len(d.log.identify_backlog), len(d.ctx.people.ids())) for d in devices])
    # Every acknowledged record is stored exactly once, and nothing was stored that no device saw acknowledged.
    for d in devices:
        acknowledged = sorted((_kind(r), r.detail["RecordID"]) for r in d.log.history)
        stored = sorted(tuple(r) for r in store.db.execute(
            "SELECT kind, record_id FROM records WHERE sn = ?", [d.ctx.sn]))
        assert stored == acknowledged, (d.ctx.sn, len(stored), len(acknowledged))
    assert store.records.count() >= len(record_devices) * BACKLOG
    assert store.db.execute("SELECT count(*) FROM (SELECT 1 FROM records GROUP BY sn, kind, record_id "
                            "HAVING count(*) > 1)").fetchone()[0] == 0
    # People converged on the store's current versions, the CLI's renames included.
    for d in people_devices:
        for uid in (1, 40, PEOPLE):
            person = store.people.get(uid)
            held = d.ctx.people.get(uid)
            assert held is not None and held.detail["Name"] == person["fields"]["Name"], (d.ctx.sn, uid)
            assert hashlib.md5(held.photo).hexdigest().upper() == person["photo"]["md5"], (d.ctx.sn, uid)
        assert d.ctx.people.get(3).face_feature, "face features delivered"
    assert store.people.get(1)["fields"]["Name"] == "Renamed 1"
    # Nothing a device was told was a storage failure; nothing failed on the server.
    refusals = [r for d in devices for r in d.refusals]
    assert refusals == [], refusals[:10]
    log = "".join(server.lines)
    for bad in ("database is locked", "Traceback", "database error"):
        assert bad not in log, log[log.find(bad) - 500:][:1500]
    store.close()


def test_cli_writer_subprocess_is_the_real_cli(tmp_path: Path) -> None:
    """The writer above goes through the CLI's own argument parsing and database path (not the Store API)."""
    db = str(tmp_path / "cli.db")
    _seed(db, ["FC-8190P00000001"], ["FC-8190R00000001"])
    done = subprocess.run([sys.executable, "-c", CLI_WRITER, db, "FC-8190R00000001", "FC-8190P00000001"],
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and b"CLI DONE 42" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    store = Store(db)
    assert store.people.get(40)["fields"]["Name"] == "Renamed 40"
    assert [c["field"] for c in store.commands.list("FC-8190R00000001")] == ["Opendoor"]
    store.close()
