"""The one-line view (`facectl inspect`, the mitmdump addon): per endpoint, what an operator
looks for first, fitted to the terminal's width, whole in a file.

Exchanges are raw device bytes (facectl.inspect.samples) decoded as the addon decodes them.
"""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from facectl.inspect import render, samples
from facectl.inspect.exchange import Exchange
from facectl.protocol import responses
from facectl.protocol.endpoints import ENDPOINTS

SN = samples.SN
P = {name: e.path for name, e in ENDPOINTS.items()}
LONG_NAME = "Maria García Fernández de la Torre y Sánchez"


def decode(request, reply, duration: float = 0.012) -> Exchange:
    return samples.exchange(request, reply, duration=duration).decode()


def record(record_type: int = 3, user_id: str = "1001", name: str = "张三", endpoint: str = "UploadIdentifyRecord",
           reply=None) -> Exchange:
    detail = samples.record_detail(120, record_type=record_type, user_id=user_id, name=name,
                                   photo_len=len(samples.photo()))
    return decode(samples.multipart_request(P[endpoint], samples.record_parts(SN, detail, samples.photo())),
                  reply or samples.answer())


def keepalive(reply_doc, **status) -> Exchange:
    return decode(samples.json_request(P["Keepalive"], samples.keepalive_doc(**status)), samples.answer(reply_doc))


def text(ex: Exchange, width: int | None) -> str:
    return render.compact(ex, width).plain


def test_a_record_says_when_who_what_and_whether_the_door_opened() -> None:
    line = text(record(), None)
    assert "granted 1001 张三 (face verification)" in line and "→ ok" in line
    refused = text(record(record_type=16, name=LONG_NAME), None)
    assert "refused 1001 " in refused and "(validity expired)" in refused
    stranger = text(record(record_type=19, user_id="0", name=""), None)
    assert "refused nobody known (unregistered user)" in stranger


def test_an_authorization_line_ends_with_the_decision() -> None:
    denied = record(record_type=19, user_id="0", name="", endpoint="RequestAuthorization",
                    reply=samples.answer({"Success": 0, "Message": "Unknown visitor"}))
    assert text(denied, None).endswith("(unregistered user) → Success 0 (deny): Unknown visitor gz photo×1")


def test_a_keepalive_says_door_lock_alarm_and_the_flags_answered() -> None:
    line = text(keepalive({"Success": 1, "AddPeople": 1, "Remote": 1}, DoorSensorStatus=1, LockDoorStatus=1,
                          AlarmStatus="fire"), None)
    assert "door open, locked, ALARM fire alarm → ok: Remote, AddPeople" in line


def test_a_people_page_says_how_many_and_who() -> None:
    people = [samples.person(i, f"Person {i}") for i in range(1, 6)]
    ex = decode(samples.json_request(P["DownloadPeopleList"], {"SN": SN, "Limit": 10}),
                samples.answer({"Success": 1, "PeopleCount": 5, "Count": 5, "PeopleList": people}))
    assert "Limit 10 → 5 people: 1 Person 1, 2 Person 2, 3 Person 3, … 2 more" in text(ex, None)


@pytest.mark.parametrize("width", [80, 100, 160])
def test_every_line_fits_the_terminal_and_keeps_its_findings(width: int) -> None:
    exchanges = [record(name=LONG_NAME), record(record_type=16, name=LONG_NAME),
                 keepalive({"Success": 0, "AddPeople": 1}, AlarmStatus="fire,doorSensor,openTimeout"),
                 *samples.decode_all(samples.session().samples)]
    for ex in exchanges:
        line = render.compact(ex, width)
        assert cell_len(line.plain) <= width, line.plain
        assert line.plain.startswith(render.clock(ex.started)[:8]) and (ex.sn or "-") in line.plain
        counts = render.counts_text(ex).plain
        assert line.plain.endswith(counts), (line.plain, counts)
    narrow = text(record(), 80)
    assert "granted 1001 张三" in narrow  # the outcome and the person come before anything is cut


def test_a_file_gets_the_whole_line() -> None:
    line = text(record(record_type=16, name=LONG_NAME), None)
    assert LONG_NAME in line and cell_len(line) > 120


def test_the_servers_refusal_of_an_unreadable_keepalive_is_not_an_error() -> None:
    ex = decode(samples.json_request(P["Keepalive"], raw=b'{"SN": "FC-81'),
                samples.answer(responses.fail("request body is not JSON")))
    assert ex.request.error
    assert not [f for f in ex.findings if f.severity == "error"], ex.findings
    assert {f.rule for f in ex.findings} >= {"request-undecodable"}
    # A record upload refused the same way is still an error: the device would retry it forever.
    lost = decode(samples.json_request(P["UploadSystemRecord"], raw=b'{"SN": "FC-81'),
                  samples.answer(responses.fail("request body is not JSON")))
    assert [f.severity for f in lost.findings if f.rule == "request-undecodable"] == ["error"]
