"""Samples of what was refused: the first bytes of bodies from senders that are not approved devices.

Quarantine keeps raw bytes for approved devices only. From anyone else (an unknown,
pending or blocked SN, or no readable SN at all) the server keeps, per source address,
the first `SAMPLE_BYTES` of the last body it could not decode, its size, and counts:
enough to diagnose a misconfigured terminal or spot a scanner, never enough to fill a
disk. The table holds at most `MAX_SAMPLE_SOURCES` addresses; the least recently seen
make room for new ones. `facectl quarantine senders` lists it.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from facectl.protocol.limits import MAX_SAMPLE_SOURCES, SAMPLE_BYTES

from .db import now
from .quarantine import header_text


class Samples:
    def __init__(self, db: sqlite_utils.Database, max_sources: int = MAX_SAMPLE_SOURCES) -> None:
        self.db = db
        self.max_sources = max_sources

    def add(self, remote_addr: str | None, sn: str | None, endpoint: str, reason: str, body: bytes,
            answer: str | None = None) -> None:
        """Count one refused body from `remote_addr` and keep the start of it as the address's sample."""
        t = now()
        addr = header_text(remote_addr) or "?"
        self.db.execute(
            "INSERT INTO refused_samples (remote_addr, first_seen, last_seen, requests, bytes_received, sn, "
            "endpoint, reason, answer, size, sample) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (remote_addr) DO UPDATE SET last_seen = excluded.last_seen, "
            "requests = requests + 1, bytes_received = bytes_received + excluded.size, sn = excluded.sn, "
            "endpoint = excluded.endpoint, reason = excluded.reason, answer = excluded.answer, "
            "size = excluded.size, sample = excluded.sample",
            [addr, t, t, len(body), header_text(sn), endpoint, reason, answer, len(body), body[:SAMPLE_BYTES]])
        self.db.execute(
            "DELETE FROM refused_samples WHERE remote_addr IN (SELECT remote_addr FROM refused_samples "
            "ORDER BY last_seen DESC LIMIT -1 OFFSET ?)", [self.max_sources])

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Most recently seen first, without the sample bytes."""
        return list(self.db.query(
            "SELECT remote_addr, first_seen, last_seen, requests, bytes_received, sn, endpoint, reason, answer, "
            "size, length(sample) AS sample_bytes FROM refused_samples ORDER BY last_seen DESC LIMIT ?", [limit]))

    def get(self, remote_addr: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM refused_samples WHERE remote_addr = ?", [remote_addr]))
        return rows[0] if rows else None

    def bytes_stored(self) -> int:
        """Sample bytes held in all (bounded by the two limits)."""
        return self.db.execute("SELECT COALESCE(SUM(length(sample)), 0) FROM refused_samples").fetchone()[0]
