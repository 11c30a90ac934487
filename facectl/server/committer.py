"""Group commit: the record uploads that arrive together are stored in one transaction.

Storing a record with its photo costs a few hundred microseconds of SQLite work, and
about half of it is the transaction around it (taking the write lock, writing the
shared index and table pages to the WAL, the commit). Devices upload records
concurrently, so the server collects the writes of the uploads that arrive within
`wait` seconds of each other (at most `batch` of them), runs them in one
BEGIN IMMEDIATE ... COMMIT, and only then answers each upload: a record is
acknowledged after the commit that stored it, never before (docs/benchmarks.md,
identify records).

Each upload's writes run inside a SAVEPOINT of their own, so one that fails for a
reason of its own (a bug, bad data) is rolled back alone and its request gets the
exception, as it would without batching, while the others commit. A storage failure
(disk full, read-only file, lock held too long) or a failed COMMIT fails every
upload of the batch with that error: none was stored, each device is told to retry
(server/app.py decides the answer, as for any handler).

The batch is written on the event loop without awaiting, so no other coroutine can
write between BEGIN and COMMIT, and the loop answers keepalives between batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import sqlite_utils

from facectl.store.db import in_savepoint, transaction

T = TypeVar("T")

#: Writes of at most this many uploads share a transaction.
BATCH = 32
#: How long the first upload of a batch waits for others (s): a small part of an upload's own latency.
WAIT = 0.002


class GroupCommitter:
    """`await committer.run(work)`: `work()` runs in a transaction shared with concurrent callers."""

    def __init__(self, db: sqlite_utils.Database, batch: int = BATCH, wait: float = WAIT) -> None:
        self.db = db
        self.batch = max(1, batch)
        self.wait = wait
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        #: Batches committed and uploads written, for the benchmark and the tests.
        self.batches = 0
        self.writes = 0

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` (synchronous store writes) in the next batch; return its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if len(self._pending) >= self.batch:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_soon(self._flush)
        elif self._timer is None:
            self._timer = loop.call_later(self.wait, self._flush)
        return await future

    def _flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending[:self.batch], self._pending[self.batch:]
        if self._pending:  # more than a batch waited: the rest go on the loop's next turn
            self._timer = asyncio.get_running_loop().call_soon(self._flush)
        if not pending:
            return
        conn = self.db.conn
        if conn.in_transaction:  # another writer's transaction is open: ours must not commit inside it
            self._pending[:0] = pending
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(self.wait, self._flush)
            return
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            with transaction(self.db):
                for work, future in pending:
                    results.append((future, *in_savepoint(self.db, work)))
        except Exception as exc:  # the COMMIT, or a storage failure inside: nothing of the batch is stored
            for _work, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.writes += len(pending)
        for future, ok, value in results:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

