"""Opening the database: WAL, busy timeout, owner-only file permissions, incremental vacuum.

WAL lets the CLI read and write while the server runs; the busy timeout turns a
momentary writer collision into a short wait instead of "database is locked".
The file is created 0600 because it holds photos, PINs and face features. A new
database is made with auto_vacuum=INCREMENTAL, so the pages that retention frees
can be handed back to the file system (store/retention.py) without a full VACUUM.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

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
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            # Only a database without tables can choose; older ones convert with `facectl db vacuum`.
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(str(exc)) from None
    return sqlite_utils.Database(conn)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT: take the write lock up front so the work cannot deadlock.

    On any failure, the COMMIT's included, the transaction is rolled back if it is
    still open and the original error is raised. SQLite itself may already have
    rolled back (SQLITE_FULL, SQLITE_IOERR do that), and a ROLLBACK then would fail
    with "no transaction is active" and hide the real cause (a full disk) from
    the log. A failed COMMIT must not leave the transaction open either: every
    later `transaction()` on this connection would take itself for a nested one
    and never commit.
    """
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # the original error is the one worth reporting
                conn.execute("ROLLBACK")
        raise


#: SQLite result codes (by name prefix) that mean the database cannot be written
#: right now, and what an operator should check. Anything else (a type SQLite
#: cannot bind, a constraint, SQL that is wrong) is a bug, not the disk.
_STORAGE_PROBLEMS = (
    ("SQLITE_FULL", "the disk is full: free space on the database's file system"),
    ("SQLITE_READONLY", "the database file or its directory is read-only"),
    ("SQLITE_BUSY", f"another process held the write lock longer than {BUSY_TIMEOUT_MS} ms"),
    ("SQLITE_LOCKED", "the database is locked by another connection"),
    ("SQLITE_IOERR", "the disk reported an I/O error (failing disk, or a full or vanished file system)"),
    ("SQLITE_CANTOPEN", "the database file cannot be opened (moved, deleted, or no permission)"),
    ("SQLITE_PERM", "no permission to write the database file"),
    ("SQLITE_CORRUPT", "the database file is damaged"),
    ("SQLITE_NOTADB", "the database file is not a SQLite database"),
)


def storage_problem(exc: BaseException) -> str | None:
    """What is wrong with the database's storage, when `exc` is a storage condition; else None."""
    name = getattr(exc, "sqlite_errorname", None) if isinstance(exc, sqlite3.Error) else None
    if not name:
        return None
    for prefix, problem in _STORAGE_PROBLEMS:
        if name.startswith(prefix):
            return problem
    return None


def now() -> float:
    return time.time()
