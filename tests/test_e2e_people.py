"""People sync to several simulated devices: imported with the CLI, delivered, changed and deleted everywhere.

Each device keeps its own people store; after each step every device must hold
exactly what the server wants it to, photos included (the simulated device
checks each photo's MD5 as it downloads it, and the test compares the bytes it
kept with the files the operator imported).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_sim_e2e import drive, make_device, md5, people_status, powered, run_async

from facectl.cli.main import cli
from facectl.sim.device import SimDevice
from facectl.sim.fleet import serials
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store

pytestmark = [
    pytest.mark.timeout(90),
]

PEOPLE = 300


def facectl(db_path: str, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--db", db_path], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_import(tmp_path: Path, uids: range) -> dict[int, bytes]:
    """staff.csv and photos/UID.jpg, as an operator prepares them; returns the photos."""
    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    photos = {}
    with open(tmp_path / "staff.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["user_id", "name", "card", "department", "photo"])
        for uid in uids:
            photos[uid] = make_jpeg(2000 + (uid * 37) % 3000, uid)
            (photos_dir / f"{uid}.jpg").write_bytes(photos[uid])
            out.writerow([uid, f"员工 {uid}", 3_800_000_000 + uid, "研发部" if uid % 2 else "Sales",
                          f"photos/{uid}.jpg"])
    return photos


def converged(store: Store, devices: list[SimDevice], wanted: set[int]) -> bool:
    for dev in devices:
        status = people_status(store, dev.ctx.sn)
        if set(dev.ctx.people.ids()) != wanted or status.get("delivered") != len(wanted) \
                or status.get("to_delete") or status.get("pending") or status.get("in_flight"):
            return False
    return True


def statuses(store: Store, devices: list[SimDevice]) -> dict[str, Any]:
    return {dev.ctx.sn: (len(dev.ctx.people), people_status(store, dev.ctx.sn)) for dev in devices}


def test_people_reach_three_devices_and_so_do_changes_and_deletes(
        open_server, store: Store, db_path: str, tmp_path: Path) -> None:
    devices = [make_device(open_server.url, sn, people_limit=50) for sn in serials(3, "FC-8190P")]
    for dev in devices:
        store.devices.add(dev.ctx.sn)
    photos = write_import(tmp_path, range(1, PEOPLE + 1))
    facectl(db_path, "people", "import", str(tmp_path / "staff.csv"))
    everyone = set(range(1, PEOPLE + 1))

    async def main() -> None:
        async with powered(*devices):
            await drive(devices, lambda: converged(store, devices, everyone), f"{PEOPLE} people on 3 devices",
                        timeout=60, describe=lambda: statuses(store, devices))
            for dev in devices:
                for uid in everyone:
                    person = dev.ctx.people.get(uid)
                    assert person.detail["Name"] == f"员工 {uid}" and person.card == str(3_800_000_000 + uid)
                    assert md5(person.photo) == md5(photos[uid]), (dev.ctx.sn, uid)
            # a change reaches everyone; so does a removal
            facectl(db_path, "people", "update", "7", "--name", "Renamed")
            facectl(db_path, "people", "rm", *[str(uid) for uid in range(1, 51)])
            await drive(devices, lambda: converged(store, devices, everyone - set(range(1, 51)))
                        and all(d.ctx.people.get(7) is None for d in devices), "deletes on 3 devices",
                        describe=lambda: statuses(store, devices))
            facectl(db_path, "people", "update", "70", "--name", "Renamed", "--card", "123456")
            await drive(devices, lambda: all(d.ctx.people.get(70).detail["Name"] == "Renamed" for d in devices)
                        and converged(store, devices, everyone - set(range(1, 51))), "update on 3 devices",
                        describe=lambda: statuses(store, devices))

    run_async(main, 80)
    for dev in devices:
        assert dev.ctx.people.ids() == list(range(51, PEOPLE + 1))
        assert dev.ctx.people.get(70).card == "123456" and md5(dev.ctx.people.get(70).photo) == md5(photos[70])
        assert dev.ctx.stats.events.get("people deleted") == 50
        assert not any(k.startswith("people import error") for k in dev.ctx.stats.events), dev.ctx.stats.events
        status = people_status(store, dev.ctx.sn)
        assert status["failed"] == 0 and status["wanted"] == PEOPLE - 50
