"""The aiohttp application and the one dispatcher every device request goes through.

Paths are matched through the protocol catalog (case-insensitive, trailing
slash optional, protocol.md 2.2); the dispatcher reads the raw body under a size
limit, decodes it with the shared decoder, checks the device's identity
(protocol.md 5.2), and calls the endpoint's handler. No answer is ever a 500 or a
traceback: a device cannot act on either, and a record upload must be told to
retry rather than be silently lost. The dispatcher (`Dispatcher`) works on bytes
and headers, not on aiohttp's request, so `facectl quarantine replay` runs a kept
request through the very same path (server/replay.py).

How failures are answered (the one place this is decided):
- identity comes first, before anything is kept: a body that cannot be decoded
  is read for its SN as far as it goes (protocol/decode.sniff_sn); a sender that
  is not an approved device (unknown, pending, blocked, or no readable SN) gets
  the answer identity demands (401, 403, 400) and only a sample of its body is
  kept, per source address (store/samples.py);
- from an approved device, a request that cannot be decoded is kept in quarantine
  with its raw bytes and the answer it was given, on every endpoint (nothing
  unreadable is lost): a record-like upload (QUARANTINE_ON_ERROR) is acknowledged,
  because the device would retry the same bytes forever and wedge its queue; an
  authorization is denied (an unreadable request never opens a door); any other
  endpoint gets the decoder's reason with Success 0, as a body too large after
  inflation gets 413;
- a request its handler fails on unexpectedly is kept and answered the same way
  on record-like uploads and authorizations;
- a storage failure (disk full, read-only file, lock held too long) is a refusal
  the device retries (Success 0, "... retry later"), never Success 1 for what was
  not stored, with one ERROR line naming the cause for the operator;
- any other unexpected error on other endpoints is logged with its traceback and
  answered "server error; please retry later".

No request holds the event loop long: each endpoint reads at most its own body limit
(the catalog's `max_body`, limits.py; a keepalive a few KB), the lenient JSON parser
costs a small multiple of the strict one, and a large body is decoded on a worker thread
(`DECODE_POOL`) under a deadline, so a hostile body delays other devices' keepalives by
milliseconds, not seconds (docs/benchmarks.md, hostile client).

Record uploads pass the record gate (server/gate.py) on the way in, after their body
is read: a few are stored at a time, so keepalives are answered between them when a
fleet flushes its backlogs, and when too many wait, or one waited too long, the device
is told Success 0 "server busy; retry later" and the record is not stored (it pauses
10 s and sends it again). The gate belongs to the server, not to the Dispatcher: a
`quarantine replay` runs one request at a time and has no one to be fair to.

Handlers store what they must have committed before answering through `ctx.write`: in
the server, a group commit shared by the record uploads in flight, on a writer thread with its
own connection (server/committer.py),
each answered after that commit (their contact is the in-memory one, store/live.py);
in a replay, at once, inside the replay's own transaction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from facectl import __version__
from facectl.protocol import lenient_json, responses
from facectl.protocol.decode import DecodedRequest, DecodeError, decode_request
from facectl.protocol.device_rules import is_record_upload
from facectl.protocol.endpoints import ENDPOINTS, Endpoint, lookup, v1_endpoint
from facectl.protocol.gzip_bounded import GZIP_MAGIC
from facectl.protocol.identity import SnRule, clean_text
from facectl.protocol.limits import (
    DECODE_DEADLINE_SECONDS,
    DECODE_INLINE_BYTES,
    MAX_BODY_BYTES,
    MAX_PHOTO_BYTES,
    MAX_POLL_BYTES,
)
from facectl.store import Store
from facectl.store.db import storage_problem
from facectl.store.devices import APPROVED, BLOCKED
from facectl.store.live import LiveDevices

from . import handlers  # noqa: F401  (registers the handlers)
from .committer import GroupCommitter
from .config import ServerConfig
from .gate import MSG_BUSY, RecordGate
from .handlers.authorization import DENY, MSG_UNREADABLE
from .handlers.files import serve_file
from .keys import CONFIG, STORE
from .registry import HANDLERS, Context, DeviceRequest, Keep, Write, write_now
from .request_log import note_answer

log = logging.getLogger("facectl.server")

#: Endpoints whose unusable bodies are quarantined and acknowledged (protocol.md 5.1):
#: a device retries these forever, so refusing them would wedge its queue.
QUARANTINE_ON_ERROR = frozenset({"UploadIdentifyRecord", "UploadSystemRecord", "PushPeople",
                                 "RegisterIdentifyTicketResult", "UploadSnapshoot"})
#: Quarantined too, but denied: the device shows the answer at the door and does not retry.
AUTHORIZATION = "RequestAuthorization"
#: Answers larger than this are gzip-compressed when the device accepts gzip (protocol.md 3.4).
COMPRESS_ABOVE = 1024
#: Where large bodies are decoded: one worker, so hostile bodies queue behind each other (each
#: given up at its deadline) instead of taking every core from the event loop.
DECODE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facectl-decode")


class _MalformedHttpIsAWarning(logging.Filter):
    """aiohttp logs a request it cannot even parse (raw non-ASCII bytes in the URL, broken
    headers) at ERROR with a traceback, before any facectl code runs. That is the client's
    fault, answered 400 by aiohttp: a warning line with the reason, so an ERROR in the log
    still means the server is in trouble (disk full, a bug) and a scanner cannot fake one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and record.levelno >= logging.ERROR:
            record.msg = f"{record.getMessage()}: malformed HTTP, answered 400: {exc.message!r:.200}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _quiet_malformed_http() -> None:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedHttpIsAWarning) for f in logger.filters):
        logger.addFilter(_MalformedHttpIsAWarning())


