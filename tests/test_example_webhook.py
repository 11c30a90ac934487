"""examples/auth_webhook.py, run as documented, behind the real `facectl serve --auth-webhook`.

The example runs as its own process on a loopback port; a device-shaped client asks
the real server for authorization, and the stored decision says the webhook decided.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SN, DeviceClient, LiveServer

from facectl.protocol import multipart
from facectl.server.config import ServerConfig
from facectl.store import Store
from facectl.store.people import PersonInput

WEBHOOK = Path(__file__).resolve().parents[1] / "examples" / "auth_webhook.py"


class ExampleWebhook:
    """`python3 examples/auth_webhook.py --port 0 --open-hours H`, and the lines it prints."""

    def __init__(self, open_hours: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(WEBHOOK), "--port", "0", "--open-hours", open_hours],
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()  # printed once it listens
        found = re.search(r"on (http://127\.0\.0\.1:\d+/decide)", first)
        assert found, first
        self.url = found.group(1)

    def line(self) -> str:
        """The line it printed for the last decision (printed before it answered)."""
        assert self.proc.stderr is not None
        return self.proc.stderr.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def ask(client: DeviceClient, record_id: int, user_id: str) -> dict:
    """A RequestAuthorization as a terminal sends it (RecordDetail part; no photo)."""
    detail = {"RecordID": record_id, "RecordType": 3, "RecordDate": int(time.time()), "UserID": user_id,
              "CardNum": "0", "QRCode": "", "IsEntry": 1, "BodyTemp": 0, "PhotoLen": 0}
    parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", json.dumps(detail))]
    reply = client.post_parts("/Device/RequestAuthorization", parts)
    assert reply.status == 200
    return reply.json


@pytest.fixture
def site(db_path: str, store: Store) -> Iterator[Callable[[str], tuple[DeviceClient, ExampleWebhook]]]:
    """Start the example with --open-hours H, and the real server asking it; person 1 is 张三."""
    started: list[tuple[DeviceClient, LiveServer, ExampleWebhook]] = []

    def start(open_hours: str) -> tuple[DeviceClient, ExampleWebhook]:
        hook = ExampleWebhook(open_hours)
        server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, auth_webhook=hook.url,
                                         auth_timeout=1.5))
        store.devices.add(SN)
        store.people.add(PersonInput(1, {"Name": "张三"}))
        client = DeviceClient(server.port)
        started.append((client, server, hook))
        return client, hook

    yield start
    for client, server, hook in started:
        client.close()
        server.stop()
        hook.stop()


def reason(store: Store, record_id: int) -> str:
    return store.records.get(SN, record_id, "auth")["reason"]


def test_open_hours_the_example_passes_the_rules_decision_on(site, store: Store) -> None:
    client, hook = site("0-24")
    assert ask(client, 1, "1") == {"Success": 1, "Message": "Welcome, 张三"}
    assert hook.line().startswith(f"{SN}: '张三' -> {{'allow': True")
    assert reason(store, 1).startswith("webhook: allowed")
    # A stranger: the rules deny, and the example too, with the rules' message.
    assert ask(client, 2, "555") == {"Success": 0, "Message": "Not registered"}
    assert hook.line().startswith(f"{SN}: '555' -> {{'allow': False")
    assert reason(store, 2).startswith("webhook: denied")


def test_outside_open_hours_the_example_turns_everyone_away(site, store: Store) -> None:
    client, hook = site("0-0")
    assert ask(client, 1, "1") == {"Success": 0, "Message": "Closed: open 00:00-00:00"}
    assert hook.line().startswith(f"{SN}: '张三' -> {{'allow': False")
    assert reason(store, 1).startswith("webhook: denied") and "rules would have allowed" in reason(store, 1)
