"""The paced period: a device's steady keepalives without a coroutine (sim/pacer.py).

`SimDevice.run` sends a keepalive that finds its connection open from the loop's pacer
and reads the answer in the connection's `data_received`; anything else (the boot,
flagged work, records, a keepalive that fails) runs in a task as before. These tests
drive the real run loop against the real server on a loopback port (keepalives
answered, flagged work carried out, records stored once) and against a loopback server
of their own that stays silent once or drops the connection once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest

from facectl.protocol.endpoints import ENDPOINTS
from facectl.sim.config import SimConfig
from facectl.sim.device import SimDevice
from facectl.sim.pacer import Pacer
from facectl.sim.transport import Transport
from facectl.store import Store

pytestmark = pytest.mark.timeout(60)

SN = "FC-8190H24052799"


class Paced:
    """Counts the keepalives that went out from the pacer (Transport.start_call said yes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        self.reached: dict[int, asyncio.Future[None]] = {}
        real = Transport.start_call

        def start_call(transport: Transport, *args: Any) -> bool:
            used = real(transport, *args)
            if used:
                self.sent += 1
                waiter = self.reached.pop(self.sent, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            return used

        monkeypatch.setattr(Transport, "start_call", start_call)

    def when(self, count: int) -> asyncio.Future[None]:
        """Done when the `count`-th paced keepalive has gone out."""
        waiter = self.reached[count] = asyncio.get_running_loop().create_future()
        return waiter


def run(main: Callable[[], Any], timeout: float = 40.0) -> Any:
    return asyncio.run(asyncio.wait_for(main(), timeout))


# --------------------------------------------------------------------------- the pacer


def test_calls_due_in_one_tick_run_together_in_order() -> None:
    async def main() -> tuple[list[str], list[float]]:
        loop = asyncio.get_running_loop()
        pacer = Pacer.of(loop)
        assert Pacer.of(loop) is pacer  # one per loop
        order: list[str] = []
        times: list[float] = []
        done = loop.create_future()
        now = loop.time()

        def note(name: str) -> Callable[[], None]:
            def call() -> None:
                order.append(name)
                times.append(loop.time())
                if name == "late":
                    done.set_result(None)
                if name == "a":  # runs after the pass that ran "a"
                    loop.call_soon(order.append, "next pass")
            return call

        def failing() -> None:
            raise RuntimeError("one device's bug")

        loop.set_exception_handler(lambda _loop, ctx: order.append(f"reported {ctx['exception']}"))
        tick = pacer.tick
        slot = (math.ceil(now / tick) + 3) * tick  # three ticks ahead: a, b and c share it
        pacer.at(slot + 5 * tick, note("late"))
        pacer.at(slot - 0.5 * tick, note("a"))
        pacer.at(slot - 0.9 * tick, failing)
        pacer.at(slot, note("b"))
        pacer.at(slot - 0.1 * tick, note("c"))
        pacer.at(now - 1.0, note("past"))  # already due: the next tick
        await done
        assert pacer.pending() == 0
        return order, times

    order, times = run(main)
    # a, b and c in one pass of the loop, in the order they were added; a failing call reported
    assert order == ["past", "a", "reported one device's bug", "b", "c", "next pass", "late"]
    assert times[0] < times[1] < times[4]


def test_a_call_added_while_the_pacer_fires_runs_at_its_own_tick() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        pacer = Pacer.of(loop)
        order: list[str] = []
        done = loop.create_future()

        def first() -> None:
            order.append("first")
            pacer.at(loop.time(), lambda: order.append("same tick"))
            pacer.at(loop.time() + 0.1, lambda: (order.append("later"), done.set_result(None)))

        pacer.at(loop.time() + 0.02, first)
        await done
        return order

    assert run(main) == ["first", "same tick", "later"]


# --------------------------------------------------------------------------- the real server


def test_steady_keepalives_are_paced_and_answered(open_server, store: Store, monkeypatch) -> None:
    """After the boot (in a task) every keepalive goes out from the pacer on the one connection."""
    paced = Paced(monkeypatch)
    dev = SimDevice(SN, SimConfig(server=open_server.url, interval=0.3, seed=3))

    async def main() -> None:
        await dev.run(None, asyncio.get_running_loop().time() + 2.5)

    run(main)
    ka = dev.ctx.stats.endpoint("Keepalive")
    assert ka.calls >= 6 and ka.ok == ka.calls and ka.tries == ka.calls
    assert paced.sent == ka.calls - 1  # all but the boot's
    assert dev.ctx.stats.missed_keepalives == 0
    assert list(dev.ctx.calls)[:2] == ["Keepalive", "UploadWorkSetting"]
    assert dev.ctx.transport is None  # closed at the end
    assert store.devices.get(SN)["state"] == "approved"


def test_work_an_answer_flags_is_carried_out_and_records_stored(open_server, store: Store, monkeypatch) -> None:
    """People added while the device is paced are downloaded; its records reach the store once."""
    from test_sim_e2e import add_people

    paced = Paced(monkeypatch)
    dev = SimDevice(SN, SimConfig(server=open_server.url, interval=0.3, seed=3, records_per_min=120,
                                  photo_bytes=2000))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        running = asyncio.create_task(dev.run(None, loop.time() + 4.0))
        await paced.when(3)
        add_people(store, range(1, 6))
        await running

    run(main)
    assert paced.sent >= 3
    assert sorted(dev.ctx.people.ids()) == [1, 2, 3, 4, 5]
    assert "DownloadPeopleList" in dev.ctx.calls
    uploaded = dev.ctx.stats.events["identify records uploaded"]
    assert uploaded >= 3
    assert store.records.count(SN) == len(dev.log.history)
    ka = dev.ctx.stats.endpoint("Keepalive")
    assert ka.ok == ka.calls and dev.ctx.stats.missed_keepalives == 0


# --------------------------------------------------------------------------- failures


QUIET = b'{\n\t"Success":\t1,\n\t"Message":\t""\n}'


class Terminal:
    """A loopback HTTP server answering every request `QUIET`, but the `silent`-th request gets
    no answer and the `dropped`-th request's connection is closed instead of answered."""

    def __init__(self, *, silent: int = 0, dropped: int = 0) -> None:
        self.silent, self.dropped = silent, dropped
        self.requests: list[bytes] = []
        self.connections = 0

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                self.requests.append(head.split(b" ")[1])
                n = len(self.requests)
                if n == self.dropped:
                    return
                if n == self.silent:
                    await reader.read()  # until the device gives up and closes
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % len(QUIET) + QUIET)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run_against(terminal: Terminal, seconds: float, monkeypatch: pytest.MonkeyPatch) -> tuple[SimDevice, Paced]:
    paced = Paced(monkeypatch)

    async def main() -> SimDevice:
        server = await asyncio.start_server(terminal.client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        dev = SimDevice(SN, SimConfig(server=f"http://127.0.0.1:{port}", interval=0.3, seed=3,
                                      timeout_scale=0.05))  # 2 s -> 0.1 s
        try:
            await dev.run(None, asyncio.get_running_loop().time() + 2.0)
        finally:
            server.close()
        return dev

    return run(main), paced


def test_a_paced_keepalive_that_times_out_is_retried_on_a_new_connection(monkeypatch) -> None:
    terminal = Terminal(silent=5)  # the second paced keepalive
    dev, paced = run_against(terminal, 2.0, monkeypatch)
    ka = dev.ctx.stats.endpoint("Keepalive")
    assert ka.timeouts == 1 and ka.retries == 1 and ka.net_errors == 0
    assert ka.ok == ka.calls and ka.tries == ka.calls + 1
    assert terminal.connections == 2  # the silent one was given up, not reused
    assert paced.sent >= 4  # pacing went on after the retry
    assert dev.ctx.stats.events.get("keepalive failed") is None


def test_a_server_dropping_the_connection_gets_the_keepalive_again(monkeypatch) -> None:
    terminal = Terminal(dropped=4)  # the first paced keepalive
    dev, paced = run_against(terminal, 2.0, monkeypatch)
    ka = dev.ctx.stats.endpoint("Keepalive")
    assert ka.net_errors == 1 and ka.retries == 1 and ka.timeouts == 0
    assert ka.ok == ka.calls
    assert terminal.connections == 2
    assert paced.sent >= 4
    assert terminal.requests[3] == terminal.requests[4] == ENDPOINTS["Keepalive"].path.encode()
