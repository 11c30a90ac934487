"""The device's HTTP client: one keep-alive connection, the document's timeouts and retries.

Each device owns one client holding at most one connection (by default the
simulator's own rawhttp.RawClient, several times cheaper per request than aiohttp's;
an `aiohttp.ClientSession` over a `TCPConnector(limit=1)` when one is passed, as the
conformance check and traced tests do), so it can never hold more than one
connection (关于HTTP的连接保持: "一个设备应确保仅和服务器保持一个HTTP连接");
requests are strictly sequential. A call is tried up to the endpoint's number of
tries (2 s x 3 for ordinary calls, 30 s x 1 for record uploads, device_rules),
never past the time left before the next keepalive.

Like a real terminal (protocol.md 8.2), the Host header names the server's host
without its port, and a root-relative file URL is fetched from the server
address the device is configured with (protocol.md 8.3).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from facectl import __version__
from facectl.protocol import lenient_json
from facectl.protocol.device_rules import is_ok, is_quiet, resolve_url, success_code, timeout_for, tries_for
from facectl.protocol.endpoints import ENDPOINTS, Endpoint
from facectl.protocol.responses import OK

from .pacer import Pacer
from .rawhttp import RawClient, Reply
from .stats import EndpointStats, Stats
from .wire import Body

USER_AGENT = f"facectl-sim/{__version__} (FCARD HTTPv2 device simulator)"

Client = aiohttp.ClientSession | RawClient
#: An answer body up to this size is parsed once while it comes back the same (a quiet device's
#: keepalive answers are all alike); larger ones, which the device may work on, each time.
SMALL_ANSWER = 1024
SessionFactory = Callable[[], Client]


def make_client(base_url: str, keepalive_timeout: float = 30.0, verify_tls: bool = True) -> RawClient:
    """A device's default client: one connection at most, kept alive between calls."""
    return RawClient(base_url, user_agent=USER_AGENT, keepalive_timeout=keepalive_timeout,
                     verify_tls=verify_tls)


def make_session(keepalive_timeout: float = 30.0, verify_tls: bool = True) -> aiohttp.ClientSession:
    """A device's session: one connection at most, kept alive between calls."""
    connector = aiohttp.TCPConnector(limit=1, limit_per_host=1, force_close=False,
                                     keepalive_timeout=keepalive_timeout,
                                     ssl=None if verify_tls else False)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "gzip"},
        timeout=aiohttp.ClientTimeout(total=None),
    )


@dataclass(slots=True)
class Answer:
    """The outcome of one call, after its tries."""

    endpoint: str
    status: int | None = None  # HTTP status; None when nothing came back
    doc: Any = None  # the JSON answer (parsed leniently), else None
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # why the call failed, for logs and the check report
    latency: float = 0.0  # of the last try
    tries: int = 0
    quirks: list[str] = field(default_factory=list)  # non-canonical JSON in the answer
    deferred: bool = False  # not sent at all: no time left before the next keepalive

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def success(self) -> int | None:
        return success_code(self.doc)

    @property
    def ok(self) -> bool:
        return self.status == 200 and is_ok(self.doc)

    @property
    def quiet(self) -> bool:
        """401/403/400: stay quiet until the next keepalive (服务器拒绝连接)."""
        return is_quiet(self.status, self.doc)


@dataclass(slots=True)
class Fetched:
    """A file the device downloaded, or why it could not."""

    data: bytes | None
    reason: str | None = None
    too_large: bool = False
    #: Cut short by the next keepalive, not by the server: try again later, report nothing.
    interrupted: bool = False


