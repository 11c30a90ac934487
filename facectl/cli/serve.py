"""`facectl serve`: the protocol server."""

from __future__ import annotations

import logging
import os
import re

import click

from facectl.protocol.endpoints import PROTOCOL_TYPE_V2
from facectl.protocol.identity import DEFAULT_SN_PATTERN
from facectl.protocol.limits import QUARANTINE_BYTES_PER_DEVICE, MiB

from .commands import auth_options
from .common import DEFAULT_DB, EXIT_DB, console, fail


@click.command()
@click.option("--db", "db_path", envvar="FACECTL_DB", default=DEFAULT_DB, show_default=True,
              type=click.Path(dir_okay=False), help="SQLite database file (env FACECTL_DB); created if missing.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--public-url", metavar="URL",
              help="Base URL devices use to reach this server, for photo/file URLs "
                   "(default: from each request's Host header).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key for --tls-cert.")
@click.option("--open-enrollment", is_flag=True,
              help="Approve unknown devices on first contact (lab use; default: pending until approved).")
@click.option("--sn-pattern", default=DEFAULT_SN_PATTERN, show_default=True, metavar="REGEX",
              help="Rule a serial must match; others get Success 400.")
@click.option("--retry-failed", default=0, show_default=True, type=click.IntRange(0, 10), metavar="N",
              help="Retry a person a device could not take for a passing cause (photo download failed, device "
                   "storage error) up to N times by itself, after 1, 2, 4... minutes. 0: a failure waits until "
                   "the person changes or `facectl people sync` (errata 5.3).")
@click.option("--quarantine-budget", default=QUARANTINE_BYTES_PER_DEVICE // MiB, show_default=True,
              type=click.IntRange(0, 1_000_000), metavar="MB",
              help="Megabytes of open quarantine items one approved device may hold; past it items keep their "
                   "size and reason, not their bytes (`facectl quarantine list` says so).")
@auth_options
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def serve(db_path: str, host: str, port: int, public_url: str | None, tls_cert: str | None,
          tls_key: str | None, open_enrollment: bool, sn_pattern: str, retry_failed: int, quarantine_budget: int,
          verbose: bool,
          **auth: object) -> None:
    """Run the HTTPv2 server that devices poll.

    \b
    Example:
      facectl serve --db site.db --port 8080
    Then on each device (web page or menu): HTTP client enabled, protocol type
    200 (HTTPv2), server address http://THIS-HOST:8080, and approve it with
    `facectl device approve SN` when it shows up in `facectl device list`.
    """
    from facectl.server.config import ServerConfig
    from facectl.server.run import device_urls, serve_forever

    if bool(tls_cert) != bool(tls_key):
        fail("--tls-cert and --tls-key go together: give both to serve HTTPS", 2)
    try:
        re.compile(sn_pattern)
    except re.error as exc:
        fail(f"--sn-pattern is not a valid regular expression: {exc}", 2)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    config = ServerConfig(db=db_path, host=host, port=port, public_url=public_url, tls_cert=tls_cert,
                          tls_key=tls_key, open_enrollment=open_enrollment, sn_pattern=sn_pattern,
                          retry_failed=retry_failed, quarantine_budget=quarantine_budget * MiB, **auth)

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
        console.print("Stop with Ctrl-C.")

    from facectl.store import StoreError

    try:
        serve_forever(config, announce)
    except StoreError as exc:
        fail(f"cannot open database {db_path}: {exc}", EXIT_DB)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port")
