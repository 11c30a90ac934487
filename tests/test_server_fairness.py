"""The record gate (server/gate.py): keepalives go first while record uploads wait, and load is shed.

The real server on a loopback port, with one record slot. The test takes that slot
itself, in the server's own loop, which is exactly what a record being stored does;
so the uploads sent next must wait at the gate, deterministically, while the test
checks what a device sees: its keepalive answered, further uploads told "server busy"
at once and not stored, and every upload that was let in stored exactly once. The
last test runs the gate alone in a loop, to pin down that uploads take turns with the
rest of the loop (the property the storm benchmark measures, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from conftest import SN, DeviceClient, LiveServer

from facectl.server.app import GATE
from facectl.server.config import ServerConfig
from facectl.server.gate import MSG_BUSY, RecordGate
from facectl.store import Store

RECORDS = "/Record/UploadSystemRecord"
BUSY = {"Success": 0, "Message": MSG_BUSY}


def _serve(db_path: str, **options: object) -> Iterator[LiveServer]:
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, open_enrollment=True,
                                     record_slots=1, **options))  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def queue3(db_path: str) -> Iterator[LiveServer]:
    """At most 3 uploads may wait; none is shed for waiting long."""
    yield from _serve(db_path, record_queue=3, record_wait=120.0)


@pytest.fixture
def short_wait(db_path: str) -> Iterator[LiveServer]:
    """An upload may wait 0.2 s."""
    yield from _serve(db_path, record_queue=100, record_wait=0.2)


def _gate(server: LiveServer) -> RecordGate:
    return server.runner.app[GATE]


def _hold(server: LiveServer) -> None:
    """Take the gate's only slot in the server's loop, as a record being stored holds it."""
    asyncio.run_coroutine_threadsafe(_gate(server).slots.acquire(), server.loop).result(10)


def _let_go(server: LiveServer) -> None:
    server.loop.call_soon_threadsafe(_gate(server).release)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _batch(first: int, count: int = 2) -> dict[str, object]:
    return {"RecordType": 2, "Records": [{"RecordID": first + i, "RecordType": 28, "RecordDate": 1718616771 + i}
                                         for i in range(count)]}


class _Upload(threading.Thread):
    """One device's record upload on its own connection, waiting for its answer in a thread."""

    def __init__(self, port: int, sn: str, first: int) -> None:
        super().__init__(daemon=True)
        self.client = DeviceClient(port, sn)
        self.first = first
        self.answer: dict[str, object] | None = None
        self.start()

    def run(self) -> None:
        self.answer = self.client.post_json(RECORDS, _batch(self.first)).json
        self.client.close()


def test_keepalive_is_answered_while_records_wait_and_the_overflow_is_told_busy(queue3: LiveServer,
                                                                                 store: Store) -> None:
    gate = _gate(queue3)
    _hold(queue3)
    waiting = [_Upload(queue3.port, f"FC-8190H0000001{i}", 100 * i) for i in range(3)]
    _until(lambda: gate.waiting == 3, "three uploads waiting at the gate")

    # While they wait, a keepalive (and any other short call) is answered, and nothing was stored yet.
    device = DeviceClient(queue3.port)
    assert device.keepalive().json["Success"] == 1
    assert store.records.count() == 0

    # Over the bound: answered at once with Success 0 and not stored.
    overflow = device.post_json(RECORDS, _batch(900))
    assert overflow.status == 200 and overflow.json == BUSY
    assert gate.shed == 1 and store.records.count(SN) == 0

    _let_go(queue3)
    for upload in waiting:
        upload.join(20)
        assert upload.answer == {"Success": 1}
    # The device sends the refused batch again once the rush is over: now it is taken.
    assert device.post_json(RECORDS, _batch(900)).json == {"Success": 1}
    device.close()

    assert gate.waiting == 0
    rows = store.records.list()
    keys = {(r["sn"], r["record_id"]) for r in rows}
    assert len(rows) == len(keys) == 8  # 4 batches of 2, each stored exactly once
    assert {sn for sn, _ in keys} == {SN, *(f"FC-8190H0000001{i}" for i in range(3))}


def test_an_upload_that_waited_too_long_is_told_busy_and_not_stored(short_wait: LiveServer, store: Store) -> None:
    gate = _gate(short_wait)
    _hold(short_wait)
    device = DeviceClient(short_wait.port)
    answer = device.post_json(RECORDS, _batch(1))
    assert answer.json == BUSY
    assert gate.shed == 1 and gate.waiting == 0
    assert store.records.count(SN) == 0

    _let_go(short_wait)
    assert device.post_json(RECORDS, _batch(1)).json == {"Success": 1}
    assert sorted(r["record_id"] for r in store.records.list(SN)) == [1, 2]
    device.close()


def test_uploads_take_turns_with_the_rest_of_the_loop() -> None:
    """A handler stores without awaiting: were a slot given back at once, the next upload would take it
    in the same turn of the loop and all of them would run before a keepalive. At most `slots` per turn."""

    async def scenario() -> dict[int, int]:
        gate = RecordGate(slots=2, queue=100, wait=60.0)
        turn = 0
        stored: dict[int, int] = {}

        async def ticker() -> None:  # counts the loop's turns, as a keepalive's callbacks would see them
            nonlocal turn
            while True:
                turn += 1
                await asyncio.sleep(0)

        async def upload() -> None:
            assert await gate.admit()
            try:
                stored[turn] = stored.get(turn, 0) + 1  # the synchronous store, as in a handler
            finally:
                gate.release()

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await asyncio.gather(*(upload() for _ in range(20)))
        ticking.cancel()
        return stored

    stored = asyncio.run(scenario())
    assert sum(stored.values()) == 20
    assert max(stored.values()) <= 2 and len(stored) >= 10
