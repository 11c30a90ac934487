#!/usr/bin/env python3
"""A minimal authorization webhook for `facectl serve --auth-webhook` (stdlib only).

    python3 examples/auth_webhook.py --port 9000 &
    facectl serve --auth-webhook http://127.0.0.1:9000/decide

For each RequestAuthorization the server POSTs JSON (docs/remote.md, "The webhook"):
`sn`, `record`, `photo` (size and sha256), `person` (or null), `matched_by` and
`rules`, the verdict of the built-in rules. The answer is
`{"allow": true|false, "message": "text for the device screen"}`.

This one follows the rules, and also turns everyone away outside --open-hours.
It must answer within the server's --auth-timeout (1 s by default): the person is
waiting at the door, and the server decides by its rules when the webhook is late.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def decide(event: dict, open_hours: tuple[int, int], now: datetime) -> dict:
    rules = event.get("rules") or {}
    if not rules.get("allow"):
        return {"allow": False, "message": rules.get("message") or "Access denied"}
    start, end = open_hours
    if not start <= now.hour < end:
        return {"allow": False, "message": f"Closed: open {start:02d}:00-{end:02d}:00"}
    return {"allow": True, "message": rules.get("message") or "Welcome"}


def make_handler(open_hours: tuple[int, int]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            try:
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                answer = decide(event, open_hours, datetime.now())
            except (ValueError, TypeError) as exc:
                self.send_error(400, f"not a facectl webhook request: {exc}")
                return
            person = (event.get("person") or {}).get("Name") or event.get("record", {}).get("UserID")
            print(f"{event.get('sn')}: {person!r} -> {answer}", file=sys.stderr, flush=True)
            body = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # one line per decision is printed above
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="Port to listen on (0: any free port; printed).")
    parser.add_argument("--open-hours", default="6-22", metavar="START-END",
                        help="Hours (local time) when the rules' allows stand, e.g. 6-22 (default) or 0-24.")
    args = parser.parse_args()
    start, _, end = args.open_hours.partition("-")
    try:
        hours = (int(start), int(end))
    except ValueError:
        parser.error(f"--open-hours {args.open_hours!r}: give START-END in whole hours, e.g. 6-22")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(hours))
    host, port = server.server_address[:2]
    print(f"auth webhook on http://{host}:{port}/decide, open {hours[0]}-{hours[1]} h", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
