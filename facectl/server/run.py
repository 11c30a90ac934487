"""Running the server: sockets, TLS and the connection settings devices need.

Devices keep one HTTP/1.1 connection open while they work through their flags
(protocol.md 1.4), so idle connections are kept well past a keepalive interval; a
fleet reconnecting after an outage arrives at once, so the listen backlog is
large. Bodies are read raw (auto_decompress off) so that whole-body gzip is
inflated by the project's bounded inflater, the same one the inspector uses.

Stopping: SIGTERM (what systemd sends) is handled like Ctrl-C: stop listening, close
idle keep-alive connections, give requests in flight `config.shutdown_grace` seconds
to finish (a record upload waiting at the record gate is stored and answered), close
the database (the last connection checkpoints the WAL into the main file; while the
server runs, checkpoints are made by a thread of their own, checkpointer.py), log one
line, exit 0. A request whose body is still arriving when the stop begins gets no
answer (aiohttp stops reading a closing connection), so nothing unanswered was stored
and the device sends it again. A second signal during the grace kills the process at
once, as the operator asked twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
from collections.abc import Callable

from aiohttp import web

from facectl.protocol.limits import KEEPALIVE_TIMEOUT_SECONDS
from facectl.store import Store

from .app import DISPATCHER, STORE, make_app
from .checkpointer import checkpoints
from .config import ServerConfig
from .event_delivery import EventTasks
from .maintenance import RETENTION_KEY, retention_in_force, upkeep
from .request_log import RequestLog

log = logging.getLogger("facectl.server")

BACKLOG = 4096


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """TLS 1.2 and 1.3 only (the document: 支持 TLS1.2 TLS1.3)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def start(config: ServerConfig, store: Store | None = None) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner and the bound port (useful with port 0)."""
    own_store = store is None
    store = store or Store(config.db)
    store.people.retry_limit = config.retry_failed
    app = make_app(store, config)
    events = EventTasks(store, config, before_sweep=app[DISPATCHER].live.flush if app[DISPATCHER].live else None)
    app.on_cleanup.append(events.stop)
    store.meta.set_json(RETENTION_KEY, retention_in_force(config))
    app.cleanup_ctx.append(upkeep(config, store))
    app.cleanup_ctx.append(checkpoints(store))
    runner = web.AppRunner(
        app, auto_decompress=False,
        access_log=logging.getLogger("facectl.requests") if config.log_requests else None,
        access_log_class=RequestLog,
        keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS, handler_cancellation=False,
        shutdown_timeout=config.shutdown_grace,
    )
    await runner.setup()
    ssl_ctx = tls_context(config.tls_cert, config.tls_key) if config.tls_cert and config.tls_key else None
    site = web.TCPSite(runner, config.host, config.port, ssl_context=ssl_ctx, backlog=BACKLOG,
                       reuse_address=True)
    try:
        await site.start()
    except OSError:  # port in use, address not here: leave nothing open behind
        await runner.cleanup()
        if own_store:
            store.close()
        raise
    sockets = [s for s in (site._server.sockets if site._server else [])]  # noqa: SLF001
    port = sockets[0].getsockname()[1] if sockets else config.port
    events.start(device_urls(config, port)[0])  # the sweep, and the webhook when one is set
    return runner, port


def device_urls(config: ServerConfig, port: int) -> list[str]:
    """The base URLs a device could be given (HTTPClient_ServerAddr)."""
    scheme = "https" if config.tls_cert else "http"
    if config.public_url:
        return [config.public_url.rstrip("/")]
    if config.host not in ("0.0.0.0", "::", ""):
        return [f"{scheme}://{config.host}:{port}"]
    hosts: list[str] = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addr = info[4][0]
            if addr not in hosts and not addr.startswith("127."):
                hosts.append(addr)
    except OSError:
        pass
    return [f"{scheme}://{h}:{port}" for h in hosts] or [f"{scheme}://<this-machine's-address>:{port}"]


def serve_forever(config: ServerConfig, announce: Callable[[int], None]) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly (module docstring)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        received: list[str] = []

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig.name)
            stop.set()
            for each in (signal.SIGINT, signal.SIGTERM):  # a second signal: the default, at once
                loop.remove_signal_handler(each)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        runner, port = await start(config)
        announce(port)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            runner.app[STORE].close()
        log.info("facectl serve stopped (%s): no longer listening, database closed", received[0])

    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # a second Ctrl-C during the grace period
        pass
