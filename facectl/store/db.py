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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

import sqlite_utils

BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


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


def in_savepoint(db: sqlite_utils.Database, work: Callable[[], T]) -> tuple[bool, T | Exception]:
    """Run `work` inside the open transaction, in a SAVEPOINT of its own (group commit, server/committer.py).

    (True, result), or (False, exception) when `work` failed for a reason of its own: its writes
    are rolled back, the transaction's others kept. A storage failure is raised: the whole
    transaction is lost (SQLite may already have rolled it back).
    """
    conn = db.conn
    conn.execute("SAVEPOINT work")
    try:
        value = work()
    except Exception as exc:
        if storage_problem(exc) is not None or not conn.in_transaction:
            raise
        conn.execute("ROLLBACK TO work")  # should this fail, the transaction fails: nothing half-written commits
        conn.execute("RELEASE work")
        return False, exc
    conn.execute("RELEASE work")
    return True, value


def file_of(db: sqlite_utils.Database) -> str | None:
    """The database's file, or None in memory."""
    for _seq, name, path in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return path or None
    return None


def set_autocheckpoint(db: sqlite_utils.Database, pages: int) -> None:
    """Checkpoint the WAL on the commit that takes it past `pages` (0: never; SQLite's default is 1000)."""
    db.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")


def checkpoint_connection(path: str) -> sqlite3.Connection:
    """A connection of its own for `checkpoint` (usable from another thread)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy what the WAL holds into the database file, as far as readers allow; never takes the write lock."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
