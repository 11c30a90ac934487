"""The simulator decides like a terminal, and keeps what a terminal keeps across a reboot.

Refusals: people delivered through the real server with the restrictions the document
defines (expired, time group 0, holiday, OpenTimes, blacklist) present themselves at a
simulated device; it refuses them offline and uploads the refusal record types
(16, 17, 18, 19, 21, 24) the server stores. State: a simulator given a state directory
comes back from a restart with its people, settings and record counter, so the server
sends nothing again; one without comes back empty, and the server notices from its
settings upload (PeopleStorageInfo) and sends everyone again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_sim_e2e import SN, backlog, drive, make_device, people_status, powered, run_async

from facectl.cli.main import cli
from facectl.protocol import access
from facectl.sim.codes import REC_FACE, SYS_POWER_ON
from facectl.sim.device import SimDevice
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store
from facectl.store.people import PersonInput

pytestmark = pytest.mark.timeout(60)

ORDINARY, EXPIRED, NO_TIME, HOLIDAY, ONE_OPEN, BLACKLISTED = 1, 2, 3, 4, 5, 6
RESTRICTIONS = {
    ORDINARY: {},
    EXPIRED: {"ExpirationDate": int(time.time()) - 86400},
    NO_TIME: {"Timegroup": 0},
    HOLIDAY: {"Holidays": "1"},
    ONE_OPEN: {"OpenTimes": 1},
    BLACKLISTED: {"AccessType": "blacklist"},
}


def add_restricted_people(store: Store) -> None:
    store.people.save_many([PersonInput(uid, {"Name": f"Person {uid}", **values}, photo=make_jpeg(3000, uid))
                            for uid, values in RESTRICTIONS.items()])


def identify_types(store: Store) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in store.db.execute(
        "SELECT user_id, record_type FROM records WHERE sn = ? AND kind = 'identify' ORDER BY record_id", [SN])]


async def booted(dev: SimDevice, store: Store, people: int) -> None:
    await drive([dev], lambda: store.settings.document(SN) is not None and backlog(dev) == 0
                and people_status(store, SN).get("delivered", 0) == people, "booted, people delivered")


def test_the_device_refuses_like_a_terminal_and_uploads_the_refusals(open_server, store: Store) -> None:
    add_restricted_people(store)
    dev = make_device(open_server.url)
    # Today is holiday 1 on this device.
    dev.ctx.settings["Holidays"] = [{"Num": 1, "Date": int(time.time())}]

    async def main() -> None:
        async with powered(dev):
            await booted(dev, store, len(RESTRICTIONS))
            for uid in (ORDINARY, EXPIRED, NO_TIME, HOLIDAY, ONE_OPEN, ONE_OPEN, BLACKLISTED):
                dev.records.identify_event(uid)
            dev.records.identify_event(None)  # a stranger
            await drive([dev], lambda: backlog(dev) == 0 and len(identify_types(store)) == 8, "records stored")

    run_async(main)
    assert identify_types(store) == [
        (str(ORDINARY), REC_FACE), (str(EXPIRED), access.REFUSED_EXPIRED), (str(NO_TIME), access.REFUSED_TIME_GROUP),
        (str(HOLIDAY), access.REFUSED_HOLIDAY), (str(ONE_OPEN), REC_FACE), (str(ONE_OPEN), access.REFUSED_OPEN_TIMES),
        (str(BLACKLISTED), access.REFUSED_BLACKLIST), ("0", access.REFUSED_UNKNOWN)]
    # Only the two granted opens moved the door: an open and a close record each.
    doors = store.db.execute("SELECT count(*) FROM records WHERE sn = ? AND kind = 'door'", [SN]).fetchone()[0]
    assert doors == 4
    assert dev.ctx.people.get(ONE_OPEN).detail["OpenTimes"] == 0


def test_records_list_shows_the_refusals(open_server, store: Store, db_path: str) -> None:
    add_restricted_people(store)
    dev = make_device(open_server.url)

    async def main() -> None:
        async with powered(dev):
            await booted(dev, store, len(RESTRICTIONS))
            dev.records.identify_event(BLACKLISTED)
            await drive([dev], lambda: backlog(dev) == 0 and len(identify_types(store)) == 1, "record stored")

    run_async(main)
    out = CliRunner().invoke(cli, ["records", "list", "--db", db_path, "--json"])
    assert out.exit_code == 0, out.output
    (row,) = [r for r in json.loads(out.output) if r["kind"] == "identify"]
    assert row["record_type"] == access.REFUSED_BLACKLIST and "blacklist" in json.dumps(row, ensure_ascii=False)


def _restart_twice(url: str, store: Store, state_dir: Path | None) -> tuple[SimDevice, SimDevice, float]:
    """Run a device until it holds everyone and has sent a record; start a second one with the same serial."""
    options = {"state_dir": str(state_dir)} if state_dir else {}
    first = make_device(url, **options)
    second_holder: list[SimDevice] = []

    async def main() -> float:
        async with powered(first):
            await booted(first, store, len(RESTRICTIONS))
            first.records.identify_event(ORDINARY)
            first.ctx.settings["DeviceName"] = "Kept name"
            await drive([first], lambda: backlog(first) == 0, "record uploaded")
        delivered_at = max(r[0] for r in store.db.execute("SELECT have_at FROM device_people WHERE sn = ?", [SN]))
        second = make_device(url, **options)
        second_holder.append(second)
        async with powered(second):
            await drive([second], lambda: store.settings.uploaded_at(SN) > delivered_at and backlog(second) == 0
                        and people_status(store, SN).get("delivered", 0) == len(RESTRICTIONS), "rebooted")
        return delivered_at

    delivered_at = run_async(main)
    return first, second_holder[0], delivered_at


def test_a_restarted_simulator_with_state_keeps_people_settings_and_counter(open_server, store: Store,
                                                                             tmp_path: Path) -> None:
    add_restricted_people(store)
    first, second, delivered_at = _restart_twice(open_server.url, store, tmp_path / "state")
    assert sorted(second.ctx.people.ids()) == sorted(RESTRICTIONS)
    assert second.ctx.people.get(ORDINARY).photo == first.ctx.people.get(ORDINARY).photo
    assert second.ctx.settings["DeviceName"] == "Kept name"
    # The RecordID counter went on where it stopped: the reboot's power-on record is the next number.
    power_on = [r[0] for r in store.db.execute(
        "SELECT record_id FROM records WHERE sn = ? AND kind = 'system' AND record_type = ? ORDER BY record_id",
        [SN, SYS_POWER_ON])]
    assert power_on[-1] == first.log.next_record_id + 1
    # The server saw a terminal that still holds everyone: nothing was sent again.
    assert "DownloadPeopleList" not in second.ctx.calls
    assert store.people.storage_lost_note(SN) is None
    assert all(r[0] <= delivered_at for r in store.db.execute("SELECT have_at FROM device_people WHERE sn = ?", [SN]))


def test_a_restarted_simulator_without_state_is_factory_new_and_gets_everyone_again(open_server,
                                                                                     store: Store) -> None:
    add_restricted_people(store)
    _, second, _ = _restart_twice(open_server.url, store, None)
    assert "DownloadPeopleList" in second.ctx.calls
    assert sorted(second.ctx.people.ids()) == sorted(RESTRICTIONS)
    note = store.people.storage_lost_note(SN)["note"]
    assert note.startswith(f"the device reported holding 0 people while {len(RESTRICTIONS)} were delivered")


def test_sim_state_that_cannot_be_read_is_a_one_line_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / f"{SN}.json").write_text("{not json", encoding="utf-8")
    out = CliRunner().invoke(cli, ["sim", "--server", "http://127.0.0.1:9", "--sn", SN, "--duration", "1",
                                   "--state", str(state)])
    assert out.exit_code == 1
    assert f"{SN}.json" in out.output and "remove it to start that device empty" in out.output
    assert "Traceback" not in out.output


def test_the_demo_people_include_one_of_each_refusal_a_terminal_makes_by_itself(tmp_path: Path) -> None:
    """`facectl demo` adds people its terminals refuse, as delivered to a device and judged by it."""
    from facectl.cli.demo import GENERATED_FIRST_ID, REFUSED_ROLES, demo_people
    from facectl.sim.settings_doc import default_settings

    store = Store(str(tmp_path / "demo.db"))
    store.devices.add(SN)
    store.people.save_many(demo_people(5 + len(REFUSED_ROLES)))
    page = store.people.take_add_page(SN, 100)
    wire = {p.user_id: p.fields for p in page.people}
    settings = default_settings(SN, server_url="http://127.0.0.1:1", keepalive_seconds=15, use_gzip=False,
                                now=time.time())
    verdicts = [access.offline_refusal(wire[GENERATED_FIRST_ID + i], settings, time.time())
                for i in range(len(REFUSED_ROLES))]
    assert verdicts == [access.REFUSED_BLACKLIST, access.REFUSED_EXPIRED, None, access.REFUSED_TIME_GROUP]
    single = dict(wire[GENERATED_FIRST_ID + 2])
    access.after_open(single)  # the single-entry pass opens once, then is refused
    assert access.offline_refusal(single, settings, time.time()) == access.REFUSED_OPEN_TIMES
    store.close()
