"""`facectl people` on a database, through click's runner (no server needed: commands change desired state)."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SN, timed

from facectl.cli.main import cli
from facectl.cli.people import CSV_COLUMNS
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store

SN2 = "FC-8190H25061293"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(db: str, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", db], catch_exceptions=False)


@pytest.fixture
def db(db_path: str) -> str:
    store = Store(db_path)
    store.devices.add(SN)
    store.devices.add(SN2)
    store.close()
    return db_path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_add_show_update_rm(db: str, tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(make_jpeg(1500, seed=1))
    result = run(db, "people", "add", "1001", "--name", "张三", "--card", "0012", "--photo", str(photo),
                 "--access", "admin", "--expires", "2030-01-31", "--elevators", "1,2", "--keep-open")
    assert result.exit_code == 0, result.output
    assert "goes to 2 device(s)" in result.output
    shown = json.loads(run(db, "people", "show", "1001", "--json").output)
    fields = shown["person"]["fields"]
    assert (fields["Name"], fields["CardNum"], fields["AccessType"], fields["KeepOpen"]) == ("张三", "12", 1, 1)
    assert shown["person"]["photo"]["size"] == 1500
    assert {d["sn"]: d["state"] for d in shown["deliveries"]} == {SN: "pending", SN2: "pending"}
    assert run(db, "people", "add", "1001").exit_code == 1  # exists
    assert run(db, "people", "update", "1001", "--name", "张三").output.strip() == "1001: unchanged"
    result = run(db, "people", "update", "1001", "--no-photo", "--device", SN)
    assert result.exit_code == 0 and SN2 not in result.output
    shown = json.loads(run(db, "people", "show", "1001", "--json").output)
    assert shown["person"]["photo"] is None and shown["person"]["scope"] == [SN]
    assert run(db, "people", "update", "1001", "--all-devices").exit_code == 0
    assert json.loads(run(db, "people", "show", "1001", "--json").output)["person"]["scope"] == "all"
    assert run(db, "people", "update", "5", "--name", "x").exit_code == 1  # no such person
    assert run(db, "people", "add", "0").exit_code == 2  # not a user id
    listed = json.loads(run(db, "people", "list", "--json").output)
    assert [p["user_id"] for p in listed] == [1001] and listed[0]["delivery"]["wanted"] == 2
    assert "张三" in run(db, "people", "list").output
    result = run(db, "people", "rm", "1001", "2002")
    assert result.exit_code == 1 and "removed 1 person (1001)" in result.output and "no person 2002" in result.output
    assert json.loads(run(db, "people", "list", "--json").output) == []


def test_add_rejects_bad_input_with_field_and_limit(db: str, tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(make_jpeg(MAX_PHOTO_BYTES + 1000, seed=2))
    cases = {
        ("--name", "名" * 22): "Name is 66 bytes",
        ("--password", "12"): "Password must be 4 to 8 digits",
        ("--expires", "2100-01-01"): "2099-12-31 23:59:59",
        ("--photo", str(big)): f"at most {MAX_PHOTO_BYTES}",
        ("--device", "FC-0000X00000000"): "unknown device FC-0000X00000000",
        ("--holidays", "1,a"): "Holidays must be a comma list",
    }
    for args, message in cases.items():
        result = run(db, "people", "add", "7", *args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)


def test_import_the_example_file(db: str) -> None:
    result = run(db, "people", "import", str(EXAMPLES / "people.csv"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["created"] == 5 and summary["bad"] == 0
    store = Store(db)
    assert store.people.get(1001)["fields"]["Name"] == "张三"
    assert store.people.get(1003)["scope"] == [SN]
    assert store.people.get(1005)["scope"] == sorted([SN, SN2])
    assert store.people.get(1002)["fields"]["Holidays"] == "1,2,3"
    assert store.people.get(1004)["photo"] is None and store.people.get(1004)["fields"]["AccessType"] == 2


def test_import_reports_every_bad_row_and_imports_the_good(db: str, tmp_path: Path) -> None:
    (tmp_path / "ok.jpg").write_bytes(make_jpeg(800, seed=1))
    (tmp_path / "big.jpg").write_bytes(make_jpeg(MAX_PHOTO_BYTES + 1, seed=2))
    (tmp_path / "png.jpg").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    header = ["user_id", "name", "password", "expires", "photo", "devices"]
    rows = [
        ["1", "Good One", "1234", "", "ok.jpg", ""],           # line 2
        ["2", "名" * 22, "", "", "", ""],                       # line 3: name too long
        ["3", "Bad PIN", "12", "", "", ""],                     # line 4
        ["4", "Too late", "", "2100-01-01", "", ""],           # line 5
        ["5", "No photo", "", "", "missing.jpg", ""],          # line 6
        ["6", "Big photo", "", "", "big.jpg", ""],             # line 7
        ["7", "Not JPEG", "", "", "png.jpg", ""],              # line 8
        ["1", "Again", "", "", "", ""],                        # line 9: duplicate
        ["8", "Short row"],                                    # line 10
        ["9", "Unknown device", "", "", "", "FC-0000X00000000"],  # line 11
        ["x", "Bad id", "", "", "", ""],                       # line 12
        ["10", "Good Two", "", "2030-01-01", "", SN],          # line 13
    ]
    path = write_csv(tmp_path / "staff.csv", header, rows)
    result = run(db, "people", "import", str(path), "--dry-run")
    assert result.exit_code == 1 and "dry run: 2 good row(s), 10 bad" in result.output
    assert Store(db).people.count() == 0
    result = run(db, "people", "import", str(path), "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    errors = {e["line"]: e["reason"] for e in summary["errors"]}
    assert sorted(errors) == list(range(3, 13))
    assert "Name is 66 bytes" in errors[3] and "at most 63" in errors[3]
    assert "Password" in errors[4] and "2099-12-31" in errors[5]
    assert "cannot read photo" in errors[6] and "at most" in errors[7] and "not a JPEG" in errors[8]
    assert "already appears on line 2" in errors[9] and "header has 6" in errors[10]
    assert "unknown device" in errors[11] and "UserID" in errors[12]
    assert summary["created"] == 2
    store = Store(db)
    assert store.people.all_ids() == [1, 10] and store.people.get(10)["scope"] == [SN]
    text = run(db, "people", "import", str(path)).output
    assert f"{path}:3: Name is 66 bytes" in text


@timed
def test_import_thousands_of_rows_quickly(db: str, tmp_path: Path, timed: bool) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(50):
        (photos / f"{i}.jpg").write_bytes(make_jpeg(1200, seed=i))
    rows = [[str(uid), f"员工{uid}", f"E{uid}", str(3_000_000 + uid), f"{uid % 50}.jpg"] for uid in range(1, 3001)]
    path = write_csv(tmp_path / "many.csv", ["user_id", "name", "code", "card", "photo"], rows)
    started = time.perf_counter()
    result = run(db, "people", "import", str(path), "--photos", str(photos))
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert "3000 added" in result.output
    assert not timed or elapsed < 20, f"import of 3000 rows took {elapsed:.1f}s"
    status = json.loads(run(db, "people", "status", "--json").output)
    assert {s["sn"]: s["pending"] for s in status} == {SN: 3000, SN2: 3000}


def test_export_round_trips(db: str, tmp_path: Path) -> None:
    work = tmp_path / "site"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns("requests"))
    assert run(db, "people", "import", str(work / "people.csv")).exit_code == 0
    out = tmp_path / "export" / "people.csv"
    out.parent.mkdir()
    assert run(db, "people", "export", str(out)).exit_code == 0
    with open(out, encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert list(exported[0]) == list(CSV_COLUMNS)
    assert exported[0]["photo"] == "photos/1001.jpg"
    assert (out.parent / "photos" / "1001.jpg").read_bytes() == (EXAMPLES / "photos" / "1001.jpg").read_bytes()
    result = run(db, "people", "import", str(out), "--json")
    assert json.loads(result.output)["unchanged"] == 5  # the same people, nothing changed


def test_sync_plans_and_status(db: str) -> None:
    assert run(db, "people", "import", str(EXAMPLES / "people.csv")).exit_code == 0
    plan = json.loads(run(db, "people", "sync", "--all", "--dry-run", "--json").output)
    assert plan["dry_run"] and {p["sn"]: p["add"] for p in plan["plans"]} == {SN: 5, SN2: 4}
    assert run(db, "people", "sync", "--full").exit_code == 2  # heavy: name the devices or --all
    assert run(db, "people", "sync", "FC-0000X00000000").exit_code == 1
    result = run(db, "people", "sync", SN, "--full")
    assert result.exit_code == 0 and "Scheduled" in result.output
    status = {s["sn"]: s for s in json.loads(run(db, "people", "status", "--json").output)}
    assert status[SN]["pending"] == 5 and status[SN2]["pending"] == 4 and status[SN]["delivered"] == 0
    assert SN in run(db, "people", "status", SN).output
    assert run(db, "people", "status", "FC-0000X00000000").exit_code == 1
    diff = run(db, "people", "diff", SN)
    assert diff.exit_code == 0 and "has not reported any people yet" in diff.output


def test_rm_all(db: str) -> None:
    assert run(db, "people", "import", str(EXAMPLES / "people.csv")).exit_code == 0
    result = run(db, "people", "rm", "--all", "--yes")
    assert result.exit_code == 0 and "removed 5 people" in result.output
    assert Store(db).people.count() == 0
