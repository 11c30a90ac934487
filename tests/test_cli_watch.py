"""`facectl watch` shows what the server stores, refreshing from the database."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import EXAMPLES, SN, DeviceClient

from facectl.cli.main import cli
from facectl.protocol.codes import ALARMS
from facectl.store import Store


def frame(db_path: str, *args: str) -> str:
    result = CliRunner(env={"COLUMNS": "240"}).invoke(cli, ["watch", "--db", db_path, *args],
                                                      catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_dashboard_shows_devices_state_alarms_pending_work_and_records(
    approved: DeviceClient, server, db_path: str, store: Store
) -> None:
    other = DeviceClient(server.port, sn="FC-8380T12345678")
    other.keepalive()
    other.close()
    approved.keepalive(DoorSensorStatus=1, LockDoorStatus=1, AlarmStatus="fire")
    ctype = (EXAMPLES / "UploadIdentifyRecord.content-type").read_text().strip()
    approved.post("/Record/UploadIdentifyRecord", (EXAMPLES / "UploadIdentifyRecord.body").read_bytes(), ctype)

    out = frame(db_path, "--once")
    assert "2 devices · 2 online · 0 offline · 1 awaiting approval · 1 in alarm" in out
    assert SN in out and "FC-8380T12345678" in out
    assert ALARMS.label("fire") in out
    assert "UploadWorkParameter" in out  # no settings yet: pending work shown
    assert "face verification" in out

    store.devices.set_state("FC-8380T12345678", "blocked")
    assert "0 awaiting approval" not in frame(db_path, "--once")
    assert "blocked" in frame(db_path, "--once")


def test_live_mode_refreshes_and_stops_after_the_frames_asked(approved: DeviceClient, db_path: str) -> None:
    approved.keepalive()
    out = frame(db_path, "--frames", "2", "--interval", "0.2")
    assert SN in out and "online" in out


def test_watch_without_database_says_how_to_get_one(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["watch", "--db", str(tmp_path / "none.db"), "--once"])
    assert result.exit_code == 3 and "facectl serve" in result.output
