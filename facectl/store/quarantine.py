"""Quarantine: what a device sent that cannot be used, kept with its raw bytes.

The device is told Success:1 so its upload queue moves on (errata 5.1); the
operator sees the item with its reason and can export the bytes. Identical
bodies from the same device are kept once, so a retry storm cannot fill the disk.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlite_utils

from .db import now


class Quarantine:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def ensure_schema(self) -> None:
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS quarantine (
                id INTEGER PRIMARY KEY,
                sn TEXT,
                endpoint TEXT NOT NULL,
                reason TEXT NOT NULL,
                content_type TEXT,
                content_encoding TEXT,
                remote_addr TEXT,
                received_at REAL NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                body BLOB NOT NULL,
                UNIQUE (sn, sha256)
            );
        """)

    def add(self, sn: str | None, endpoint: str, reason: str, body: bytes,
            content_type: str | None = None, content_encoding: str | None = None,
            remote_addr: str | None = None) -> int:
        """Keep a body; returns its id (the existing one for an identical retry)."""
        sha = hashlib.sha256(body).hexdigest()
        row = self.db.execute(
            "INSERT INTO quarantine (sn, endpoint, reason, content_type, content_encoding, remote_addr, "
            "received_at, sha256, size, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sn, sha256) DO UPDATE SET received_at = excluded.received_at RETURNING id",
            [sn, endpoint, reason, content_type, content_encoding, remote_addr, now(), sha, len(body), body],
        ).fetchone()
        return row[0]

    def list(self, sn: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = ("SELECT id, sn, endpoint, reason, content_type, content_encoding, remote_addr, "
               "received_at, size FROM quarantine")
        args: list[Any] = []
        if sn:
            sql += " WHERE sn = ?"
            args.append(sn)
        return list(self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]))

    def get(self, item_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM quarantine WHERE id = ?", [item_id]))
        return rows[0] if rows else None

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
