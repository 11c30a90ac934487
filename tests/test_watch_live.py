"""`facectl watch` refreshing: what a device reports between two frames shows in the next one.

The test wraps the dashboard builder to record every frame the command draws and to
make the device report something new just before a chosen frame, so the change
happens at a known point of the refresh loop (no timing guesses).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SN, DeviceClient
from rich.console import Console

from facectl.cli import watch as watch_module
from facectl.cli.main import cli
from facectl.protocol.codes import ALARMS
from facectl.store import Store
from facectl.store.people import PersonInput


def device_row(frame: str) -> str:
    return next(line for line in frame.splitlines() if SN in line)


def record_frames(monkeypatch: pytest.MonkeyPatch, before: dict[int, Callable[[], Any]]) -> list[str]:
    """Every frame `facectl watch` builds, as text; `before[n]()` runs just before frame n (1-based)."""
    frames: list[str] = []
    build = watch_module.dashboard

    def recorded(store: Any, now: float | None = None, feed: int = 15, **options: Any) -> Any:
        if len(frames) + 1 in before:
            before[len(frames) + 1]()
        group = build(store, now, feed, **options)
        capture = Console(width=240, record=True, file=io.StringIO(), color_system=None)
        capture.print(group)
        frames.append(capture.export_text())
        return group

    monkeypatch.setattr(watch_module, "dashboard", recorded)
    return frames


def test_each_refresh_shows_what_changed_since_the_last(approved: DeviceClient, store: Store, db_path: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    approved.keepalive(DoorSensorStatus=0, LockDoorStatus=0)

    def alarm_and_new_person() -> None:
        approved.keepalive(DoorSensorStatus=1, LockDoorStatus=1, AlarmStatus="fire")
        store.people.add(PersonInput(1001, {"Name": "张三"}))

    def alarm_cleared() -> None:
        approved.keepalive(DoorSensorStatus=0, LockDoorStatus=0)

    frames = record_frames(monkeypatch, {3: alarm_and_new_person, 4: alarm_cleared})
    result = CliRunner(env={"COLUMNS": "240"}).invoke(cli, ["watch", "--db", db_path, "--frames", "3",
                                                            "--interval", "0.2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(frames) == 4  # the first frame, then one per refresh

    first, third, last = frames[0], frames[2], frames[3]
    assert "1 devices · 1 online · 0 offline" in first and "in alarm" not in first
    assert "closed" in device_row(first) and "AddPeople" not in device_row(first)
    # The device reported a fire alarm and an open door, and a person waits for it.
    assert "1 in alarm" in third
    row = device_row(third)
    assert ALARMS.label("fire") in row and "open" in row and "locked" in row and "AddPeople" in row
    # Cleared again by the next keepalive; the person still waits (the device has not fetched them).
    assert "in alarm" not in last and ALARMS.label("fire") not in device_row(last)
    assert "AddPeople" in device_row(last)
    assert device_row(last) in result.output  # the command printed its last frame


def test_ctrl_c_quits_cleanly(approved: DeviceClient, db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    approved.keepalive()

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    frames = record_frames(monkeypatch, {3: ctrl_c})
    result = CliRunner().invoke(cli, ["watch", "--db", db_path, "--interval", "0.2"])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert len(frames) == 2 and "Traceback" not in result.output
