"""Content-addressed blobs: photos, snapshots, features, firmware.

Stored once by SHA-256 whatever how many records or people point at them, with
the upper-case MD5 devices expect (protocol.md 5.6) computed at the same time. A file is
deleted only when nothing points at it any more (store/retention.py); `created_at`
is when it was last stored, so a file just stored is never taken for an orphan.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from facectl.protocol.multipart import content_digest

from .db import now


@dataclass(slots=True)
class StoredFile:
    sha256: str
    md5: str
    size: int
    content_type: str


#: A file stored (or stored again) this recently is never freed, even with nothing pointing at it
#: yet: the row that will point at it (a record, a person, a command) is written just after
#: `put`, in another transaction. Storing content already held renews its time once this old,
#: so the file an incoming record shares with a pruned one is not freed under it.
FRESH_SECONDS = 3600.0


class Files:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def put(self, data: bytes, content_type: str = "application/octet-stream",
            digest: tuple[str, str] | None = None) -> StoredFile:
        """Store `data` (once per content); `digest` is its `content_digest` when already computed."""
        sha, md5 = digest or content_digest(data)
        self.db.execute(
            "INSERT INTO files (sha256, md5, size, content_type, created_at, data) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sha256) DO UPDATE SET created_at = excluded.created_at "
            "WHERE created_at < excluded.created_at - ?",
            [sha, md5, len(data), content_type, now(), data, FRESH_SECONDS],
        )
        return StoredFile(sha, md5, len(data), content_type)

    def get(self, sha256: str) -> tuple[StoredFile, bytes] | None:
        row = self.db.execute(
            "SELECT sha256, md5, size, content_type, data FROM files WHERE sha256 = ?", [sha256]
        ).fetchone()
        if row is None:
            return None
        return StoredFile(row[0], row[1], row[2], row[3]), row[4]

    def info(self, sha256: str) -> StoredFile | None:
        row = self.db.execute(
            "SELECT sha256, md5, size, content_type FROM files WHERE sha256 = ?", [sha256]
        ).fetchone()
        return StoredFile(*row) if row else None
