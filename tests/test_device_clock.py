"""Implausible device clocks (protocol.md 8.4) and granted / refused outcomes, end to end over raw bytes.

A 9.x terminal sent a system record dated `1781080` (its upload time divided by
1000). The record is kept exactly once, acknowledged, dated when it was received
(so `--since` finds it), carries a warning, and the device shows a clock problem
in `device show`, `device list` and `watch`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, SN, LiveServer, TerminalSocket, cjson, terminal_bytes

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.protocol.codes import GRANTED_RECORD_TYPES, REFUSED_RECORD_TYPES, identify_outcome
from facectl.protocol.records import EARLIEST_PLAUSIBLE_DATE, clock_problem
from facectl.store import Store

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()
BOUNDARY = "--------------------------506873351428002157394455"
#: The captured system record: outer RecordType 2, inner 1 ("software open"), RecordDate 1781080.
CAPTURED = {"SN": SN, "RecordType": 2, "Records": [{"RecordID": 7, "RecordType": 1, "RecordDate": 1781080}]}


def run(db_path: str, *args: str) -> Any:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, [*args, "--db", db_path], catch_exceptions=False)
    return result


def identify(term: TerminalSocket, record_id: int, record_type: int, record_date: int, user: str = "1") -> dict:
    detail = {"RecordID": record_id, "RecordType": record_type, "RecordDate": record_date, "UserID": user,
              "Name": "张三", "CardNum": "0", "QRCode": "", "IsEntry": 1, "BodyTemp": 0, "PhotoLen": len(PHOTO)}
    body = multipart.build([multipart.text_part("SN", SN),
                            multipart.text_part("RecordDetail", cjson(detail).decode()),
                            multipart.file_part("Photo", "1.jpg", PHOTO, "image/jpeg")], BOUNDARY)
    reply = term.send(terminal_bytes("/Record/UploadIdentifyRecord", body,
                                     content_type=f"multipart/form-data; boundary={BOUNDARY}"))
    assert reply.status == 200
    return reply.json


@pytest.fixture
def term(server: LiveServer, store: Store):
    store.devices.add(SN)
    t = TerminalSocket(server.port)
    yield t
    t.close()


@pytest.mark.parametrize(("date", "bad"), [
    (1781080, True), (EARLIEST_PLAUSIBLE_DATE - 1, True), (EARLIEST_PLAUSIBLE_DATE, False),
    (1_800_000_000 + 86_400, False), (1_800_000_000 + 86_401, True),
])
def test_clock_problem_rule(date: int, bad: bool) -> None:
    assert (clock_problem(date, 1_800_000_000) is not None) is bad


def test_captured_system_record_is_kept_once_dated_when_received(term: TerminalSocket, store: Store,
                                                                  db_path: str) -> None:
    before = time.time()
    for _ in range(3):  # the device's retries
        assert term.post_json("/Record/UploadSystemRecord", CAPTURED).json == {"Success": 1}
    (row,) = store.records.list(sn=SN)
    assert row["kind"] == "system" and row["record_id"] == 7 and row["device_date"] == 1781080
    assert row["dated_on_receipt"] and before - 1 <= row["record_date"] <= time.time() + 1
    assert any("before 2020-01-01" in w and "clock or firmware" in w for w in row["warnings"])
    # a reused RecordID with another (still wrong) date is another event, not a retry
    later = {"SN": SN, "RecordType": 2, "Records": [{"RecordID": 7, "RecordType": 1, "RecordDate": 1781090}]}
    assert term.post_json("/Record/UploadSystemRecord", later).json == {"Success": 1}
    assert store.records.count(SN) == 2

    since = time.strftime("%Y-%m-%d", time.localtime(before - 60))
    listed = json.loads(run(db_path, "records", "list", "--since", since, "--json").output)
    assert {r["device_date"] for r in listed} == {1781080, 1781090}
    table = run(db_path, "records", "list", "--since", since).output
    assert "*" in table and "dated when received" in table


def test_a_record_from_the_future_and_the_devices_clock_problem(term: TerminalSocket, store: Store,
                                                                db_path: str) -> None:
    now = int(time.time())
    assert identify(term, 1, 3, now)["Success"] == 1
    assert identify(term, 2, 3, now + 3 * 86_400)["Success"] == 1
    assert identify(term, 2, 3, now + 3 * 86_400)["Success"] == 1  # retry
    rows = {r["record_id"]: r for r in store.records.list(sn=SN)}
    assert len(rows) == 2 and not rows[1]["dated_on_receipt"] and rows[1]["record_date"] == now
    assert rows[2]["dated_on_receipt"] and rows[2]["record_date"] <= time.time() + 1
    assert "days ahead of the server clock" in " ".join(rows[2]["warnings"])

    shown = run(db_path, "device", "show", SN).output
    assert "identify record 2" in shown and "clock or firmware is wrong" in shown
    assert json.loads(run(db_path, "device", "show", SN, "--json").output)["clock_warning"].startswith(
        "identify record 2")
    assert "clock wrong" in run(db_path, "device", "list").output
    frame = CliRunner(env={"COLUMNS": "240"}).invoke(cli, ["watch", "--once", "--db", db_path]).output
    assert "clock wrong!" in frame and "dated when received" in frame and "1 with a wrong clock" in frame


def test_outcomes_and_refused_filter(term: TerminalSocket, store: Store, db_path: str) -> None:
    now = int(time.time())
    assert identify(term, 10, 3, now)["Success"] == 1      # face verification: granted
    assert identify(term, 11, 17, now)["Success"] == 1     # outside time group: refused
    assert identify(term, 12, 19, now, "")["Success"] == 1  # unregistered: refused
    assert identify(term, 13, 33, now)["Success"] == 1     # person added on the menu: neither
    rows = {r["record_id"]: r["outcome"] for r in store.records.list(sn=SN)}
    assert rows == {10: "granted", 11: "refused", 12: "refused", 13: None}

    refused = json.loads(run(db_path, "records", "list", "--refused", "--json").output)
    assert sorted(r["record_id"] for r in refused) == [11, 12]
    table = run(db_path, "records", "list").output
    assert "granted" in table and "refused" in table and "Outcome" in table
    frame = CliRunner(env={"COLUMNS": "240"}).invoke(cli, ["watch", "--once", "--db", db_path]).output
    assert "granted" in frame and "refused" in frame


def test_every_access_record_type_is_classified_once() -> None:
    assert not GRANTED_RECORD_TYPES & REFUSED_RECORD_TYPES
    assert {t for t in range(1, 50) if identify_outcome(t) is None} == {33, 34, 35, 44}
    assert identify_outcome(16) == identify_outcome(21) == identify_outcome(24) == "refused"


@pytest.mark.parametrize("date", [0, -1, 2**63 - 1, True, "1781080", " 1781080 ", 1781080.0, 4102444800])
def test_any_implausible_date_is_kept_once_through_retries(term: TerminalSocket, store: Store, date: Any) -> None:
    body = {"SN": SN, "RecordType": 2, "Records": [{"RecordID": 9, "RecordType": 1, "RecordDate": date}]}
    for _ in range(2):
        assert term.post_json("/Record/UploadSystemRecord", body).json == {"Success": 1}
    (row,) = store.records.list(sn=SN)
    assert row["dated_on_receipt"] and row["detail"]["RecordDate"] == date
    assert store.quarantine.count() == 0
