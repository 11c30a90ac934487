"""`facectl backup`: a consistent copy of the database while the server runs, checked before it is kept.

SQLite's online backup API copies every page inside one read transaction (`pages=-1`): in WAL
mode the server keeps writing meanwhile, and the copy is the database as of the moment the
copy began. It is written next to the destination under a temporary name, checked
(`PRAGMA integrity_check`, schema version), and only then renamed into place, so a failed
or interrupted backup never leaves a file that looks like a good one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

from .db import BUSY_TIMEOUT_MS, StoreError


@dataclass(slots=True)
class BackupResult:
    path: str
    bytes: int
    seconds: float
    schema_version: int
    integrity: str
    records: int


def backup(source: str, dest: str) -> BackupResult:
    start = time.monotonic()
    partial = dest + ".part"
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        src.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)  # photos and biometrics: owner only
        os.close(fd)
        out = sqlite3.connect(partial)
        try:
            src.backup(out, pages=-1)
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            integrity = [r[0] for r in out.execute("PRAGMA integrity_check")]
            version = out.execute("PRAGMA user_version").fetchone()[0]
            records = out.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            out.close()
    except sqlite3.Error as exc:
        _remove(partial)
        raise StoreError(f"backup failed: {exc}") from None
    finally:
        src.close()
    if integrity != ["ok"]:
        _remove(partial)
        raise StoreError(f"the copy failed its integrity check ({integrity[0]}); nothing was kept")
    os.replace(partial, dest)
    return BackupResult(os.path.abspath(dest), os.path.getsize(dest), time.monotonic() - start, version,
                        "ok", records)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass

