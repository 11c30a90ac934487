"""The aiohttp application and the one dispatcher every device request goes through.

Paths are matched through the protocol catalog (case-insensitive, trailing
slash optional, errata 2.2); the dispatcher reads the raw body under a size
limit, decodes it with the shared decoder, checks the device's identity
(errata 5.2), and calls the endpoint's handler. No answer is ever a 500 or a
traceback: a device cannot act on either, and a record upload must be told to
retry rather than be silently lost.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from aiohttp import web

from facectl import __version__
from facectl.protocol import lenient_json, responses
from facectl.protocol.decode import DecodeError, decode_request
from facectl.protocol.endpoints import ENDPOINTS, lookup, v1_endpoint
from facectl.protocol.identity import SnRule, clean_text
from facectl.protocol.limits import MAX_BODY_BYTES
from facectl.store import Store
from facectl.store.devices import APPROVED, BLOCKED

from . import handlers  # noqa: F401  (registers the handlers)
from .config import ServerConfig
from .handlers.files import serve_file
from .registry import HANDLERS, Context

log = logging.getLogger("facectl.server")

STORE = web.AppKey("store", Store)
CONFIG = web.AppKey("config", ServerConfig)
SN_RULE = web.AppKey("sn_rule", SnRule)

#: Endpoints whose unreadable bodies are quarantined and acknowledged (errata 5.1):
#: a device retries these forever, so refusing them would wedge its queue.
QUARANTINE_ON_ERROR = frozenset({"UploadIdentifyRecord", "UploadSystemRecord", "PushPeople",
                                 "RegisterIdentifyTicketResult", "UploadSnapshoot"})
#: Answers larger than this are gzip-compressed when the device accepts gzip (errata 3.4).
COMPRESS_ABOVE = 1024


def make_app(store: Store, config: ServerConfig) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STORE] = store
    app[CONFIG] = config
    app[SN_RULE] = SnRule(config.sn_pattern)
    app.router.add_get("/", index)
    app.router.add_get("/files/{name}", serve_file)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


async def index(request: web.Request) -> web.Response:
    return web.json_response({"server": "facectl", "version": __version__,
                              "endpoints": [e.path for e in ENDPOINTS.values()]})


async def dispatch(request: web.Request) -> web.StreamResponse:
    try:
        return await _dispatch(request)
    except web.HTTPException:
        raise
    except sqlite3.Error as exc:
        return _storage_failure(request, exc)
    except Exception:  # the last line of defence: log it, never show it
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _answer(request, responses.fail("server error; please retry later"), 200)


async def _dispatch(request: web.Request) -> web.StreamResponse:
    v1 = v1_endpoint(request.path)
    if v1 is not None:
        return await _answer_v1(request, v1)
    endpoint = lookup(request.path)
    if endpoint is None:
        return _answer(request, responses.fail(f"unknown endpoint {request.path}"), 404)
    if request.method != "POST":
        return _answer(request, responses.fail(f"{endpoint.path} takes POST"), 405)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _answer(request, responses.fail(f"body larger than {MAX_BODY_BYTES} bytes"), 413)

    store, config = request.app[STORE], request.app[CONFIG]
    remote = request.remote
    try:
        decoded = decode_request(endpoint, body, request.headers.get("Content-Type"),
                                 request.headers.get("Content-Encoding"))
    except DecodeError as exc:
        return _undecodable(request, endpoint.name, body, exc)

    refusal = _check_identity(request, decoded.sn, endpoint.name)
    if refusal is not None:
        return refusal

    handler = HANDLERS.get(endpoint.name)
    if handler is None:
        return _answer(request, responses.fail(f"{endpoint.name} is not supported by this server"))
    ctx = Context(request, store, config, decoded, body, remote)
    try:
        payload = await handler(ctx)
    except sqlite3.Error as exc:
        return _storage_failure(request, exc)
    except Exception:
        log.exception("%s from %s failed", endpoint.name, decoded.sn)
        return _answer(request, responses.fail("server error; please retry later"))
    return _answer(request, payload)


def _storage_failure(request: web.Request, exc: sqlite3.Error) -> web.Response:
    """The database refused a write (disk full, read-only file, locked too long).

    The device is told to retry (never Success 1 for something not stored), and
    the operator gets one log line that names the likely cause.
    """
    log.error("database error on %s: %s (disk full, read-only database file, or another process "
              "holding a long write lock?)", request.path, exc)
    return _answer(request, responses.fail("server storage unavailable; please retry later"))


def _check_identity(request: web.Request, sn: str, endpoint: str) -> web.Response | None:
    """None when the device may proceed, else the refusal (errata 5.2, 6.1)."""
    reason = request.app[SN_RULE].check(sn)
    if reason is not None:
        log.warning("refused %s from %s: %s", endpoint, request.remote, reason)
        return _answer(request, {"Success": responses.BAD_SN, "Message": responses.MSG_BAD_SN})
    store, config = request.app[STORE], request.app[CONFIG]
    contact = store.devices.contact(sn, request.remote, endpoint, config.open_enrollment)
    if contact.created:
        log.info("new device %s from %s: %s", sn, request.remote,
                 "approved (open enrollment)" if contact.state == APPROVED
                 else f"pending; approve with `facectl device approve {sn}`")
    if contact.state == APPROVED:
        return None
    if contact.state == BLOCKED:
        return _answer(request, {"Success": responses.BLOCKED, "Message": responses.MSG_BLOCKED})
    return _answer(request, {"Success": responses.NOT_ACTIVATED, "Message": responses.MSG_NOT_ACTIVATED})


def _undecodable(request: web.Request, endpoint: str, body: bytes, exc: DecodeError) -> web.Response:
    store = request.app[STORE]
    if exc.status == 413:
        return _answer(request, responses.fail(exc.message), 413)
    if endpoint in QUARANTINE_ON_ERROR:
        sn = clean_text(exc.sn) if exc.sn else None
        if sn:
            refusal = _check_identity(request, sn, endpoint)
            if refusal is not None:
                return refusal
        item = store.quarantine.add(sn, endpoint, exc.message, body, request.headers.get("Content-Type"),
                                    request.headers.get("Content-Encoding"), request.remote)
        log.warning("quarantined %s from %s (item %d): %s", endpoint, sn or request.remote, item, exc.message)
        return _answer(request, {"Success": 1, "Message": f"kept for review: {exc.message}"})
    return _answer(request, responses.fail(exc.message))


async def _answer_v1(request: web.Request, description: str) -> web.Response:
    """An HTTPv1 device gets a clear error, never a v2 answer (errata 2.1), and is marked v1."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        body = b""
    sn = _v1_serial(body)
    message = ("This server speaks HTTPv2: set the device's HTTPClient_ProtocolType to 200 "
               f"({description})")
    if sn and request.app[SN_RULE].check(sn) is None:
        store = request.app[STORE]
        store.devices.contact(sn, request.remote, "HTTPv1", request.app[CONFIG].open_enrollment)
        store.devices.mark_v1(sn, request.path)
        log.warning("device %s speaks HTTPv1 (%s); set HTTPClient_ProtocolType to 200", sn, request.path)
    return _answer(request, {"Success": responses.BAD_SN, "Msg": message, "Message": message}, 400)


def _v1_serial(body: bytes) -> str:
    try:
        doc = lenient_json.parse(body).value
    except lenient_json.JsonError:
        return ""
    if isinstance(doc, dict):
        return clean_text(doc.get("DeviceID") or doc.get("SN") or "")
    return ""


def _answer(request: web.Request, payload: dict[str, Any], status: int = 200) -> web.Response:
    body = responses.encode(payload)
    response = web.Response(body=body, status=status, content_type="application/json", charset="utf-8")
    if len(body) > COMPRESS_ABOVE and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression(web.ContentCoding.gzip)
    return response