def make_app(store: Store, config: ServerConfig) -> web.Application:
    _quiet_malformed_http()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STORE] = store
    app[CONFIG] = config
    committer = GroupCommitter(store, config.record_batch, config.record_batch_wait, checkpoints=False)
    app[COMMITTER] = committer
    app[DISPATCHER] = Dispatcher(store, config, write=committer.run)
    app[GATE] = RecordGate(config.record_slots, config.record_queue, config.record_wait)
    app.cleanup_ctx.append(_close_committer)
    app.cleanup_ctx.append(_write_behind)
    app.router.add_get("/", index)
    app.router.add_get("/files/{name}", serve_file)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


#: How often buffered last contacts are written (store/live.py): at most this much is lost on SIGKILL.
FLUSH_SECONDS = 1.0


async def _close_committer(app: web.Application) -> AsyncIterator[None]:
    """Once no request is left: the writer's last batch committed, its connection closed."""
    yield
    await app[COMMITTER].close()


async def _write_behind(app: web.Application) -> AsyncIterator[None]:
    """Write the devices' last contacts once a second, and a last time when the server stops."""
    live = app[DISPATCHER].live
    assert live is not None

    async def every_second() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                live.flush()
            except Exception as exc:  # a full disk: kept in memory, the next second tries again
                log.error("writing last contacts failed: %s", exc)

    task = asyncio.create_task(every_second(), name="facectl-last-contact")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    live.flush()


async def index(request: web.Request) -> web.Response:
    return web.json_response({"server": "facectl", "version": __version__,
                              "endpoints": [e.path for e in ENDPOINTS.values()]})


