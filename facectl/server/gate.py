"""The record gate: record uploads take turns, so keepalives never queue behind a backlog.

The server has one event loop, which reads and decodes every upload; records are stored in
group commits of the uploads in flight, on a writer thread (server/committer.py). When a fleet comes back after an
outage, every device has a record upload in flight; without the gate each keepalive
waited behind about a thousand record commits (docs/benchmarks.md, reconnect storm: p99
1.85 s against the device's 2 s timeout). With it, at most `slots` uploads are in flight
(decoded, then stored in a batch of at most that many) and the rest wait on a semaphore,
and while they wait the loop answers keepalives, authorizations and every other call.

Which calls are gated is a protocol fact: the ones the device waits 30 s for (record
uploads, `device_rules.is_record_upload`); a call the device gives 2 s cannot afford
a queue. Load is shed rather than queued without end: when `queue` uploads already
wait, or one has waited `wait` seconds, the device is told Success 0 "server busy;
retry later" without the work being done. It then pauses 10 s and sends the same
record again (document, 上传打卡记录): nothing acknowledged is lost, and nothing is
acknowledged that was not stored. The bound on waiting uploads also bounds the bodies
held in memory (500 x a 40 KB photo is 20 MB).
"""

from __future__ import annotations

import asyncio
import logging
import time

from facectl.protocol import responses

log = logging.getLogger("facectl.server")

MSG_BUSY = "server busy; retry later"
#: At most one log line about shed uploads per this many seconds (a storm would flood the log).
LOG_EVERY_SECONDS = 10.0


class RecordGate:
    """A semaphore with a bounded, time-limited queue: `admit()` then `release()` when admitted."""

    def __init__(self, slots: int, queue: int, wait: float) -> None:
        self.slots = asyncio.Semaphore(slots)
        self.queue = queue
        self.wait = wait
        self.waiting = 0
        self.shed = 0
        self._logged_shed = 0
        self._next_log = 0.0

    async def admit(self) -> bool:
        """True once the upload may be stored; False when it is to be answered `busy()`."""
        if self.waiting >= self.queue:
            return self._shed(f"{self.waiting} uploads waiting")
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait):
                await self.slots.acquire()
        except TimeoutError:
            return self._shed(f"an upload waited {self.wait:g} s")
        finally:
            self.waiting -= 1
        return True

    def release(self) -> None:
        """Give the slot back on the loop's next turn, not now: a handler stores its records without
        awaiting, so a slot released at once would be taken by the next upload in the same turn and
        the keepalives behind them would wait for all of them, as without a gate."""
        asyncio.get_running_loop().call_soon(self.slots.release)

    @staticmethod
    def busy() -> dict[str, object]:
        return responses.fail(MSG_BUSY)

    def _shed(self, why: str) -> bool:
        self.shed += 1
        now = time.monotonic()
        if now >= self._next_log:
            log.warning("busy: told %d record upload(s) to retry later (%s); a fleet is flushing its backlog",
                        self.shed - self._logged_shed, why)
            self._logged_shed, self._next_log = self.shed, now + LOG_EVERY_SECONDS
        return False
