"""The server's hourly upkeep: retention the operator asked for, removed people's data, freed space.

Runs beside the handlers for as long as the server runs: a pass at start, then one every
`config.maintenance_interval` seconds (an hour). Each pass:

1. with `--keep-records DAYS`: records received longer ago are deleted, and closed quarantine
   items too; with `--keep-photos DAYS`: record photos and snapshots older than that go;
2. removed people whose every device confirmed the delete are purged (store/retention.py);
3. one sweep of the files table frees what nothing refers to;
4. freed pages go back to the file system (incremental vacuum).

Work goes in batches of `config.maintenance_batch` rows, one short transaction each, on the
server's own connection in the event loop, with a pause between batches. Measured
(docs/benchmarks.md, Retention): a worker thread with its own connection made keepalives
wait for SQLite's write lock, whose busy handler sleeps in steps of up to 100 ms, and p99
rose sixfold; a batch of 50 rows on the loop (about 2 ms) costs a request little.
Without the two options nothing is pruned: only what the operator already deleted is
cleaned up.
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
#: Pages handed back per step of the incremental vacuum (4 KiB each): a few ms of work.
VACUUM_STEP_PAGES = 256


class Maintenance:
    """The upkeep loop; `passes` counts finished passes (tests wait on `done`)."""

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.retention = Retention(store.db)
        self.passes = 0
        self.last: Pruned | None = None
        self.done = threading.Condition()

    def wait_for(self, passes: int, timeout: float) -> bool:
        with self.done:
            return self.done.wait_for(lambda: self.passes >= passes, timeout)

    async def run(self) -> None:
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

    async def _batches(self, step: Callable[[], Pruned], total: Pruned) -> None:
        while True:
            done = step()
            total.add(done)
            if not any(done.as_dict().values()):
                return
            await asyncio.sleep(self.config.maintenance_pause)

    async def _pass(self) -> Pruned:
        r, total, n = self.retention, Pruned(), self.config.maintenance_batch
        keep_records, keep_photos = self.config.keep_records, self.config.keep_photos
        if keep_records is not None:
            cut = cutoff_days(keep_records)
            await self._batches(lambda: r.prune_records(cut, limit=n), total)
            await self._batches(lambda: r.prune_quarantine(cut, limit=n), total)
        if keep_photos is not None:
            cut = cutoff_days(keep_photos)
            await self._batches(lambda: r.prune_records(cut, photos_only=True, limit=n), total)
            await self._batches(lambda: r.prune_snapshots(cut, limit=n), total)
        total.add(r.purge_removed_people())
        after: str | None = ""
        while after is not None:
            after, freed = r.sweep_files(after, limit=4 * n)
            total.add(freed)
            await asyncio.sleep(self.config.maintenance_pause)
        while r.incremental_vacuum(VACUUM_STEP_PAGES):
            await asyncio.sleep(self.config.maintenance_pause)
        return total


def retention_in_force(config: ServerConfig) -> dict[str, float | None]:
    return {"keep_records_days": config.keep_records, "keep_photos_days": config.keep_photos,
            "since": time.time()}


def upkeep(config: ServerConfig, store: Store) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context: the loop starts with the server and is cancelled when it stops."""
    maintenance = Maintenance(config, store)

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
