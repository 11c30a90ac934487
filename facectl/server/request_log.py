"""`facectl serve -v`: one log line per request, and the JSON log format.

A line says who called what and what they were told, and nothing personal: time,
remote address, the device's serial, the endpoint's catalog name, HTTP status,
milliseconds, and the answer's Success code with the Keepalive flags it raised. No
body, no Message (a webhook's message may name a person), no names or user ids.

    2026-12-04 14:08:03 INFO 192.0.2.10 FC-8190H24052799 Keepalive 200 1.4ms Success=1 AddPeople,Remote

The dispatcher leaves the serial and the answer on aiohttp's request (`note_answer`);
aiohttp's access logger hook calls `RequestLog.log` once the answer is written.
`JsonFormatter` writes every log line (these and the server's others) as one JSON
object, for journald or an ELK pipeline (`facectl serve --log-format json`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from facectl.protocol.endpoints import KEEPALIVE_FLAGS, lookup

log = logging.getLogger("facectl.requests")

#: Keys on aiohttp's request where the dispatcher leaves what the log line needs.
SN_KEY = web.RequestKey("facectl_sn", str)
ANSWER_KEY = web.RequestKey("facectl_answer", dict)


def note_answer(request: web.Request, payload: dict[str, Any], sn: str | None) -> None:
    """Remember the answer's Success code and flags (not its Message) and the caller's serial."""
    request[ANSWER_KEY] = {"success": payload.get("Success"),
                           "flags": [f for f in KEEPALIVE_FLAGS if payload.get(f) == 1]}
    if sn:
        request[SN_KEY] = sn


def request_fields(request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> dict[str, Any]:
    """The facts of one request, as the text line and the JSON line both give them."""
    endpoint = lookup(request.path)
    answer = request.get(ANSWER_KEY) or {}
    return {
        "remote": request.remote or "-",
        "sn": request.get(SN_KEY) or "-",
        "endpoint": endpoint.name if endpoint is not None else request.path[:80],
        "status": response.status,
        "ms": round(seconds * 1000, 1),
        "success": answer.get("success"),
        "flags": answer.get("flags", []),
    }


class RequestLog(AbstractAccessLogger):
    """aiohttp's access-log hook: one INFO line on `facectl.requests` per request."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = request_fields(request, response, time)
        answer = "" if fields["success"] is None else f" Success={fields['success']}"
        flags = f" {','.join(fields['flags'])}" if fields["flags"] else ""
        self.logger.info("%s %s %s %d %.1fms%s%s", fields["remote"], fields["sn"], fields["endpoint"],
                         fields["status"], fields["ms"], answer, flags, extra={"request": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "request", None) or {})
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)
