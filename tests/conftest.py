"""Shared fixtures: the real server on a loopback port, and a device-shaped HTTP client.

The server runs in its own thread with its own event loop, exactly as
`facectl serve` runs it (same runner, same socket options), so tests talk to
it over real HTTP from ordinary synchronous test code. Tests check state
through their own `Store` on the same database file, as the CLI does.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import logging
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from facectl.protocol import multipart
from facectl.server.config import ServerConfig
from facectl.server.run import start
from facectl.store import Store

SN = "FC-8190H24052799"

#: For a test that also has a wall-clock limit: its `timed` argument is False in the default
#: run (the behaviour is checked, how long it took is not, so a loaded machine cannot fail a
#: correct build) and True under `pytest -m timing`, which checks the limit as well.
timed = pytest.mark.parametrize("timed", [
    pytest.param(False, id="behaviour"),
    pytest.param(True, id="timing", marks=pytest.mark.timing),
])
BOUNDARY = "--------------------------506873351428002157394455"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "requests"
#: The vendor's document and its errata, when checked out beside the repository. The project's
#: own account is docs/protocol.md; these are an extra oracle for the tests that compare.
VENDOR_SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"
PROTOCOL_DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


class LiveServer:
    """A running server; `stop()` is called by the fixture."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner, self.port = asyncio.run_coroutine_threadsafe(start(config), self.loop).result(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class ServeOutput:
    """Reads a `facectl serve` subprocess's output in a thread; `listening` is set at its announcement."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.listening = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            if "listening on" in line:
                self.listening.set()
        self.listening.set()

    def port(self) -> int:
        text = "".join(self.lines)
        return int(text.split("listening on 127.0.0.1:", 1)[1].split(",", 1)[0])


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


#: What terminals send (protocol.md 8.1).
JSON_CT = "application/json; charset=utf-8"


def cjson(doc: Any) -> bytes:
    """A body as the terminals' cJSON prints it: tab indents, `"Key":<TAB>value` (protocol.md 8.1)."""
    return json.dumps(doc, ensure_ascii=False, indent="\t", separators=(",", ":\t")).encode()


class DeviceClient:
    """One keep-alive HTTP/1.1 connection, like a terminal: raw bytes in, raw bytes out.

    Its Host header has no port, as real terminals send it (protocol.md 8.2).
    """

    def __init__(self, port: int, sn: str = SN) -> None:
        self.sn = sn
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def post(self, path: str, body: bytes, content_type: str = JSON_CT,
             headers: dict[str, str] | None = None) -> Reply:
        self.conn.request("POST", path, body=body,
                          headers={"Host": "127.0.0.1", "Content-Type": content_type, **(headers or {})})
        resp = self.conn.getresponse()
        return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})

    def post_json(self, path: str, payload: dict[str, Any] | None = None, **fields: Any) -> Reply:
        doc = {"SN": self.sn, **(payload or {}), **fields}
        return self.post(path, cjson(doc))

    def post_parts(self, path: str, parts: list[multipart.Part], boundary: str = BOUNDARY) -> Reply:
        return self.post(path, multipart.build(parts, boundary), f"multipart/form-data; boundary={boundary}")

    def get(self, path: str) -> Reply:
        self.conn.request("GET", path, headers={"Host": "127.0.0.1"})
        resp = self.conn.getresponse()
        return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})

    def keepalive(self, **status: Any) -> Reply:
        doc = {"RelayStatus": 0, "KeepOpenStatus": 0, "DoorSensorStatus": 0, "LockDoorStatus": 0,
               "AlarmStatus": "", **status}
        return self.post_json("/Device/Keepalive", doc)

    def close(self) -> None:
        self.conn.close()


def terminal_bytes(path: str, body: bytes, host: str = "127.0.0.1", *, method: str = "POST",
                   content_type: str = JSON_CT) -> bytes:
    """A request exactly as firmware 9.x sends it (protocol.md 8.1-8.2): Host without the port,
    `application/json; charset=utf-8`, `Accept-Encoding: gzip` on a plain body."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive", "Accept-Encoding: gzip"]
    if method == "POST":
        head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class TerminalSocket:
    """A raw TCP connection that sends a terminal's exact bytes and reads one answer each time.

    Answers with `Content-Encoding: gzip` are inflated (the terminal asked for gzip);
    `Reply.headers` keeps the header, so a test can see that it was compressed.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = self.sock.makefile("rb")

    def send(self, raw: bytes) -> Reply:
        self.sock.sendall(raw)
        status = int(self.reader.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := self.reader.readline().rstrip(b"\r\n")):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get("content-length", "0")))
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return Reply(status, body, headers)

    def post_json(self, path: str, doc: dict[str, Any]) -> Reply:
        return self.send(terminal_bytes(path, cjson(doc)))

    def get(self, path: str) -> Reply:
        return self.send(terminal_bytes(path, b"", method="GET"))

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def vendor_doc() -> str:
    """The vendor document's text; skipped where it is not checked out, a failure under CI=true."""
    path = VENDOR_SPEC / "httpv2-protocol.zh.md"
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the vendor document is missing at {path}")
        pytest.skip("vendor document not checked out beside the repository (extra oracle)")
    return path.read_text(encoding="utf-8")


@pytest.fixture
def vendor_errata(vendor_doc: str) -> str:
    """The vendor copy's errata, present wherever the vendor document is."""
    return (VENDOR_SPEC / "ERRATA.md").read_text(encoding="utf-8")


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "facectl.db")


def _serve(db_path: str, **options: Any) -> Iterator[LiveServer]:
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, **options))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(db_path: str) -> Iterator[LiveServer]:
    """A server where devices must be approved."""
    yield from _serve(db_path)


@pytest.fixture
def open_server(db_path: str) -> Iterator[LiveServer]:
    """A server with open enrollment: devices are approved on first contact."""
    yield from _serve(db_path, open_enrollment=True)


@pytest.fixture
def store(db_path: str) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
def device(server: LiveServer) -> Iterator[DeviceClient]:
    client = DeviceClient(server.port)
    yield client
    client.close()


@pytest.fixture
def approved(server: LiveServer, store: Store) -> Iterator[DeviceClient]:
    """A device already approved, on the approval-required server."""
    store.devices.add(SN)
    client = DeviceClient(server.port)
    yield client
    client.close()


def settings_document(sn: str = SN) -> dict[str, Any]:
    """The document's UploadWorkSetting example (from examples/requests), for this SN."""
    from facectl.protocol import lenient_json

    doc = lenient_json.parse((EXAMPLES / "UploadWorkSetting.json").read_bytes()).value
    doc["DeviceSN"] = sn
    return doc


class Errors(logging.Handler):
    """Collects ERROR records of the server's loggers (the in-thread server logs here): a fuzz
    run asserts that bad input never makes one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        out = [r.getMessage() + (f" [{r.exc_info[0].__name__}: {r.exc_info[1]}]" if r.exc_info else "")
               for r in self.records]
        self.records.clear()
        return out


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    for name in ("facectl", "aiohttp"):
        logging.getLogger(name).addHandler(handler)
    yield handler
    for name in ("facectl", "aiohttp"):
        logging.getLogger(name).removeHandler(handler)
