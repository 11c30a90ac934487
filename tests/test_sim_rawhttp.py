"""The simulator's own HTTP/1.1 client against servers whose bytes the test writes.

The e2e tests drive it against the real server (Content-Length answers); these cover
the framings a server may also choose: chunked, gzip, answers ended by closing the
connection, `Connection: close`, oversized files, and a server that never answers.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import pytest

from facectl.sim.rawhttp import BadAnswer, RawClient
from facectl.sim.transport import USER_AGENT

Handler = Callable[[bytes], bytes | None]  # the request's bytes -> the answer's (None: say nothing)


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


def serve(handler: Handler, test: Callable[[str, list[bytes], list[int]], Awaitable[None]]) -> None:
    """Run `test(url, requests, connections)` against a loopback server answering with `handler`."""
    requests: list[bytes] = []
    connections: list[int] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername")[1])
        try:
            while True:
                request = await _read_request(reader)
                requests.append(request)
                answer = handler(request)
                if answer is None:
                    await reader.read()  # never answer; wait for the client to give up
                    return
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer or b"Content-Length" not in answer and b"chunked" not in answer:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await test(f"http://127.0.0.1:{port}", requests, connections)
        finally:
            server.close()

    asyncio.run(main())


def ok(body: bytes = b'{"Success":1}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra + \
        b"Content-Length: %d\r\n\r\n" % len(body) + body


def client(url: str) -> RawClient:
    return RawClient(url, user_agent=USER_AGENT)


def test_requests_share_one_connection_and_carry_the_device_headers() -> None:
    async def test(url: str, requests: list[bytes], connections: list[int]) -> None:
        c = client(url)
        for _ in range(3):
            reply = await c.request("POST", url + "/Device/Keepalive", {"Host": "127.0.0.1"}, b'{"SN":"x"}', 2.0)
            assert (reply.status, reply.body) == (200, b'{"Success":1}')
        await c.close()
        assert len(connections) == 1
        head = requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
        assert head[0] == b"POST /Device/Keepalive HTTP/1.1"
        assert b"Host: 127.0.0.1" in head and b"Content-Length: 10" in head
        assert b"User-Agent: " + USER_AGENT.encode() in head
        assert requests[0].endswith(b'\r\n\r\n{"SN":"x"}')
    serve(lambda _: ok(), test)


def test_chunked_and_gzip_answers_are_decoded() -> None:
    doc = b'{"Success":1,"Message":"' + b"x" * 3000 + b'"}'
    packed = gzip.compress(doc)
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(packed[i:i + 500]), packed[i:i + 500])
                      for i in range(0, len(packed), 500))
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
              + chunks + b"0\r\nX-Trailer: 1\r\n\r\n")

    async def test(url: str, requests: list[bytes], connections: list[int]) -> None:
        c = client(url)
        for _ in range(2):
            reply = await c.request("POST", url + "/x", {}, b"{}", 2.0)
            assert reply.body == doc
            assert reply.headers["Content-Encoding"] == "gzip"
        await c.close()
        assert len(connections) == 1
    serve(lambda _: answer, test)


def test_connection_close_and_close_framed_answers_open_a_new_connection() -> None:
    answers = iter([ok(extra=b"Connection: close\r\n"), b"HTTP/1.1 200 OK\r\n\r\nto the end", ok()])

    async def test(url: str, requests: list[bytes], connections: list[int]) -> None:
        c = client(url)
        bodies = [(await c.request("POST", url + "/x", {}, b"", 2.0)).body for _ in range(3)]
        await c.close()
        assert bodies == [b'{"Success":1}', b"to the end", b'{"Success":1}']
        assert len(connections) == 3
    serve(lambda _: next(answers), test)


def test_a_file_larger_than_allowed_is_not_read() -> None:
    big = b"\xff" * 5000

    async def test(url: str, requests: list[bytes], connections: list[int]) -> None:
        c = client(url)
        reply = await c.request("GET", url + "/photo.jpg", {}, b"", 2.0, max_bytes=1000)
        assert reply.status == 200 and reply.body is None
        reply = await c.request("GET", url + "/photo.jpg", {}, b"", 2.0, max_bytes=10_000)
        assert reply.body == big
        await c.close()
        assert len(connections) == 2  # the unread rest cost the first connection
        assert requests[0].startswith(b"GET /photo.jpg HTTP/1.1\r\n")
        assert b"Content-Length" not in requests[0]
    serve(lambda _: ok(big), test)


def test_no_answer_times_out_and_the_next_call_reconnects() -> None:
    calls = iter([None, ok()])

    async def test(url: str, requests: list[bytes], connections: list[int]) -> None:
        c = client(url)
        with pytest.raises(TimeoutError):
            await c.request("POST", url + "/x", {}, b"", 0.2)
        reply = await c.request("POST", url + "/x", {}, b"", 2.0)
        await c.close()
        assert reply.status == 200
        assert len(connections) == 2
    serve(lambda _: next(calls), test)


def test_garbage_is_a_connection_error_not_a_crash() -> None:
    async def test(url: str, requests: list[bytes], connections: list[int]) -> None:
        c = client(url)
        with pytest.raises(BadAnswer):
            await c.request("POST", url + "/x", {}, b"", 2.0)
        with pytest.raises(OSError):
            await c.request("POST", "ftp://example/x", {}, b"", 2.0)
        await c.close()
    serve(lambda _: b"HTTP/1.1 abc\r\n\r\n", test)
