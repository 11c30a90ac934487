"""Retention: what ages out when the operator asked for it, and the files nothing points at any more.

Nothing is deleted unless asked: `facectl records prune` and `facectl serve --keep-records
--keep-photos` are the only callers of the pruning methods. Age is counted from when the
server *received* a row (`received_at`, the server's clock), never from the device's
RecordDate: a terminal whose clock says 2000 must not have its fresh records deleted.

Work goes in small batches, each its own short `BEGIN IMMEDIATE` transaction, so the
server's keepalives and uploads get the write lock between two batches.

- **Records**: deleted (or, photos only, their photo dropped) once older than the cutoff.
- **Snapshots** age out with photos; **quarantine** items age out once closed (replayed or
  dismissed) and older than the cutoff; open items are never deleted.
- **Files** are content-addressed and shared, so a file is deleted only when no record,
  person, biometric, snapshot, device report, enrolment or queued/sent command refers to it,
  and it was not stored in the last hour (Files.FRESH_SECONDS: the row that will point at a
  new file is written just after it).
- **Removed people**: the operator's rows (person, photo link, biometrics) go at `people rm`;
  what devices reported about them (PushPeople reports with their face feature and photo,
  enrolment photos and raw results) is purged once every device confirmed the delete (no
  device_people row left), and the files follow. Biometric data is the most sensitive thing
  the database holds, so it does not outlive the last device that held it.
- **Space**: a freed page returns to the file system with `PRAGMA incremental_vacuum` on a
  database made with auto_vacuum=INCREMENTAL (every new one; `facectl db vacuum` converts an
  older one once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import sqlite_utils

from facectl.protocol.commands import FILE_KEY, PUSH_SOFTWARE, PUSH_SYSTEM_FILE

from .db import transaction
from .files import FRESH_SECONDS

#: Rows per transaction: small enough that a keepalive waits a few milliseconds at most.
BATCH = 200
#: Seconds a caller outside the server waits between two batches (`records prune`): the server's
#: own writers wait for the lock in SQLite's busy handler, which polls in steps of up to 100 ms,
#: and would otherwise find it taken again each time they look.
PAUSE = 0.02
#: Pages handed back per incremental vacuum step (4 KiB each: 4 MiB).
VACUUM_PAGES = 1024
DAY = 86400.0

#: Files a queued or sent command still needs (the device downloads them when it runs it).
_COMMAND_FILES = (
    "SELECT j.value FROM commands c, json_tree(c.value) j WHERE c.state IN ('queued', 'sent') "
    f"AND c.field IN ('{PUSH_SOFTWARE}', '{PUSH_SYSTEM_FILE}') AND j.key = '{FILE_KEY}'"
)
#: True when nothing but records refers to file `f`.
_NO_OTHER_USE = (
    "NOT EXISTS (SELECT 1 FROM people WHERE photo = f.sha256) "
    "AND NOT EXISTS (SELECT 1 FROM biometrics WHERE file = f.sha256) "
    "AND NOT EXISTS (SELECT 1 FROM snapshots WHERE photo = f.sha256) "
    "AND NOT EXISTS (SELECT 1 FROM device_reports WHERE photo = f.sha256) "
    "AND NOT EXISTS (SELECT 1 FROM enrolments WHERE photo = f.sha256) "
    f"AND f.sha256 NOT IN ({_COMMAND_FILES})"
)
#: True when nothing refers to file `f`.
UNREFERENCED = f"NOT EXISTS (SELECT 1 FROM records WHERE photo = f.sha256) AND {_NO_OTHER_USE}"


@dataclass(slots=True)
class Pruned:
    """What one pass deleted (or, dry run, would delete)."""

    records: int = 0
    photos: int = 0
    snapshots: int = 0
    quarantine: int = 0
    files: int = 0
    file_bytes: int = 0
    people_purged: int = 0

    def add(self, other: Pruned) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Retention:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    # --- records -------------------------------------------------------------------------

    def _records_where(self, cutoff: float, kind: str | None, photos_only: bool) -> tuple[str, list]:
        where, args = "received_at < ?", [cutoff]
        if kind:
            where += " AND kind = ?"
            args.append(kind)
        if photos_only:
            where += " AND photo IS NOT NULL"
        return where, args

    def count_records(self, cutoff: float, kind: str | None = None, photos_only: bool = False) -> Pruned:
        """What `prune_records` would do (dry run): rows, photos, and the photo files only they use."""
        where, args = self._records_where(cutoff, kind, photos_only)
        n, photos = self.db.execute(
            f"SELECT count(*), count(photo) FROM records WHERE {where}", args).fetchone()
        files, size = self.db.execute(
            f"SELECT count(*), coalesce(sum(f.size), 0) FROM files f WHERE f.sha256 IN "
            f"(SELECT photo FROM records WHERE {where} AND photo IS NOT NULL) AND NOT EXISTS "
            f"(SELECT 1 FROM records r WHERE r.photo = f.sha256 AND NOT ({where})) "  # columns: r's
            f"AND {_NO_OTHER_USE}", [*args, *args]).fetchone()
        return Pruned(records=0 if photos_only else n, photos=photos, files=files, file_bytes=size)

    def prune_records(self, cutoff: float, kind: str | None = None, photos_only: bool = False,
                      limit: int = BATCH) -> Pruned:
        """One batch: delete records received before `cutoff` (or drop their photos), then free their files."""
        where, args = self._records_where(cutoff, kind, photos_only)
        with transaction(self.db):
            batch = self.db.execute(
                f"SELECT id, photo FROM records INDEXED BY records_received WHERE {where} "
                "ORDER BY received_at LIMIT ?", [*args, limit]).fetchall()
            ids = json.dumps([r[0] for r in batch])
            if photos_only:
                self.db.execute("UPDATE records SET photo = NULL WHERE id IN (SELECT value FROM json_each(?))", [ids])
            else:
                self.db.execute("DELETE FROM records WHERE id IN (SELECT value FROM json_each(?))", [ids])
        done = Pruned(records=0 if photos_only else len(batch), photos=sum(1 for r in batch if r[1]))
        freed = self.free_files({r[1] for r in batch if r[1]})
        done.files, done.file_bytes = freed.files, freed.file_bytes
        return done

    # --- snapshots and quarantine --------------------------------------------------------

    def prune_snapshots(self, cutoff: float, limit: int = BATCH) -> Pruned:
        with transaction(self.db):
            photos = [r[0] for r in self.db.execute(
                "DELETE FROM snapshots WHERE id IN (SELECT id FROM snapshots WHERE received_at < ? "
                "ORDER BY received_at LIMIT ?) RETURNING photo", [cutoff, limit])]
        freed = self.free_files(set(photos))
        return Pruned(snapshots=len(photos), files=freed.files, file_bytes=freed.file_bytes)

    def prune_quarantine(self, cutoff: float, limit: int = BATCH) -> Pruned:
        """Closed items (replayed, or dismissed by the operator) closed before `cutoff`; open ones stay."""
        with transaction(self.db):
            n = self.db.execute(
                "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE replayed_at IS NOT NULL "
                "AND replayed_at < ? LIMIT ?)", [cutoff, limit]).rowcount
        return Pruned(quarantine=n)

    def count_snapshots(self, cutoff: float) -> int:
        return self.db.execute("SELECT count(*) FROM snapshots WHERE received_at < ?", [cutoff]).fetchone()[0]

    def count_quarantine(self, cutoff: float) -> int:
        return self.db.execute("SELECT count(*) FROM quarantine WHERE replayed_at IS NOT NULL AND replayed_at < ?",
                               [cutoff]).fetchone()[0]

    # --- files and removed people --------------------------------------------------------

    def free_files(self, candidates: Sequence[str] | set[str], now: float | None = None) -> Pruned:
        """Delete those of `candidates` that nothing refers to any more."""
        if not candidates:
            return Pruned()
        fresh = (time.time() if now is None else now) - FRESH_SECONDS
        with transaction(self.db):
            rows = self.db.execute(
                f"DELETE FROM files WHERE sha256 IN (SELECT f.sha256 FROM files f WHERE f.sha256 IN "
                f"(SELECT value FROM json_each(?)) AND f.created_at < ? AND {UNREFERENCED}) RETURNING size",
                [json.dumps(sorted(candidates)), fresh]).fetchall()
        return Pruned(files=len(rows), file_bytes=sum(r[0] for r in rows))

    def sweep_files(self, after: str = "", limit: int = 1000, now: float | None = None) -> tuple[str | None, Pruned]:
        """One page of the whole files table, by hash: frees what nothing refers to. Returns where to go on
        (None: the end)."""
        page = [r[0] for r in self.db.execute(
            "SELECT sha256 FROM files WHERE sha256 > ? ORDER BY sha256 LIMIT ?", [after, limit])]
        freed = self.free_files(page, now)
        return (page[-1] if len(page) == limit else None), freed

    def purge_removed_people(self, now: float | None = None) -> Pruned:
        """Removed people whose every device confirmed the delete: their devices' copies go, then their files."""
        t = time.time() if now is None else now
        with transaction(self.db):
            users = [r[0] for r in self.db.execute(
                "SELECT user_id FROM people_removed r WHERE purged_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM people p WHERE p.user_id = r.user_id) "
                "AND NOT EXISTS (SELECT 1 FROM device_people d WHERE d.user_id = r.user_id)")]
            if not users:
                return Pruned()
            js = json.dumps(users)
            files = [r[0] for r in self.db.execute(
                "DELETE FROM device_reports WHERE user_id IN (SELECT value FROM json_each(?)) RETURNING photo", [js])]
            files += [r[0] for r in self.db.execute(
                "DELETE FROM biometrics WHERE user_id IN (SELECT value FROM json_each(?)) RETURNING file", [js])]
            files += [r[0] for r in self.db.execute(
                "SELECT photo FROM enrolments WHERE user_id IN (SELECT value FROM json_each(?))", [js])]
            self.db.execute(
                "UPDATE enrolments SET photo = NULL, raw = '', notes = ? "
                "WHERE user_id IN (SELECT value FROM json_each(?))",
                [json.dumps(["purged: the person was removed and every device confirmed the delete"]), js])
            self.db.execute("UPDATE people_removed SET purged_at = ? WHERE user_id IN (SELECT value FROM json_each(?))",
                            [t, js])
        freed = self.free_files({f for f in files if f}, now=t + FRESH_SECONDS)
        return Pruned(people_purged=len(users), files=freed.files, file_bytes=freed.file_bytes)

    # --- space -----------------------------------------------------------------------------

    def incremental_vacuum(self, pages: int = VACUUM_PAGES) -> int:
        """Hand up to `pages` free pages back to the file system; returns how many went (0: none free, or the
        database is not in incremental mode: `facectl db vacuum` converts it)."""
        if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return 0
        before = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        if before and not self.db.conn.in_transaction:
            # executescript steps the pragma to the end; execute() would free one page per call.
            self.db.conn.executescript(f"PRAGMA incremental_vacuum({int(pages)})")
        return before - self.db.execute("PRAGMA freelist_count").fetchone()[0]


def cutoff_days(days: float, now: float | None = None) -> float:
    return (time.time() if now is None else now) - days * DAY
