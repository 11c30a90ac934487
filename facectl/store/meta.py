"""Small server-wide values kept in the database (the URL-signing secret, the retention in force)."""

from __future__ import annotations

import json
import secrets
from typing import Any

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

    def get_json(self, key: str) -> Any:
        """A value kept as JSON (the retention `facectl serve` runs with, for `facectl db check`); None if unset."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else None

    def set_json(self, key: str, value: Any) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, json.dumps(value)])
