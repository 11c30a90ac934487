"""A factory reset done at the terminal's own menu, found from the PeopleStorageInfo it uploads.

No command told the server; the device boots, uploads its settings with
`PeopleStorageInfo.Person.Current` far below what the server counts as delivered,
and the server sends everyone again and says why in `device show`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from conftest import SN, LiveServer
from firmware_bytes import Terminal, cjson

from facectl.cli.main import cli
from facectl.store import Store
from facectl.store.people import PersonInput

PEOPLE = [1001, 1002, 1003, 1004]


def settings_upload(t: Terminal, current: int | None) -> dict:
    """UploadWorkSetting shaped like firmware 9.25 (protocol.md 8.5): cJSON, UTCTimeZone, nested storage info."""
    storage = "{\n\t\t\"Person\":\t{\n\t\t\t\"Max\":\t20000" + (
        f",\n\t\t\t\"Current\":\t{current}" if current is not None else "") + "\n\t\t},\n" \
        "\t\t\"Face\":\t{\n\t\t\t\"Max\":\t20000,\n\t\t\t\"Current\":\t0\n\t\t},\n" \
        "\t\t\"Pasword\":\t{\n\t\t\t\"Max\":\t20000,\n\t\t\t\"Current\":\t0\n\t\t}\n\t}"
    return t.post("/Device/UploadWorkSetting", cjson([
        ("DeviceSN", f'"{SN}"'), ("FirmwareVerson", '"9.25"'), ("UTCTimeZone", '"UTC+08:00"'),
        ("HTTPClient_KeepaliveTime", "30"), ("HTTPClientStatus", "null"), ("PeopleStorageInfo", storage)]))


def delivered_ids(t: Terminal) -> list[int]:
    """Work through AddPeople as a device does; the user ids handed out."""
    ids: list[int] = []
    while True:
        page = t.call("/People/DownloadPeopleList", ("Limit", "100"))
        if not page["PeopleList"]:
            return ids
        ids += [int(p["UserID"]) for p in page["PeopleList"]]
        assert t.call("/People/DownloadPeopleListResult", ("FailCount", "0"), ("FailList", "[]"))["Success"] == 1


@pytest.fixture
def terminal(server: LiveServer, store: Store) -> Iterator[Terminal]:
    store.devices.add(SN)
    store.people.save_many([PersonInput(uid, {"Name": f"p{uid}"}) for uid in PEOPLE], mode="add")
    t = Terminal(server.port, SN)
    assert t.keepalive()["AddPeople"] == 1
    assert settings_upload(t, 0) == {"Success": 1}  # first boot: nothing delivered yet, nothing to conclude
    assert sorted(delivered_ids(t)) == PEOPLE
    yield t
    t.close()


def delivered(store: Store) -> int:
    (row,) = [s for s in store.people.status() if s["sn"] == SN]
    return row["delivered"]


def device_show(db_path: str) -> tuple[dict, str]:
    runner = CliRunner()
    as_json = runner.invoke(cli, ["device", "show", SN, "--db", db_path, "--json"])
    text = runner.invoke(cli, ["device", "show", SN, "--db", db_path], env={"COLUMNS": "200"})
    assert as_json.exit_code == 0 and text.exit_code == 0, as_json.output + text.output
    return json.loads(as_json.output), text.output


def test_a_device_that_reports_zero_people_gets_everyone_again(terminal: Terminal, store: Store,
                                                              db_path: str) -> None:
    assert delivered(store) == len(PEOPLE)
    # Reset at the terminal's menu, then it boots: keepalive, settings upload.
    assert terminal.keepalive().get("AddPeople") is None
    assert settings_upload(terminal, 0) == {"Success": 1}
    assert delivered(store) == 0
    assert terminal.keepalive().get("AddPeople") == 1
    info, text = device_show(db_path)
    note = info["people_lost"]["note"]
    assert note == ("the device reported holding 0 people while 4 were delivered to it "
                    "(factory reset at the terminal?); 4 are being sent again")
    assert "factory reset at the terminal?" in " ".join(text.split())
    assert sorted(delivered_ids(terminal)) == PEOPLE
    assert delivered(store) == len(PEOPLE)
    # The device now holds them all: the same upload with the right count changes nothing.
    assert settings_upload(terminal, len(PEOPLE)) == {"Success": 1}
    assert delivered(store) == len(PEOPLE)


@pytest.mark.parametrize(("current", "resent"), [(1, True), (2, False), (4, False), (9, False), (None, False)])
def test_the_threshold_is_half_of_what_was_delivered(terminal: Terminal, store: Store,
                                                     current: int | None, resent: bool) -> None:
    """Fewer than half of the 4 delivered: a reset. Half or more, more, or no count at all: nothing."""
    assert settings_upload(terminal, current) == {"Success": 1}
    assert delivered(store) == (0 if resent else len(PEOPLE))
    assert (store.people.storage_lost_note(SN) is not None) is resent


def test_device_show_is_silent_when_nothing_was_lost(terminal: Terminal, db_path: str) -> None:
    info, text = device_show(db_path)
    assert info["people_lost"] is None and "factory reset" not in text
