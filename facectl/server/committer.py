"""Group commit on a writer thread: the record uploads that arrive together are stored in one
transaction, on a database connection of their own, while the event loop goes on answering.

Storing a record with its photo costs a few hundred microseconds of SQLite work, and
about half of it is the transaction around it (taking the write lock, writing the
shared index and table pages to the WAL, the commit). Devices upload records
concurrently, so the server collects the writes of the uploads that arrive within
`wait` seconds of each other (at most `batch` of them), runs them in one
BEGIN IMMEDIATE ... COMMIT, and only then answers each upload: a record is
acknowledged after the commit that stored it, never before (docs/benchmarks.md,
identify records).

The batch runs on a thread of its own with a connection of its own (`writer`, a second
`Store` on the same file). SQLite releases the GIL while it copies a 40 KB photo into the
WAL, and hashlib while it hashes one, so the event loop reads, decodes and answers other
requests meanwhile. While a batch commits the next one collects, and is handed over as
soon as the writer is free. Each upload's answer is set on the loop once its batch
committed. The loop's own connection stays coherent by the rules it already follows: WAL
readers see every committed batch, and the in-memory device view (store/live.py) sees the
writer's commits move `PRAGMA data_version` as it sees the CLI's. WAL has one writer at a
time: a write on the loop's connection (a new device, a door state change, the
last-contact flush) waits for the batch in flight (the busy timeout), and the writer waits
for it likewise; neither holds a transaction across an await.

Each upload's writes run inside a SAVEPOINT of their own, so one that fails for a
reason of its own (a bug, bad data) is rolled back alone and its request gets the
exception, as it would without batching, while the others commit. A storage failure
(disk full, read-only file, lock held too long) or a failed COMMIT fails every
upload of the batch with that error: none was stored, each device is told to retry
(server/app.py decides the answer, as for any handler).

A database without a file (":memory:") cannot be opened twice: its batches run on the
event loop, on the loop's connection, as one transaction all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

from facectl.store import Store
from facectl.store.db import file_of, in_savepoint, set_autocheckpoint, transaction

T = TypeVar("T")
#: A write: synchronous store calls on the store it is given (the writer's), returning a result.
Work = Callable[[Store], T]

#: Writes of at most this many uploads share a transaction.
BATCH = 32
#: How long the first upload of a batch waits for others (s): a small part of an upload's own latency.
WAIT = 0.002


class GroupCommitter:
    """`await committer.run(work)`: `work(store)` runs in a transaction shared with concurrent callers.

    `store` is the loop's; the committer opens its own on the same file (module docstring).
    `checkpoints=False`: the writer's commits never checkpoint the WAL (server/checkpointer.py
    does, off the writer as well as off the loop). Call `close()` when done.
    """

    def __init__(self, store: Store, batch: int = BATCH, wait: float = WAIT, *, checkpoints: bool = True) -> None:
        self.batch = max(1, batch)
        self.wait = wait
        path = file_of(store.db)
        #: The writer's own store, or the loop's for a database without a file.
        self.writer = Store(path) if path is not None else store
        self._own = path is not None
        if self._own and not checkpoints:
            set_autocheckpoint(self.writer.db, 0)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facectl-writer") if self._own else None
        self._pending: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._in_flight: asyncio.Future[Any] | None = None
        #: Batches committed and uploads written, for the benchmark and the tests.
        self.batches = 0
        self.writes = 0

    @property
    def writing(self) -> bool:
        """Whether a batch is with the writer now (handed over, not yet answered)."""
        return self._in_flight is not None

    async def run(self, work: Work[T]) -> T:
        """Run `work` (synchronous store writes) in the next batch; return its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if self._in_flight is None:  # else the batch in flight hands over to this one when it is done
            if len(self._pending) >= self.batch:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_soon(self._flush)
            elif self._timer is None:
                self._timer = loop.call_later(self.wait, self._flush)
        return await future

    def _flush(self) -> None:
        """Hand the next batch to the writer (or run it here, without a file)."""
        self._timer = None
        if self._in_flight is not None or not self._pending:
            return
        pending, self._pending = self._pending[:self.batch], self._pending[self.batch:]
        works = [work for work, _future in pending]
        loop = asyncio.get_running_loop()
        if self._pool is None:
            done: Future[list[tuple[bool, Any]]] = Future()
            try:
                done.set_result(self._commit(works))
            except Exception as exc:
                done.set_exception(exc)
            self._in_flight = asyncio.wrap_future(done)
        else:
            self._in_flight = asyncio.wrap_future(self._pool.submit(self._commit, works), loop=loop)
        self._in_flight.add_done_callback(lambda outcome: self._answer(pending, outcome))

    def _commit(self, works: list[Work[Any]]) -> list[tuple[bool, Any]]:
        """The writer's side: one transaction, a savepoint per upload; raises when nothing was stored."""
        db = self.writer.db
        with transaction(db):
            return [in_savepoint(db, lambda work=work: work(self.writer)) for work in works]

    def _answer(self, pending: list[tuple[Work[Any], asyncio.Future[Any]]], outcome: asyncio.Future[Any]) -> None:
        """On the loop: answer every upload of the committed (or failed) batch, then send the next."""
        self._in_flight = None
        exc = outcome.exception()
        if exc is not None:  # the COMMIT, or a storage failure inside: nothing of the batch is stored
            for _work, future in pending:
                if not future.done():
                    future.set_exception(exc)
        else:
            self.batches += 1
            self.writes += len(pending)
            for (_work, future), (ok, value) in zip(pending, outcome.result(), strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        if self._pending and self._timer is None:
            # These arrived while the batch committed: they have waited long enough.
            self._timer = asyncio.get_running_loop().call_soon(self._flush)

    async def close(self) -> None:
        """Let the batch in flight finish, then close the writer's connection."""
        while self._in_flight is not None or self._pending:
            if self._in_flight is None:
                self._flush()
            in_flight = self._in_flight
            if in_flight is not None:
                with suppress(Exception):  # its uploads were answered with the failure
                    await in_flight  # `_answer`, added first, has run when this returns
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._own:
            self.writer.close()
