"""Uploads shaped like captured firmware (errata 8.1, 8.2, 8.6): odd photos kept as sent, two connections.

Every request here is written byte for byte as the terminals in errata section 8 send
them: cJSON bodies with tab indentation and no trailing newline, `Host` without the
port, `Content-Type: application/json; charset=utf-8`, `Accept-Encoding: gzip` on a
plain body. Each connection is its own real socket.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from conftest import EXAMPLES, SN, LiveServer

from facectl.store import Store
from facectl.store.devices import is_online

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()
BOUNDARY = "------------------------a2d3f1c0b9e84d17"


def cjson(pairs: list[tuple[str, str]]) -> bytes:
    """An object as cJSON prints it (errata 8.1): a tab before each key, `"Key":\\tvalue`, no final newline."""
    inner = ",\n".join(f'\t"{k}":\t{v}' for k, v in pairs)
    return ("{\n" + inner + "\n}").encode("utf-8")


def record_detail(record_id: int, photo_len: int, record_type: int = 1) -> bytes:
    return cjson([("RecordID", str(record_id)), ("RecordType", str(record_type)), ("RecordDate", "1781080000"),
                  ("UserID", '"1001"'), ("Name", '"张三"'), ("CardNum", '"0"'), ("IsEntry", "1"),
                  ("BodyTemp", "0"), ("PhotoLen", str(photo_len))])


def record_body(detail: bytes, photo: bytes, photo_type: str = "image/jpeg") -> bytes:
    """An UploadIdentifyRecord multipart body, written out by hand."""
    b = BOUNDARY.encode()
    return (b"--" + b + b'\r\nContent-Disposition: form-data; name="SN"\r\n\r\n' + SN.encode()
            + b"\r\n--" + b + b'\r\nContent-Disposition: form-data; name="RecordDetail"\r\n\r\n' + detail
            + b"\r\n--" + b + b'\r\nContent-Disposition: form-data; name="Photo"; filename="1001.jpg"\r\n'
            + f"Content-Type: {photo_type}\r\n\r\n".encode() + photo
            + b"\r\n--" + b + b"--\r\n")


class Terminal:
    """One TCP connection that writes a terminal's headers itself: Host without a port (errata 8.2)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.connect()
        self.local_port = self.conn.sock.getsockname()[1]

    def post(self, path: str, body: bytes, content_type: str = "application/json; charset=utf-8") -> dict:
        self.conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for key, value in (("Host", "127.0.0.1"), ("Content-Type", content_type),
                           ("Accept-Encoding", "gzip"), ("Content-Length", str(len(body)))):
            self.conn.putheader(key, value)
        self.conn.endheaders(body)
        resp = self.conn.getresponse()
        assert resp.status == 200
        return json.loads(resp.read())

    def keepalive(self, door_sensor: int = 0) -> dict:
        return self.post("/Device/Keepalive", cjson([
            ("SN", f'"{SN}"'), ("RelayStatus", "0"), ("KeepOpenStatus", "0"),
            ("DoorSensorStatus", str(door_sensor)), ("LockDoorStatus", "0"), ("AlarmStatus", '""')]))

    def record(self, detail: bytes, photo: bytes, photo_type: str = "image/jpeg") -> dict:
        return self.post("/Record/UploadIdentifyRecord", record_body(detail, photo, photo_type),
                         f"multipart/form-data; boundary={BOUNDARY}")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def terminal(server: LiveServer, store: Store) -> Iterator[Terminal]:
    store.devices.add(SN)
    t = Terminal(server.port)
    yield t
    t.close()


# --- photos as sent ----------------------------------------------------------------------------

def test_a_jpeg_of_photolen_bytes_has_no_warning(terminal: Terminal, store: Store) -> None:
    assert terminal.record(record_detail(1, len(PHOTO)), PHOTO) == {"Success": 1}
    row = store.records.get(SN, 1)
    assert json.loads(row["warnings"] or "[]") == []
    assert store.files.get(row["photo"])[1] == PHOTO


def test_a_photo_that_is_not_a_jpeg_is_stored_as_sent_with_a_warning(terminal: Terminal, store: Store) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    assert terminal.record(record_detail(2, len(png)), png, "image/png") == {"Success": 1}
    row = store.records.get(SN, 2)
    warnings = json.loads(row["warnings"])
    assert any("not a JPEG" in w and "89 50 4E 47" in w for w in warnings), warnings
    stored, data = store.files.get(row["photo"])
    assert data == png and stored.content_type == "image/png"
    assert store.quarantine.count() == 0


def test_a_photo_shorter_than_photolen_is_stored_as_sent_with_a_warning(terminal: Terminal, store: Store) -> None:
    cut = PHOTO[: len(PHOTO) // 2]
    assert terminal.record(record_detail(3, len(PHOTO)), cut) == {"Success": 1}
    row = store.records.get(SN, 3)
    warnings = json.loads(row["warnings"])
    assert f"photo is {len(cut)} bytes but PhotoLen says {len(PHOTO)}; kept as sent" in warnings
    assert any("cut short" in w for w in warnings)
    stored, data = store.files.get(row["photo"])
    assert data == cut and stored.content_type == "image/jpeg"


def test_a_whole_jpeg_with_a_wrong_photolen_keeps_its_bytes(terminal: Terminal, store: Store) -> None:
    assert terminal.record(record_detail(4, len(PHOTO) + 17), PHOTO) == {"Success": 1}
    row = store.records.get(SN, 4)
    assert json.loads(row["warnings"]) == [
        f"photo is {len(PHOTO)} bytes but PhotoLen says {len(PHOTO) + 17}; kept as sent"]
    assert store.files.get(row["photo"])[1] == PHOTO


def test_records_show_lists_the_photo_warning(terminal: Terminal, db_path: str) -> None:
    from click.testing import CliRunner

    from facectl.cli.main import cli

    terminal.record(record_detail(5, 10), b"GIF89a" + b"\0" * 40, "image/gif")
    out = CliRunner().invoke(cli, ["records", "list", "--db", db_path, "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert any("not a JPEG" in w for w in row["warnings"])


# --- two connections per device (errata 8.6) ----------------------------------------------------

def test_a_record_on_a_second_connection_is_served_while_the_keepalive_one_stays_open(
        server: LiveServer, terminal: Terminal, store: Store) -> None:
    assert terminal.keepalive(door_sensor=1)["Success"] == 1
    second = Terminal(server.port)
    try:
        assert second.local_port != terminal.local_port
        assert second.record(record_detail(10, len(PHOTO)), PHOTO) == {"Success": 1}
        # The keepalive connection is still the same socket and still served.
        assert terminal.keepalive(door_sensor=1)["Success"] == 1
        assert second.record(record_detail(11, len(PHOTO)), PHOTO) == {"Success": 1}
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
    second = Terminal(server.port)
    assert second.record(record_detail(20, len(PHOTO)), PHOTO) == {"Success": 1}
    second.close()
    device = store.devices.get(SN)
    assert device["online"] and store.records.get(SN, 20) is not None
    # Online is judged from the last contact on any connection, never from a socket closing.
    assert is_online(device["last_seen"], device["keepalive_interval"], at=device["last_seen"] + 1)
