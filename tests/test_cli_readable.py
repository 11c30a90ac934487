"""Readable everywhere: tables at 80 and 160 columns, pipes and files not hard-wrapped, one
way to refuse a missing database, serials in any case, views that agree, ageing example data.

A terminal of a given width is rich's own: COLUMNS sets the width and TTY_COMPATIBLE=1 makes
the output count as a terminal (CliRunner's is not one otherwise, like a pipe or a file).
Everything runs on the real server's database, filled by device-shaped HTTP requests.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import EXAMPLES, SN, DeviceClient, settings_document
from rich.cells import cell_len

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.store import Store
from facectl.store.people import PersonInput

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
PHOTO = (EXAMPLES / "photo.jpg").read_bytes()


def terminal(width: int, *args: str) -> Result:
    """The command as it prints on a terminal `width` columns wide."""
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": str(width), "TTY_COMPATIBLE": "1"},
                              catch_exceptions=False)


def piped(*args: str) -> Result:
    """The command with its output going to a pipe or a file (COLUMNS=80 is ignored there)."""
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "80", "TTY_COMPATIBLE": "0"}, catch_exceptions=False)


def lines(result: Result) -> list[str]:
    return ANSI.sub("", result.output).splitlines()


def record(client: DeviceClient, record_id: int, user: str, name: str, kind: int = 3) -> None:
    detail = {"RecordID": record_id, "RecordType": kind, "RecordDate": int(time.time()), "UserID": user,
              "Name": name, "CardNum": "0", "QRCode": "", "IsEntry": 1, "BodyTemp": 0, "PhotoLen": len(PHOTO)}
    parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", json.dumps(detail)),
             multipart.file_part("Photo", "photo.jpg", PHOTO, "image/jpeg")]
    assert client.post_parts("/Record/UploadIdentifyRecord", parts).json["Success"] == 1


@pytest.fixture
def site(approved: DeviceClient, store: Store, db_path: str) -> str:
    """An approved device that reported its settings, door state, alarms and a few records."""
    approved.post_json("/Device/UploadWorkSetting", {**settings_document(), "DeviceName": "Lobby entrance"})
    approved.keepalive(DoorSensorStatus=1, LockDoorStatus=0, AlarmStatus="fire,doorSensor")
    store.people.add(PersonInput(1001, {"Name": "Maria García Fernández de la Torre"}))
    record(approved, 1, "1001", "Maria García Fernández de la Torre")
    record(approved, 2, "7", "7", kind=19)  # a stranger: firmware repeats the UserID as the Name
    return db_path


# --- tables at 80 and 160 columns ------------------------------------------------------------

TABLES = [("device", "list"), ("records", "list"), ("people", "status"), ("watch", "--once")]


@pytest.mark.parametrize("command", TABLES, ids=" ".join)
def test_tables_fit_80_columns_with_serials_times_and_states_whole(site: str, command: tuple[str, ...]) -> None:
    result = terminal(80, *command, "--db", site)
    assert result.exit_code == 0, result.output
    out = lines(result)
    assert all(cell_len(line) <= 80 for line in out), "\n".join(out)
    assert any(SN in line for line in out), "\n".join(out)  # the serial on one line, not folded
    assert not any(line.strip(" │┃").startswith(("FC-81", "90H24")) and SN not in line for line in out)
    if command[0] in ("records", "watch"):
        assert any(TIME.search(line) for line in out)
    # no word is broken over two lines: every word of a cell is a whole word of the data
    text = "\n".join(out)
    for broken in ("verificat", "appro\n", "approv\n", "onlin\n", "offlin\n"):
        assert broken not in text.replace("verification", ""), text


@pytest.mark.parametrize("command", TABLES, ids=" ".join)
def test_narrow_tables_name_what_they_hide_and_wide_shows_it(site: str, command: tuple[str, ...]) -> None:
    narrow = "\n".join(lines(terminal(80, *command, "--db", site)))
    wide = "\n".join(lines(terminal(80, *command, "--wide", "--db", site)))
    roomy = "\n".join(lines(terminal(160, *command, "--db", site)))
    if "hidden to fit:" in narrow:
        hidden = narrow.split("hidden to fit: ", 1)[1].split(" (--wide", 1)[0].split(", ")
        for header in hidden:
            assert header in wide, (header, wide)
    assert "hidden to fit" not in wide
    assert len(roomy.splitlines()[0]) > 80 or "hidden to fit" not in roomy


def test_device_list_at_80_and_160_columns(site: str) -> None:
    narrow = lines(terminal(80, "device", "list", "--db", site))
    row = next(line for line in narrow if SN in line)
    assert "approved" in row and "online" in row and "ago" in row
    roomy = "\n".join(lines(terminal(160, "device", "list", "--db", site)))
    assert "Lobby entrance" in roomy and "door open, unlocked" in roomy and "fire alarm" in roomy
    assert "hidden to fit" not in roomy


def test_records_at_160_columns_show_names_and_an_unknown_person_without_a_name(site: str) -> None:
    out = lines(terminal(160, "records", "list", "--db", site))
    known = next(line for line in out if "face verification" in line)
    stranger = next(line for line in out if "unregistered user" in line)
    assert "Maria García Fernández de la Torre" in known
    assert " 7 " in stranger and stranger.count(" 7 ") == 1  # the UserID, and no Name repeating it


# --- pipes and files ---------------------------------------------------------------------------

def test_a_pipe_gets_every_column_on_one_line_per_row(site: str) -> None:
    for command in TABLES:
        out = lines(piped(*command, "--db", site))
        assert "hidden to fit" not in "\n".join(out)
        assert any(SN in line and len(line) > 80 for line in out) or command == ("people", "status"), out
    rows = [line for line in lines(piped("records", "list", "--db", site)) if SN in line]
    assert len(rows) == 2 and all(TIME.search(row) and "yes" in row for row in rows)


def test_watch_once_to_a_file_is_one_frame_without_the_quit_hint(site: str) -> None:
    out = "\n".join(lines(piped("watch", "--once", "--db", site)))
    assert "Ctrl-C" not in out
    assert "Lobby entrance" in out and "fire alarm" in out  # every column, nothing hidden
    assert "Ctrl-C" not in "\n".join(lines(terminal(80, "watch", "--once", "--db", site)))


def test_errors_are_one_line_in_a_pipe(db_path: str) -> None:
    result = piped("device", "show", "FC-0000000000000000000000001", "--db", str(Path(db_path).parent / "missing.db"))
    assert result.exit_code == 3 and len(result.output.strip().splitlines()) == 1


# --- only serve and demo create a database ---------------------------------------------------------

@pytest.mark.parametrize("command", [
    ("people", "add", "1001", "--name", "Zhang"),
    ("people", "import", str(Path(__file__).resolve().parents[1] / "examples" / "people.csv")),
    ("device", "add", SN),
    ("device", "list"),
    ("records", "list"),
], ids=lambda c: " ".join(c[:2]))
def test_a_missing_database_is_refused_the_same_way(tmp_path: Path, command: tuple[str, ...]) -> None:
    missing = tmp_path / "typo.db"
    result = piped(*command, "--db", str(missing))
    assert result.exit_code == 3, result.output
    assert result.output.strip().splitlines() == [
        f"error: no database at {missing}: start `facectl serve --db {missing}` first (it creates it), "
        "or pass --db / set FACECTL_DB"]
    assert list(tmp_path.iterdir()) == []


# --- serials in any case -------------------------------------------------------------------------

def test_serials_typed_in_lower_case_are_found(site: str, store: Store) -> None:
    lower = SN.lower()
    shown = piped("device", "show", lower, "--db", site)
    assert shown.exit_code == 0 and f"Device {SN}" in shown.output
    opened = piped("door", "open", lower, "--db", site)
    assert opened.exit_code == 0, opened.output
    assert [c["sn"] for c in store.commands.list()] == [SN]
    assert piped("device", "block", lower, "--db", site).output.strip() == f"{SN}: blocked"
    assert piped("people", "status", lower, "--db", site).exit_code == 0
    assert SN in piped("records", "list", "--sn", lower, "--db", site).output
    assert piped("device", "add", lower, "--db", site).output.strip() == f"{SN}: already known"
    unknown = piped("device", "show", "fc-0000000000", "--db", site)
    assert unknown.exit_code == 1 and "no device fc-0000000000" in unknown.output


# --- views agree -----------------------------------------------------------------------------------

def test_device_show_uses_the_list_labels(site: str) -> None:
    shown = piped("device", "show", SN, "--db", site).output
    assert re.search(r"door\s+│ door open, unlocked", shown), shown
    assert re.search(r"alarm\s+│ fire alarm, door sensor alarm", shown), shown
    assert "relay_status" not in shown and "door_sensor_status" not in shown and "alarm_status" not in shown
    listed = piped("device", "list", "--db", site).output
    assert "door open, unlocked" in listed and "fire alarm, door sensor alarm" in listed


# --- example data that ages ------------------------------------------------------------------------

def test_import_warns_about_people_expired_on_arrival_and_imports_them(site: str, tmp_path: Path,
                                                                     store: Store) -> None:
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text("user_id,name,expires\n2001,Old Contract,2020-01-31\n2002,New Contract,2099-01-31\n",
                        encoding="utf-8")
    result = piped("people", "import", str(csv_file), "--db", site)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{csv_file}:2:" in warnings[0] and "user 2001: expired on arrival" in warnings[0]
    assert store.people.get(2001) is not None and store.people.get(2002) is not None


def test_the_example_people_are_not_expired(site: str) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "people.csv"
    result = piped("people", "import", str(example), "--dry-run", "--db", site)
    assert "dry run: 4 good row(s), 1 bad" in result.output  # the last row names a device this site lacks
    assert "warning" not in result.output and "expired" not in result.output, result.output
