"""Requests written byte for byte as captured terminals send them (protocol.md 8.1, 8.2).

cJSON bodies (a tab before each key, `"Key":\\tvalue`, no trailing newline), `Host`
without the port, `Content-Type: application/json; charset=utf-8`, `Accept-Encoding:
gzip` on a plain body, and multipart bodies written out by hand. Each `Terminal` is
one real TCP connection, so a test can hold two at once (protocol.md 8.6).
"""

from __future__ import annotations

import gzip
import http.client
import json
from typing import Any

BOUNDARY = "------------------------a2d3f1c0b9e84d17"


def cjson(pairs: list[tuple[str, str]]) -> bytes:
    """An object as cJSON prints it: values are given as JSON text (`'"x"'`, `'1'`)."""
    inner = ",\n".join(f'\t"{k}":\t{v}' for k, v in pairs)
    return ("{\n" + inner + "\n}").encode("utf-8")


def form(fields: list[tuple[str, bytes]], files: list[tuple[str, str, str, bytes]] = ()) -> bytes:
    """A multipart body: text fields, then (name, filename, content type, bytes) file parts."""
    b = BOUNDARY.encode()
    out = b""
    for name, value in fields:
        out += b"--" + b + f'\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    for name, filename, ctype, data in files:
        out += (b"--" + b + f'\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    return out + b"--" + b + b"--\r\n"


class Terminal:
    """One TCP connection that writes a terminal's headers itself: Host without a port (protocol.md 8.2)."""

    def __init__(self, port: int, sn: str) -> None:
        self.sn = sn
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.connect()
        self.local_port = self.conn.sock.getsockname()[1]

    def post(self, path: str, body: bytes, content_type: str = "application/json; charset=utf-8") -> dict[str, Any]:
        self.conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for key, value in (("Host", "127.0.0.1"), ("Content-Type", content_type),
                           ("Accept-Encoding", "gzip"), ("Content-Length", str(len(body)))):
            self.conn.putheader(key, value)
        self.conn.endheaders(body)
        resp = self.conn.getresponse()
        assert resp.status == 200
        body = resp.read()
        if resp.getheader("Content-Encoding") == "gzip":  # the terminal said it takes gzip
            body = gzip.decompress(body)
        return json.loads(body)

    def post_form(self, path: str, body: bytes) -> dict[str, Any]:
        return self.post(path, body, f"multipart/form-data; boundary={BOUNDARY}")

    def keepalive(self, door_sensor: int = 0) -> dict[str, Any]:
        return self.post("/Device/Keepalive", cjson([
            ("SN", f'"{self.sn}"'), ("RelayStatus", "0"), ("KeepOpenStatus", "0"),
            ("DoorSensorStatus", str(door_sensor)), ("LockDoorStatus", "0"), ("AlarmStatus", '""')]))

    def call(self, path: str, *pairs: tuple[str, str]) -> dict[str, Any]:
        """A JSON call carrying the SN first, as the firmware orders it."""
        return self.post(path, cjson([("SN", f'"{self.sn}"'), *pairs]))

    def close(self) -> None:
        self.conn.close()