async def dispatch(request: web.Request) -> web.StreamResponse:
    """aiohttp's side: read the body (under the limit, only for an endpoint that takes one), hand
    the bytes to the Dispatcher, and write its answer (gzip when the device accepts it)."""
    try:
        endpoint = lookup(request.path)
        if endpoint is None:
            v1 = v1_endpoint(request.path)
            if v1 is not None:
                return await _answer_v1(request, v1)
        body = b""
        if request.method == "POST" and endpoint is not None:
            body = await _read_body(request, endpoint.max_body)
            if body is None:
                return _answer(request, responses.fail(f"body larger than {endpoint.max_body} bytes"), 413)
        received = DeviceRequest(request.method, request.path, request.headers, body, request.remote)
        if request.method != "POST" or endpoint is None or not is_record_upload(endpoint):
            answer = await request.app[DISPATCHER].handle(received, endpoint)
            return _answer(request, answer.payload, answer.status, received.sn)
        gate = request.app[GATE]
        if not await gate.admit():
            return _answer(request, gate.busy(), sn=received.sn)
        try:
            answer = await request.app[DISPATCHER].handle(received, endpoint)
        finally:
            gate.release()
        return _answer(request, answer.payload, answer.status, received.sn)
    except web.HTTPException:
        raise
    except Exception as exc:
        return _answer(request, _unexpected(request.method, request.path, exc))


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _unexpected(method: str, path: str, exc: Exception) -> dict[str, Any]:
    """The last line of defence: a storage failure is named, anything else logged, neither shown."""
    problem = storage_problem(exc)
    if problem is not None:
        return _storage_failure(path, exc, problem)
    log.exception("unexpected error on %s %s", method, path)
    return responses.fail("server error; please retry later")


@dataclass(frozen=True, slots=True)
class Answer:
    """What the device is told: HTTP status and JSON payload."""

    status: int
    payload: dict[str, Any]


