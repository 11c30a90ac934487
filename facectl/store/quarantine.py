"""Quarantine: what a device sent that cannot be used, kept with its raw bytes.

The device is told Success:1 so its upload queue moves on (protocol.md 5.1); the
operator sees the item with its reason and can export the bytes. Identical
bodies from the same device are kept once, so a retry storm cannot fill the disk.

Once the cause is fixed, `facectl quarantine replay` runs an item again through
the server's own dispatcher (server/replay.py). An item that now applies is
marked replayed (`replayed_at`, `replay_result`) and leaves the default list;
one that fails again stays, with the new `reason`, the first one kept in
`first_reason`, and `attempts` counting replays. The same bytes quarantined
again after a replay (the device sent them once more and they failed) are an
open item again, with the new reason. An item that can never apply (a photo over
the device's limit) is closed by the operator (`quarantine dismiss`): it is kept,
closed like a replayed one, with `replay_result` "dismissed: NOTE", so nothing is
deleted and a replay skips it.

Quarantine is for approved devices only (the server decides identity before it keeps
anything; bytes from anyone else are at most a sample, store/samples.py), and each device
has a byte budget over its open items (`budget`): past it an item is still listed, with
its size, hash, reason and answer, but without its bytes (`bytes_kept` 0), and a WARNING
says so, so a device sending broken bodies in a loop cannot fill the disk.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import sqlite_utils

from facectl.protocol.limits import QUARANTINE_BYTES_PER_DEVICE

from .db import now

log = logging.getLogger("facectl.store")

_OPEN = "replayed_at IS NULL"


class Quarantine:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def add(self, sn: str | None, endpoint: str, reason: str, body: bytes,
            content_type: str | None = None, content_encoding: str | None = None,
            remote_addr: str | None = None, answer: str | None = None,
            budget: int = QUARANTINE_BYTES_PER_DEVICE) -> int:
        """Keep a body; returns its id (the existing one for an identical retry).

        Past the device's `budget` of open bytes the item is kept without its bytes.
        """
        sha = hashlib.sha256(body).hexdigest()
        kept = self.bytes_held(sn) + len(body) <= budget
        if not kept:
            log.warning("quarantine budget of %s full (%d bytes held, limit %d): %s item of %d bytes kept "
                        "without its bytes; see `facectl quarantine list`",
                        sn or "unknown senders", self.bytes_held(sn), budget, endpoint, len(body))
        row = self.db.execute(
            "INSERT INTO quarantine (sn, endpoint, reason, content_type, content_encoding, remote_addr, "
            "received_at, sha256, size, body, answer, bytes_kept) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sn, sha256) DO UPDATE SET received_at = excluded.received_at, "
            "reason = CASE WHEN replayed_at IS NULL THEN reason ELSE excluded.reason END, "
            "replay_result = NULL, replayed_at = NULL RETURNING id",
            [sn, endpoint, reason, header_text(content_type), header_text(content_encoding),
             header_text(remote_addr), now(), sha, len(body), body if kept else b"", answer, int(kept)],
        ).fetchone()
        return row[0]

    def bytes_held(self, sn: str | None) -> int:
        """Bytes of this device's open items that are kept (what its budget counts)."""
        return self.db.execute(
            f"SELECT COALESCE(SUM(size), 0) FROM quarantine WHERE sn IS ? AND bytes_kept = 1 AND {_OPEN}",
            [sn]).fetchone()[0]

    def list(self, sn: str | None = None, limit: int = 100, include_replayed: bool = False) -> list[dict[str, Any]]:
        """Newest first; open items only unless `include_replayed`."""
        sql = ("SELECT id, sn, endpoint, reason, content_type, content_encoding, remote_addr, "
               "received_at, size, bytes_kept, answer, attempts, last_attempt_at, replayed_at, replay_result "
               "FROM quarantine")
        where, args = self._where(sn, include_replayed)
        return list(self.db.query(f"{sql}{where} ORDER BY id DESC LIMIT ?", [*args, limit]))

    def open_ids(self, sn: str | None = None) -> list[int]:
        """Every open item, oldest first (the order a device sent them in)."""
        where, args = self._where(sn, False)
        return [r[0] for r in self.db.execute(f"SELECT id FROM quarantine{where} ORDER BY id", args)]

    def get(self, item_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM quarantine WHERE id = ?", [item_id]))
        return rows[0] if rows else None

    def count(self, include_replayed: bool = False) -> int:
        """Items still in quarantine (replayed ones have left it)."""
        where = "" if include_replayed else f" WHERE {_OPEN}"
        return self.db.execute(f"SELECT count(*) FROM quarantine{where}").fetchone()[0]

    def mark_replayed(self, item_id: int, result: str) -> None:
        """The item now applied (`result`: what the replay did); it leaves the default list."""
        t = now()
        self.db.execute(
            "UPDATE quarantine SET attempts = attempts + 1, last_attempt_at = ?, replayed_at = ?, "
            "replay_result = ? WHERE id = ?", [t, t, result, item_id])

    def dismiss(self, item_id: int, note: str) -> bool:
        """Close an open item the operator has dealt with; False when it is not open."""
        t = now()
        return self.db.execute(
            f"UPDATE quarantine SET replayed_at = ?, replay_result = ? WHERE id = ? AND {_OPEN}",
            [t, f"dismissed: {note}", item_id]).rowcount > 0

    def mark_failed(self, item_id: int, reason: str) -> None:
        """A replay failed again: the item stays open with the new reason; the first is kept."""
        self.db.execute(
            "UPDATE quarantine SET attempts = attempts + 1, last_attempt_at = ?, "
            "first_reason = COALESCE(first_reason, reason), reason = ? WHERE id = ?", [now(), reason, item_id])

    @staticmethod
    def _where(sn: str | None, include_replayed: bool) -> tuple[str, list[Any]]:
        clauses, args = [] if include_replayed else [_OPEN], []
        if sn:
            clauses.append("sn = ?")
            args.append(sn)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def header_text(value: str | None) -> str | None:
    """A header as text SQLite can store: raw bytes a client sent (`\\xff\\xfe`, surrogate-escaped by
    the HTTP parser) are written as escapes instead of failing the insert."""
    if value is None:
        return None
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")
