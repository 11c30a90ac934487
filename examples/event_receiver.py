#!/usr/bin/env python3
"""A minimal event receiver for `facectl serve --event-webhook` (standard library only).

    python3 examples/event_receiver.py --port 9100 --secret s3cret &
    facectl serve --event-webhook http://127.0.0.1:9100/events --event-secret s3cret

The server POSTs `{"events": [...]}` (docs/events.md has every type and field),
oldest first, with `X-Facectl-Signature: sha256=<hex HMAC-SHA256 of the body>`
when it has a secret. Delivery is at least once: after a crash or a lost answer
the same events can come again, so this receiver remembers the last id it took
(in --state, if given) and passes over what it already has. It prints each new
event as one JSON line on stdout; an attendance importer would store it instead.

Answers: 200 when the batch is taken; 503 when the signature is wrong (a
misconfigured secret must not make the server give up on events: it keeps them
and retries); 400 for a body that is not an event batch (the server skips it
after a few tries).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def valid_signature(secret: str, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header.strip())


class Receiver:
    """The last id taken (kept in `state` across restarts) and what to do with a batch."""

    def __init__(self, secret: str | None, state: Path | None) -> None:
        self.secret = secret
        self.state = state
        self.lock = threading.Lock()
        self.last_id = int(state.read_text() or 0) if state is not None and state.exists() else 0

    def take(self, body: bytes, signature: str | None) -> tuple[int, str]:
        if self.secret is not None and not valid_signature(self.secret, body, signature):
            print("event receiver: wrong or missing X-Facectl-Signature; check --secret", file=sys.stderr, flush=True)
            return 503, "signature does not match"
        try:
            events = json.loads(body)["events"]
            ids = [int(e["id"]) for e in events]
        except (ValueError, KeyError, TypeError) as exc:
            return 400, f"not a facectl event batch: {exc}"
        with self.lock:
            for event, event_id in zip(events, ids, strict=True):
                if event_id <= self.last_id:
                    continue  # delivered before (at least once): already taken
                print(json.dumps(event, ensure_ascii=False), flush=True)
                self.last_id = event_id
            if self.state is not None:  # a new file renamed over the old: never half-written
                partial = self.state.with_name(self.state.name + ".new")
                partial.write_text(str(self.last_id))
                os.replace(partial, self.state)
        return 200, "ok"


def make_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep the connection: the server sends batch after batch

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, message = receiver.take(body, self.headers.get("X-Facectl-Signature"))
            data = message.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # the events themselves are the output
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="Port to listen on (0: any free port; printed).")
    parser.add_argument("--secret", help="The server's --event-secret: bodies without its signature are refused.")
    parser.add_argument("--state", type=Path, help="File keeping the last event id taken, across restarts.")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Receiver(args.secret, args.state)))
    host, port = server.server_address[:2]
    print(f"event receiver on http://{host}:{port}/events", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
