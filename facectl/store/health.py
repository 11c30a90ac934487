"""What `facectl db check` reports: the database's health, its size by table, and what to do.

Each problem found comes with the action that fixes it, so the report is something an
operator can act on rather than a list of numbers.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from .migrations import SCHEMA_VERSION, schema_version
from .retention import UNREFERENCED

#: Records older than this with no retention in force earn a suggestion.
OLD_RECORD_DAYS = 365
#: Free pages above this share of the file earn a suggestion to hand them back.
FREE_SHARE = 0.2


@dataclass(slots=True)
class Problem:
    severity: str  # "error" (the data is at risk) or "advice"
    what: str
    action: str


DAMAGED = Problem("error", "the integrity check found damage",
                  "stop facectl serve, restore the latest backup (docs/operations.md, Backups); "
                  "keep the damaged file for inspection")


@dataclass(slots=True)
class Health:
    facts: dict[str, Any] = field(default_factory=dict)
    tables: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def table_sizes(db: sqlite_utils.Database) -> tuple[list[dict[str, Any]], bool]:
    """Rows and bytes per table (indexes counted with their table); exact with dbstat, else estimated."""
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    rows = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    owner = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')").fetchall())
    try:
        sizes: dict[str, int] = {}
        for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + size
        exact = True
    except sqlite3.OperationalError:  # SQLite built without dbstat: share the file out by row count
        total = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
        all_rows = sum(rows.values()) or 1
        sizes = {t: total * rows[t] // all_rows for t in tables}
        exact = False
    out = [{"table": t, "rows": rows[t], "bytes": sizes.get(t, 0)} for t in tables]
    out.sort(key=lambda r: -r["bytes"])
    return out, exact


def check(db: sqlite_utils.Database, path: str, quick: bool = False, retention: Any = None) -> Health:
    h = Health()
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    auto_vacuum = {0: "none", 1: "full", 2: "incremental"}[db.execute("PRAGMA auto_vacuum").fetchone()[0]]
    try:
        integrity = [r[0] for r in db.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:  # damaged beyond what the check itself can read
        integrity = [str(exc)]
    wal = path + "-wal"
    h.facts = {
        "path": os.path.abspath(path),
        "schema_version": schema_version(db),
        "code_schema_version": SCHEMA_VERSION,
        "integrity": "ok" if integrity == ["ok"] else integrity[:20],
        "file_bytes": pages * page_size,
        "wal_bytes": os.path.getsize(wal) if os.path.exists(wal) else 0,
        "free_bytes": free * page_size,
        "auto_vacuum": auto_vacuum,
        "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
    }
    if h.facts["integrity"] != "ok":  # counting rows of a damaged file would only fail again
        h.problems.append(DAMAGED)
        return h
    h.tables, h.facts["table_sizes_exact"] = table_sizes(db)
    files = db.execute(
        "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(CASE WHEN content_type LIKE 'image/%' "
        "THEN size END), 0) FROM files").fetchone()
    h.facts.update(files=files[0], file_blob_bytes=files[1], photo_bytes=files[2])
    rec = db.execute("SELECT count(*), min(received_at), max(received_at), min(record_date), max(record_date), "
                     "count(photo) FROM records").fetchone()
    h.facts.update(records=rec[0], oldest_received=rec[1], newest_received=rec[2], oldest_record_date=rec[3],
                   newest_record_date=rec[4], records_with_photo=rec[5])
    h.facts["orphan_files"] = db.execute(f"SELECT count(*) FROM files f WHERE {UNREFERENCED}").fetchone()[0]
    h.facts["removed_people_waiting"] = db.execute(
        "SELECT count(*) FROM people_removed WHERE purged_at IS NULL").fetchone()[0]
    h.facts["retention"] = retention
    _judge(h, retention)
    return h


def _judge(h: Health, retention: Any) -> None:
    f = h.facts
    if f["auto_vacuum"] != "incremental":
        h.problems.append(Problem("advice", "space freed by retention stays inside the file (auto_vacuum "
                                  f"{f['auto_vacuum']})", "run `facectl db vacuum` once, with the server stopped"))
    elif f["file_bytes"] and f["free_bytes"] > FREE_SHARE * f["file_bytes"]:
        h.problems.append(Problem("advice", f"{f['free_bytes']} bytes of the file are free pages",
                                  "`facectl db vacuum` hands them back now (the server does it hourly)"))
    keeping = bool(retention and (retention.get("keep_records_days") or retention.get("keep_photos_days")))
    if not keeping and f["oldest_received"] and f["newest_received"] and \
            f["newest_received"] - f["oldest_received"] > OLD_RECORD_DAYS * 86400:
        h.problems.append(Problem("advice", f"records go back more than {OLD_RECORD_DAYS} days and no retention "
                                  "is in force", "choose one: `facectl serve --keep-records 365 --keep-photos 90` "
                                  "(docs/operations.md, Retention), or `facectl records prune --older-than 365d`"))
    if f["orphan_files"]:
        h.problems.append(Problem("advice", f"{f['orphan_files']} stored file(s) no longer used",
                                  "`facectl serve` frees them within the hour; `facectl db vacuum` now"))
    if f["wal_bytes"] > max(f["file_bytes"], 1 << 26):
        h.problems.append(Problem("advice", f"the write-ahead log is {f['wal_bytes']} bytes",
                                  "a long-running reader holds it back: stop stray `sqlite3` sessions"))
