"""`facectl demo`: a real server, simulated devices and the dashboard, bounded by --duration.

The runs are bounded by the demo's own --duration (and a subprocess timeout as a
guard); nothing here sleeps to wait for something to happen.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from facectl.cli import demo as demo_module
from facectl.cli.demo import DEVICE_NAME, GENERATED_FIRST_ID, DemoRun, demo_people
from facectl.protocol.people import is_jpeg
from facectl.sim.fleet import serials
from facectl.store import Store

SNS = serials(2)
DEMO = [sys.executable, "-m", "facectl", "demo"]
GUARD_SECONDS = 90  # a bound on a hung run, far above what the runs take


def run_demo(*args: str, timeout: float = GUARD_SECONDS) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "220", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*DEMO, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_demo_shows_devices_online_people_delivered_and_records(tmp_path: Path) -> None:
    """--until-settled ends the run as soon as everything below has happened (--duration is the bound)."""
    db = tmp_path / "demo.db"
    result = run_demo("--until-settled", "--duration", "60", "--devices", "2", "--people", "5", "--db", str(db))
    out = result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in out + result.stderr
    # It says where the data is and how to stop, at the start; how to go on, at the end.
    assert f"Data: {db}" in out and "Stop with Ctrl-C" in out
    assert f"facectl device list --db {db}" in out.split("Keep exploring:")[1]
    # The dashboard's last frame: both devices online, renamed, nothing left to do; records with names.
    assert "2 devices · 2 online · 0 offline" in out
    for i, sn in enumerate(SNS, 1):
        row = next(line for line in out.splitlines() if sn in line and "approved" in line)
        assert "online" in row and DEVICE_NAME.format(i) in row, row
        assert not any(flag in row for flag in ("AddPeople", "SyncParameter", "Remote", "UploadWorkParameter"))
    assert "Latest records" in out and "power on" in out
    # The demo's own panel and closing line.
    assert "people delivered to 2/2 devices" in out
    assert f"door open on {SNS[0]}: delivered" in out
    assert f"set DeviceName={DEVICE_NAME.format(2)} on {SNS[1]}: applied" in out

    store = Store(str(db))
    status = {s["sn"]: s for s in store.people.status()}
    assert all(status[sn]["delivered"] == status[sn]["wanted"] == 5 for sn in SNS), status
    person = store.people.get(1001)
    assert person["fields"]["Name"] == "张三" and person["photo"]["size"] > 0
    records = store.records.list(limit=1000)
    assert {r["sn"] for r in records} == set(SNS)
    assert any(r["kind"] == "system" and r["sn"] == SNS[0] for r in records)
    named = [r for r in records if r["kind"] == "identify" and r["user_id"] not in (None, "0")]
    assert all(r["name"] == store.people.get(int(r["user_id"]))["fields"]["Name"] for r in named)
    assert [c["state"] for c in store.commands.list(sn=SNS[0])] == ["sent"]
    assert store.devices.get(SNS[1])["device_name"] == DEVICE_NAME.format(2)
    store.close()


def test_ctrl_c_stops_cleanly_and_says_where_the_data_is(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {**os.environ, "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*DEMO, "--devices", "1", "--db", str(db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # the line saying how to stop comes once Ctrl-C is handled
            seen.append(line)
            if "Stop with Ctrl-C" in line:
                break
        assert any("Stop with Ctrl-C" in line for line in seen), seen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=GUARD_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err and err == ""
    assert f"The demo's data is in {db}" in out
    assert Store(str(db)).devices.list() is not None  # a usable database was left behind


def test_the_dashboard_moves_frame_by_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's dashboard, refreshed from the database, frame by frame: the work the demo queues
    shows as pending on the device's row, and is gone once the device has done it."""
    frames: list[str] = []
    frame = DemoRun.frame

    def recorded(self: DemoRun, feed: int, wide: bool = False):  # noqa: ANN202
        group = frame(self, feed, wide)
        capture = Console(width=220, record=True, file=io.StringIO(), color_system=None)
        capture.print(group)
        frames.append(capture.export_text())
        return group

    monkeypatch.setattr(DemoRun, "frame", recorded)
    monkeypatch.setattr(demo_module, "console", Console(file=io.StringIO(), width=220))
    db = str(tmp_path / "demo.db")
    run = asyncio.run(demo_module._run(db, 2, 3, 60.0, 0, until_settled=True))  # noqa: SLF001
    assert run.settled()  # it stopped because everything happened, not because 60 s passed
    run.store.close()

    def row(text: str, sn: str) -> str:
        return next((line for line in text.splitlines() if sn in line and "approved" in line), "")

    assert len(frames) >= 4
    assert "0 devices" in frames[0]  # before the devices' first keepalive
    # The frame drawn right after the demo queued its work shows it pending on the first device.
    queued = next(i for i, f in enumerate(frames) if "door open on" in f)
    assert "Remote" in row(frames[queued], SNS[0]) and "SyncParameter" in row(frames[queued], SNS[0])
    assert "queued" in frames[queued] or "pending" in frames[queued]
    # Later frames: done, renamed, online; the feed has records with names of demo people.
    last = frames[-1]
    assert "2 devices · 2 online · 0 offline" in last
    for i, sn in enumerate(SNS, 1):
        assert DEVICE_NAME.format(i) in row(last, sn) and "Remote" not in row(last, sn)
    assert "people delivered to 2/2 devices" in last
    assert "power on" in last


def test_demo_people_come_from_the_examples_then_are_generated(tmp_path: Path) -> None:
    people = demo_people(7)
    assert [p.user_id for p in people] == [1001, 1002, 1003, 1004, 1005, GENERATED_FIRST_ID, GENERATED_FIRST_ID + 1]
    assert people[0].values["Name"] == "张三" and is_jpeg(people[0].photo)
    assert all(is_jpeg(p.photo) for p in people[5:])
    assert [p.user_id for p in demo_people(2)] == [1001, 1002]
    assert [p.user_id for p in demo_people(2, examples=tmp_path)] == [GENERATED_FIRST_ID, GENERATED_FIRST_ID + 1]
    assert demo_people(0) == []


def test_until_settled_fails_when_the_duration_passes_first(tmp_path: Path) -> None:
    """The demo acts only after a few seconds, so one second cannot settle: exit 1, with the reason."""
    result = run_demo("--until-settled", "--duration", "1", "--devices", "1", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("error: stopped before everything settled") and "--duration" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_demo("--duration", "1", "--port", str(port), "--db", str(tmp_path / "x.db"), timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot listen on 127.0.0.1:") and "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_will_not_write_into_an_existing_database(tmp_path: Path) -> None:
    """The demo approves every caller and adds people: it refuses a site's database."""
    site = tmp_path / "site.db"
    Store(str(site)).close()
    before = site.read_bytes()
    result = run_demo("--duration", "1", "--db", str(site), timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {site} already exists") and "leave --db out" in result.stderr
    assert site.read_bytes() == before
