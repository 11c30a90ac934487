"""`facectl demo`: the whole system moving on one machine, with no hardware.

One event loop runs the real server (`facectl.server.run.start`, open enrollment,
loopback only) on a database in a new temporary directory, a few simulated
terminals (`facectl.sim.SimDevice`) that poll it over HTTP exactly as they would
poll `facectl serve`, and the `facectl watch` dashboard refreshing from that
database. People (examples/people.csv with its photos, then generated ones) are
added before the terminals boot; a few seconds in, the demo opens a door and
renames each terminal, so every kind of pending work visibly comes and goes.

The data is kept when the demo ends, so the other commands can be tried on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Group
from rich.live import Live
from rich.text import Text

from facectl.protocol import commands as command_rules
from facectl.protocol import people as people_rules

from .common import console, emit, fail, remove_new_database, stop_on_signals, wide_option
from .tables import KEEP, Column, FitTable
from .watch import dashboard

if TYPE_CHECKING:  # the store is imported when people are made, not to show `demo --help`
    from facectl.store.people import PersonInput

#: Keepalive interval of the simulated terminals: short, so the dashboard moves.
KEEPALIVE_SECONDS = 2.0
#: Identify records each terminal produces per minute.
RECORDS_PER_MIN = 12.0
#: Size of record photos (small: the demo database stays small).
RECORD_PHOTO_BYTES = 8 * 1024
#: Seconds after the start when the door is opened and the terminals renamed.
ACT_AFTER = 3.0
#: Seconds between dashboard frames.
REFRESH_SECONDS = 0.5
#: The people file the demo starts from (present in a checkout; generated people otherwise).
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: Columns of examples/people.csv the demo takes (expiry, access and scope are left out:
#: every person from the file is allowed on every demo terminal).
CSV_FIELDS = {"name": "Name", "code": "Code", "job": "Job", "department": "Department", "card": "CardNum"}
#: The panel under the dashboard: what the demo asked for, and how far it got.
PANEL_COLUMNS = (Column("what", KEEP), Column("state", KEEP))
#: User ids of generated people start here.
GENERATED_FIRST_ID = 2001
#: The first generated people are ones a terminal refuses by itself, so the records show
#: refusals (protocol/access.py) as well as strangers (unregistered user): (name, fields).
REFUSED_ROLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Blacklisted", {"AccessType": "blacklist"}),
    ("Expired contractor", {"ExpirationDate": "2020-01-31"}),
    ("Single-entry pass", {"OpenTimes": 1}),
    ("No access hours", {"Timegroup": 0}),
)
#: The name the demo gives terminal i (a settings change, DeviceName).
DEVICE_NAME = "Demo door {}"

EPILOG = """\b
Examples:
  facectl demo
  facectl demo --devices 5 --people 50
  facectl demo --duration 30 --db demo.db
  facectl demo --until-settled --duration 60     # smoke test: exit 0 once it all worked
