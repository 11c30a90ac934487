"""The simulator's own HTTP/1.1 client: one keep-alive connection, requests as prepared bytes.

Why not aiohttp's client: it spends about as much CPU per request as the server spends
answering it, so a fleet on the same machine as the server measured the load tool, not
the server. A terminal's traffic is simple (one connection, one request at a time,
small answers framed by Content-Length, now and then gzip or chunked), so this client
writes each request in one `write()` and frames the answer itself: several times
cheaper per request. `facectl sim check` and the tests that need aiohttp's tracing
still pass an aiohttp session (transport.make_session); both are driven by Transport.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

#: An answer head larger than this is not an HTTP answer a device could use.
MAX_HEAD = 64 * 1024


class BadAnswer(ConnectionError):
    """The server's bytes are not an HTTP/1.1 answer (or the connection ended inside one)."""


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes | None  # None: longer than the caller's max_bytes (not read)


#: Told how an exchange ended: (the reply, None) or (None, why it failed).
OnReply = Callable[[Reply | None, BaseException | None], None]


@cache
def _tls(verify: bool) -> ssl.SSLContext:
    """One context per process (loading the CA store per device would cost more than its traffic)."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; one exchange at a time, ended by a callback (`start`) or
    awaited (`exchange`)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: OnReply | None = None  # the exchange in progress
        self.closed = False
        self.reusable = True
        self._reset_answer(None)

    def _reset_answer(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.status = 0
        self.headers: dict[str, str] | None = None
        self.length: int | None = None
        self.chunked = False
        self.to_close = False  # framed by the end of the connection
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None:
            return
        if self.headers is not None and self.to_close:
            self.body += self.buf
            self.buf.clear()
            self._finish(bytes(self.body))
        else:
            self._end(None, BadAnswer("server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None:
            return
        try:
            self._parse()
        except (ValueError, zlib.error) as exc:
            self.reusable = False
            self._end(None, BadAnswer(f"malformed answer: {exc}"))

    def _parse(self) -> None:
        buf = self.buf
        if self.headers is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise ValueError("answer head too large")
                return
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[:end + 4]
            self.status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip()] = value.strip()
            self.headers = headers
            low = {k.lower(): v for k, v in headers.items()}
            if low.get("connection", "").lower() == "close":
                self.reusable = False
            self.chunked = "chunked" in low.get("transfer-encoding", "").lower()
            if not self.chunked:
                if "content-length" in low:
                    self.length = int(low["content-length"])
                elif self.status in (204, 304) or self.status < 200:
                    self.length = 0
                else:
                    self.to_close = True
                    self.reusable = False
            if self.length is not None and self.max_bytes is not None and self.length > self.max_bytes:
                self.reusable = False  # the rest is never read
                self._finish(None)
                return
        if self.chunked:
            self._parse_chunks()
        elif self.length is not None and len(buf) >= self.length:
            body = bytes(buf[:self.length])
            del buf[:self.length]
            self._finish(body)
        elif self.to_close and self.max_bytes is not None and len(buf) > self.max_bytes:
            self._finish(None)

    def _parse_chunks(self) -> None:
        buf = self.buf
        while True:
            eol = buf.find(b"\r\n")
            if eol < 0:
                return
            size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
            if size == 0:
                if buf.startswith(b"\r\n", eol + 2):
                    del buf[:eol + 4]
                else:
                    trailers = buf.find(b"\r\n\r\n", eol)
                    if trailers < 0:
                        return
                    del buf[:trailers + 4]
                self._finish(bytes(self.body))
                return
            if len(buf) < eol + 2 + size + 2:
                return
            self.body += buf[eol + 2:eol + 2 + size]
            del buf[:eol + 2 + size + 2]
            if self.max_bytes is not None and len(self.body) > self.max_bytes:
                self.reusable = False
                self._finish(None)
                return

    def _finish(self, body: bytes | None) -> None:
        assert self.headers is not None and self.waiter is not None
        if body is not None and any(k.lower() == "content-encoding" and v.lower() == "gzip"
                                    for k, v in self.headers.items()):
            body = zlib.decompress(body, 31)
            if self.max_bytes is not None and len(body) > self.max_bytes:
                body = None
        self._end(Reply(self.status, self.headers, body), None)

    def _end(self, reply: Reply | None, exc: BaseException | None) -> None:
        """End the exchange in progress (once: a later answer or loss finds no waiter)."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter(reply, exc)

    def start(self, request: bytes, max_bytes: int | None, on_reply: OnReply) -> None:
        """Send `request`; `on_reply` is called from the event loop when the answer is complete
        (or the connection fails). No coroutine and no future: the fleet's steady keepalives."""
        if self.closed or self.transport is None:
            raise BadAnswer("connection closed")
        self._reset_answer(max_bytes)
        self.buf.clear()
        self.waiter = on_reply
        self.transport.write(request)

    def abandon(self, exc: BaseException) -> None:
        """Give up the exchange in progress (its timeout): the connection is closed, since the
        late answer would otherwise be read as the next one's."""
        self.close()
        self._end(None, exc)

    async def exchange(self, request: bytes, max_bytes: int | None) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

        def on_reply(reply: Reply | None, exc: BaseException | None) -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(reply)  # type: ignore[arg-type]

        self.start(request, max_bytes, on_reply)
        try:
            return await future
        finally:
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawClient:
    """A device's client: at most one connection to its server, kept alive between calls.

    A URL on another origin (an absolute file URL) gets a connection of its own for that
    one request, as a terminal opening that address would.
    """

    def __init__(self, base_url: str, *, user_agent: str, keepalive_timeout: float = 30.0,
                 verify_tls: bool = True) -> None:
        self.origin = _origin(base_url)
        self.keepalive_timeout = keepalive_timeout
        self.verify_tls = verify_tls
        self.common = (f"User-Agent: {user_agent}\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n").encode("latin-1")
        self._conn: _Connection | None = None
        self._idle_since = 0.0

    def _target(self, url: str) -> tuple[tuple[str, str, int, str], str]:
        """(the origin of `url`, its path)."""
        prefix = self.origin[3]
        if url.startswith(prefix) and url[len(prefix):len(prefix) + 1] in ("/", ""):
            origin = self.origin
        else:
            origin = _origin(url)
        return origin, url[len(origin[3]):] or "/"

    def prepare(self, method: str, url: str, headers: dict[str, str], body: bytes) -> bytes:
        """The request's bytes as they go on the wire (a caller may send them again: `start`)."""
        path = self._target(url)[1]
        head = [f"{method} {path} HTTP/1.1\r\n"]
        head.extend(f"{k}: {v}\r\n" for k, v in headers.items())
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}\r\n")
        return "".join(head).encode("latin-1") + self.common + b"\r\n" + body

    def idle_connection(self, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        """The open connection to the device's server when a request may go on it now, else None
        (none yet, closed, or idle too long: then `request` opens a new one)."""
        conn = self._conn
        if (conn is None or conn.closed or conn.waiter is not None
                or loop.time() - self._idle_since > self.keepalive_timeout):
            return None
        return conn

    def start(self, conn: _Connection, request: bytes, on_reply: OnReply,
              loop: asyncio.AbstractEventLoop) -> None:
        """Send a prepared request to the device's server on `conn` (from `idle_connection`);
        `on_reply` is told the outcome, after which the connection is kept or dropped as by
        `request`. Call `conn.abandon` to time it out."""
        def done(reply: Reply | None, exc: BaseException | None) -> None:
            if exc is None and conn.reusable and not conn.closed:
                self._idle_since = loop.time()
            else:
                self._drop(conn)
            on_reply(reply, exc)

        conn.start(request, None, done)

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        if self._conn is conn:
            self._conn = None

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes,
                      timeout: float, max_bytes: int | None = None) -> Reply:
        """One exchange; TimeoutError after `timeout` s (the connection is then dropped),
        OSError when the connection fails or the answer is not HTTP."""
        origin = self._target(url)[0]
        data = self.prepare(method, url, headers, body)
        loop = asyncio.get_running_loop()
        own = origin[:3] == self.origin[:3]
        conn = None
        try:
            async with asyncio.timeout(timeout):
                conn = await self._connection(loop) if own else await _connect(origin, self.verify_tls)
                reply = await conn.exchange(data, max_bytes)
        except BaseException:
            if conn is not None:
                conn.close()
            if own:
                self._conn = None
            raise
        if own and conn.reusable and not conn.closed:
            self._idle_since = loop.time()
        else:
            conn.close()
            if own:
                self._conn = None
        return reply

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        conn = self._conn
        if conn is not None and (conn.closed or loop.time() - self._idle_since > self.keepalive_timeout):
            conn.close()
            conn = None
        if conn is None:
            self._conn = None
            conn = self._conn = await _connect(self.origin, self.verify_tls)
        return conn

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def _connect(origin: tuple[str, str, int, str], verify_tls: bool) -> _Connection:
    scheme, host, port, _ = origin
    loop = asyncio.get_running_loop()
    tls = _tls(verify_tls) if scheme == "https" else None
    _, conn = await loop.create_connection(_Connection, host, port, ssl=tls,
                                           server_hostname=host if tls else None)
    return conn


def _origin(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, the URL's scheme://netloc prefix)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise BadAnswer(f"not an http(s) URL: {url}")
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname, port, f"{parts.scheme}://{parts.netloc}"