class Transport:
    def __init__(
        self, session: Client, base_url: str, stats: Stats, *,
        rng: random.Random | None = None, timeout_fault: float = 0.0, timeout_scale: float = 1.0,
        min_window: float = 0.05,
    ) -> None:
        self.session = session
        self._raw = session if isinstance(session, RawClient) else None
        self.base_url = base_url.rstrip("/")
        self.host_header = host_header(base_url)
        self.stats = stats
        self.rng = rng or random.Random()
        self.timeout_fault = timeout_fault
        self.timeout_scale = timeout_scale
        self.min_window = min_window
        #: The last request `start_call` sent: (body data, endpoint, its bytes), sent again as they are
        #: while the body is the same object.
        self._prepared: tuple[bytes, str, bytes] | None = None
        #: The last answer body read and what it parsed to (its document is never changed by the device).
        self._last_parsed: tuple[bytes, Any, list[str]] = (b"", None, [])

    async def close(self) -> None:
        await self.session.close()

    def url(self, endpoint: Endpoint) -> str:
        return self.base_url + endpoint.path

    async def call(
        self, name: str, body: Body, deadline: float, *, path: str | None = None,
        tries: int | None = None, timeout: float | None = None, answers: Collection[int] = (OK,),
        resume: Answer | None = None,
    ) -> Answer:
        """POST `body` to the endpoint called `name`, retrying as the device does.

        `deadline` is the loop time of the next keepalive: no try starts after it,
        and no try waits past it. `path` overrides the catalog path (check runs).
        `answers`: the Success values that are a proper answer (RequestAuthorization:
        0, 1 and 2); any other is counted as refused. `resume`: the unanswered call
        `start_call` began; its remaining tries are made here.
        """
        endpoint = ENDPOINTS[name]
        stats = self.stats.endpoint(name)
        if resume is None:
            stats.calls += 1
        limit = tries if tries is not None else tries_for(endpoint)
        wait = (timeout if timeout is not None else timeout_for(endpoint)) * self.timeout_scale
        url = self.base_url + (path or endpoint.path)
        answer = resume or Answer(name)
        loop = asyncio.get_running_loop()
        for attempt in range(answer.tries, limit):
            left = deadline - loop.time()
            if left < self.min_window:
                answer.error = answer.error or "no time left before the next keepalive"
                break
            self._begin_try(stats, answer, attempt, body)
            started = time.perf_counter()
            try:
                if self._raw is not None:
                    reply = await self._raw.request(
                        "POST", url, {"Host": self.host_header, **body.headers}, body.data, min(wait, left))
                    raw, status, headers = reply.body or b"", reply.status, reply.headers
                else:
                    async with self.session.post(
                        url, data=body.data, headers={**body.headers, "Host": self.host_header},
                        timeout=aiohttp.ClientTimeout(total=min(wait, left)),
                    ) as resp:
                        raw = await resp.read()
                        status = resp.status
                        headers = {k: v for k, v in resp.headers.items()}
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                _failed_try(stats, answer, exc, min(wait, left))
                continue
            if self._answered(stats, answer, status, raw, headers, time.perf_counter() - started, answers):
                break
        return self._end_call(stats, answer, answers)

    def start_call(self, name: str, body: Body, deadline: float, on_done: Callable[[Answer, bool], None]) -> bool:
        """The first try of a call without a coroutine, on the connection already open: what a
        fleet's steady keepalives go through (sim/pacer.py). False when it cannot be done that
        way (aiohttp's client, no open idle connection, a fault to inject, no time left): then
        use `call`. Otherwise `on_done(answer, finished)` is called from the event loop;
        `finished` False: the try timed out or the connection failed, and `call(...,
        resume=answer)` makes the remaining tries.
        """
        raw = self._raw
        if raw is None or self.timeout_fault:
            return False
        loop = asyncio.get_running_loop()
        left = deadline - loop.time()
        conn = raw.idle_connection(loop)
        if conn is None or left < self.min_window:
            return False
        stats = self.stats.endpoint(name)
        stats.calls += 1
        answer = Answer(name)
        self._begin_try(stats, answer, 0, body)
        prepared = self._prepared
        if prepared is None or prepared[0] is not body.data or prepared[1] != name:
            request = raw.prepare("POST", self.base_url + ENDPOINTS[name].path,
                                  {"Host": self.host_header, **body.headers}, body.data)
            prepared = self._prepared = (body.data, name, request)
        wait = min(timeout_for(ENDPOINTS[name]) * self.timeout_scale, left)
        started = time.perf_counter()

        def on_reply(reply: Reply | None, exc: BaseException | None) -> None:
            if reply is None:
                _failed_try(stats, answer, exc, wait)
                on_done(answer, False)
                return
            latency = time.perf_counter() - started
            self._answered(stats, answer, reply.status, reply.body or b"", reply.headers, latency, (OK,))
            on_done(self._end_call(stats, answer, (OK,)), True)

        def time_out() -> None:
            if answer.status is None and answer.error is None:  # still waiting for this answer
                conn.abandon(TimeoutError())

        raw.start(conn, prepared[2], on_reply, loop)
        Pacer.of(loop).at(loop.time() + wait, time_out)
        return True

    def _begin_try(self, stats: EndpointStats, answer: Answer, attempt: int, body: Body) -> None:
        if attempt:
            stats.retries += 1
        stats.tries += 1
        stats.bytes_out += len(body.data)
        answer.tries = attempt + 1

    def _answered(self, stats: EndpointStats, answer: Answer, status: int, raw: bytes, headers: dict[str, str],
                  latency: float, answers: Collection[int]) -> bool:
        """Take an answer in; False when the device acts as if it never came (the timeout fault)."""
        stats.latencies.append(latency)
        stats.bytes_in += len(raw)
        if self.timeout_fault and self.rng.random() < self.timeout_fault:
            # Injected fault: the answer came, but the device acts as if it did not.
            stats.injected += 1
            answer.error = "answer discarded (injected timeout)"
            return False
        answer.status, answer.raw, answer.headers, answer.latency = status, raw, headers, latency
        answer.error = None
        if len(raw) > SMALL_ANSWER:
            answer.doc, answer.quirks = _parse(raw)
        else:
            if raw != self._last_parsed[0]:
                self._last_parsed = (raw, *_parse(raw))
            answer.doc, answer.quirks = self._last_parsed[1], list(self._last_parsed[2])
        if status != 200:
            stats.http_errors += 1
            answer.error = f"HTTP {status}"
        elif answer.doc is None:
            answer.error = "answer is not JSON"
        elif answer.success not in answers:
            stats.refused += 1
            msg = answer.doc.get("Message") if isinstance(answer.doc, dict) else None
            answer.error = f"Success {answer.success}" + (f": {msg}" if msg else "")
        return True

    def _end_call(self, stats: EndpointStats, answer: Answer, answers: Collection[int]) -> Answer:
        if answer.tries == 0:
            # Nothing was sent: the work waits for the next keepalive; not an error of the call.
            stats.calls -= 1
            answer.deferred = True
            self.stats.count("calls deferred to the next keepalive")
        if answer.status == 200 and answer.success in answers:
            stats.ok += 1
        return answer

    async def fetch(
        self, url: str, deadline: float, max_bytes: int, *, tries: int | None = None,
    ) -> Fetched:
        """GET a file the server named (photo, feature, firmware), over the same connection.

        A root-relative `url` is resolved against the device's server address.

        More than `max_bytes` is refused without reading the rest (the connection
        is then dropped and reopened).
        """
        stats = self.stats.endpoint("GET file")
        stats.calls += 1
        limit = tries if tries is not None else tries_for(ENDPOINTS["DownloadPeopleList"])
        wait = timeout_for(ENDPOINTS["DownloadPeopleList"]) * self.timeout_scale
        loop = asyncio.get_running_loop()
        url = resolve_url(url, self.base_url)
        reason = "no time left before the next keepalive"
        interrupted = True
        for attempt in range(limit):
            left = deadline - loop.time()
            if left < self.min_window:
                break
            interrupted = False
            if attempt:
                stats.retries += 1
            stats.tries += 1
            started = time.perf_counter()
            try:
                if self._raw is not None:
                    reply = await self._raw.request("GET", url, {"Host": host_header(url)}, b"",
                                                    min(wait, left), max_bytes)
                    if reply.status != 200:
                        stats.http_errors += 1
                        stats.latencies.append(time.perf_counter() - started)
                        return Fetched(None, f"HTTP {reply.status}")
                    data = reply.body
                else:
                    async with self.session.get(
                        url, headers={"Host": host_header(url)},
                        timeout=aiohttp.ClientTimeout(total=min(wait, left)),
                    ) as resp:
                        if resp.status != 200:
                            await resp.read()
                            stats.http_errors += 1
                            stats.latencies.append(time.perf_counter() - started)
                            return Fetched(None, f"HTTP {resp.status}")
                        data = await _read_bounded(resp, max_bytes)
            except TimeoutError:
                stats.timeouts += 1
                reason = f"no answer within {min(wait, left):.1f} s"
                interrupted = left < wait  # the deadline, not the device timeout, ended it
                continue
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                stats.net_errors += 1
                reason = f"download failed: {exc.__class__.__name__}: {exc}"
                continue
            stats.latencies.append(time.perf_counter() - started)
            if data is None:
                return Fetched(None, f"more than {max_bytes} bytes", too_large=True)
            stats.bytes_in += len(data)
            stats.ok += 1
            return Fetched(data)
        return Fetched(None, reason, interrupted=interrupted)


def _failed_try(stats: EndpointStats, answer: Answer, exc: BaseException | None, waited: float) -> None:
    if isinstance(exc, TimeoutError):
        stats.timeouts += 1
        answer.error = f"no answer within {waited:.1f} s"
    else:
        stats.net_errors += 1
        answer.error = f"connection failed: {exc.__class__.__name__}: {exc}"


def host_header(url: str) -> str:
    """The Host header a terminal sends for `url`: the host alone, never the port (protocol.md 8.2)."""
    host = urlsplit(url).hostname or ""
    return f"[{host}]" if ":" in host else host


async def _read_bounded(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    if resp.content_length is not None and resp.content_length > max_bytes:
        resp.close()
        return None
    out = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        out += chunk
        if len(out) > max_bytes:
            resp.close()
            return None
    return bytes(out)


def _parse(raw: bytes) -> tuple[Any, list[str]]:
    try:
        parsed = lenient_json.parse(raw)
    except lenient_json.JsonError:
        return None, []
    return parsed.value, parsed.quirks
