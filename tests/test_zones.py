"""One time-zone reader (protocol.md 8.5) for authorization, `device show` / `device list` and the inspector."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, SN, LiveServer, TerminalSocket, cjson, settings_document, terminal_bytes

from facectl.cli.main import cli
from facectl.inspect import Timeline, samples
from facectl.protocol import multipart
from facectl.protocol.zones import DEFAULT_OFFSET_MINUTES, device_zone, offset_label, parse_offset
from facectl.store import Store
from facectl.store.people import PersonInput

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()


@pytest.mark.parametrize(("value", "minutes"), [
    (8, 480), ("8", 480), (-5, -300), (0, 0), (5.5, 330), ("5.5", 330), (5.75, 345), (-3.5, -210),
    ("UTC+08:00", 480), ("+05:30", 330), ("UTC+8", 480), ("UTC-03:30", -210), ("GMT+9", 540),
    ("utc+0545", 345), ("UTC", 0), (" UTC+08:00 ", 480), (14, 840), (-12, -720),
    (480, 480), (-210, -210), (330, 330),  # above 14: minutes
])
def test_every_form(value: object, minutes: int) -> None:
    assert parse_offset(value) == minutes


@pytest.mark.parametrize("value", [
    None, "", True, "Asia/Shanghai", 5.3, 99999, 481, "UTC+15", "UTC+08:75", 15, 1e309, float("nan"),
    10**400, "1e400", [], {},
])
def test_unreadable_forms(value: object) -> None:
    assert parse_offset(value) is None


def test_device_zone_prefers_utctimezone_and_says_when_it_assumed() -> None:
    assert device_zone({"UTCTimeZone": "UTC+05:30"}).label == "UTC+05:30"
    both = device_zone({"UTCTimeZone": "UTC+05:30", "TimeZone": 8})
    assert both.minutes == 330 and both.source == "UTCTimeZone" and "TimeZone says UTC+08:00" in both.note
    assert device_zone({"TimeZone": 8, "UTCTimeZone": "UTC+8"}).note is None  # they agree
    fallback = device_zone({"UTCTimeZone": "Beijing", "TimeZone": 5.5})
    assert fallback.minutes == 330 and "UTCTimeZone 'Beijing' not understood" in fallback.note
    for settings in (None, {}, {"TimeZone": "?"}):
        zone = device_zone(settings)
        assert zone.minutes == DEFAULT_OFFSET_MINUTES and zone.source is None and "assumed UTC+08:00" in zone.note
    assert offset_label(-210) == "UTC-03:30"


def test_inspector_labels_both_keys_and_summarises_the_zone_the_server_reads() -> None:
    doc = {**samples.settings_doc(), "UTCTimeZone": "+05:30", "TimeZone": 480}
    ex = samples.exchange(samples.json_request("/Device/UploadWorkSetting", doc), samples.answer()).decode()
    labels = ex.labels()
    assert labels["request.UTCTimeZone"] == "UTC+05:30" and labels["request.TimeZone"] == "UTC+08:00"
    timeline = Timeline()
    timeline.observe(ex)
    (device,) = timeline.device_summaries()
    assert device["timezone"] == "UTC+05:30"


# --- end to end: the zone a 9.x terminal reports is the one its time groups are judged in ---------


def upload(term: TerminalSocket, **zone: Any) -> None:
    doc = settings_document()
    doc.pop("TimeZone")
    here = datetime.now(UTC).astimezone(device_zone(zone).tzinfo)
    window = f"{here - timedelta(minutes=40):%H:%M}-{here + timedelta(minutes=40):%H:%M}"
    doc.update(zone, TimeGroups=[{"Num": 5, **{f"Week{i}": window for i in range(1, 8)}}],
               Holidays=[{"Num": 1, "Date": f"{here:%Y-%m-%d}"}])
    assert term.post_json("/Device/UploadWorkSetting", doc).json["Success"] == 1


def ask(term: TerminalSocket, record_id: int, user_id: int) -> dict[str, Any]:
    detail = {"RecordID": record_id, "RecordType": 3, "RecordDate": int(time.time()), "UserID": str(user_id),
              "CardNum": "0", "QRCode": "", "IsEntry": 1, "BodyTemp": 0, "PhotoLen": len(PHOTO)}
    parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", cjson(detail).decode()),
             multipart.file_part("Photo", "1.jpg", PHOTO, "image/jpeg")]
    boundary = "--------------------------506873351428002157394455"
    body = multipart.build(parts, boundary)
    reply = term.send(terminal_bytes("/Device/RequestAuthorization", body,
                                     content_type=f"multipart/form-data; boundary={boundary}"))
    assert reply.status == 200
    return reply.json


def facectl_json(db_path: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", db_path, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_utctimezone_of_a_9x_terminal_judges_time_groups_and_holidays(server: LiveServer, store: Store,
                                                                     db_path: str) -> None:
    store.devices.add(SN)
    store.people.add(PersonInput(1, {"Name": "Group", "Timegroup": 5}))
    store.people.add(PersonInput(2, {"Name": "Holiday", "Holidays": "1"}))
    term = TerminalSocket(server.port)
    try:
        # The window is now, read in UTC+05:30; UTC+8 would be 2.5 h later, outside it.
        upload(term, UTCTimeZone="UTC+05:30")
        assert ask(term, 1, 1)["Success"] == 1
        # The same terminal with UTC-12 / UTC+14 is 26 hours apart: never the same date.
        upload(term, UTCTimeZone="UTC+14:00")
        assert ask(term, 2, 2)["Success"] == 0 and "holiday 1" in store.records.get(SN, 2, "auth")["reason"]
        assert facectl_json(db_path, "device", "show", SN)["timezone"] == "UTC+14:00"
        here = datetime.now(UTC).astimezone(device_zone({"TimeZone": -12}).tzinfo)
        doc = settings_document()
        tomorrow = f"{here + timedelta(days=1):%Y-%m-%d}"
        doc.update(UTCTimeZone="UTC-12:00", TimeZone=8, Holidays=[{"Num": 1, "Date": tomorrow}])
        assert term.post_json("/Device/UploadWorkSetting", doc).json["Success"] == 1
        assert ask(term, 3, 2)["Success"] == 1  # UTCTimeZone wins: tomorrow in UTC-12 is the holiday, not today
    finally:
        term.close()
    (row,) = facectl_json(db_path, "device", "list")
    assert row["timezone"] == "UTC-12:00"
