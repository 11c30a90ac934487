"""PushPeople without a Detail (protocol.md 8.7): the device does not hold that UserID.

The terminal answers a QueryPeople for a user it lacks with SN, PushType and UserID
only. Nothing is recorded as held; a person the server believed delivered is pending
again and goes out with the next AddPeople; `people push --wait` and `people diff` say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from conftest import SN, LiveServer
from firmware_bytes import Terminal, form

from facectl.cli.main import cli
from facectl.store import Store
from facectl.store.people import PersonInput


def push_without_detail(t: Terminal, user_id: int, push_type: int = 4) -> dict:
    """The captured shape: three text fields, no Detail part, no photo."""
    body = form([("SN", SN.encode()), ("PushType", str(push_type).encode()), ("UserID", str(user_id).encode())])
    return t.post_form("/People/PushPeople", body)


def deliver(t: Terminal) -> None:
    """Keepalive, then every AddPeople page stored and confirmed, as a device does."""
    assert t.keepalive()["AddPeople"] == 1
    while True:
        page = t.call("/People/DownloadPeopleList", ("Limit", "10"))
        if not page["PeopleList"]:
            return
        assert t.call("/People/DownloadPeopleListResult", ("FailCount", "0"), ("FailList", "[]"))["Success"] == 1


def state(store: Store, user_id: int) -> str:
    (row,) = [d for d in store.people.deliveries(user_id) if d["sn"] == SN]
    return row["state"]


@pytest.fixture
def terminal(server: LiveServer, store: Store) -> Iterator[Terminal]:
    store.devices.add(SN)
    store.people.save_many([PersonInput(1001, {"Name": "张三"}), PersonInput(1002, {"Name": "李四"})], mode="add")
    t = Terminal(server.port, SN)
    deliver(t)
    assert state(store, 1001) == "delivered"
    yield t
    t.close()


def test_query_answered_without_detail_via_people_push_wait(terminal: Terminal, store: Store, db_path: str) -> None:
    cmd = [sys.executable, "-m", "facectl", "people", "push", SN, "1001", "999", "--wait", "30s", "--db", db_path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"})
    try:
        assert "queued #" in proc.stdout.readline()  # the command is in the database: the device may ask
        assert terminal.keepalive()["Remote"] == 1
        command = terminal.call("/Device/RemoteCommand")
        assert command["QueryPeople"] == [1001, 999]
        assert push_without_detail(terminal, 1001) == {"Success": 1}
        assert push_without_detail(terminal, 999) == {"Success": 1}
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = {line.split()[1]: line for line in out.splitlines() if line.strip()[1:].split()[:1] in (["1001"], ["999"])}
    assert "does not hold" in lines["1001"] and "sent again" in lines["1001"], out
    assert "does not hold" in lines["999"] and "sent again" not in lines["999"], out
    # Nothing recorded as held: 1001 is pending again (and flagged), 999 has no row at all.
    assert state(store, 1001) == "pending"
    assert state(store, 1002) == "delivered"
    assert [d["sn"] for d in store.people.deliveries(999) if d["want"] or d["have"] is not None] == []
    assert terminal.keepalive().get("AddPeople") == 1
    page = terminal.call("/People/DownloadPeopleList", ("Limit", "10"))
    assert [str(p["UserID"]) for p in page["PeopleList"]] == ["1001"]


def test_people_diff_says_which_users_the_device_does_not_hold(terminal: Terminal, db_path: str) -> None:
    push_without_detail(terminal, 1001)
    push_without_detail(terminal, 999)
    result = CliRunner().invoke(cli, ["people", "diff", SN, "--db", db_path, "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert [(x["user_id"], x["name"]) for x in d["missing"]] == [(1001, "张三")]  # the server's name
    assert [x["user_id"] for x in d["not_held"]] == [999]
    assert d["unknown"] == [] and d["must_not_hold"] == []
    text = CliRunner().invoke(cli, ["people", "diff", SN, "--db", db_path], env={"COLUMNS": "160"}).output
    assert "reported not held" in " ".join(text.split()) and "1001" in text
    assert "reports not holding 999" in text


@pytest.mark.parametrize("push_type", [1, 2])
def test_no_detail_means_not_held_whatever_the_push_type(terminal: Terminal, store: Store, push_type: int) -> None:
    """A change report (added/updated) without a Detail still carries no person: not held."""
    assert push_without_detail(terminal, 1002, push_type) == {"Success": 1}
    (report,) = store.people.reports(SN, 1002)
    assert report["present"] == 0 and report["detail"] is None
    assert state(store, 1002) == "pending"


def test_a_push_with_detail_still_means_held(terminal: Terminal, store: Store) -> None:
    detail = b'{\n\t"UserID":\t"1001",\n\t"Name":\t"\xe5\xbc\xa0\xe4\xb8\x89"\n}'
    body = form([("SN", SN.encode()), ("PushType", b"4"), ("UserID", b"1001")],
                [("Detail", "Detail", "application/octet-stream", detail)])
    assert terminal.post_form("/People/PushPeople", body) == {"Success": 1}
    (report,) = store.people.reports(SN, 1001)
    assert report["present"] == 1
    assert state(store, 1001) == "delivered"


def test_people_push_wait_without_an_answer_says_so_and_exits_1(terminal: Terminal, db_path: str) -> None:
    result = CliRunner().invoke(cli, ["people", "push", SN, "1001", "--wait", "200ms", "--db", db_path])
    assert result.exit_code == 1, result.output
    assert "no answer yet" in result.output and "facectl commands show" in result.output
    assert "Traceback" not in result.output
