"""The operator's authorization webhook (`facectl serve --auth-webhook URL`).

For each RequestAuthorization the server POSTs one JSON object to the URL::

    {"sn": "FC-8190H24052799",
     "record": {...the decoded RecordDetail, as the device sent it...},
     "photo": {"size": 40363, "sha256": "..."} | null,
     "person": {"UserID": "1", "Name": "...", "CardNum": "...", "AccessType": 0, ...} | null,
     "matched_by": "UserID" | "CardNum" | "QRCode" | "",
     "rules": {"allow": true, "message": "Welcome, ...", "reason": "..."}}

and expects ``{"allow": true|false, "message": "text for the screen"}`` (message
optional). ``rules`` is what the built-in rules decided, so a service can simply
override some cases. A person is waiting at the door and the device gives up
after 2 s (document: 超时时间2秒), so the answer must come within the configured
timeout (default 1 s); a timeout, a connection error, a non-2xx status or an
answer without a boolean ``allow`` falls back to the rules' decision, and the
record's reason says which. The photo itself is not forwarded (personal data,
and size): the service can fetch the record later.

One HTTP session per request: no connection state outlives a request, so
nothing has to be closed at shutdown; on loopback or a LAN the cost is well
under a millisecond.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

#: Default time the server waits for the webhook before deciding by the rules.
DEFAULT_TIMEOUT_SECONDS = 1.0
#: Longest message passed on to the device screen (bytes of UTF-8, like the person fields).
MAX_MESSAGE_BYTES = 63
#: Largest webhook answer read.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    allow: bool
    message: str


class WebhookError(Exception):
    """The webhook gave no usable answer; str() says why, for the record's reason."""


def clip_message(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    data = text.strip().encode("utf-8")
    if len(data) <= limit:
        return text.strip()
    return data[:limit].decode("utf-8", errors="ignore").rstrip()


async def _read_bounded(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole answer, however it was chunked on the wire, stopping once past `limit` bytes.

    `StreamReader.read(n)` returns what has arrived so far, which for a chunked or slow
    answer is only its first piece.
    """
    data = bytearray()
    async for piece in content.iter_any():
        data += piece
        if len(data) >= limit:
            break
    return bytes(data)


async def ask(url: str, payload: dict[str, Any], timeout: float) -> WebhookAnswer:
    """POST `payload` and read the decision; WebhookError on anything else, within `timeout`."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    try:
        async with asyncio.timeout(timeout):
            async with aiohttp.ClientSession() as session:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    raw = await _read_bounded(resp.content, MAX_ANSWER_BYTES + 1)
                    status = resp.status
    except TimeoutError:
        raise WebhookError(f"no answer within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        raise WebhookError(f"unreachable ({exc.__class__.__name__}: {exc})") from None
    if not 200 <= status < 300:
        raise WebhookError(f"HTTP {status}")
    if len(raw) > MAX_ANSWER_BYTES:
        raise WebhookError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError("answer is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("allow"), bool):
        raise WebhookError('answer has no boolean "allow"')
    message = doc.get("message")
    if message is not None and not isinstance(message, str):
        raise WebhookError('"message" is not a string')
    return WebhookAnswer(doc["allow"], clip_message(message or ""))
