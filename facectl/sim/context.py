"""What the parts of one simulated terminal share, and the way they all reach the server.

A terminal (`device.SimDevice`) is a coordinator holding parts (door, records, access,
enrolment, remote, people sync, settings); each part gets this one context instead of
calling into the others' internals. It holds who the terminal is, its configuration,
clock, randomness and statistics, the state several parts read or change (settings,
people, the record log, the people it owes a PushPeople), and the calls to the server
with the flow rule every endpoint follows after a failure.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from facectl.protocol.responses import OK

from . import wire
from .config import SimConfig
from .flow import Flow
from .people import PeopleStore
from .records import RecordLog
from .settings_doc import FIRMWARE_925, default_settings, firmware_925_settings
from .stats import Stats
from .transport import Answer, Fetched, Transport


class Context:
    """One terminal's shared state and its calls to the server (see the module docstring)."""

    def __init__(self, sn: str, config: SimConfig, stats: Stats, clock: Callable[[], float]) -> None:
        self.sn = sn
        self.config = config
        self.stats = stats
        self.clock = clock
        seed = config.seed
        self.rng = random.Random(f"{seed}:{sn}") if seed is not None else random.Random()
        self.variants = config.variants
        self.faults = config.faults
        self.interval = float(config.interval)
        self.settings = self.fresh_settings()
        self.people = PeopleStore(config.people_capacity)
        self.log = RecordLog(clock)
        #: (PushType, UserID) the device owes the server (PushPeople), oldest first.
        self.push_queue: deque[tuple[int, int]] = deque()
        self.transport: Transport | None = None
        #: Endpoint names called, most recent last (for tests and --verbose).
        self.calls: deque[str] = deque(maxlen=1000)
        self.last_answer: Answer | None = None

    def fresh_settings(self) -> dict[str, Any]:
        """The settings of a terminal out of the box (and after a factory reset)."""
        build = firmware_925_settings if self.config.firmware == FIRMWARE_925 else default_settings
        return build(self.sn, server_url=self.config.server,
                     keepalive_seconds=max(1, round(self.config.interval)),
                     use_gzip=self.variants.gzip != "none", now=self.clock())

    def release_seconds(self) -> float:
        """How long the relay stays open after a pulse (the ReleaseTime setting)."""
        try:
            return max(1.0, float(self.settings.get("ReleaseTime", 3)))
        except (TypeError, ValueError):
            return 3.0

    # ---------------------------------------------------------------- time and faults

    def left(self, deadline: float) -> float:
        return deadline - asyncio.get_running_loop().time()

    def has_time(self, deadline: float) -> bool:
        """Whether another request fits before the next keepalive is due."""
        return self.left(deadline) >= self.config.min_request_window

    def fault(self, probability: float, name: str) -> bool:
        """Whether an injected fault happens now (counted in the stats when it does)."""
        if probability and self.rng.random() < probability:
            self.stats.count(f"fault: {name}")
            return True
        return False

    def quirk(self, doc: dict[str, Any]) -> str | None:
        if self.faults.quirky_json and self.rng.random() < self.faults.quirky_json:
            quirk = wire.pick_quirk(doc, self.rng)
            self.stats.count(f"quirky json: {quirk}")
            return quirk
        return None

    def json_part_quirk(self) -> str | None:
        if self.faults.quirky_json and self.rng.random() < self.faults.quirky_json:
            quirk = self.rng.choice(("trailing comma", "utf-8 BOM"))
            self.stats.count(f"quirky json: {quirk}")
            return quirk
        return None

    # ---------------------------------------------------------------- the server

    async def post_json(self, name: str, doc: dict[str, Any], deadline: float) -> Answer:
        assert self.transport is not None, "run() or open a transport first"
        self.calls.append(name)
        self.last_answer = await self.transport.call(
            name, wire.json_body(doc, self.variants, quirk=self.quirk(doc)), deadline)
        return self.last_answer

    async def resume_json(self, answer: Answer, doc: dict[str, Any], deadline: float) -> Answer:
        """The remaining tries of a JSON call whose first one `Transport.start_call` made."""
        assert self.transport is not None, "run() or open a transport first"
        self.last_answer = await self.transport.call(
            answer.endpoint, wire.json_body(doc, self.variants), deadline, resume=answer)
        return self.last_answer

    async def post_parts(self, name: str, parts: list, deadline: float,
                         answers: frozenset[int] = frozenset({OK})) -> Answer:
        assert self.transport is not None, "run() or open a transport first"
        self.calls.append(name)
        self.last_answer = await self.transport.call(
            name, wire.multipart_body(parts, self.variants, self.rng), deadline, answers=answers)
        return self.last_answer

    async def fetch(self, url: str, max_bytes: int, deadline: float) -> Fetched:
        assert self.transport is not None
        self.calls.append("GET")
        return await self.transport.fetch(url, deadline, max_bytes)

    def failed(self, answer: Answer) -> Flow:
        """After a failed call: 401/403/400 or no answer -> quiet until the next keepalive."""
        if answer.deferred:
            return Flow.STOP
        if answer.quiet:
            self.stats.count("quiet until next keepalive")
            return Flow.STOP
        if not answer.answered or answer.status != 200:
            self.stats.count("call failed; sleeping until next keepalive")
            return Flow.STOP
        return Flow.CONTINUE
