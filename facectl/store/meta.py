"""Small server-wide values kept in the database (the URL-signing secret)."""

from __future__ import annotations

import secrets

import sqlite_utils


class Meta:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._secret: bytes | None = None

    def secret(self) -> bytes:
        """The key that signs file URLs; made once, so URLs survive a server restart.

        Cached after the first read: every photo download checks a signature, and
        that must not cost a database write.
        """
        if self._secret is not None:
            return self._secret
        self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('url_secret', ?)",
                        [secrets.token_bytes(32)])
        self._secret = self.db.execute("SELECT value FROM meta WHERE key = 'url_secret'").fetchone()[0]
        return self._secret