class Dispatcher:
    """The one path from a device request's bytes to its answer: catalog lookup, decode,
    identity, handler, and the failure rules of the module docstring.

    The server calls it for every request; `facectl quarantine replay` calls it in-process
    for a kept request (server/replay.py), so no endpoint has a second implementation.
    A replay passes `keep` (it decides what a re-quarantine means for the item it replays)
    and `record_contact=False`: the identity rules apply as they do today (approved,
    pending, blocked, SN pattern), but an old request does not make the device look
    online, and an SN the server has never seen is refused, not created.
    """

    def __init__(self, store: Store, config: ServerConfig, keep: Keep | None = None,
                 record_contact: bool = True, write: Write | None = None) -> None:
        self.store = store
        self.config = config
        self.sn_rule = SnRule(config.sn_pattern)
        self.keep: Keep = keep or functools.partial(store.quarantine.add, budget=config.quarantine_budget)
        self.record_contact = record_contact
        #: Devices in memory, last contact written behind (store/live.py); not for a replay.
        self.live = LiveDevices(store) if record_contact else None
        self.write: Write = write or functools.partial(write_now, store)

    async def handle(self, request: DeviceRequest, endpoint: Endpoint | None) -> Answer:
        """Answer `request`, sent to `endpoint` (the catalog's, from its path; None: no such endpoint)."""
        try:
            return await self._handle(request, endpoint)
        except Exception as exc:
            return Answer(200, _unexpected(request.method, request.path, exc))

    async def _handle(self, request: DeviceRequest, endpoint: Endpoint | None) -> Answer:
        if endpoint is None:
            return Answer(404, responses.fail(f"unknown endpoint {request.path}"))
        if request.method != "POST":
            return Answer(405, responses.fail(f"{endpoint.path} takes POST"))
        try:
            decoded = await _decode(endpoint, request)
        except DecodeError as exc:
            return self._undecodable(request, endpoint.name, exc)
        except TimeoutError:
            log.warning("%s from %s: decoding %d bytes took over %g s; told to retry later",
                        endpoint.name, request.remote, len(request.body), DECODE_DEADLINE_SECONDS)
            return Answer(200, responses.fail(MSG_BUSY))
        return await self._run(request, endpoint.name, decoded)

    async def _run(self, request: DeviceRequest, name: str, decoded: DecodedRequest) -> Answer:
        """Identity, then the endpoint's handler; every failure answered as the module docstring says."""
        request.sn = decoded.sn
        refusal = self._check_identity(request, decoded.sn, name)
        if refusal is not None:
            return refusal

        handler = HANDLERS.get(name)
        if handler is None:
            return Answer(200, responses.fail(f"{name} is not supported by this server"))
        ctx = Context(request, self.store, self.config, decoded, request.body, request.remote, self.keep,
                      self.write, self.live)
        try:
            payload = await handler(ctx)
        except Exception as exc:
            problem = storage_problem(exc)
            if problem is not None:
                return Answer(200, _storage_failure(request.path, exc, problem))
            log.exception("%s from %s failed", name, decoded.sn)
            if name in QUARANTINE_ON_ERROR or name == AUTHORIZATION:
                reason = f"the server failed on it ({type(exc).__name__}: {exc!s:.200})"
                answer = (Answer(200, {"Success": DENY, "Message": MSG_UNREADABLE}) if name == AUTHORIZATION
                          else Answer(200, responses.kept(reason)))
                return self._quarantine(request, name, decoded.sn or None, reason, answer)
            return Answer(200, responses.fail("server error; please retry later"))
        return Answer(200, payload)

    def _quarantine(self, request: DeviceRequest, endpoint: str, sn: str | None, reason: str,
                    answer: Answer) -> Answer:
        """Keep an approved device's raw request for the operator, with the answer it is given."""
        item = self.keep(sn, endpoint, reason, request.body, request.headers.get("Content-Type"),
                         request.headers.get("Content-Encoding"), request.remote,
                         responses.encode(answer.payload).decode("utf-8"))
        log.warning("quarantined %s from %s (item %d): %s", endpoint, sn or request.remote, item, reason)
        return answer

    def _check_identity(self, request: DeviceRequest, sn: str, endpoint: str) -> Answer | None:
        """None when the device may proceed, else the refusal (protocol.md 5.2, 6.1)."""
        reason = self.sn_rule.check(sn)
        if reason is not None:
            log.warning("refused %s from %s: %s", endpoint, request.remote, reason)
            return Answer(200, {"Success": responses.BAD_SN, "Message": responses.MSG_BAD_SN})
        if self.live is not None:
            contact = self.live.contact(sn, request.remote, endpoint, self.config.open_enrollment)
            if contact.created:
                log.info("new device %s from %s: %s", sn, request.remote,
                         "approved (open enrollment)" if contact.state == APPROVED
                         else f"pending; approve with `facectl device approve {sn}`")
            state = contact.state
        else:
            known = self.store.devices.get(sn)
            state = known["state"] if known is not None else None
        if state == APPROVED:
            return None
        if state == BLOCKED:
            return Answer(200, {"Success": responses.BLOCKED, "Message": responses.MSG_BLOCKED})
        return Answer(200, {"Success": responses.NOT_ACTIVATED, "Message": responses.MSG_NOT_ACTIVATED})

    def _undecodable(self, request: DeviceRequest, endpoint: str, exc: DecodeError) -> Answer:
        """Identity from what could be read, then: kept with its answer (approved), or a sample."""
        sn = clean_text(exc.sn) if exc.sn else ""
        request.sn = sn
        if sn:
            refusal = self._check_identity(request, sn, endpoint)
        else:
            log.warning("refused %s from %s: %s; no SN could be read", endpoint, request.remote, exc.message)
            refusal = Answer(200, {"Success": responses.BAD_SN, "Message": f"{exc.message} (no SN could be read)"})
        if refusal is not None:
            if self.record_contact:  # a replay keeps nothing new of a refused item
                self.store.samples.add(request.remote, sn or None, endpoint, exc.message, request.body,
                                       responses.encode(refusal.payload).decode("utf-8"))
            return refusal
        if exc.status == 413:
            answer = Answer(413, responses.fail(exc.message))
        elif endpoint == AUTHORIZATION:
            answer = Answer(200, {"Success": DENY, "Message": exc.message})
        elif endpoint in QUARANTINE_ON_ERROR:
            answer = Answer(200, responses.kept(exc.message))
        else:
            answer = Answer(200, responses.fail(exc.message))
        return self._quarantine(request, endpoint, sn, exc.message, answer)


