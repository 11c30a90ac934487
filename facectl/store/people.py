"""People and their delivery to devices, by reconciliation (ARCHITECTURE.md, "State, not messages").

Tables
------
- `people`: one row per person, the operator's truth, with `version` (see below) and
  `scope_all` (1: every approved device; 0: the devices in `person_devices`).
- `biometrics`: face feature, fingerprints and palm veins per (user_id, kind, num), as
  content-addressed files of base64 text. Keyed by user_id, not by person row, so what a
  device reports about someone the operator has not added yet is kept too.
- `device_people`: per (device, person) `want` (the version the device should hold; NULL =
  must not hold), `have` (the version it confirmed; 0 = it holds a version we did not
  send, NULL = it does not hold the person), the page in flight and the last failure.
- `people_sync`: per device page counters, the DeleteAll request, the file mode.
- `device_reports`: each device's own latest word about each person (PushPeople).
- `enrolments`: RegisterIdentifyTicketResult results (issue 4 links them to commands).

Decisions (also in docs/people.md)
----------------------------------
- **Versions** come from one counter (`people_seq`), one value per write transaction. A
  version only has to grow for each person; a global counter also keeps it growing when a
  user id is deleted and added again, so a deleted person needs no tombstone row.
- **Flags are derived** (store/work.py). AddPeople: a row with `want` not NULL, `want IS NOT
  have`, not failed at `want`, and not in flight (or in flight for longer than
  `redelivery_timeout`, 120 s by default). DeletePeople: a row with `want` NULL and `have`
  not NULL, not in flight; or a DeleteAll waiting. Each is one query on a partial index.
- **Pages in flight**: DownloadPeopleListResult names only failures, so success means "every
  person of the last page handed to this device, minus FailList". Each page gets a number;
  a result confirms the latest page only. A page whose result never came stays in flight
  and is handed out again after the timeout. Failures keep their code and are not retried
  until the person changes (new `want`) or the operator runs `people sync`.
- **FailList unreadable**: when FailCount says there were failures but none can be read,
  nothing of the page is confirmed (the caller quarantines the body); the page is handed
  out again after the timeout rather than marking failed people delivered.
- **Deletion results** confirm the whole page: a device lists what it deleted, and the only
  way a listed person is not deleted is that the device did not hold them, which is the
  goal. Ids in DeleteList outside the page are taken as deleted too.
- **DeleteAll** is sent only when an operator asks (`people sync SN --wipe`), because it also
  removes people the server never knew (enrolled at the device). Its result clears every
  `have` of the device; everyone the device should hold is then delivered again.
- **Scope**: a person goes to every *approved* device (scope_all) or to the listed devices
  (in any state; they receive people once approved). A device approved after people were
  added is reconciled at its first keepalive: the AddPeople check notices that the device's
  `approved_at` differs from the one its wants were computed for.
- **Biometrics are never lost** (errata 6.5): every base64 face feature, fingerprint and palm
  vein a device reports (PushPeople, RegisterIdentifyTicketResult) is kept and sent with
  every later update. A new or changed biometric of a known person makes a new version, so
  it reaches the person's other devices. An operator replacing the photo drops the old face
  feature (it describes the old face) unless a new one is given at the same time.
- **Photos from devices**: the photo part of a successful enrolment becomes the person's
  photo when it differs and the device held the current version (so the difference is the
  enrolment, not a stale copy) or the person had none; a PushPeople photo is adopted only
  when the person has none (a device re-encoding an echoed photo cannot start a loop).
  Card and password from an enrolment are adopted on the same "device was in sync" rule.
  Other fields a device reports are never adopted: they are shown by `people diff`.
- **PushPeople of unknown people** is kept in `device_reports` and shown, never adopted into
  `people`, and never deleted from the device unless the operator runs `people rm` for it.
- **Removal** deletes the person's row, scope and biometrics (the operator's decision;
  biometric data is personal data). Devices drop the person at their next poll.
- **Writers stay short**: bulk work (import, rm, sync) commits in chunks, so a keepalive or
  page request waits at most a few tens of milliseconds for the write lock.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from facectl.protocol import people as rules
from facectl.protocol.codes import PEOPLE_ERROR_CODES, REGISTER_RESULTS
from facectl.protocol.numbers import as_uint

from .db import transaction
from .files import Files

#: In-flight people are handed out again after this many seconds without a result.
REDELIVERY_SECONDS = 120.0
#: People per write transaction in bulk operations.
CHUNK = 200
#: An identical RegisterIdentifyTicketResult from the same device within this window is a retry.
ENROLMENT_RETRY_SECONDS = 60.0
ALL = "all"

FEATURE_TYPE = "text/plain"
PHOTO_TYPE = "image/jpeg"

_COLS = rules.COLUMNS  # wire name -> column
_FIELD_COLUMNS = ", ".join(_COLS.values())

#: A row the device still needs (the partial index device_people_add has exactly these terms).
_PENDING_ADD = "want IS NOT NULL AND want IS NOT have AND fail_version IS NOT want"
#: A row whose delivery failed at the version wanted; not retried until it changes or `sync`.
_FAILED = "want IS NOT NULL AND want IS NOT have AND fail_version IS want"
#: A row the device holds but must not (partial index device_people_delete).
_PENDING_DELETE = "want IS NULL AND have IS NOT NULL"


class PeopleError(ValueError):
    """An operator request that cannot be done as asked (exists, missing, unknown device)."""


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


@dataclass(slots=True)
class PersonInput:
    """One person to add or update.

    `values`: wire name -> raw value (None = not given). `photo`: JPEG bytes, None to
    remove, UNCHANGED. `face_feature`: base64 text or bytes, None to remove, UNCHANGED.
    `scope`: None = unchanged (all devices for a new person), ALL, or a list of SNs.
    """

    user_id: int
    values: dict[str, Any] = field(default_factory=dict)
    photo: Any = UNCHANGED
    face_feature: Any = UNCHANGED
    scope: Any = None


@dataclass(slots=True)
class SaveResult:
    user_id: int
    created: bool
    changed: bool


@dataclass(slots=True)
class PageFile:
    sha256: str
    md5: str
    size: int | None
    data: bytes | None = None  # only in inline mode


@dataclass(slots=True)
class PagePerson:
    user_id: int
    version: int
    fields: dict[str, Any]
    photo: PageFile | None = None
    face: PageFile | None = None
    fingerprints: list[tuple[int, PageFile]] = field(default_factory=list)
    palmveins: list[tuple[int, PageFile]] = field(default_factory=list)


@dataclass(slots=True)
class Page:
    number: int
    people: list[PagePerson]
    inline: bool = False


@dataclass(slots=True)
class DeletePage:
    number: int
    user_ids: list[int]
    delete_all: bool = False


class People:
    def __init__(self, db: sqlite_utils.Database, files: Files) -> None:
        self.db = db
        self.files = files
        #: Seconds before an in-flight person is handed out again (tests set it small).
        self.redelivery_timeout = REDELIVERY_SECONDS

    def ensure_schema(self) -> None:
        field_cols = ",\n".join(
            f"{col} {'INTEGER' if wire in rules.INT_FIELDS else 'TEXT'}" for wire, col in _COLS.items())
        self.db.executescript(f"""
            CREATE TABLE IF NOT EXISTS people (
                user_id INTEGER PRIMARY KEY,
                {field_cols},
                photo TEXT,
                photo_source TEXT,
                version INTEGER NOT NULL,
                scope_all INTEGER NOT NULL DEFAULT 1,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS people_name ON people(name);
            CREATE INDEX IF NOT EXISTS people_card_num ON people(card_num);
            CREATE INDEX IF NOT EXISTS people_qrcode ON people(qrcode);
            CREATE TABLE IF NOT EXISTS people_seq (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                value INTEGER NOT NULL
            );
            INSERT OR IGNORE INTO people_seq (id, value) VALUES (1, 0);
            CREATE TABLE IF NOT EXISTS person_devices (
                user_id INTEGER NOT NULL,
                sn TEXT NOT NULL,
                PRIMARY KEY (user_id, sn)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS person_devices_sn ON person_devices(sn);
            CREATE TABLE IF NOT EXISTS biometrics (
                user_id INTEGER NOT NULL,
                kind TEXT NOT NULL,
                num INTEGER NOT NULL,
                file TEXT NOT NULL,
                md5 TEXT NOT NULL,
                source_sn TEXT,
                at REAL NOT NULL,
                PRIMARY KEY (user_id, kind, num)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS device_people (
                sn TEXT NOT NULL,
                user_id INTEGER NOT NULL,
                want INTEGER,
                have INTEGER,
                have_at REAL,
                inflight INTEGER,
                inflight_at REAL NOT NULL DEFAULT 0,
                inflight_page INTEGER,
                fail_code INTEGER,
                fail_version INTEGER,
                fail_repeat TEXT,
                fail_message TEXT,
                fail_at REAL,
                PRIMARY KEY (sn, user_id)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS device_people_add ON device_people(sn, inflight_at)
                WHERE {_PENDING_ADD};
            CREATE INDEX IF NOT EXISTS device_people_delete ON device_people(sn, inflight_at)
                WHERE {_PENDING_DELETE};
            CREATE INDEX IF NOT EXISTS device_people_inflight ON device_people(sn, inflight_page)
                WHERE inflight IS NOT NULL;
            CREATE INDEX IF NOT EXISTS device_people_user ON device_people(user_id);
            CREATE TABLE IF NOT EXISTS people_sync (
                sn TEXT PRIMARY KEY,
                approved_at REAL,
                add_page INTEGER NOT NULL DEFAULT 0,
                delete_page INTEGER NOT NULL DEFAULT 0,
                wipe INTEGER NOT NULL DEFAULT 0,
                wipe_at REAL NOT NULL DEFAULT 0,
                inline_files INTEGER NOT NULL DEFAULT 0,
                last_page_at REAL,
                last_result_at REAL
            );
            CREATE TABLE IF NOT EXISTS device_reports (
                sn TEXT NOT NULL,
                user_id INTEGER NOT NULL,
                push_type INTEGER,
                present INTEGER NOT NULL,
                detail TEXT,
                photo TEXT,
                notes TEXT,
                received_at REAL NOT NULL,
                PRIMARY KEY (sn, user_id)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS device_reports_user ON device_reports(user_id);
            CREATE TABLE IF NOT EXISTS enrolments (
                id INTEGER PRIMARY KEY,
                sn TEXT NOT NULL,
                user_id INTEGER,
                result INTEGER,
                repetition_user_id INTEGER,
                photo TEXT,
                raw TEXT NOT NULL,
                raw_sha256 TEXT NOT NULL,
                notes TEXT,
                received_at REAL NOT NULL,
                command_id INTEGER
            );
            CREATE INDEX IF NOT EXISTS enrolments_sn ON enrolments(sn, received_at);
            CREATE INDEX IF NOT EXISTS enrolments_user ON enrolments(user_id);
        """)

    # --- keepalive flags (store/work.py) ------------------------------------------------

    def needs_add(self, sn: str) -> bool:
        """AddPeople: one indexed query; reconciles a newly approved device first (rare)."""
        sql = (
            "SELECT EXISTS (SELECT 1 FROM device_people WHERE sn = :sn AND " + _PENDING_ADD
            + " AND inflight_at <= :cutoff), "
            "EXISTS (SELECT 1 FROM devices d WHERE d.sn = :sn AND d.state = 'approved' AND NOT EXISTS "
            "(SELECT 1 FROM people_sync s WHERE s.sn = d.sn AND s.approved_at IS d.approved_at))"
        )
        args = {"sn": sn, "cutoff": time.time() - self.redelivery_timeout}
        pending, stale_scope = self.db.execute(sql, args).fetchone()
        if stale_scope:
            self.reconcile_device(sn)
            pending = self.db.execute(sql, args).fetchone()[0]
        return bool(pending)

    def needs_delete(self, sn: str) -> bool:
        """DeletePeople: someone held who must not be, or a DeleteAll waiting."""
        cutoff = time.time() - self.redelivery_timeout
        return bool(self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM device_people WHERE sn = :sn AND " + _PENDING_DELETE
            + " AND inflight_at <= :cutoff) OR EXISTS (SELECT 1 FROM people_sync WHERE sn = :sn "
            "AND wipe = 1 AND wipe_at <= :cutoff)",
            {"sn": sn, "cutoff": cutoff},
        ).fetchone()[0])

    # --- operator: people ---------------------------------------------------------------

    def add(self, item: PersonInput) -> SaveResult:
        return self.save_many([item], mode="add")[0]

    def update(self, item: PersonInput) -> SaveResult:
        return self.save_many([item], mode="update")[0]

    def save_many(self, items: Sequence[PersonInput], mode: str = "upsert") -> list[SaveResult]:
        """Add (mode add), change (update) or either (upsert, for import); one transaction per chunk.

        Raises PersonError (bad values) or PeopleError (exists / missing / unknown device)
        for the first bad item of a chunk, and nothing of that chunk is written; import
        checks rows with `check` first so this does not happen there.
        """
        if mode not in ("add", "update", "upsert"):
            raise ValueError(mode)
        results: list[SaveResult] = []
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            with transaction(self.db):
                version = self._next_version()
                t = time.time()
                touched: list[int] = []
                for item in chunk:
                    result, scope_touched = self._save_one(item, mode, version, t)
                    results.append(result)
                    if result.changed or scope_touched:
                        touched.append(item.user_id)
                self._apply_scope(touched)
        return results

    def check(self, item: PersonInput, mode: str = "upsert") -> None:
        """Validate an item without writing: PersonError or PeopleError, as save would raise."""
        rules.check_user_id(item.user_id)
        rules.normalize(item.values)
        if isinstance(item.photo, bytes | bytearray):
            rules.check_photo(bytes(item.photo))
        if isinstance(item.face_feature, bytes | bytearray | str):
            raw = item.face_feature.encode() if isinstance(item.face_feature, str) else bytes(item.face_feature)
            rules.feature_text(raw)
        if isinstance(item.scope, list | tuple):
            self._check_devices(item.scope)
        exists = self.exists(item.user_id)
        if mode == "add" and exists:
            raise PeopleError(f"person {item.user_id} already exists; use `facectl people update`")
        if mode == "update" and not exists:
            raise PeopleError(f"no person {item.user_id}; use `facectl people add`")

    def _save_one(self, item: PersonInput, mode: str, version: int, t: float) -> tuple[SaveResult, bool]:
        uid = rules.check_user_id(item.user_id)
        row = self._row(uid)
        if mode == "add" and row is not None:
            raise PeopleError(f"person {uid} already exists; use `facectl people update`")
        if mode == "update" and row is None:
            raise PeopleError(f"no person {uid}; use `facectl people add`")
        fields = rules.normalize(item.values)
        current = {wire: row[col] for wire, col in _COLS.items()} if row else {w: None for w in _COLS}
        new = {**current, **fields}
        changed = row is None or new != current
        photo = row["photo"] if row else None
        photo_source = row["photo_source"] if row else None
        if item.photo is not UNCHANGED:
            if item.photo is None:
                new_photo = None
            else:
                data = bytes(item.photo)
                rules.check_photo(data)
                new_photo = self.files.put(data, PHOTO_TYPE).sha256
            if new_photo != photo:
                changed = True
                photo, photo_source = new_photo, "operator" if new_photo else None
                if item.face_feature is UNCHANGED and row is not None:
                    changed |= self._drop_biometric(uid, rules.FACE, 0)
        elif row is None:
            adopted = self._latest_reported_photo(uid)
            if adopted:
                photo, photo_source = adopted
        if item.face_feature is not UNCHANGED:
            if item.face_feature is None:
                changed |= self._drop_biometric(uid, rules.FACE, 0)
            else:
                raw = item.face_feature.encode() if isinstance(item.face_feature, str) else bytes(item.face_feature)
                text = rules.feature_text(raw)
                changed |= self._put_biometric(uid, rules.FACE, 0, text, None, t)
        scope_touched = False
        scope_all = row["scope_all"] if row else 1
        if item.scope is not None:
            if item.scope == ALL:
                new_all, devices = 1, []
            else:
                devices = self._check_devices(item.scope)
                new_all = 0
            old_devices = self._scope_devices(uid) if row else []
            if new_all != scope_all or sorted(devices) != sorted(old_devices):
                scope_touched = True
                scope_all = new_all
                self.db.execute("DELETE FROM person_devices WHERE user_id = ?", [uid])
                self.db.conn.executemany("INSERT INTO person_devices (user_id, sn) VALUES (?, ?)",
                                    [(uid, sn) for sn in devices])
        values = [new[w] for w in _COLS]
        if row is None:
            # Devices that reported holding this (until now unknown) person hold some version of it.
            self.db.execute(
                "INSERT INTO device_people (sn, user_id, want, have) SELECT sn, user_id, NULL, 0 "
                "FROM device_reports WHERE user_id = ? AND present = 1 ON CONFLICT (sn, user_id) DO NOTHING",
                [uid])
            self.db.execute(
                f"INSERT INTO people (user_id, {_FIELD_COLUMNS}, photo, photo_source, version, scope_all, "
                f"created_at, updated_at) VALUES (?, {', '.join('?' * len(_COLS))}, ?, ?, ?, ?, ?, ?)",
                [uid, *values, photo, photo_source, version, scope_all, t, t],
            )
        elif changed:
            sets = ", ".join(f"{col} = ?" for col in _COLS.values())
            self.db.execute(
                f"UPDATE people SET {sets}, photo = ?, photo_source = ?, version = ?, scope_all = ?, "
                "updated_at = ? WHERE user_id = ?",
                [*values, photo, photo_source, version, scope_all, t, uid],
            )
        elif scope_touched:
            self.db.execute("UPDATE people SET scope_all = ?, updated_at = ? WHERE user_id = ?",
                            [scope_all, t, uid])
        return SaveResult(uid, row is None, changed), scope_touched

    def remove(self, user_ids: Iterable[int]) -> tuple[list[int], list[int], list[int]]:
        """Remove people; returns (removed, unknown-but-reported: now deleted from those devices, unknown)."""
        ids = list(dict.fromkeys(int(u) for u in user_ids))
        removed: list[int] = []
        scheduled: list[int] = []
        for start in range(0, len(ids), CHUNK * 5):
            chunk = ids[start:start + CHUNK * 5]
            js = json.dumps(chunk)
            with transaction(self.db):
                found = [r[0] for r in self.db.execute(
                    "DELETE FROM people WHERE user_id IN (SELECT value FROM json_each(?)) RETURNING user_id", [js])]
                done = json.dumps(found)
                self.db.execute("DELETE FROM person_devices WHERE user_id IN (SELECT value FROM json_each(?))",
                                [done])
                self.db.execute("DELETE FROM biometrics WHERE user_id IN (SELECT value FROM json_each(?))", [done])
                self._apply_scope(found)
                others = json.dumps(sorted(set(chunk) - set(found)))
                reported = [r[0] for r in self.db.execute(
                    "INSERT INTO device_people (sn, user_id, want, have) "
                    "SELECT sn, user_id, NULL, 0 FROM device_reports "
                    "WHERE present = 1 AND user_id IN (SELECT value FROM json_each(?)) "
                    "ON CONFLICT (sn, user_id) DO UPDATE SET want = NULL, have = COALESCE(have, 0) "
                    "RETURNING user_id", [others])]
                self.db.execute("DELETE FROM biometrics WHERE user_id IN (SELECT value FROM json_each(?))",
                                [json.dumps(reported)])
                removed += found
                scheduled += sorted(set(reported))
        unknown = [u for u in ids if u not in set(removed) and u not in set(scheduled)]
        return removed, scheduled, unknown

    def all_ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT user_id FROM people ORDER BY user_id")]

    def exists(self, user_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM people WHERE user_id = ?", [user_id]).fetchone() is not None

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM people").fetchone()[0]

    def get(self, user_id: int) -> dict[str, Any] | None:
        """A person with fields (wire names), photo, biometrics and scope; None when unknown."""
        row = self._row(user_id)
        if row is None:
            return None
        return self._describe(row)

    def find_by_credential(self, user_id: str | None, card: str | None,
                           qrcode: str | None) -> tuple[list[dict[str, Any]], str]:
        """The people an authorization request names, and by what: UserID, else CardNum, else QRCode.

        A QR code is matched against QRCode and, as the device itself does,
        against CardNum (errata 6.6). Rows come back under their wire names
        (UserID, Name, CardNum, ...), which is what the authorization rules read;
        more than one match is returned as such, and the rules deny it.
        """
        select = "user_id AS UserID, " + ", ".join(f'{col} AS "{wire}"' for wire, col in _COLS.items())

        def find(column: str, values: list[Any]) -> list[dict[str, Any]]:
            marks = ", ".join("?" * len(values))
            return list(self.db.query(f"SELECT {select} FROM people WHERE {column} IN ({marks}) LIMIT 2", values))

        def number_forms(value: str) -> list[Any]:
            return list(dict.fromkeys([value, str(int(value))])) if value.isdigit() else [value]

        if user_id:
            return (find("user_id", [int(user_id)]) if user_id.isdigit() else []), "UserID"
        if card:
            return find("card_num", number_forms(card)), "CardNum"
        if qrcode:
            return (find("qrcode", [qrcode]) or find("card_num", number_forms(qrcode))), "QRCode"
        return [], ""

    def list(self, search: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """People by user id with a delivery summary; `search` matches name, code, card or department."""
        where, args = "", []
        if search:
            where = ("WHERE p.name LIKE ? OR p.code LIKE ? OR p.card_num LIKE ? OR p.department LIKE ? "
                     "OR CAST(p.user_id AS TEXT) = ?")
            like = f"%{search}%"
            args = [like, like, like, like, search]
        sql = (
            "SELECT p.*, "
            "(SELECT count(*) FROM device_people d WHERE d.user_id = p.user_id AND d.want IS NOT NULL) AS wanted, "
            "(SELECT count(*) FROM device_people d WHERE d.user_id = p.user_id AND d.want = d.have) AS delivered, "
            "(SELECT count(*) FROM device_people d WHERE d.user_id = p.user_id AND d.want IS NOT NULL "
            " AND d.want IS NOT d.have AND d.fail_version IS d.want) AS failed "
            f"FROM people p {where} ORDER BY p.user_id LIMIT ? OFFSET ?"
        )
        out = []
        for row in self.db.query(sql, [*args, limit if limit > 0 else -1, offset]):
            item = self._describe(row, with_biometrics=False)
            item["delivery"] = {"wanted": row["wanted"], "delivered": row["delivered"], "failed": row["failed"],
                                "pending": row["wanted"] - row["delivered"] - row["failed"]}
            out.append(item)
        return out

    def iter_all(self) -> Iterator[dict[str, Any]]:
        """Every person with photo and feature bytes, for export."""
        last = 0
        while True:
            rows = list(self.db.query("SELECT * FROM people WHERE user_id > ? ORDER BY user_id LIMIT 500", [last]))
            if not rows:
                return
            for row in rows:
                item = self._describe(row)
                item["photo_data"] = self.files.get(row["photo"])[1] if row["photo"] else None
                face = next((b for b in item["biometrics"] if b["kind"] == rules.FACE), None)
                item["face_feature_data"] = self.files.get(face["file"])[1] if face else None
                yield item
            last = rows[-1]["user_id"]

    def _describe(self, row: dict[str, Any], with_biometrics: bool = True) -> dict[str, Any]:
        uid = row["user_id"]
        info: dict[str, Any] = {
            "user_id": uid,
            "fields": {wire: row[col] for wire, col in _COLS.items()},
            "version": row["version"],
            "scope": ALL if row["scope_all"] else self._scope_devices(uid),
            "photo": None,
            "photo_source": row["photo_source"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        if row["photo"]:
            f = self.files.info(row["photo"])
            info["photo"] = {"sha256": row["photo"], "md5": f.md5 if f else None, "size": f.size if f else None}
        if with_biometrics:
            info["biometrics"] = [dict(b) for b in self.db.query(
                "SELECT kind, num, file, md5, source_sn, at FROM biometrics WHERE user_id = ? ORDER BY kind, num",
                [uid])]
        return info

    def biometrics(self, user_id: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT kind, num, file, md5, source_sn, at FROM biometrics WHERE user_id = ? ORDER BY kind, num",
            [user_id]))

    # --- operator: delivery state -------------------------------------------------------

    def deliveries(self, user_id: int) -> list[dict[str, Any]]:
        """Per device: want/have/in flight/failure and a state word, plus the device's own report."""
        cutoff = time.time() - self.redelivery_timeout
        rows = list(self.db.query(
            "SELECT d.*, r.present AS reported_present, r.push_type AS reported_type, "
            "r.received_at AS reported_at FROM device_people d "
            "LEFT JOIN device_reports r ON r.sn = d.sn AND r.user_id = d.user_id "
            "WHERE d.user_id = ? ORDER BY d.sn", [user_id]))
        seen = {r["sn"] for r in rows}
        for r in self.db.query("SELECT sn, present AS reported_present, push_type AS reported_type, "
                               "received_at AS reported_at FROM device_reports WHERE user_id = ?", [user_id]):
            if r["sn"] not in seen:
                rows.append({"sn": r["sn"], "want": None, "have": None, "inflight": None, "inflight_at": 0,
                             "fail_code": None, "fail_version": None, **r})
        for row in rows:
            row["state"] = delivery_state(row, cutoff)
            row["fail_label"] = PEOPLE_ERROR_CODES.label(row["fail_code"]) if row.get("fail_code") is not None \
                else None
        return rows

    def status(self, sn: str | None = None) -> list[dict[str, Any]]:
        """Per device: wanted, delivered, pending, in flight, failed (with reasons), to delete."""
        cutoff = time.time() - self.redelivery_timeout
        where = "WHERE sn = :sn" if sn else ""
        sql = f"""
            SELECT sn,
              total(want IS NOT NULL) AS wanted,
              total(want IS NOT NULL AND want IS have) AS delivered,
              total({_FAILED}) AS failed,
              total({_PENDING_ADD} AND ifnull(inflight, -1) > 0 AND inflight_at > :cutoff) AS in_flight,
              total({_PENDING_ADD} AND NOT (ifnull(inflight, -1) > 0 AND inflight_at > :cutoff)) AS pending,
              total({_PENDING_DELETE}) AS to_delete
            FROM device_people {where} GROUP BY sn"""
        counts = {r["sn"]: r for r in self.db.query(sql, {"sn": sn, "cutoff": cutoff})}
        reasons: dict[str, list[dict[str, Any]]] = {}
        for r in self.db.query(
            f"SELECT sn, fail_code, count(*) AS n, min(fail_message) AS example FROM device_people "
            f"{'WHERE sn = :sn AND' if sn else 'WHERE'} "
            f"{_FAILED} "
            "GROUP BY sn, fail_code ORDER BY n DESC", {"sn": sn}):
            reasons.setdefault(r["sn"], []).append({
                "code": r["fail_code"], "label": PEOPLE_ERROR_CODES.label(r["fail_code"])
                if r["fail_code"] is not None else "no error code", "count": r["n"], "example": r["example"]})
        unknown = {r["sn"]: r["n"] for r in self.db.query(
            "SELECT r.sn, count(*) AS n FROM device_reports r WHERE r.present = 1 "
            f"{'AND r.sn = :sn' if sn else ''} AND NOT EXISTS (SELECT 1 FROM people p WHERE p.user_id = r.user_id) "
            "GROUP BY r.sn", {"sn": sn})}
        syncs = {r["sn"]: r for r in self.db.query(
            f"SELECT * FROM people_sync {'WHERE sn = :sn' if sn else ''}", {"sn": sn})}
        devices = {r["sn"]: r for r in self.db.query(
            f"SELECT sn, state FROM devices {'WHERE sn = :sn' if sn else ''}", {"sn": sn})}
        out = []
        for name in sorted(set(counts) | set(devices) | set(unknown)):
            c = counts.get(name, {})
            s = syncs.get(name, {})
            if name not in counts and devices.get(name, {}).get("state") != "approved" and name not in unknown:
                continue
            out.append({
                "sn": name,
                "device_state": devices.get(name, {}).get("state", "unknown"),
                **{k: int(c.get(k) or 0) for k in ("wanted", "delivered", "pending", "in_flight", "failed",
                                                    "to_delete")},
                "failures": reasons.get(name, []),
                "unknown_reported": unknown.get(name, 0),
                "wipe_requested": bool(s.get("wipe")),
                "files": "inline" if s.get("inline_files") else "url",
                "last_page_at": s.get("last_page_at"),
                "last_result_at": s.get("last_result_at"),
            })
        return out

    def diff(self, sn: str) -> dict[str, Any]:
        """Where the device's own reports (PushPeople) and the server disagree."""
        out: dict[str, list[dict[str, Any]]] = {"unknown": [], "must_not_hold": [], "missing": [],
                                                "differs": []}
        rows = self.db.query(
            f"SELECT r.user_id, r.present, r.push_type, r.detail, r.received_at, r.photo AS reported_photo, "
            f"p.user_id AS known, {', '.join('p.' + c for c in _COLS.values())}, p.photo, "
            "d.want, d.have, d.have_at FROM device_reports r "
            "LEFT JOIN people p ON p.user_id = r.user_id "
            "LEFT JOIN device_people d ON d.sn = r.sn AND d.user_id = r.user_id "
            "WHERE r.sn = ? ORDER BY r.user_id", [sn])
        reported = 0
        for r in rows:
            reported += 1
            detail = json.loads(r["detail"]) if r["detail"] else {}
            base = {"user_id": r["user_id"], "name": detail.get("Name") if isinstance(detail, dict) else None,
                    "reported_at": r["received_at"]}
            if r["present"] and r["known"] is None:
                out["unknown" if r["want"] is None and r["have"] is None else "must_not_hold"].append(base)
                continue
            if r["present"] and r["want"] is None:
                out["must_not_hold"].append(base)
                continue
            if not r["present"] and r["want"] is not None:
                out["missing"].append(base)
                continue
            if r["present"] and r["known"] is not None and isinstance(detail, dict):
                person = rules.read_device_person(detail)
                fields = {}
                for wire, col in _COLS.items():
                    if person is None or wire not in person.fields:
                        continue
                    mine, theirs = r[col], person.fields[wire]
                    if _norm(mine, wire) != _norm(theirs, wire):
                        fields[wire] = {"server": mine, "device": theirs}
                if fields:
                    stale = r["have_at"] is not None and r["have_at"] > r["received_at"]
                    out["differs"].append({**base, "fields": fields, "report_older_than_delivery": stale})
        held_unreported = self.db.execute(
            "SELECT count(*) FROM device_people d WHERE d.sn = ? AND d.have IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM device_reports r WHERE r.sn = d.sn AND r.user_id = d.user_id)", [sn]).fetchone()[0]
        return {"sn": sn, "reported": reported, "held_without_report": held_unreported, **out}

    def reports(self, sn: str | None = None, user_id: int | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        if sn:
            where.append("sn = ?")
            args.append(sn)
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        sql = "SELECT * FROM device_reports" + (" WHERE " + " AND ".join(where) if where else "")
        rows = list(self.db.query(sql + " ORDER BY sn, user_id", args))
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else None
            row["notes"] = json.loads(row["notes"]) if row["notes"] else []
        return rows

    # --- operator: sync -----------------------------------------------------------------

    def sync(self, sns: Sequence[str], full: bool = False, wipe: bool = False,
             dry_run: bool = False) -> list[dict[str, Any]]:
        """Reconcile devices with the server; returns each device's plan.

        Every sync recomputes the device's wants from the people and their scopes and
        lets failed people be tried again (the operator asking, errata 5.3). `full`
        re-sends everyone, in flight or delivered; `wipe` first sends DeleteAll. With
        `dry_run` the same work runs inside a transaction that is rolled back, so the
        plan shown is exactly what would happen.
        """
        plans = []
        for sn in sns:
            with self._tx(rollback=dry_run):
                plans.append(self._sync_one(sn, full, wipe))
        return plans

    def _sync_one(self, sn: str, full: bool, wipe: bool) -> dict[str, Any]:
        self.reconcile_device(sn)
        retry = self.db.execute(
            "UPDATE device_people SET fail_version = NULL WHERE sn = ? AND want IS NOT NULL "
            "AND fail_version IS want AND want IS NOT have", [sn]).rowcount
        resend = 0
        if full:
            resend = self.db.execute(
                "UPDATE device_people SET have = 0, inflight_at = 0 WHERE sn = ? AND want IS NOT NULL "
                "AND have IS want", [sn]).rowcount
            self.db.execute("UPDATE device_people SET inflight_at = 0 WHERE sn = ? AND inflight IS NOT NULL", [sn])
        if wipe:
            self._ensure_sync_row(sn)
            self.db.execute("UPDATE people_sync SET wipe = 1, wipe_at = 0 WHERE sn = ?", [sn])
        row = self.db.execute(
            f"SELECT total(want IS NOT NULL AND have IS NULL), "
            f"total(want IS NOT NULL AND have IS NOT NULL AND want IS NOT have), "
            f"total({_PENDING_DELETE}), total(want IS NOT NULL AND want IS have), "
            f"total({_FAILED}) "
            "FROM device_people WHERE sn = ?", [sn]).fetchone()
        return {"sn": sn, "add": int(row[0]), "update": int(row[1]), "delete": int(row[2]),
                "in_sync": int(row[3]), "failed": int(row[4]), "retry_failed": retry, "resend": resend,
                "wipe": wipe}

    def set_file_mode(self, sns: Sequence[str], inline: bool) -> None:
        """Send photos and features to these devices inline (base64) instead of as URLs."""
        with transaction(self.db):
            for sn in sns:
                self._ensure_sync_row(sn)
                self.db.execute("UPDATE people_sync SET inline_files = ? WHERE sn = ?", [int(inline), sn])

    def reconcile_device(self, sn: str) -> None:
        """Recompute the device's wants from every person's scope (newly approved devices, `sync`)."""
        with transaction(self.db):
            state = self.db.execute("SELECT state, approved_at FROM devices WHERE sn = ?", [sn]).fetchone()
            approved = bool(state and state[0] == "approved")
            desired = (
                "WITH desired(user_id, version) AS ("
                "SELECT user_id, version FROM people WHERE scope_all = 1 AND :approved "
                "UNION ALL SELECT p.user_id, p.version FROM person_devices s JOIN people p "
                "ON p.user_id = s.user_id WHERE s.sn = :sn AND p.scope_all = 0) "
            )
            args = {"sn": sn, "approved": int(approved)}
            self.db.execute(desired + "UPDATE device_people SET want = NULL WHERE sn = :sn AND want IS NOT NULL "
                            "AND user_id NOT IN (SELECT user_id FROM desired)", args)
            self.db.execute(desired + "INSERT INTO device_people (sn, user_id, want) "
                            "SELECT :sn, user_id, version FROM desired WHERE true "
                            "ON CONFLICT (sn, user_id) DO UPDATE SET want = excluded.want "
                            "WHERE device_people.want IS NOT excluded.want", args)
            self.db.execute("DELETE FROM device_people WHERE sn = ? AND want IS NULL AND have IS NULL "
                            "AND inflight IS NULL", [sn])
            self._ensure_sync_row(sn)
            self.db.execute("UPDATE people_sync SET approved_at = ? WHERE sn = ?",
                            [state[1] if approved else None, sn])

    # --- device: DownloadPeopleList / Result ---------------------------------------------

    def take_add_page(self, sn: str, limit: int, now: float | None = None) -> Page:
        """The next people to hand out, marked in flight as one numbered page. A few queries."""
        t = time.time() if now is None else now
        cutoff = t - self.redelivery_timeout
        with transaction(self.db):
            sync = self._ensure_sync_row(sn)
            inline = bool(sync["inline_files"])
            rows = self.db.execute(
                "SELECT user_id, want FROM device_people WHERE sn = ? AND " + _PENDING_ADD
                + " AND inflight_at <= ? ORDER BY inflight_at LIMIT ?", [sn, cutoff, limit]).fetchall()
            if not rows:
                return Page(0, [], inline)
            ids = json.dumps([r[0] for r in rows])
            people = {r["user_id"]: r for r in self.db.query(
                "SELECT p.*, f.md5 AS photo_md5, f.size AS photo_size FROM people p "
                "LEFT JOIN files f ON f.sha256 = p.photo WHERE p.user_id IN (SELECT value FROM json_each(?))",
                [ids])}
            bios: dict[int, list[dict[str, Any]]] = {}
            for b in self.db.query(
                "SELECT b.user_id, b.kind, b.num, b.file, b.md5, f.size FROM biometrics b "
                "LEFT JOIN files f ON f.sha256 = b.file "
                "WHERE b.user_id IN (SELECT value FROM json_each(?)) ORDER BY b.user_id, b.kind, b.num", [ids]):
                bios.setdefault(b["user_id"], []).append(b)
            page_people: list[PagePerson] = []
            budget = rules.INLINE_PAGE_BYTES
            for uid, want in rows:
                p = people.get(uid)
                if p is None:
                    continue
                person = PagePerson(uid, want, {wire: p[col] for wire, col in _COLS.items()})
                if p["photo"]:
                    person.photo = PageFile(p["photo"], p["photo_md5"], p["photo_size"])
                for b in bios.get(uid, ()):
                    ref = PageFile(b["file"], b["md5"], b["size"])
                    if b["kind"] == rules.FACE:
                        person.face = ref
                    elif b["kind"] == rules.FINGERPRINT:
                        person.fingerprints.append((b["num"], ref))
                    elif b["kind"] == rules.PALMVEIN:
                        person.palmveins.append((b["num"], ref))
                if inline:
                    size = sum(f.size or 0 for f in _files_of(person)) * 4 // 3
                    if page_people and size > budget:
                        break
                    budget -= size
                page_people.append(person)
            if inline:
                self._fill_inline(page_people)
            number = self.db.execute(
                "UPDATE people_sync SET add_page = add_page + 1, last_page_at = ? WHERE sn = ? RETURNING add_page",
                [t, sn]).fetchone()[0]
            self.db.execute(
                "UPDATE device_people SET inflight = want, inflight_at = ?, inflight_page = ? "
                "WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?))",
                [t, number, sn, json.dumps([p.user_id for p in page_people])])
        return Page(number, page_people, inline)

    def _fill_inline(self, page_people: list[PagePerson]) -> None:
        files = {f.sha256: f for p in page_people for f in _files_of(p)}
        for sha, data in self.db.execute(
                "SELECT sha256, data FROM files WHERE sha256 IN (SELECT value FROM json_each(?))",
                [json.dumps(list(files))]):
            files[sha].data = data
        for p in page_people:
            for f in _files_of(p):
                f.data = files[f.sha256].data

    def add_result(self, sn: str, failures: Sequence[rules.Failure], now: float | None = None) -> dict[str, int]:
        """DownloadPeopleListResult: the latest page is delivered, minus the failures (kept with their code)."""
        t = time.time() if now is None else now
        with transaction(self.db):
            sync = self._ensure_sync_row(sn)
            failed = 0
            for f in failures:
                failed += self.db.execute(
                    "UPDATE device_people SET fail_code = ?, fail_repeat = ?, fail_message = ?, fail_at = ?, "
                    "fail_version = CASE WHEN inflight > 0 THEN inflight ELSE want END, "
                    "inflight = NULL, inflight_at = 0 WHERE sn = ? AND user_id = ?",
                    [f.code, f.repeat_id, f.message or None, t, sn, f.user_id]).rowcount
            confirmed = self.db.execute(
                "UPDATE device_people INDEXED BY device_people_inflight SET have = inflight, have_at = ?, "
                "inflight = NULL, inflight_at = 0, fail_version = NULL, fail_code = NULL, fail_message = NULL, "
                "fail_repeat = NULL WHERE sn = ? AND inflight_page = ? AND inflight IS NOT NULL AND inflight > 0",
                [t, sn, sync["add_page"]]).rowcount
            if failures:
                self.db.execute(
                    "DELETE FROM device_people WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?)) "
                    "AND want IS NULL AND have IS NULL AND inflight IS NULL",
                    [sn, json.dumps([f.user_id for f in failures])])
            self.db.execute("UPDATE people_sync SET last_result_at = ? WHERE sn = ?", [t, sn])
        return {"confirmed": confirmed, "failed": failed, "unknown": len(failures) - failed}

    # --- device: DeletePeopleList / Result -----------------------------------------------

    def take_delete_page(self, sn: str, limit: int, now: float | None = None) -> DeletePage:
        t = time.time() if now is None else now
        cutoff = t - self.redelivery_timeout
        with transaction(self.db):
            sync = self._ensure_sync_row(sn)
            if sync["wipe"]:
                if sync["wipe_at"] <= cutoff:
                    self.db.execute("UPDATE people_sync SET wipe_at = ? WHERE sn = ?", [t, sn])
                    return DeletePage(0, [], delete_all=True)
                return DeletePage(0, [])
            ids = [r[0] for r in self.db.execute(
                "SELECT user_id FROM device_people WHERE sn = ? AND " + _PENDING_DELETE
                + " AND inflight_at <= ? ORDER BY inflight_at LIMIT ?", [sn, cutoff, limit])]
            if not ids:
                return DeletePage(0, [])
            number = self.db.execute(
                "UPDATE people_sync SET delete_page = delete_page + 1 WHERE sn = ? RETURNING delete_page",
                [sn]).fetchone()[0]
            self.db.execute(
                "UPDATE device_people SET inflight = 0, inflight_at = ?, inflight_page = ? "
                "WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?))", [t, number, sn, json.dumps(ids)])
        return DeletePage(number, ids)

    def delete_result(self, sn: str, delete_all: bool, user_ids: Sequence[int],
                      now: float | None = None) -> dict[str, int]:
        """DeletePeopleListResult: the latest page (and any listed id) is gone; DeleteAll: everyone is."""
        t = time.time() if now is None else now
        with transaction(self.db):
            sync = self._ensure_sync_row(sn)
            if delete_all:
                cleared = self.db.execute(
                    "UPDATE device_people SET have = NULL, have_at = ?, inflight = NULL, inflight_at = 0, "
                    "fail_version = NULL, fail_code = NULL WHERE sn = ?", [t, sn]).rowcount
                self.db.execute("DELETE FROM device_people WHERE sn = ? AND want IS NULL", [sn])
                self.db.execute("UPDATE people_sync SET wipe = 0, wipe_at = 0, last_result_at = ? WHERE sn = ?",
                                [t, sn])
                self.db.execute("UPDATE device_reports SET present = 0, received_at = ? WHERE sn = ?", [t, sn])
                return {"deleted": cleared}
            ids = json.dumps(list(user_ids))
            gone = [r[0] for r in self.db.execute(
                "UPDATE device_people SET have = NULL, have_at = ?, inflight = NULL, inflight_at = 0 "
                "WHERE sn = ? AND ((inflight = 0 AND inflight_page = ?) "
                "OR user_id IN (SELECT value FROM json_each(?))) RETURNING user_id",
                [t, sn, sync["delete_page"], ids])]
            gone_json = json.dumps(gone)
            self.db.execute(
                "DELETE FROM device_people WHERE sn = ? AND user_id IN (SELECT value FROM json_each(?)) "
                "AND want IS NULL AND have IS NULL", [sn, gone_json])
            self.db.execute(
                "UPDATE device_reports SET present = 0, received_at = ? WHERE sn = ? "
                "AND user_id IN (SELECT value FROM json_each(?))", [t, sn, gone_json])
            self.db.execute("UPDATE people_sync SET last_result_at = ? WHERE sn = ?", [t, sn])
        return {"deleted": len(gone)}

    # --- device: PushPeople, RegisterIdentifyTicketResult ----------------------------------

    def device_report(self, sn: str, push_type: int, user_id: int, person: rules.DevicePerson | None,
                      photo: bytes | None, notes: Sequence[str] = (), detail: Any = None) -> dict[str, Any]:
        """PushPeople (errata 6.3-6.5): keep the device's word; merge biometrics; never adopt the unknown.

        PushType 3 (deleted), and 4 (queried) without a Detail, mean the device does not
        hold the person; 1, 2 and 4 with a Detail mean it does.
        """
        t = time.time()
        present = push_type != 3 and (person is not None or push_type in (1, 2))
        notes = list(notes) + (person.notes if person else [])
        with transaction(self.db):
            photo_sha = self._keep_device_photo(photo, person, notes)
            self.db.execute(
                "INSERT INTO device_reports (sn, user_id, push_type, present, detail, photo, notes, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sn, user_id) DO UPDATE SET "
                "push_type = excluded.push_type, present = excluded.present, detail = excluded.detail, "
                "photo = COALESCE(excluded.photo, device_reports.photo), notes = excluded.notes, "
                "received_at = excluded.received_at",
                [sn, user_id, push_type, int(present),
                 json.dumps(detail, ensure_ascii=False) if detail is not None else None,
                 photo_sha, json.dumps(notes, ensure_ascii=False) if notes else None, t])
            known = self._row(user_id)
            self._note_holding(sn, user_id, present, known is not None)
            changed = False
            if person is not None and present:
                for b in person.biometrics:
                    changed |= self._put_biometric(user_id, b.kind, b.num, b.text, sn, t)
            if known is not None and photo_sha and not known["photo"]:
                self.db.execute("UPDATE people SET photo = ?, photo_source = ? WHERE user_id = ?",
                                [photo_sha, sn, user_id])
                changed = True
            if known is not None and changed:
                self._bump([user_id], t)
        return {"known": known is not None, "present": present, "changed": changed, "notes": notes}

    def record_enrolment(self, sn: str, doc: dict[str, Any], photo: bytes | None) -> int:
        """RegisterIdentifyTicketResult: keep the result; on success merge what the device enrolled.

        Returns the enrolment id (issue 4 links it to the command that asked, `link_enrolment`).
        """
        t = time.time()
        raw = json.dumps(doc, ensure_ascii=False, sort_keys=True)
        raw_sha = hashlib.sha256(raw.encode() + (photo or b"")).hexdigest()
        uid = as_uint(doc.get("UserID"))
        result = as_uint(doc.get("Result"))
        notes: list[str] = []
        person = rules.read_device_person(doc.get("UserDetail"))
        if person is not None:
            notes += person.notes
            if person.user_id is not None and uid is not None and person.user_id != uid:
                notes.append(f"UserDetail.UserID {person.user_id} differs from UserID {uid}; UserID is used")
        with transaction(self.db):
            prior = self.db.execute(
                "SELECT id FROM enrolments WHERE sn = ? AND raw_sha256 = ? AND received_at >= ?",
                [sn, raw_sha, t - ENROLMENT_RETRY_SECONDS]).fetchone()
            if prior:
                return prior[0]
            photo_sha = self._keep_device_photo(photo, person, notes)
            enrolment_id = self.db.execute(
                "INSERT INTO enrolments (sn, user_id, result, repetition_user_id, photo, raw, raw_sha256, notes, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [sn, uid, result, as_uint(doc.get("RepetitionUserID")), photo_sha, raw, raw_sha,
                 json.dumps(notes, ensure_ascii=False) if notes else None, t]).fetchone()[0]
            if result == 1 and uid:
                self._merge_enrolment(sn, uid, person, photo_sha, t)
        return enrolment_id

    def _merge_enrolment(self, sn: str, uid: int, person: rules.DevicePerson | None, photo_sha: str | None,
                         t: float) -> None:
        known = self._row(uid)
        changed = False
        for b in person.biometrics if person else ():
            changed |= self._put_biometric(uid, b.kind, b.num, b.text, sn, t)
        if known is None:
            return
        self._note_holding(sn, uid, True, True)
        dp = self.db.execute("SELECT want, have FROM device_people WHERE sn = ? AND user_id = ?",
                             [sn, uid]).fetchone()
        in_sync = dp is not None and dp[0] is not None and dp[0] == dp[1] == known["version"]
        if photo_sha and photo_sha != known["photo"] and (in_sync or not known["photo"]):
            self.db.execute("UPDATE people SET photo = ?, photo_source = ? WHERE user_id = ?", [photo_sha, sn, uid])
            changed = True
        if in_sync and person is not None:
            for wire in ("CardNum", "Password"):
                value = person.fields.get(wire)
                col = _COLS[wire]
                if isinstance(value, str) and value and value != known[col]:
                    try:
                        rules.normalize({wire: value})
                    except rules.PersonError:
                        continue
                    self.db.execute(f"UPDATE people SET {col} = ? WHERE user_id = ?", [value, uid])
                    changed = True
        if changed:
            self._bump([uid], t)

    def enrolment_results(self, sn: str | None = None, user_id: int | None = None, since_id: int = 0,
                          unlinked_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """Enrolment results, oldest first after `since_id`; for issue 4 (commands) and the CLI."""
        where, args = ["id > ?"], [since_id]
        if sn:
            where.append("sn = ?")
            args.append(sn)
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        if unlinked_only:
            where.append("command_id IS NULL")
        rows = list(self.db.query(
            f"SELECT * FROM enrolments WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", [*args, limit]))
        for row in rows:
            row["result_label"] = REGISTER_RESULTS.label(row["result"]) if row["result"] is not None else None
            row["raw"] = json.loads(row["raw"])
            row["notes"] = json.loads(row["notes"]) if row["notes"] else []
        return rows

    def link_enrolment(self, enrolment_id: int, command_id: int) -> bool:
        return self.db.execute("UPDATE enrolments SET command_id = ? WHERE id = ?",
                               [command_id, enrolment_id]).rowcount > 0

    # --- internals ----------------------------------------------------------------------

    @contextmanager
    def _tx(self, rollback: bool) -> Iterator[None]:
        if not rollback:
            with transaction(self.db):
                yield
            return
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")

    def _next_version(self) -> int:
        return self.db.execute("UPDATE people_seq SET value = value + 1 WHERE id = 1 RETURNING value").fetchone()[0]

    def _bump(self, user_ids: list[int], t: float) -> None:
        """A new version for people changed by a device report; their wants follow."""
        version = self._next_version()
        js = json.dumps(user_ids)
        self.db.execute("UPDATE people SET version = ?, updated_at = ? WHERE user_id IN "
                        "(SELECT value FROM json_each(?))", [version, t, js])
        self._apply_scope(user_ids)

    def _apply_scope(self, user_ids: Sequence[int]) -> None:
        """Make `want` of every (device, person) for these people match their scope and version."""
        if not user_ids:
            return
        args = {"ids": json.dumps(list(user_ids))}
        desired = (
            "WITH ids(user_id) AS (SELECT value FROM json_each(:ids)), "
            "desired(sn, user_id, version) AS ("
            "SELECT d.sn, p.user_id, p.version FROM ids JOIN people p ON p.user_id = ids.user_id "
            "JOIN devices d ON d.state = 'approved' WHERE p.scope_all = 1 "
            "UNION ALL SELECT s.sn, p.user_id, p.version FROM ids JOIN people p ON p.user_id = ids.user_id "
            "JOIN person_devices s ON s.user_id = p.user_id WHERE p.scope_all = 0) "
        )
        self.db.execute(
            desired + "UPDATE device_people SET want = NULL WHERE user_id IN (SELECT user_id FROM ids) "
            "AND want IS NOT NULL AND NOT EXISTS (SELECT 1 FROM desired x WHERE x.sn = device_people.sn "
            "AND x.user_id = device_people.user_id)", args)
        self.db.execute(
            desired + "INSERT INTO device_people (sn, user_id, want) SELECT sn, user_id, version FROM desired "
            "WHERE true ON CONFLICT (sn, user_id) DO UPDATE SET want = excluded.want "
            "WHERE device_people.want IS NOT excluded.want", args)
        self.db.execute(
            "DELETE FROM device_people WHERE user_id IN (SELECT value FROM json_each(:ids)) "
            "AND want IS NULL AND have IS NULL AND inflight IS NULL", args)

    def _note_holding(self, sn: str, uid: int, present: bool, known: bool) -> None:
        """A device's report that it holds (or not) a person updates `have` for known people only."""
        if present:
            if not known:
                return
            cur = self.db.execute("UPDATE device_people SET have = 0 WHERE sn = ? AND user_id = ? AND have IS NULL",
                                  [sn, uid])
            if cur.rowcount == 0 and self.db.execute(
                    "SELECT 1 FROM device_people WHERE sn = ? AND user_id = ?", [sn, uid]).fetchone() is None:
                self.db.execute("INSERT INTO device_people (sn, user_id, want, have) VALUES (?, ?, NULL, 0)",
                                [sn, uid])
                self._apply_scope([uid])
        else:
            self.db.execute("UPDATE device_people SET have = NULL WHERE sn = ? AND user_id = ?", [sn, uid])
            self.db.execute("DELETE FROM device_people WHERE sn = ? AND user_id = ? AND want IS NULL "
                            "AND have IS NULL AND inflight IS NULL", [sn, uid])

    def _keep_device_photo(self, photo: bytes | None, person: rules.DevicePerson | None,
                           notes: list[str]) -> str | None:
        data = photo or (person.photo_inline if person else None)
        if not data:
            return None
        try:
            rules.check_photo(data, "device photo")
        except rules.PersonError as exc:
            notes.append(f"{exc}; not kept")
            return None
        return self.files.put(data, PHOTO_TYPE).sha256

    def _put_biometric(self, uid: int, kind: str, num: int, text: str, source_sn: str | None, t: float) -> bool:
        stored = self.files.put(text.encode("ascii"), FEATURE_TYPE)
        return self.db.execute(
            "INSERT INTO biometrics (user_id, kind, num, file, md5, source_sn, at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id, kind, num) DO UPDATE SET file = excluded.file, md5 = excluded.md5, "
            "source_sn = excluded.source_sn, at = excluded.at WHERE biometrics.file IS NOT excluded.file",
            [uid, kind, num, stored.sha256, stored.md5, source_sn, t]).rowcount > 0

    def _drop_biometric(self, uid: int, kind: str, num: int) -> bool:
        return self.db.execute("DELETE FROM biometrics WHERE user_id = ? AND kind = ? AND num = ?",
                               [uid, kind, num]).rowcount > 0

    def _latest_reported_photo(self, uid: int) -> tuple[str, str] | None:
        row = self.db.execute(
            "SELECT photo, sn FROM (SELECT photo, sn, received_at FROM device_reports WHERE user_id = ? "
            "AND photo IS NOT NULL UNION ALL SELECT photo, sn, received_at FROM enrolments WHERE user_id = ? "
            "AND result = 1 AND photo IS NOT NULL) ORDER BY received_at DESC LIMIT 1", [uid, uid]).fetchone()
        return (row[0], row[1]) if row else None

    def _row(self, uid: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM people WHERE user_id = ?", [uid]))
        return rows[0] if rows else None

    def _scope_devices(self, uid: int) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT sn FROM person_devices WHERE user_id = ? ORDER BY sn", [uid])]

    def _check_devices(self, sns: Sequence[str]) -> list[str]:
        wanted = sorted(set(sns))
        known = {r[0] for r in self.db.execute(
            "SELECT sn FROM devices WHERE sn IN (SELECT value FROM json_each(?))", [json.dumps(wanted)])}
        missing = [sn for sn in wanted if sn not in known]
        if missing:
            raise PeopleError(f"unknown device {', '.join(missing)}: `facectl device list` shows the known ones, "
                              "`facectl device add SN` registers one in advance")
        return wanted

    def _ensure_sync_row(self, sn: str) -> dict[str, Any]:
        self.db.execute("INSERT OR IGNORE INTO people_sync (sn) VALUES (?)", [sn])
        return next(iter(self.db.query("SELECT * FROM people_sync WHERE sn = ?", [sn])))


def _files_of(person: PagePerson) -> list[PageFile]:
    out = [f for f in (person.photo, person.face) if f is not None]
    out += [f for _, f in person.fingerprints] + [f for _, f in person.palmveins]
    return out


def _norm(value: Any, wire: str) -> Any:
    if value is None:
        return rules.SEND_DEFAULTS.get(wire, "")
    return str(value) if wire not in rules.INT_FIELDS else int(value)


def delivery_state(row: dict[str, Any], cutoff: float) -> str:
    """One word for a (device, person) row: delivered, pending, in flight, failed, to delete, deleting."""
    want, have = row.get("want"), row.get("have")
    inflight, inflight_at = row.get("inflight"), row.get("inflight_at") or 0
    if want is None:
        if have is None:
            return "not held"
        return "deleting" if inflight == 0 and inflight_at > cutoff else "to delete"
    if have == want:
        return "delivered"
    if row.get("fail_version") == want:
        return "failed"
    if inflight is not None and inflight > 0 and inflight_at > cutoff:
        return "in flight"
    return "pending"
