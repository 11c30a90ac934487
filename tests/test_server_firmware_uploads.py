"""Uploads shaped like captured firmware (protocol.md 8.1, 8.2, 8.6): odd photos kept as sent, two connections.

Every request here is written byte for byte as the terminals in docs/protocol.md section 8 send
them: cJSON bodies with tab indentation and no trailing newline, `Host` without the
port, `Content-Type: application/json; charset=utf-8`, `Accept-Encoding: gzip` on a
plain body. Each connection is its own real socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import EXAMPLES, SN, LiveServer
from firmware_bytes import BOUNDARY, Terminal, cjson, form

from facectl.store import Store
from facectl.store.devices import is_online

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()


def record_detail(record_id: int, photo_len: int, record_type: int = 1) -> bytes:
    return cjson([("RecordID", str(record_id)), ("RecordType", str(record_type)), ("RecordDate", "1781080000"),
                  ("UserID", '"1001"'), ("Name", '"张三"'), ("CardNum", '"0"'), ("IsEntry", "1"),
                  ("BodyTemp", "0"), ("PhotoLen", str(photo_len))])


def record(t: Terminal, detail: bytes, photo: bytes, photo_type: str = "image/jpeg") -> dict:
    body = form([("SN", SN.encode()), ("RecordDetail", detail)], [("Photo", "1001.jpg", photo_type, photo)])
    return t.post_form("/Record/UploadIdentifyRecord", body)


@pytest.fixture
def terminal(server: LiveServer, store: Store) -> Iterator[Terminal]:
    store.devices.add(SN)
    t = Terminal(server.port, SN)
    yield t
    t.close()


# --- photos as sent ----------------------------------------------------------------------------

def test_a_jpeg_of_photolen_bytes_has_no_warning(terminal: Terminal, store: Store) -> None:
    assert record(terminal, record_detail(1, len(PHOTO)), PHOTO) == {"Success": 1}
    row = store.records.get(SN, 1)
    assert json.loads(row["warnings"] or "[]") == []
    assert store.files.get(row["photo"])[1] == PHOTO


def test_a_photo_that_is_not_a_jpeg_is_stored_as_sent_with_a_warning(terminal: Terminal, store: Store) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    assert record(terminal, record_detail(2, len(png)), png, "image/png") == {"Success": 1}
    row = store.records.get(SN, 2)
    warnings = json.loads(row["warnings"])
    assert any("not a JPEG" in w and "89 50 4E 47" in w for w in warnings), warnings
    stored, data = store.files.get(row["photo"])
    assert data == png and stored.content_type == "image/png"
    assert store.quarantine.count() == 0


def test_a_photo_shorter_than_photolen_is_stored_as_sent_with_a_warning(terminal: Terminal, store: Store) -> None:
    cut = PHOTO[: len(PHOTO) // 2]
    assert record(terminal, record_detail(3, len(PHOTO)), cut) == {"Success": 1}
    row = store.records.get(SN, 3)
    warnings = json.loads(row["warnings"])
    assert f"photo is {len(cut)} bytes but PhotoLen says {len(PHOTO)}; kept as sent" in warnings
    assert any("cut short" in w for w in warnings)
    stored, data = store.files.get(row["photo"])
    assert data == cut and stored.content_type == "image/jpeg"


def test_a_whole_jpeg_with_a_wrong_photolen_keeps_its_bytes(terminal: Terminal, store: Store) -> None:
    assert record(terminal, record_detail(4, len(PHOTO) + 17), PHOTO) == {"Success": 1}
    row = store.records.get(SN, 4)
    assert json.loads(row["warnings"]) == [
        f"photo is {len(PHOTO)} bytes but PhotoLen says {len(PHOTO) + 17}; kept as sent"]
    assert store.files.get(row["photo"])[1] == PHOTO


def test_records_show_lists_the_photo_warning(terminal: Terminal, db_path: str) -> None:
    from click.testing import CliRunner

    from facectl.cli.main import cli

    record(terminal, record_detail(5, 10), b"GIF89a" + b"\0" * 40, "image/gif")
    out = CliRunner().invoke(cli, ["records", "list", "--db", db_path, "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert any("not a JPEG" in w for w in row["warnings"])


# --- two connections per device (protocol.md 8.6) ----------------------------------------------------

def test_a_record_on_a_second_connection_is_served_while_the_keepalive_one_stays_open(
        server: LiveServer, terminal: Terminal, store: Store) -> None:
    assert terminal.keepalive(door_sensor=1)["Success"] == 1
    second = Terminal(server.port, SN)
    try:
        assert second.local_port != terminal.local_port
        assert record(second, record_detail(10, len(PHOTO)), PHOTO) == {"Success": 1}
        # The keepalive connection is still the same socket and still served.
        assert terminal.keepalive(door_sensor=1)["Success"] == 1
        assert record(second, record_detail(11, len(PHOTO)), PHOTO) == {"Success": 1}
    finally:
        second.close()
    assert terminal.keepalive(door_sensor=1)["Success"] == 1
    assert sorted(r["record_id"] for r in store.records.list(sn=SN)) == [10, 11]
    device = store.devices.get(SN)
    assert device["online"] and device["last_endpoint"] == "Keepalive"
    assert device["door_sensor_status"] == 1, "the record connection must not touch the door state"
    assert terminal.conn.sock.getsockname()[1] == terminal.local_port, "the keepalive socket was never replaced"


def test_closing_the_record_connection_leaves_the_device_online(
        server: LiveServer, terminal: Terminal, store: Store) -> None:
    assert terminal.keepalive()["Success"] == 1
    second = Terminal(server.port, SN)
    assert record(second, record_detail(20, len(PHOTO)), PHOTO) == {"Success": 1}
    second.close()
    device = store.devices.get(SN)
    assert device["online"] and store.records.get(SN, 20) is not None
    # Online is judged from the last contact on any connection, never from a socket closing.
    assert is_online(device["last_seen"], device["keepalive_interval"], at=device["last_seen"] + 1)


def test_records_list_and_photo_say_the_photo_is_as_sent(terminal: Terminal, db_path: str, tmp_path) -> None:
    from click.testing import CliRunner

    from facectl.cli.main import cli

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    record(terminal, record_detail(6, len(png)), png, "image/png")
    runner = CliRunner()
    listing = runner.invoke(cli, ["records", "list", "--db", db_path], env={"COLUMNS": "200"})
    assert listing.exit_code == 0 and "as sent (!)" in listing.output, listing.output
    out = tmp_path / "photo.bin"
    saved = runner.invoke(cli, ["records", "photo", SN, "6", "-o", str(out), "--db", db_path])
    assert saved.exit_code == 0, saved.output
    assert out.read_bytes() == png
    assert "not a JPEG" in saved.output and "image/png" in saved.output


def test_a_keepalive_is_answered_while_the_other_connection_is_mid_upload(
        server: LiveServer, terminal: Terminal, store: Store) -> None:
    """The record connection has sent its headers and half its body; the keepalive one is served meanwhile."""
    body = form([("SN", SN.encode()), ("RecordDetail", record_detail(30, len(PHOTO)))],
                [("Photo", "1001.jpg", "image/jpeg", PHOTO)])
    second = Terminal(server.port, SN)
    try:
        conn = second.conn
        conn.putrequest("POST", "/Record/UploadIdentifyRecord", skip_host=True, skip_accept_encoding=True)
        for key, value in (("Host", "127.0.0.1"), ("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"),
                           ("Content-Length", str(len(body)))):
            conn.putheader(key, value)
        conn.endheaders()
        conn.send(body[: len(body) // 2])
        assert terminal.keepalive(door_sensor=1)["Success"] == 1
        assert store.devices.get(SN)["door_sensor_status"] == 1
        conn.send(body[len(body) // 2:])
        resp = conn.getresponse()
        assert (resp.status, json.loads(resp.read())) == (200, {"Success": 1})
    finally:
        second.close()
    assert store.records.get(SN, 30) is not None
    assert terminal.keepalive()["Success"] == 1 and store.devices.get(SN)["online"]
