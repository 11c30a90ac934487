"""`facectl serve`: the protocol server."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any

import click

from facectl.protocol.endpoints import PROTOCOL_TYPE_V2
from facectl.protocol.identity import DEFAULT_SN_PATTERN
from facectl.protocol.limits import QUARANTINE_BYTES_PER_DEVICE, MiB

from .common import DEFAULT_DB, EXIT_DB, console, fail, remove_new_database


def auth_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--auth-webhook / --auth-timeout / --auth-silent, named like the ServerConfig fields they fill."""
    func = click.option("--auth-silent", is_flag=True,
                        help="Answer allowed RequestAuthorization with Success 2: open without a message.")(func)
    func = click.option("--auth-timeout", type=click.FloatRange(0.05, 1.9), default=1.0, show_default=True,
                        metavar="SECONDS",
                        help="How long to wait for the webhook before deciding by the rules "
                             "(the device gives up after 2 s).")(func)
    func = click.option("--auth-webhook", metavar="URL",
                        help="Ask this URL to decide online authorization (POST JSON, answer "
                             '{"allow": bool, "message": str}); the built-in rules decide when it fails.')(func)
    return func


@click.command()
@click.option("--db", "db_path", envvar="FACECTL_DB", default=DEFAULT_DB, show_default=True,
              type=click.Path(dir_okay=False), help="SQLite database file (env FACECTL_DB); created if missing.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--public-url", metavar="URL",
              help="Make photo/feature/firmware URLs absolute on this base URL (TLS offload, a file host). "
                   "Default: root-relative /files/... URLs, which each device fetches from its own "
                   "configured server address, on any port.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key for --tls-cert.")
@click.option("--open-enrollment", is_flag=True,
              help="Approve unknown devices on first contact (lab use; default: pending until approved).")
@click.option("--sn-pattern", default=DEFAULT_SN_PATTERN, show_default=True, metavar="REGEX",
              help="Rule a serial must match; others get Success 400.")
@click.option("--retry-failed", default=0, show_default=True, type=click.IntRange(0, 10), metavar="N",
              help="Retry a person a device could not take for a passing cause (photo download failed, device "
                   "storage error) up to N times by itself, after 1, 2, 4... minutes. 0: a failure waits until "
                   "the person changes or `facectl people sync` (protocol.md 5.3).")
@click.option("--keep-records", type=click.IntRange(1), metavar="DAYS",
              help="Delete records (and closed quarantine items) received more than DAYS ago, hourly, in small "
                   "batches. Default: keep everything.")
@click.option("--keep-photos", type=click.IntRange(1), metavar="DAYS",
              help="Drop record photos and snapshots older than DAYS (the records stay). Default: keep them.")
@click.option("--quarantine-budget", default=QUARANTINE_BYTES_PER_DEVICE // MiB, show_default=True,
              type=click.IntRange(0, 1_000_000), metavar="MB",
              help="Megabytes of open quarantine items one approved device may hold; past it items keep their "
                   "size and reason, not their bytes (`facectl quarantine list` says so).")
@auth_options
@click.option("--event-webhook", metavar="URL",
              help="POST every event (records, online/offline, alarms, refused people) to URL, in batches, "
                   "at least once, in order; the backlog waits in the database (docs/events.md).")
@click.option("--event-secret", metavar="S", envvar="FACECTL_EVENT_SECRET",
              help="Sign each event POST: X-Facectl-Signature: sha256=<HMAC-SHA256 of the body> "
                   "(env FACECTL_EVENT_SECRET).")
@click.option("-v", "--verbose", is_flag=True,
              help="Log one line per request: time, remote address, SN, endpoint, HTTP status, milliseconds, "
                   "Success code and the flags answered (nothing personal).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per log line (journald, ELK).")
def serve(db_path: str, host: str, port: int, public_url: str | None, tls_cert: str | None,
          tls_key: str | None, open_enrollment: bool, sn_pattern: str, retry_failed: int, quarantine_budget: int,
          keep_records: int | None, keep_photos: int | None, event_webhook: str | None, event_secret: str | None,
          verbose: bool, log_format: str, **auth: object) -> None:
    """Run the HTTPv2 server that devices poll.

    \b
    Examples:
      facectl serve --db site.db --port 8080
      facectl serve --db site.db --keep-records 365 --keep-photos 90
      facectl serve --db site.db --event-webhook http://127.0.0.1:9100/events --event-secret s3cret
      facectl serve -v --log-format json       # a JSON line per request, for journald / ELK
    Then on each device (web page or menu): HTTP client enabled, protocol type
    200 (HTTPv2), server address http://THIS-HOST:8080, and approve it with
    `facectl device approve SN` when it shows up in `facectl device list`.
    """
    from facectl.server.config import ServerConfig
    from facectl.server.run import device_urls, serve_forever

    if event_secret and not event_webhook:
        fail("--event-secret signs what --event-webhook sends: give the webhook URL too", 2)
    if event_webhook and not re.match(r"https?://[^/\s]+", event_webhook):
        fail(f"--event-webhook takes an http:// or https:// URL, got {event_webhook!r}", 2)
    if bool(tls_cert) != bool(tls_key):
        fail("--tls-cert and --tls-key go together: give both to serve HTTPS", 2)
    try:
        re.compile(sn_pattern)
    except re.error as exc:
        fail(f"--sn-pattern is not a valid regular expression: {exc}", 2)
    _configure_logging(log_format, verbose)
    config = ServerConfig(db=db_path, host=host, port=port, public_url=public_url, tls_cert=tls_cert,
                          tls_key=tls_key, open_enrollment=open_enrollment, sn_pattern=sn_pattern,
                          retry_failed=retry_failed, keep_records=keep_records, keep_photos=keep_photos,
                          event_webhook=event_webhook, event_secret=event_secret, log_requests=verbose,
                          quarantine_budget=quarantine_budget * MiB, **auth)

    def announce(bound: int) -> None:
        console.print(f"[bold green]facectl serve[/] listening on {host}:{bound}, database "
                      f"{os.path.abspath(db_path)}")
        console.print(f"Configure each device: HTTPClient_ProtocolType = {PROTOCOL_TYPE_V2} (HTTPv2), "
                      "HTTP client enabled, server address one of:")
        for url in device_urls(config, bound):
            console.print(f"  {url}")
        console.print("New devices wait as pending: `facectl device list`, then "
                      "`facectl device approve SN`." if not open_enrollment
                      else "Open enrollment: new devices are approved on first contact.")
        kept = [f"{what} {days} days" for what, days in (("records", keep_records), ("photos", keep_photos)) if days]
        console.print("Retention: " + (", ".join(kept) + ", pruned hourly" if kept
                                       else "none, everything is kept (--keep-records, --keep-photos)"))
        if event_webhook:
            console.print(f"Events go to {event_webhook}" + (" (signed)" if event_secret else "")
                          + ": `facectl events status` shows how far.")
        console.print("Stop with Ctrl-C.")

    from facectl.store import StoreError

    existed = os.path.exists(db_path)
    try:
        serve_forever(config, announce)
    except StoreError as exc:
        remove_new_database(db_path, existed)
        fail(f"cannot open database {db_path}: {exc}", EXIT_DB)
    except OSError as exc:
        remove_new_database(db_path, existed)
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port")


def _configure_logging(log_format: str, verbose: bool) -> None:
    """INFO and above on stderr, as text lines or as JSON objects (one per line); with -v,
    facectl's own DEBUG lines too (what an authorization decided and how long it took)."""
    from facectl.server.request_log import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("facectl").setLevel(logging.DEBUG if verbose else logging.INFO)
