"""Opening the database: WAL, busy timeout, owner-only file permissions.

WAL lets the CLI read and write while the server runs; the busy timeout turns a
momentary writer collision into a short wait instead of "database is locked".
The file is created 0600 because it holds photos, PINs and face features.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils

BUSY_TIMEOUT_MS = 5000


class StoreError(RuntimeError):
    """The database cannot be used (unreadable, not a database, read-only)."""


def connect(path: str) -> sqlite_utils.Database:
    if path != ":memory:" and not os.path.exists(path):
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        except OSError as exc:
            raise StoreError(str(exc)) from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(str(exc)) from None
    return sqlite_utils.Database(conn)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT: take the write lock up front so the work cannot deadlock."""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now() -> float:
    return time.time()
