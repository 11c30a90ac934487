"""`facectl serve --event-webhook`: at least once, in order, signed, retried, never wedged, survives SIGKILL.

The receiver is a real HTTP server on a loopback port (`Receiver` here, whose answers
a test chooses, or examples/event_receiver.py as a subprocess); the devices talk to
the real server; waits are on the receiver's condition variable, not on clocks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from conftest import SN, DeviceClient, LiveServer, ServeOutput
from test_reliability import _free_port
from test_server_records import PHOTO, upload

from facectl.cli.main import cli
from facectl.server.config import ServerConfig
from facectl.store import Store

pytestmark = pytest.mark.timeout(60)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "event_receiver.py"
SECRET = "s3cret"


class Receiver:
    """A webhook receiver on 127.0.0.1: answers `script` statuses in turn (then 200), keeps what it got."""

    def __init__(self, port: int = 0) -> None:
        self.script: list[int] = []
        self.open = threading.Event()  # cleared: every POST waits here (a receiver that is slow to answer)
        self.open.set()
        self.batches: list[tuple[int, bytes, dict[str, str]]] = []  # (status answered, body, headers)
        self.changed = threading.Condition()
        self.waiting = 0  # POSTs that arrived (answered or not)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.changed:
                    outer.waiting += 1
                    outer.changed.notify_all()
                outer.open.wait(30)
                with outer.changed:
                    status = outer.script.pop(0) if outer.script else 200
                    outer.batches.append((status, body, dict(self.headers)))
                    outer.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/events"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def taken(self) -> list[dict[str, Any]]:
        """Every event of every batch answered 2xx, in the order received."""
        with self.changed:
            return [e for status, body, _ in self.batches if status < 300 for e in json.loads(body)["events"]]

    def wait_for(self, predicate: Any, timeout: float = 30) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), timeout), self.batches[-3:]

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def has_records(n: int) -> Any:
    return lambda r: len({e["record_id"] for e in r.taken() if e["type"] == "record.identify"}) >= n


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def serve(db_path: str, url: str, **options: Any) -> LiveServer:
    return LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, event_webhook=url,
                                   event_retry_max=0.2, **options))


def test_batches_in_order_signed_with_a_photo_url_that_serves(receiver: Receiver, store: Store,
                                                               db_path: str) -> None:
    store.devices.add(SN)
    server = serve(db_path, receiver.url, event_secret=SECRET, event_batch=4)
    try:
        client = DeviceClient(server.port)
        for rid in range(1, 11):
            assert upload(client, record_id=rid).json == {"Success": 1}
        receiver.wait_for(has_records(10))
        taken = receiver.taken()
        assert [e["id"] for e in taken] == [e["id"] for e in store.events.after(0, 100)]  # each once, in order
        assert [e["record_id"] for e in taken if e["type"] == "record.identify"] == list(range(1, 11))
        for _, body, headers in receiver.batches:
            assert len(json.loads(body)["events"]) <= 4
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Facectl-Signature"] == expected
        record = next(e for e in taken if e["type"] == "record.identify")
        assert record["name"] == "张三" and record["outcome"] == "granted"
        url = urlsplit(record["photo"])
        assert f"{url.scheme}://{url.netloc}" == server.url  # the server's own address (no --public-url)
        assert client.get(f"{url.path}?{url.query}").body == PHOTO
        # The cursor is committed after the receiver's answer: once a later event arrives, it has passed these.
        client.keepalive(AlarmStatus="fire")
        receiver.wait_for(lambda r: any(e["type"] == "alarm.raised" for e in r.taken()))
        status = CliRunner().invoke(cli, ["events", "status", "--json", "--db", db_path])
        info = json.loads(status.output)
        assert info["receiver"] == receiver.url and info["backlog"] in (0, 1)
        assert info["delivered_id"] >= taken[-1]["id"] and info["last_error"] is None
        client.close()
    finally:
        server.stop()


def test_public_url_is_the_photo_base_and_no_secret_no_signature(receiver: Receiver, store: Store,
                                                                  db_path: str) -> None:
    store.devices.add(SN)
    server = serve(db_path, receiver.url, public_url="https://access.example.org/")
    try:
        client = DeviceClient(server.port)
        upload(client, record_id=1)
        receiver.wait_for(has_records(1))
        record = next(e for e in receiver.taken() if e["type"] == "record.identify")
        assert record["photo"].startswith("https://access.example.org/files/")
        assert "X-Facectl-Signature" not in receiver.batches[0][2]
        client.close()
    finally:
        server.stop()


def test_5xx_and_a_receiver_that_is_down_are_retried_until_taken(store: Store, db_path: str) -> None:
    store.devices.add(SN)
    port = _free_port()
    server = serve(db_path, f"http://127.0.0.1:{port}/events")
    try:
        client = DeviceClient(server.port)
        for rid in range(1, 6):  # the receiver is not there: devices are answered all the same
            assert upload(client, record_id=rid).json == {"Success": 1}
        receiver = Receiver(port)
        try:
            receiver.script = [503, 500]
            receiver.wait_for(has_records(5))
            assert [s for s, _, _ in receiver.batches[:2]] == [503, 500]
            ids = [e["id"] for e in receiver.taken()]
            assert ids == sorted(set(ids)) == [e["id"] for e in store.events.after(0, 100)]
            assert "HTTP 500" in store.events.cursor()["last_error"]  # written before the retry that succeeded
        finally:
            receiver.stop()
        client.close()
    finally:
        server.stop()


def test_a_receiver_that_does_not_answer_never_delays_a_device(receiver: Receiver, store: Store,
                                                                db_path: str) -> None:
    store.devices.add(SN)
    receiver.open.clear()
    server = serve(db_path, receiver.url)
    try:
        client = DeviceClient(server.port)
        client.keepalive()
        receiver.wait_for(lambda r: r.waiting >= 1)  # the first batch is stuck at the receiver
        for rid in range(1, 21):  # answered all the same, and stored with their events
            assert upload(client, record_id=rid).json == {"Success": 1}
        assert client.keepalive().json["Success"] == 1
        assert len(store.events.after(0, 100, ["record"])) == 20
        receiver.open.set()
        receiver.wait_for(has_records(20))
        client.close()
    finally:
        receiver.open.set()
        server.stop()


def test_a_batch_refused_with_4xx_is_skipped_after_a_few_tries_and_the_stream_goes_on(
        receiver: Receiver, store: Store, db_path: str) -> None:
    store.devices.add(SN)
    server = serve(db_path, receiver.url)
    try:
        client = DeviceClient(server.port)
        receiver.script = [400, 400, 400]
        upload(client, record_id=1)
        receiver.wait_for(lambda r: len(r.batches) >= 3)
        upload(client, record_id=2)
        receiver.wait_for(lambda r: any(e.get("record_id") == 2 for e in r.taken()))
        cursor = store.events.cursor()
        assert cursor["skipped"] >= 1 and "skipped" in cursor["last_error"]
        status = CliRunner().invoke(cli, ["events", "status", "--db", db_path])
        assert status.exit_code == 0 and "skipped" in status.output
        client.close()
    finally:
        server.stop()


def test_the_example_receiver_checks_the_signature_and_prints_each_event_once(store: Store, db_path: str,
                                                                              tmp_path: Path) -> None:
    store.devices.add(SN)
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--port", "0", "--secret", SECRET,
                             "--state", str(tmp_path / "last-id")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    url = re.search(r"on (http://127\.0\.0\.1:\d+/events)", proc.stderr.readline()).group(1)
    try:
        wrong = serve(db_path, url, event_secret="not-the-secret")
        try:
            client = DeviceClient(wrong.port)
            upload(client, record_id=1)
            for _ in range(2):  # the second try comes after the first failure was written down
                assert "wrong or missing X-Facectl-Signature" in proc.stderr.readline()
            client.close()
        finally:
            wrong.stop()
        assert "503" in store.events.cursor()["last_error"]  # kept and retried, not skipped
        right = serve(db_path, url, event_secret=SECRET)
        try:
            client = DeviceClient(right.port)
            upload(client, record_id=2)
            printed = [json.loads(proc.stdout.readline()) for _ in range(3)]
            assert [e["type"] for e in printed] == ["device.online", "record.identify", "record.identify"]
            assert [e["record_id"] for e in printed[1:]] == [1, 2]
            # The state file is written before the answer, and the next batch comes after the answer:
            upload(client, record_id=3)
            assert json.loads(proc.stdout.readline())["record_id"] == 3
            assert int((tmp_path / "last-id").read_text()) >= printed[-1]["id"]
            client.close()
        finally:
            right.stop()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


def test_sigkill_mid_stream_loses_no_event_doubles_none_and_a_restart_delivers_the_rest(
        receiver: Receiver, store: Store, db_path: str) -> None:
    """Four devices upload while the server delivers; SIGKILL at a point chosen by a count of answers.

    Then: every record stored has exactly one event and every acknowledged record is stored; the
    devices send again what was not answered (stored once, one event); after the restart the
    receiver has every event, and the first arrival of each id is in id order.
    """
    sns = [f"FC-8190H2405280{i}" for i in range(4)]
    for sn in sns:
        store.devices.add(sn)
    port = _free_port()

    def spawn() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "facectl", "serve", "--db", db_path, "--host", "127.0.0.1",
                                 "--port", str(port), "--event-webhook", receiver.url],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = ServeOutput(proc)
        assert out.listening.wait(30) and proc.poll() is None, "".join(out.lines)
        return proc

    acked: dict[str, list[int]] = {sn: [] for sn in sns}
    unanswered: dict[str, int] = {}
    count = threading.Condition()

    def device(sn: str) -> None:
        client = DeviceClient(port, sn)
        for rid in range(1, 200):
            try:
                reply = upload(client, record_id=rid, sn=sn)
            except OSError:  # the server died under this request: the device sends it again later
                unanswered[sn] = rid
                break
            assert reply.json == {"Success": 1}
            with count:
                acked[sn].append(rid)
                count.notify_all()
        client.close()

    proc = spawn()
    try:
        threads = [threading.Thread(target=device, args=(sn,)) for sn in sns]
        for t in threads:
            t.start()
        receiver.wait_for(lambda r: len(r.batches) >= 2)  # delivering while the devices upload
        with count:
            assert count.wait_for(lambda: sum(map(len, acked.values())) >= 80, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for t in threads:
            t.join(30)
        for sn in sns:
            stored = sorted(r["record_id"] for r in store.records.list(sn=sn, limit=1000))
            events = sorted(e["record_id"] for e in store.events.after(0, 10_000, ["record"], sn))
            assert events == stored and set(acked[sn]) <= set(stored), sn

        proc = spawn()
        for sn, rid in unanswered.items():  # what a terminal does after no answer
            client = DeviceClient(port, sn)
            assert upload(client, record_id=rid, sn=sn).json == {"Success": 1}
            client.close()
        all_ids = [e["id"] for e in store.events.after(0, 10_000)]
        receiver.wait_for(lambda r: {e["id"] for e in r.taken()} >= set(all_ids))
        for sn in sns:
            stored = sorted(r["record_id"] for r in store.records.list(sn=sn, limit=1000))
            events = sorted(e["record_id"] for e in store.events.after(0, 10_000, ["record"], sn))
            assert events == stored and set(acked[sn]) <= set(stored) and len(set(stored)) == len(stored), sn
        first_seen = list(dict.fromkeys(e["id"] for e in receiver.taken()))
        assert first_seen == sorted(first_seen) and set(first_seen) == set(all_ids)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
