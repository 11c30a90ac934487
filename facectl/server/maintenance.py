"""The server's hourly upkeep: retention the operator asked for, removed people's data, freed space.

Runs beside the handlers for as long as the server runs: a pass at start, then one every
`config.maintenance_interval` seconds (an hour). Each pass, on its own database connection in
a worker thread so the event loop never waits for it:

1. with `--keep-records DAYS`: records received longer ago are deleted, and closed quarantine
   items too; with `--keep-photos DAYS`: record photos and snapshots older than that go;
2. removed people whose every device confirmed the delete are purged (store/retention.py);
3. one sweep of the files table frees what nothing refers to;
4. freed pages go back to the file system (incremental vacuum).

Work goes in batches of store.retention.BATCH rows, one short transaction each, with a pause
between them, so keepalives and uploads get the write lock within milliseconds. Without the
two options nothing is pruned: only what the operator already deleted is cleaned up.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from facectl.store import Store
from facectl.store.retention import Pruned, Retention, cutoff_days

from .config import ServerConfig

log = logging.getLogger("facectl.server")

#: Where `facectl db check` reads the retention in force.
RETENTION_KEY = "retention"


class Maintenance:
    """The upkeep loop; `passes` counts finished passes (tests wait on `done`)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.passes = 0
        self.last: Pruned | None = None
        self.done = threading.Condition()
        #: Held by each step in its worker thread, so the connection is closed only between steps.
        self._lock = threading.Lock()

    def wait_for(self, passes: int, timeout: float) -> bool:
        with self.done:
            return self.done.wait_for(lambda: self.passes >= passes, timeout)

    async def run(self) -> None:
        store = await asyncio.to_thread(Store, self.config.db)
        self._retention = Retention(store.db)
        try:
            while True:
                try:
                    self.last = await self._pass()
                    if any(self.last.as_dict().values()):
                        log.info("upkeep: %s", ", ".join(f"{k} {v}" for k, v in self.last.as_dict().items() if v))
                except Exception:  # a failed pass is logged; the server keeps serving and tries next hour
                    log.exception("upkeep pass failed")
                with self.done:
                    self.passes += 1
                    self.done.notify_all()
                await asyncio.sleep(self.config.maintenance_interval)
        finally:
            await asyncio.to_thread(self._locked, store.close)

    def _locked(self, fn: Callable[[], object]) -> object:
        with self._lock:
            return fn()

    async def _step(self, fn: Callable[[], object]) -> object:
        return await asyncio.to_thread(self._locked, fn)

    async def _batches(self, step: Callable[[], Pruned], total: Pruned) -> None:
        while True:
            done = await self._step(step)
            total.add(done)
            if not any(done.as_dict().values()):
                return
            await asyncio.sleep(self.config.maintenance_pause)

    async def _pass(self) -> Pruned:
        r, total = self._retention, Pruned()
        keep_records, keep_photos = self.config.keep_records, self.config.keep_photos
        if keep_records is not None:
            cut = cutoff_days(keep_records)
            await self._batches(lambda: r.prune_records(cut), total)
            await self._batches(lambda: r.prune_quarantine(cut), total)
        if keep_photos is not None:
            cut = cutoff_days(keep_photos)
            await self._batches(lambda: r.prune_records(cut, photos_only=True), total)
            await self._batches(lambda: r.prune_snapshots(cut), total)
        total.add(await self._step(r.purge_removed_people))
        after: str | None = ""
        while after is not None:
            after, freed = await self._step(lambda a=after: r.sweep_files(a))
            total.add(freed)
            await asyncio.sleep(self.config.maintenance_pause)
        while await self._step(r.incremental_vacuum):
            await asyncio.sleep(self.config.maintenance_pause)
        return total


def retention_in_force(config: ServerConfig) -> dict[str, float | None]:
    return {"keep_records_days": config.keep_records, "keep_photos_days": config.keep_photos,
            "since": time.time()}


def upkeep(config: ServerConfig) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context: the loop starts with the server and is cancelled when it stops."""
    maintenance = Maintenance(config)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[MAINTENANCE] = maintenance
        task = asyncio.create_task(maintenance.run())
        yield
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    return ctx


MAINTENANCE = web.AppKey("maintenance", Maintenance)
