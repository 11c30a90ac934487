"""Events out: the offline sweep, and the webhook delivery of the outbox (`--event-webhook URL`).

Both run as background tasks of the server; neither sits in front of a device's
answer. Delivery is at least once, in id order (so in order per device), from a
cursor kept in the database (`event_delivery.delivered_id`), so a restart, a
SIGKILL or a receiver that was down for a day resumes where it stopped:

- each POST carries up to `event_batch` events: ``{"events": [ {...}, ... ]}``, with
  ``X-Facectl-Signature: sha256=<hex HMAC-SHA256 of the body>`` when a secret is set;
- 2xx: the cursor moves past the batch (in the same commit as nothing else: the
  receiver may see a batch twice if the server dies between its answer and the
  commit, so receivers keep the last id they took; docs/events.md);
- no answer, a timeout, a 5xx, 408 or 429: the same batch again after 0.5, 1, 2…
  seconds, up to `event_retry_max` between tries, for as long as it takes;
- any other 4xx: the receiver refuses this batch; after `FOUR_XX_TRIES` tries it is
  logged, counted as skipped and passed, so one bad batch never wedges the stream.

A record's photo goes as a signed URL (server/file_urls.py) on the server's public
URL, else its own listen address, valid for `PHOTO_URL_TTL` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import aiohttp

from facectl.store import Store

from .config import ServerConfig
from .file_urls import file_path

log = logging.getLogger("facectl.server")

#: Tries before a batch answered 4xx is skipped.
FOUR_XX_TRIES = 3
#: 4xx statuses that mean "later", not "never".
RETRY_LATER = frozenset({408, 425, 429})
#: Pause between reads of the outbox when everything was delivered (s).
IDLE_POLL = 0.2
#: First pause after a failed POST (s); doubled each time up to `event_retry_max`.
FIRST_BACKOFF = 0.5
#: How long a photo URL in an event stays valid: a day, so a receiver may fetch it after an outage.
PHOTO_URL_TTL = 24 * 3600
SIGNATURE_HEADER = "X-Facectl-Signature"


def signature(secret: str, body: bytes) -> str:
    """The X-Facectl-Signature value: sha256=<hex HMAC-SHA256 of the exact body bytes>."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class EventTasks:
    """The server's event background tasks: started once the port is known, stopped at cleanup.

    They use the server's own database connection, between device requests on the same event
    loop: safe because no transaction is ever held across an await (handlers' writes run without
    awaiting; the group commit, server/committer.py, has a connection of its own), so each read
    or cursor update here is a statement of its own. A batch is read and encoded in a few milliseconds.
    """

    def __init__(self, store: Store, config: ServerConfig, before_sweep: Callable[[], object] | None = None) -> None:
        self.store = store
        self.config = config
        #: Writes the last contacts kept in memory (store/live.py), so the sweep judges current ones.
        self.before_sweep = before_sweep
        self.base_url = ""
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._tasks.append(asyncio.create_task(self._sweep_forever(), name="facectl-event-sweep"))
        if self.config.event_webhook:
            self._tasks.append(asyncio.create_task(self._deliver_forever(), name="facectl-event-webhook"))

    async def stop(self, _app: object = None) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.event_sweep)
            try:
                if self.before_sweep is not None:
                    self.before_sweep()
                self.store.events.sweep()
            except Exception:  # a full disk must not end the sweep; the next one tries again
                log.exception("offline sweep failed")

    async def _deliver_forever(self) -> None:
        url = self.config.event_webhook
        assert url is not None
        after = self.store.events.set_receiver(url)["delivered_id"]
        log.info("event webhook %s: delivering from event %d", url, after + 1)
        timeout = aiohttp.ClientTimeout(total=self.config.event_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    after = await self._deliver_next(session, url, after)
                except Exception:
                    log.exception("event webhook: unexpected error; retrying")
                    await asyncio.sleep(self.config.event_retry_max)

    async def _deliver_next(self, session: aiohttp.ClientSession, url: str, after: int) -> int:
        """Deliver the batch after `after` (retrying as the module docstring says); returns the new cursor."""
        batch = self.store.events.after(after, limit=self.config.event_batch)
        if not batch:
            await asyncio.sleep(IDLE_POLL)
            return after
        body = self._body(batch)
        headers = {"Content-Type": "application/json"}
        if self.config.event_secret:
            headers[SIGNATURE_HEADER] = signature(self.config.event_secret, body)
        last = batch[-1]["id"]
        refused = 0
        pause = min(FIRST_BACKOFF, self.config.event_retry_max)
        failing = False
        while True:
            error = await _post(session, url, body, headers)
            if error is None:
                self.store.events.delivered(last)
                if failing:
                    log.info("event webhook: delivering again (up to event %d)", last)
                return last
            status = error[0]
            if status is not None and 400 <= status < 500 and status not in RETRY_LATER:
                refused += 1
                if refused >= FOUR_XX_TRIES:
                    reason = f"events {batch[0]['id']}-{last} skipped: {error[1]}"
                    log.error("event webhook: %s (refused %d times)", reason, refused)
                    self.store.events.delivered(last, skipped=len(batch), error=reason)
                    return last
            if not failing:
                log.warning("event webhook %s: %s; retrying with backoff, events kept", url, error[1])
                failing = True
            self.store.events.failed(error[1])
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.config.event_retry_max)

    def _body(self, batch: list[dict[str, Any]]) -> bytes:
        secret = self.store.meta.secret() if any(e.get("photo_sha256") for e in batch) else b""
        for event in batch:
            if event.get("photo_sha256"):
                event["photo"] = self.base_url + file_path(secret, event["photo_sha256"], ".jpg", PHOTO_URL_TTL)
        return json.dumps({"events": batch}, ensure_ascii=False).encode("utf-8")


async def _post(session: aiohttp.ClientSession, url: str, body: bytes,
                headers: dict[str, str]) -> tuple[int | None, str] | None:
    """None when the receiver took the batch (2xx), else (HTTP status or None, what went wrong)."""
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            text = (await resp.content.read(200)).decode("utf-8", "replace").strip()
            if 200 <= resp.status < 300:
                return None
            return resp.status, f"HTTP {resp.status}" + (f": {text}" if text else "")
    except TimeoutError:
        return None, "no answer in time"
    except aiohttp.ClientError as exc:
        return None, f"unreachable ({type(exc).__name__}: {exc})"