async def _decode(endpoint: Endpoint, request: DeviceRequest) -> DecodedRequest:
    """Decode on the event loop when it is cheap (every poll), else on DECODE_POOL, under a deadline.

    Raises TimeoutError past the deadline; a body still queued by then is never decoded.
    """
    args = (endpoint, request.body, request.headers.get("Content-Type"), request.headers.get("Content-Encoding"))
    body = request.body
    if len(body) <= DECODE_INLINE_BYTES and (endpoint.max_body <= DECODE_INLINE_BYTES or GZIP_MAGIC not in body):
        return decode_request(*args)
    deadline = time.monotonic() + DECODE_DEADLINE_SECONDS
    future = asyncio.get_running_loop().run_in_executor(DECODE_POOL, _decode_before, deadline, *args)
    async with asyncio.timeout_at(asyncio.get_running_loop().time() + DECODE_DEADLINE_SECONDS):
        return await future


def _decode_before(deadline: float, endpoint: Endpoint, *args: Any) -> DecodedRequest:
    if time.monotonic() > deadline:
        raise TimeoutError("given up before it started")
    decoded = decode_request(endpoint, *args)
    photo = decoded.photo if is_record_upload(endpoint) else None
    if photo is not None and len(photo.data) <= MAX_PHOTO_BYTES:
        photo.digest()  # here, where hashlib lets go of the GIL, and not on the writer (server/committer.py)
    return decoded


DISPATCHER = web.AppKey("dispatcher", Dispatcher)
GATE = web.AppKey("record_gate", RecordGate)
COMMITTER = web.AppKey("record_committer", GroupCommitter)


def _storage_failure(path: str, exc: Exception, problem: str) -> dict[str, Any]:
    """The database refused a write (disk full, read-only file, locked too long).

    The device is told to retry (never Success 1 for something not stored), and
    the operator gets one log line with SQLite's words and what they mean.
    """
    log.error("database error on %s: %s: %s; devices are told to retry", path, exc, problem)
    return responses.fail("server storage unavailable; please retry later")


async def _answer_v1(request: web.Request, description: str) -> web.Response:
    """An HTTPv1 device gets a clear error, never a v2 answer (protocol.md 2.1), and is marked v1.

    Only a poll's worth of the body is read for its serial: a v1 request is as small as a v2 poll.
    """
    body = await _read_body(request, MAX_POLL_BYTES) or b""
    sn = _v1_serial(body)
    message = ("This server speaks HTTPv2: set the device's HTTPClient_ProtocolType to 200 "
               f"({description})")
    if sn and request.app[DISPATCHER].sn_rule.check(sn) is None:
        store = request.app[STORE]
        store.devices.contact(sn, request.remote, "HTTPv1", request.app[CONFIG].open_enrollment)
        store.devices.mark_v1(sn, request.path)
        log.warning("device %s speaks HTTPv1 (%s); set HTTPClient_ProtocolType to 200", sn, request.path)
    return _answer(request, {"Success": responses.BAD_SN, "Msg": message, "Message": message}, 400, sn)


def _v1_serial(body: bytes) -> str:
    try:
        doc = lenient_json.parse(body).value
    except lenient_json.JsonError:
        return ""
    if isinstance(doc, dict):
        return clean_text(doc.get("DeviceID") or doc.get("SN") or "")
    return ""


def _answer(request: web.Request, payload: dict[str, Any], status: int = 200, sn: str | None = None) -> web.Response:
    note_answer(request, payload, sn)
    body = responses.encode(payload)
    response = web.Response(body=body, status=status, content_type="application/json", charset="utf-8")
    if len(body) > COMPRESS_ABOVE and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression(web.ContentCoding.gzip)
    return response
