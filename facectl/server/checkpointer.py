"""WAL checkpoints off the event loop.

SQLite copies the WAL back into the database file (a checkpoint) on the commit that
takes the WAL past 1,000 pages, on the connection that commits, and with
synchronous=NORMAL it waits for an fsync of the database file there. Records with
40 KB photos fill 1,000 pages every ~100 records, so the event loop stalled in an
fsync several times a second, answering nobody (docs/benchmarks.md, identify records).

The server's connection therefore does not checkpoint (wal_autocheckpoint=0); a
thread with a connection of its own runs PASSIVE checkpoints, which never take the
write lock or wait for readers, every `interval` seconds. Durability is unchanged: a
commit is in the WAL before it is acknowledged, and the WAL is replayed when the
database is opened after a crash. The CLI's own connections checkpoint as before.
On stop, automatic checkpoints are turned back on (closing the last connection
checkpoints the whole WAL, run.py).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from facectl.store import Store
from facectl.store.db import checkpoint, checkpoint_connection, file_of, set_autocheckpoint

log = logging.getLogger("facectl.server")

#: Seconds between checkpoints: at 2,000 records/s of 40 KB that lets the WAL reach ~80 MB.
INTERVAL = 0.5
#: SQLite's default, restored on stop.
AUTOCHECKPOINT_PAGES = 1000


def checkpoints(store: Store, interval: float = INTERVAL) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context: background checkpoints for as long as the server runs."""

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        path = file_of(store.db)
        if path is None:  # an in-memory database has no WAL
            yield
            return
        conn = checkpoint_connection(path)
        set_autocheckpoint(store.db, 0)
        stop = asyncio.Event()
        task = asyncio.create_task(_checkpoint_until(stop, conn, interval), name="facectl-wal-checkpoint")
        try:
            yield
        finally:
            stop.set()
            await task  # not cancelled: a checkpoint running in its thread finishes before the close
            set_autocheckpoint(store.db, AUTOCHECKPOINT_PAGES)
            conn.close()

    return ctx


async def _checkpoint_until(stop: asyncio.Event, conn: sqlite3.Connection, interval: float) -> None:
    failing = False
    while True:
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass
        try:
            await asyncio.to_thread(checkpoint, conn)
            failing = False
        except sqlite3.Error as exc:  # a full disk is answered where records are written; log it once
            if not failing:
                log.warning("WAL checkpoint failed: %s; retrying every %g s", exc, interval)
            failing = True

