"""Online authorization over HTTP: each rule both ways, the stored decision, silent mode, the webhook."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from conftest import EXAMPLES, SN, DeviceClient, LiveServer, settings_document, timed

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.server.config import ServerConfig
from facectl.store import Store
from facectl.store.people import PersonInput

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()
CST = timezone(timedelta(hours=8))


def now_local() -> datetime:
    return datetime.now(UTC).astimezone(CST)


def ask(client: DeviceClient, record_id: int = 1, photo: bool = True, json_name: str = "RecordDetail",
        gzip: bool = False, **fields: Any) -> dict[str, Any]:
    detail = {"RecordID": record_id, "RecordType": 3, "RecordDate": int(time.time()), "UserID": "",
              "CardNum": "0", "QRCode": "", "IsEntry": 1, "BodyTemp": 0, "PhotoLen": len(PHOTO) if photo else 0,
              **fields}
    parts = [multipart.text_part("SN", f" {SN}"),
             multipart.text_part(json_name, json.dumps(detail, ensure_ascii=False), gzip=gzip)]
    if photo:
        parts.append(multipart.file_part("pic", "Postman_file.jpg", PHOTO, "image/jpeg"))
    reply = client.post_parts("/Device/RequestAuthorization", parts)
    assert reply.status == 200
    return reply.json


def add_person(store: Store, user_id: int, **values: Any) -> None:
    store.people.add(PersonInput(user_id, {"Name": f"Person {user_id}", **values}))


def upload_settings(client: DeviceClient, **overrides: Any) -> None:
    today = now_local()
    tomorrow = today + timedelta(days=1)
    key_today = f"Week{today.isoweekday()}"
    others = {f"Week{i}": "00:00-23:59" for i in range(1, 8) if i != today.isoweekday()}
    doc = settings_document()
    doc.update({
        "TimeZone": 8,
        "TimeGroups": [
            {"Num": 1, **{f"Week{i}": "00:00-23:59" for i in range(1, 8)}},
            {"Num": 2, key_today: "00:00-23:59"},          # today only
            {"Num": 3, **others, key_today: ""},            # every day but today
        ],
        "Holidays": [{"Num": 1, "Date": today.strftime("%Y-%m-%d")},
                     {"Num": 2, "Date": tomorrow.strftime("%m-%d")}],
        **overrides,
    })
    assert client.post("/Device/UploadWorkSetting", json.dumps(doc, ensure_ascii=False).encode()).json["Success"] == 1


@pytest.fixture
def device(approved: DeviceClient) -> DeviceClient:
    upload_settings(approved)
    return approved


def decision(store: Store, record_id: int) -> tuple[int, str]:
    row = store.records.get(SN, record_id, "auth")
    return row["decision"], row["reason"]


def test_known_person_allowed_with_welcome_and_record(device: DeviceClient, store: Store) -> None:
    add_person(store, 1, Name="张三")
    assert ask(device, 10, UserID="1") == {"Success": 1, "Message": "Welcome, 张三"}
    row = store.records.get(SN, 10, "auth")
    assert row["kind"] == "auth" and row["decision"] == 1 and "allowed by the rules" in row["reason"]
    assert store.files.get(row["photo"])[1] == PHOTO


def test_unknown_person_denied(device: DeviceClient, store: Store) -> None:
    assert ask(device, 11, UserID="99") == {"Success": 0, "Message": "Not registered"}
    assert decision(store, 11) == (0, "unknown person (UserID 99)")
    assert ask(device, 12) == {"Success": 0, "Message": "Not registered"}  # nothing to identify by
    assert "no UserID, CardNum or QRCode" in decision(store, 12)[1]


def test_identified_by_card_then_qr_code(device: DeviceClient, store: Store) -> None:
    add_person(store, 2, Name="Card", CardNum="12345")
    add_person(store, 3, Name="QR", QRCode="QR-ABC")
    add_person(store, 4, Name="QR as card", CardNum="777")
    assert ask(device, 20, CardNum="0012345")["Message"] == "Welcome, Card"
    assert "matched by CardNum" in decision(store, 20)[1]
    assert ask(device, 21, QRCode="QR-ABC")["Message"] == "Welcome, QR"
    assert ask(device, 22, QRCode="777")["Message"] == "Welcome, QR as card"  # protocol.md 6.6
    assert ask(device, 23, CardNum="555")["Success"] == 0
    # UserID first: a wrong UserID is not rescued by a right card.
    assert ask(device, 24, UserID="404", CardNum="12345")["Success"] == 0


@pytest.mark.parametrize(("values", "message", "reason"), [
    ({"AccessType": 2}, "Access denied", "blacklisted"),
    ({"ExpirationDate": int(time.time()) - 60}, "Access expired", "access expired"),
    ({"OpenTimes": 0}, "No access", "OpenTimes is 0"),
    ({"Timegroup": 3}, "Not allowed at this time", "outside time group 3"),
    ({"Timegroup": 0}, "Not allowed at this time", "time group 0"),
    ({"Timegroup": 9}, "Not allowed at this time", "not defined"),
    ({"Holidays": "1"}, "Not allowed on holidays", "holiday 1"),
    ({"Holidays": "*"}, "Not allowed on holidays", "holiday 1"),
])
def test_rule_denies(device: DeviceClient, store: Store, values: dict, message: str, reason: str) -> None:
    add_person(store, 5, **values)
    assert ask(device, 30, UserID="5") == {"Success": 0, "Message": message}
    code, why = decision(store, 30)
    assert code == 0 and reason in why


@pytest.mark.parametrize("values", [
    {"AccessType": 0}, {"AccessType": 1},
    {"ExpirationDate": int(time.time()) + 3600}, {"ExpirationDate": 0},
    {"OpenTimes": 1}, {"OpenTimes": 65535},
    {"Timegroup": 1}, {"Timegroup": 2},
    {"Holidays": "2"}, {"Holidays": ""},
])
def test_rule_allows(device: DeviceClient, store: Store, values: dict) -> None:
    add_person(store, 6, **values)
    assert ask(device, 31, UserID="6") == {"Success": 1, "Message": "Welcome, Person 6"}
    assert decision(store, 31)[0] == 1


def test_time_group_is_read_in_the_devices_time_zone(approved: DeviceClient, store: Store) -> None:
    """A group open two hours around the current time *in UTC-12* (every day): a device set to
    UTC-12 allows, the same device set to UTC+8 (20 hours ahead, so 4 hours behind on the clock
    face) denies, at the same instant."""
    west = datetime.now(UTC).astimezone(timezone(timedelta(hours=-12)))
    window = f"{west - timedelta(hours=1):%H:%M}-{west + timedelta(hours=1):%H:%M}"
    groups = [{"Num": 4, **{f"Week{i}": window for i in range(1, 8)}}]
    add_person(store, 7, Timegroup=4)
    upload_settings(approved, TimeZone=-12, TimeGroups=groups)
    assert ask(approved, 40, UserID="7")["Success"] == 1
    upload_settings(approved, TimeZone=8, TimeGroups=groups)
    assert ask(approved, 41, UserID="7")["Success"] == 0
    assert "outside time group 4" in decision(store, 41)[1] and "UTC+0800" in decision(store, 41)[1]


def test_silent_approval_and_records_list(db_path: str, store: Store) -> None:
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, auth_silent=True))
    store.devices.add(SN)
    client = DeviceClient(server.port)
    try:
        add_person(store, 8)
        assert ask(client, 50, UserID="8") == {"Success": 2}
        assert ask(client, 51, UserID="9") == {"Success": 0, "Message": "Not registered"}
    finally:
        client.close()
        server.stop()
    out = CliRunner().invoke(cli, ["records", "list", "--kind", "auth", "--json", "--db", db_path]).output
    rows = {r["record_id"]: r for r in json.loads(out)}
    assert rows[50]["decision"] == 2 and "allowed" in rows[50]["reason"]
    assert rows[51]["decision"] == 0 and "unknown person" in rows[51]["reason"]


def test_retry_is_answered_and_stored_once(device: DeviceClient, store: Store) -> None:
    add_person(store, 1)
    first = ask(device, 60, UserID="1", RecordDate=1_900_000_000)  # far from the server clock: judged now
    assert ask(device, 60, UserID="1", RecordDate=1_900_000_000) == first
    assert len(store.records.list(sn=SN, kind="auth")) == 1
    reason = decision(store, 60)[1]
    assert re.search(r"the device clock is \d+ days \d+ hours? ahead of the server clock; judged now", reason), reason


def test_document_example_and_gzip_json(device: DeviceClient, store: Store) -> None:
    add_person(store, 1)
    ctype = (EXAMPLES / "RequestAuthorization.content-type").read_text().strip()
    reply = device.post("/Device/RequestAuthorization", (EXAMPLES / "RequestAuthorization.body").read_bytes(), ctype)
    assert reply.json["Success"] == 1  # UserID "1", RecordDate 2024: judged at the server's time
    assert ask(device, 61, UserID="1", json_name="recordJson", gzip=True, photo=False)["Success"] == 1


def test_unreadable_request_is_denied_and_kept(device: DeviceClient, store: Store) -> None:
    parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", '{"RecordType": 3}')]
    reply = device.post_parts("/Device/RequestAuthorization", parts).json
    assert reply == {"Success": 0, "Message": "Request not readable"}
    assert store.quarantine.list(SN)[0]["endpoint"] == "RequestAuthorization"
    garbage = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", "{not json")]
    assert device.post_parts("/Device/RequestAuthorization", garbage).json["Success"] == 0


# --- the webhook ---------------------------------------------------------------------------------

class Webhook:
    """A real HTTP service on loopback that answers as a test tells it to."""

    def __init__(self) -> None:
        self.answer: Any = {"allow": True, "message": ""}
        self.status = 200
        self.hang = False
        #: When set, the answer is sent in these pieces, chunked, each flushed before the next.
        self.chunks: list[bytes] | None = None
        self.received: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.release = asyncio.run_coroutine_threadsafe(self._event(), self.loop).result(5)
        self.runner, self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.url = f"http://127.0.0.1:{self.port}/decide"

    async def _event(self) -> asyncio.Event:
        return asyncio.Event()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(await request.json())
        if self.hang:
            await self.release.wait()
        if self.chunks is not None:
            return await self._chunked(request)
        if isinstance(self.answer, bytes):
            return web.Response(body=self.answer, status=self.status)
        return web.json_response(self.answer, status=self.status)

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=self.status, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i, piece in enumerate(self.chunks or []):
            if i:
                await asyncio.sleep(0.05)  # the pieces reach the client as separate reads, as from a slow service
            await resp.write(piece)
        await resp.write_eof()
        return resp

    async def _start(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_post("/decide", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # noqa: SLF001

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.release.set)
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def hook() -> Iterator[Webhook]:
    w = Webhook()
    yield w
    w.stop()


@pytest.fixture
def hooked(db_path: str, store: Store, hook: Webhook) -> Iterator[DeviceClient]:
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, auth_webhook=hook.url,
                                     auth_timeout=1.0))
    store.devices.add(SN)
    client = DeviceClient(server.port)
    upload_settings(client)
    yield client
    client.close()
    server.stop()


def test_webhook_receives_the_request_and_the_person(hooked: DeviceClient, store: Store, hook: Webhook) -> None:
    add_person(store, 1, Name="张三", CardNum="42")
    hook.answer = {"allow": True, "message": "Hello from the service"}
    assert ask(hooked, 70, CardNum="42") == {"Success": 1, "Message": "Hello from the service"}
    (sent,) = hook.received
    assert sent["sn"] == SN and sent["record"]["RecordID"] == 70 and sent["matched_by"] == "CardNum"
    assert sent["person"]["UserID"] == 1 and sent["person"]["Name"] == "张三"
    assert sent["rules"]["allow"] is True and sent["photo"]["size"] == len(PHOTO)
    code, reason = decision(store, 70)
    assert code == 1 and reason.startswith("webhook: allowed")


def test_webhook_can_allow_the_unknown_and_deny_the_known(hooked: DeviceClient, store: Store,
                                                         hook: Webhook) -> None:
    add_person(store, 1, Name="Known")
    hook.answer = {"allow": True}
    assert ask(hooked, 71, UserID="555") == {"Success": 1, "Message": "Welcome"}
    assert hook.received[-1]["person"] is None
    hook.answer = {"allow": False, "message": "Visit reception"}
    assert ask(hooked, 72, UserID="1") == {"Success": 0, "Message": "Visit reception"}
    assert "webhook: denied" in decision(store, 72)[1] and "rules would have allowed" in decision(store, 72)[1]
    hook.answer = {"allow": False}
    assert ask(hooked, 73, UserID="1") == {"Success": 0, "Message": "Access denied"}


def test_webhook_answer_in_chunks_is_read_whole(hooked: DeviceClient, store: Store, hook: Webhook) -> None:
    """Transfer-Encoding: chunked, the JSON split mid-value: the whole answer decides, not the first piece."""
    add_person(store, 1, Name="Known")
    hook.chunks = [b'{"allow": fal', b'se, "message": "Visit', b' reception"}']
    assert ask(hooked, 74, UserID="1") == {"Success": 0, "Message": "Visit reception"}
    assert decision(store, 74)[1].startswith("webhook: denied")


def test_webhook_answer_too_large_in_chunks_falls_back(hooked: DeviceClient, store: Store, hook: Webhook) -> None:
    add_person(store, 1, Name="Known")
    hook.chunks = [b'{"allow": false, "message": "', b"x" * 40_000, b"y" * 40_000, b'"}']
    assert ask(hooked, 75, UserID="1") == {"Success": 1, "Message": "Welcome, Known"}
    assert "answer larger than 65536 bytes" in decision(store, 75)[1]


@pytest.mark.parametrize(("status", "answer", "words"), [
    (500, {"allow": True}, "HTTP 500"),
    (200, b"not json", "not JSON"),
    (200, {"allow": "yes"}, 'no boolean "allow"'),
])
def test_webhook_failing_falls_back_to_the_rules(hooked: DeviceClient, store: Store, hook: Webhook,
                                                 status: int, answer: Any, words: str) -> None:
    add_person(store, 1, Name="Known", AccessType=2)
    hook.status, hook.answer = status, answer
    assert ask(hooked, 80, UserID="1") == {"Success": 0, "Message": "Access denied"}  # the rules' blacklist deny
    code, reason = decision(store, 80)
    assert code == 0 and words in reason and "rules: user 1: blacklisted" in reason


@timed
def test_webhook_timing_out_falls_back_within_the_timeout(hooked: DeviceClient, store: Store,
                                                          hook: Webhook, timed: bool) -> None:
    add_person(store, 1, Name="Known")
    hook.hang = True
    started = time.monotonic()
    assert ask(hooked, 81, UserID="1") == {"Success": 1, "Message": "Welcome, Known"}
    assert "webhook failed: no answer within 1s" in decision(store, 81)[1]
    if timed:
        assert time.monotonic() - started < 1.9  # 1 s timeout, inside the device's 2 s


def test_webhook_unreachable_falls_back(db_path: str, store: Store) -> None:
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0,
                                     auth_webhook="http://127.0.0.1:9/decide", auth_timeout=0.5))
    store.devices.add(SN)
    client = DeviceClient(server.port)
    try:
        assert ask(client, 82, UserID="1") == {"Success": 0, "Message": "Not registered"}
        assert "unreachable" in decision(store, 82)[1]
    finally:
        client.close()
        server.stop()
