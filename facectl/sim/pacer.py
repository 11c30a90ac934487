"""One clock for a fleet: callbacks due at a time run together, in ticks of a few milliseconds.

Why: on a small machine the simulator's cost per keepalive was mostly the event loop's
own (a timer, a future and a task wake-up per device per period, and one loop wake-up
per device), not the request. A fleet's keepalives fall due every few hundred
microseconds; grouping them in ticks of `TICK` seconds and running each tick from one
`loop.call_at` lets one wake-up send every keepalive due in it, and checks the timeouts
of the requests in flight in the same pass. A terminal's keepalive leaving up to one
tick late is within the protocol's tolerance (the simulator counts a keepalive as missed
only 0.5 s after its time).

Callbacks run synchronously inside the tick, in the order they were added; they cannot
be cancelled (a caller that may give up keeps a token and ignores a stale call).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref
from collections.abc import Callable

#: Seconds per tick.
TICK = 0.02

_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


class Pacer:
    """Calls due in the same tick run in one pass of the event loop (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = TICK) -> None:
        self.loop = loop
        self.tick = tick
        self._buckets: dict[int, list[Callable[[], None]]] = {}
        self._slots: list[int] = []  # heap of the buckets' slots
        self._timer: asyncio.TimerHandle | None = None
        self._armed: int | None = None
        self._firing = False

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop | None = None) -> Pacer:
        """The pacer of `loop` (the running loop by default): one per loop, shared by its devices."""
        loop = loop or asyncio.get_running_loop()
        pacer = _PACERS.get(loop)
        if pacer is None:
            pacer = _PACERS[loop] = cls(loop)
        return pacer

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Call `callback()` at the first tick at or after loop time `when`."""
        slot = math.ceil(when / self.tick)
        bucket = self._buckets.get(slot)
        if bucket is not None:
            bucket.append(callback)
            return
        self._buckets[slot] = [callback]
        heapq.heappush(self._slots, slot)
        if not self._firing and (self._armed is None or slot < self._armed):
            self._arm(slot)

    def pending(self) -> int:
        """How many calls are waiting (for tests and reports)."""
        return sum(len(b) for b in self._buckets.values())

    def _arm(self, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = slot
        self._timer = self.loop.call_at(slot * self.tick, self._fire)

    def _fire(self) -> None:
        self._timer = self._armed = None
        self._firing = True
        try:
            # a loop may run a timer a little early (asyncio: the clock's resolution; uvloop: to
            # the millisecond): the slot the timer was armed for is due
            now = math.floor(self.loop.time() / self.tick + 0.5)
            slots = self._slots
            while slots and slots[0] <= now:
                for callback in self._buckets.pop(heapq.heappop(slots)):
                    try:
                        callback()
                    except Exception as exc:  # one device's bug must not stop the others' clock
                        self.loop.call_exception_handler({"message": "pacer callback failed", "exception": exc})
        finally:
            self._firing = False
            if self._slots:
                self._arm(self._slots[0])