"""


def demo_people(count: int, examples: Path = EXAMPLES) -> list[PersonInput]:
    """`count` people for every device: the rows of examples/people.csv with their photos, then generated ones."""
    from facectl.sim.jpeg import make_jpeg
    from facectl.store.people import ALL, PersonInput

    out: list[PersonInput] = []
    csv_path = examples / "people.csv"
    if csv_path.is_file():
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                if len(out) >= count:
                    break
                item = PersonInput(people_rules.check_user_id(row["user_id"]),
                                   {wire: (row.get(col) or "").strip() for col, wire in CSV_FIELDS.items()},
                                   scope=ALL)
                photo = (row.get("photo") or "").strip()
                if photo and (examples / photo).is_file():
                    item.photo = (examples / photo).read_bytes()
                out.append(item)
    uid = GENERATED_FIRST_ID
    while len(out) < count:
        role = uid - GENERATED_FIRST_ID
        name, restriction = REFUSED_ROLES[role] if role < len(REFUSED_ROLES) else (f"Visitor {uid}", {})
        out.append(PersonInput(uid, {"Name": name, "Code": f"D{uid}", "Department": "Demo",
                                     "CardNum": str(3800000000 + uid), **restriction},
                               photo=make_jpeg(3 * 1024, seed=uid), scope=ALL))
        uid += 1
    return out


@dataclass(slots=True)
class Action:
    """Something the demo asked for, and how to see how far it got."""

    what: str
    sn: str
    command_id: int | None = None
    setting: str | None = None


@dataclass(slots=True)
class DemoRun:
    """What the demo did, read back from the database for the panel and the closing lines."""

    store: Any
    sns: list[str]
    people: int
    started: float = field(default_factory=time.monotonic)
    actions: list[Action] = field(default_factory=list)
    acted: set[str] = field(default_factory=set)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def act(self) -> None:
        """After ACT_AFTER seconds: open the first door, rename each terminal once it has uploaded its settings."""
        if self.elapsed() < ACT_AFTER:
            return
        store = self.store
        for i, sn in enumerate(self.sns, 1):
            if sn in self.acted or store.settings.document(sn) is None:
                continue
            self.acted.add(sn)
            if i == 1:
                field_name, value = command_rules.opendoor("open")
                row = store.commands.enqueue(sn, field_name, value)
                self.actions.append(Action("door open", sn, command_id=row["id"]))
            name = DEVICE_NAME.format(i)
            store.settings.request_change(sn, {"DeviceName": name})
            self.actions.append(Action(f"set DeviceName={name}", sn, setting="DeviceName"))

    def state(self, action: Action) -> str:
        if action.command_id is not None:
            row = self.store.commands.get(action.command_id)
            return {"sent": "delivered"}.get(row["state"], row["state"]) if row else "?"
        changes = self.store.settings.changes(action.sn, limit=1)
        return changes[0]["state"] if changes else "?"

    def delivered(self) -> int:
        """Devices holding every demo person."""
        return sum(1 for s in self.store.people.status()
                   if s["sn"] in self.sns and s["wanted"] >= self.people and s["delivered"] == s["wanted"])

    def settled(self) -> bool:
        """Everything the demo shows has happened: every device online, holding every person,
        its door command and rename carried out, and records from it stored."""
        online = {d["sn"] for d in self.store.devices.list() if d["online"]}
        return (online >= set(self.sns) and self.delivered() == len(self.sns) and self.acted == set(self.sns)
                and all(self.state(a) in ("delivered", "applied") for a in self.actions)
                and all(self.store.records.count(sn) > 0 for sn in self.sns))

    def panel(self) -> FitTable:
        records = self.store.records.count()
        rows: list[tuple[Any, Any]] = [(f"added {self.people} people (with photos) for every device",
                                        f"people delivered to {self.delivered()}/{len(self.sns)} devices")]
        if not self.actions:
            rows.append((f"in {max(0.0, ACT_AFTER - self.elapsed()):.0f} s: open a door, rename the devices",
                         "waiting for the devices' first settings upload"))
        for a in self.actions:
            state = self.state(a)
            style = "green" if state in ("delivered", "applied") else "yellow"
            rows.append((f"{a.what} on {a.sn}", Text(state, style=style)))
        rows.append(("records stored", str(records)))
        return FitTable(PANEL_COLUMNS, rows, title="What the demo did", expand=True, show_header=False)

    def frame(self, feed: int, wide: bool = False) -> Group:
        return Group(dashboard(self.store, feed=feed, wide=wide), self.panel())

    def summary(self) -> list[str]:
        online = sum(1 for d in self.store.devices.list() if d["sn"] in self.sns and d["online"])
        return [f"{online}/{len(self.sns)} devices online; people delivered to {self.delivered()}/{len(self.sns)} "
                f"devices; {self.store.records.count()} records stored",
                *(f"{a.what} on {a.sn}: {self.state(a)}" for a in self.actions)]


def _feed_size(devices: int) -> int:
    """Latest records that fit under the devices (rows of header, tables and panel are about 20)."""
    height = console.size.height if console.is_terminal else 40
    return max(3, min(15, height - devices - 22))


async def _run(db_path: str, devices: int, people: int, duration: float | None, port: int,
               until_settled: bool, wide: bool = False) -> DemoRun:
    from facectl.server.config import ServerConfig
    from facectl.server.run import start
    from facectl.sim.config import SimConfig
    from facectl.sim.device import SimDevice
    from facectl.sim.fleet import serials
    from facectl.sim.stats import Stats
    from facectl.store import Store

    store = Store(db_path)
    store.people.save_many(demo_people(people))  # before the devices boot: their first keepalive has AddPeople
    config = ServerConfig(db=db_path, host="127.0.0.1", port=port, open_enrollment=True)
    try:
        runner, bound = await start(config, store)
    except OSError:
        store.close()
        raise
    url = f"http://127.0.0.1:{bound}"
    sns = serials(devices)
    run = DemoRun(store, sns, people)

    loop = asyncio.get_running_loop()
    with stop_on_signals() as stop:
        console.print(f"[bold]facectl demo[/]: server {url} (open enrollment), {devices} simulated "
                      f"device{'s' if devices > 1 else ''}, {people} people", highlight=False)
        console.print(f"Data: {os.path.abspath(db_path)} (kept when the demo ends)", highlight=False, soft_wrap=True)
        console.print(f"Stop with Ctrl-C{f'; stops by itself after {duration:g} s' if duration else ''}. "
                      f"Meanwhile, in another terminal: facectl device list --db {db_path}", highlight=False,
                      soft_wrap=True)

        sim_config = SimConfig(server=url, interval=KEEPALIVE_SECONDS, records_per_min=RECORDS_PER_MIN,
                               photo_bytes=RECORD_PHOTO_BYTES)
        stats = Stats(devices=devices)
        start_at = loop.time()
        until = start_at + duration if duration else math.inf
        tasks = [asyncio.create_task(SimDevice(sn, sim_config, stats).run(
            None, until, start_at=start_at + KEEPALIVE_SECONDS * i / devices), name=f"demo {sn}")
            for i, sn in enumerate(sns)]
        feed = _feed_size(devices)
        # A terminal watches it move; a pipe or a file gets the last frame only, at full width.
        frame = run.frame(feed, wide)
        live = Live(frame, console=console, auto_refresh=False, transient=False) if console.is_terminal else None
        try:
            with live or contextlib.nullcontext():
                while not stop.is_set() and (duration is None or run.elapsed() < duration):
                    try:
                        await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
                    except TimeoutError:
                        pass
                    run.act()
                    frame = run.frame(feed, wide)
                    if live:
                        live.update(frame, refresh=True)
                    if until_settled and run.settled():
                        break
            if live is None:
                emit(frame)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
    return run


@click.command("demo", epilog=EPILOG, short_help="See it all move, no hardware needed: server, devices, dashboard.")
@click.option("--devices", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Simulated devices (serials FC-8190H00000001, ...).")
@click.option("--people", type=click.IntRange(0, 5000), default=8, show_default=True,
              help="People for every device: examples/people.csv with its photos, then generated ones.")
@click.option("--duration", type=click.FloatRange(1), metavar="SECONDS",
              help="Stop by itself after this many seconds (default: run until Ctrl-C).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="A new database file (default: facectl.db in a new temporary directory).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Server port on 127.0.0.1 (0: any free port).")
@click.option("--until-settled", is_flag=True,
              help="Stop as soon as every device is online, holds every person, has carried out the door "
                   "command and the rename, and has sent records; exit 1 if --duration passes first "
                   "(a smoke test of an installation).")
@wide_option
def demo(devices: int, people: int, duration: float | None, db_path: str | None, port: int,
         until_settled: bool, wide: bool) -> None:
    """See the whole system move: a server, simulated devices, people, and the live dashboard.

    Starts the server on 127.0.0.1 with open enrollment, boots the simulated
    devices against it, adds people for them, and a few seconds in opens a door
    and renames each device, while `facectl watch` shows it all. No hardware,
    no configuration; the database is kept afterwards for the other commands.
    """
    new_dir = None
    if db_path is None:
        new_dir = tempfile.mkdtemp(prefix="facectl-demo-")
        db_path = os.path.join(new_dir, "facectl.db")
    elif os.path.exists(db_path) and os.path.getsize(db_path) > 0:
        # The demo approves every device that calls and adds people: never into a site's database.
        fail(f"{db_path} already exists; the demo fills its own database with devices and people: "
             "give a new file to --db, or leave --db out for a temporary one", 2)
    from facectl.store import StoreError

    existed = os.path.exists(db_path)

    def give_up(message: str) -> None:
        """Nothing ran: remove what this run created and say so."""
        remove_new_database(db_path, existed)
        if new_dir:
            shutil.rmtree(new_dir, ignore_errors=True)
        fail(message + (f" ({db_path} removed)" if not existed else ""))

    try:
        run = asyncio.run(_run(db_path, devices, people, duration, port, until_settled, wide))
    except StoreError as exc:
        give_up(f"cannot open database {db_path}: {exc}; pass another --db or leave it out")
    except OSError as exc:
        give_up(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; choose another --port or leave it out")
    except people_rules.PersonError as exc:
        give_up(f"cannot add the demo people: {exc}")
    except KeyboardInterrupt:  # Ctrl-C before the server was up
        fail(f"interrupted; the data so far is in {db_path}")
    for line in run.summary():
        console.print(line, highlight=False, soft_wrap=True)
    settled = run.settled()
    run.store.close()
    console.print(f"The demo's data is in {db_path}. Keep exploring:", highlight=False, soft_wrap=True)
    for line in (f"facectl device list --db {db_path}",
                 f"facectl people status --db {db_path}",
                 f"facectl records list --db {db_path}",
                 f"facectl commands list --db {db_path}",
                 f"facectl serve --db {db_path} --open-enrollment   # and, in another terminal:",
                 "facectl sim --server http://127.0.0.1:8080 --devices 3 --interval 2 --duration 600"):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    if until_settled and not settled:
        fail("stopped before everything settled: the lines above say what is missing; try a longer --duration", 1)
