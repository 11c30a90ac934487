"""File URLs reach the device through a port-less Host header (protocol.md 8.1-8.3).

Real terminals send `Host: 192.168.1.125` although their server address is
`http://192.168.1.125:4610`. A URL built from that header points at port 80,
so the server hands out root-relative URLs, which the terminal resolves against
its configured address; `--public-url` gives absolute ones. The requests here
are the section-8 bytes, sent on a raw socket.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import pytest
from aiohttp import web
from conftest import SN, LiveServer, TerminalSocket, _serve
from test_sim_e2e import drive, make_device, md5, powered, run_async

from facectl.sim.config import Variants
from facectl.sim.jpeg import make_jpeg
from facectl.sim.stats import Stats
from facectl.sim.transport import Transport, make_session
from facectl.sim.wire import json_body
from facectl.store import Store
from facectl.store.people import PersonInput

PHOTO = make_jpeg(3000, 7)


@pytest.fixture
def public_server(db_path: str) -> Iterator[LiveServer]:
    yield from _serve(db_path, public_url="https://files.example.com:8443/")


def _deliver_one(server: LiveServer, store: Store) -> tuple[TerminalSocket, dict]:
    store.devices.add(SN)
    store.people.add(PersonInput(1001, {"Name": "张三"}, photo=PHOTO))
    term = TerminalSocket(server.port)
    assert term.post_json("/Device/Keepalive", {"SN": SN}).json["AddPeople"] == 1
    reply = term.post_json("/People/DownloadPeopleList", {"SN": SN, "Limit": 10})
    assert reply.status == 200
    (person,) = reply.json["PeopleList"]
    return term, person


def test_a_port_less_host_gets_a_root_relative_photo_url_that_downloads(server: LiveServer, store: Store) -> None:
    term, person = _deliver_one(server, store)
    try:
        assert person["Photo"].startswith("/files/"), person["Photo"]
        assert "127.0.0.1" not in person["Photo"]
        got = term.get(person["Photo"])  # resolved against the device's server address
        assert got.status == 200
        assert got.body == PHOTO and hashlib.md5(got.body).hexdigest().upper() == person["PhotoMD5"]
    finally:
        term.close()


def test_public_url_gives_absolute_urls(public_server: LiveServer, store: Store) -> None:
    term, person = _deliver_one(public_server, store)
    try:
        assert person["Photo"].startswith("https://files.example.com:8443/files/"), person["Photo"]
        path = person["Photo"].removeprefix("https://files.example.com:8443")
        assert term.get(path).body == PHOTO  # the file host is this server behind a proxy
    finally:
        term.close()


def test_simulator_sends_host_without_port_and_resolves_relative_urls() -> None:
    """The simulator is a terminal here: what reaches a plain aiohttp server is a port-less Host."""
    seen: list[tuple[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers["Host"]))
        return web.Response(body=PHOTO if request.method == "GET" else b'{"Success":1}')

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        transport = Transport(make_session(), f"http://127.0.0.1:{port}", Stats())
        try:
            loop_time = asyncio.get_running_loop().time
            answer = await transport.call("Keepalive", json_body({"SN": SN}, Variants()), loop_time() + 5)
            assert answer.ok
            fetched = await transport.fetch("/files/abc.jpg?e=1&s=2", loop_time() + 5, 10_000)
            assert fetched.data == PHOTO
        finally:
            await transport.close()
            await runner.cleanup()

    run_async(main)
    assert seen == [("POST", "127.0.0.1"), ("GET", "127.0.0.1")]


def test_people_with_photos_reach_simulated_devices_on_a_non_80_port(server: LiveServer, store: Store) -> None:
    """No --public-url, a random port: every photo arrives, checked by MD5 on the device."""
    assert server.port != 80 and server.config.public_url is None
    devices = [make_device(server.url, sn, people_limit=20) for sn in ("FC-8190H26042702", "SV-8396H66669999")]
    photos = {uid: make_jpeg(1500 + uid, uid) for uid in range(1, 41)}
    for dev in devices:
        store.devices.add(dev.ctx.sn)
    for uid, photo in photos.items():
        store.people.add(PersonInput(uid, {"Name": f"员工 {uid}"}, photo=photo))

    def done() -> bool:
        return all(len(dev.ctx.people) == len(photos) for dev in devices)

    async def main() -> None:
        async with powered(*devices):
            await drive(devices, done, "40 people with photos on 2 devices", timeout=60)

    run_async(main)
    for dev in devices:
        for uid, photo in photos.items():
            assert md5(dev.ctx.people.get(uid).photo) == md5(photo), (dev.ctx.sn, uid)
