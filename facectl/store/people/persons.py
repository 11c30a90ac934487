"""The operator adds, changes and removes people (`people add`, `update`, `import`, `rm`).

Each write gives the people it changed a new version and recomputes their wants
(wants.py), in the same transaction, so devices see the change at their next keepalive.

- **Removal** deletes the person's row, scope and biometrics (the operator's decision;
  biometric data is personal data). Devices drop the person at their next poll.
- **Writers stay short**: bulk work (import, rm, sync) commits in chunks, so a keepalive or
  page request waits at most a few tens of milliseconds for the write lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from facectl.protocol import people as people_rules

from ..db import transaction
from .biometrics import PHOTO_TYPE, Biometrics
from .context import COLS, PeopleContext
from .implicit import since_key
from .lookup import Lookup
from .wants import ALL, Wants

#: People per write transaction in bulk operations.
CHUNK = 200

_FIELD_COLUMNS = ", ".join(COLS.values())


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


class Persons:
    """Writes people, their photo, face feature and scope; `check` validates without writing."""

    def __init__(self, ctx: PeopleContext, wants: Wants, biometrics: Biometrics, lookup: Lookup) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.files = ctx.files
        self.wants = wants
        self.biometrics = biometrics
        self.lookup = lookup

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
                version = self.wants.next_version()
                t = self.ctx.now()
                touched: list[int] = []
                for item in chunk:
                    result, scope_touched = self._save_one(item, mode, version, t)
                    results.append(result)
                    if result.changed or scope_touched:
                        touched.append(item.user_id)
                self.wants.apply_scope(touched)
        return results

    def check(self, item: PersonInput, mode: str = "upsert") -> None:
        """Validate an item without writing: PersonError or PeopleError, as save would raise."""
        people_rules.check_user_id(item.user_id)
        people_rules.normalize(item.values)
        if isinstance(item.photo, bytes | bytearray):
            people_rules.check_photo(bytes(item.photo))
        if isinstance(item.face_feature, bytes | bytearray | str):
            raw = item.face_feature.encode() if isinstance(item.face_feature, str) else bytes(item.face_feature)
            people_rules.feature_text(raw)
        if isinstance(item.scope, list | tuple):
            self._check_devices(item.scope)
        exists = self.lookup.exists(item.user_id)
        if mode == "add" and exists:
            raise PeopleError(f"person {item.user_id} already exists; use `facectl people update`")
        if mode == "update" and not exists:
            raise PeopleError(f"no person {item.user_id}; use `facectl people add`")

    def _save_one(self, item: PersonInput, mode: str, version: int, t: float) -> tuple[SaveResult, bool]:
        uid = people_rules.check_user_id(item.user_id)
        row = self.ctx.row(uid)
        if mode == "add" and row is not None:
            raise PeopleError(f"person {uid} already exists; use `facectl people update`")
        if mode == "update" and row is None:
            raise PeopleError(f"no person {uid}; use `facectl people add`")
        fields = people_rules.normalize(item.values)
        current = {wire: row[col] for wire, col in COLS.items()} if row else {w: None for w in COLS}
        new = {**current, **fields}
        changed = row is None or new != current
        photo = row["photo"] if row else None
        photo_source = row["photo_source"] if row else None
        if item.photo is not UNCHANGED:
            if item.photo is None:
                new_photo = None
            else:
                data = bytes(item.photo)
                people_rules.check_photo(data)
                new_photo = self.files.put(data, PHOTO_TYPE).sha256
            if new_photo != photo:
                changed = True
                photo, photo_source = new_photo, "operator" if new_photo else None
                if item.face_feature is UNCHANGED and row is not None:
                    changed |= self.biometrics.drop(uid, people_rules.FACE, 0)
        elif row is None:
            adopted = self.biometrics.latest_reported_photo(uid)
            if adopted:
                photo, photo_source = adopted
        if item.face_feature is not UNCHANGED:
            if item.face_feature is None:
                changed |= self.biometrics.drop(uid, people_rules.FACE, 0)
            else:
                raw = item.face_feature.encode() if isinstance(item.face_feature, str) else bytes(item.face_feature)
                text = people_rules.feature_text(raw)
                changed |= self.biometrics.put(uid, people_rules.FACE, 0, text, None, t)
        scope_touched = False
        scope_all = row["scope_all"] if row else 1
        if item.scope is not None:
            if item.scope == ALL:
                new_all, devices = 1, []
            else:
                devices = self._check_devices(item.scope)
                new_all = 0
            old_devices = self.ctx.scope_devices(uid) if row else []
            if new_all != scope_all or sorted(devices) != sorted(old_devices):
                scope_touched = True
                scope_all = new_all
                self.db.execute("DELETE FROM person_devices WHERE user_id = ?", [uid])
                self.db.conn.executemany("INSERT INTO person_devices (user_id, sn) VALUES (?, ?)",
                                    [(uid, sn) for sn in devices])
        values = [new[w] for w in COLS]
        # Since when the person is for all devices: devices' cursors pass them in this order (implicit.py).
        since = since_key(version, uid) if row is None or (scope_touched and scope_all and not row["scope_all"]) \
            else row["since"]
        if row is None:
            # Devices that reported holding this (until now unknown) person hold some version of it.
            self.db.execute(
                "INSERT INTO device_people (sn, user_id, want, have) SELECT sn, user_id, NULL, 0 "
                "FROM device_reports WHERE user_id = ? AND present = 1 ON CONFLICT (sn, user_id) DO NOTHING",
                [uid])
            self.db.execute(
                f"INSERT INTO people (user_id, {_FIELD_COLUMNS}, photo, photo_source, version, scope_all, since, "
                f"created_at, updated_at) VALUES (?, {', '.join('?' * len(COLS))}, ?, ?, ?, ?, ?, ?, ?)",
                [uid, *values, photo, photo_source, version, scope_all, since, t, t],
            )
        elif changed:
            sets = ", ".join(f"{col} = ?" for col in COLS.values())
            self.db.execute(
                f"UPDATE people SET {sets}, photo = ?, photo_source = ?, version = ?, scope_all = ?, since = ?, "
                "updated_at = ? WHERE user_id = ?",
                [*values, photo, photo_source, version, scope_all, since, t, uid],
            )
        elif scope_touched:
            self.db.execute("UPDATE people SET scope_all = ?, since = ?, updated_at = ? WHERE user_id = ?",
                            [scope_all, since, t, uid])
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
                self.wants.apply_scope(found)
                others = json.dumps(sorted(set(chunk) - set(found)))
                reported = [r[0] for r in self.db.execute(
                    "INSERT INTO device_people (sn, user_id, want, have) "
                    "SELECT sn, user_id, NULL, 0 FROM device_reports "
                    "WHERE present = 1 AND user_id IN (SELECT value FROM json_each(?)) "
                    "ON CONFLICT (sn, user_id) DO UPDATE SET want = NULL, have = COALESCE(have, 0), retry_at = NULL, "
                    "retries = 0 "
                    "RETURNING user_id", [others])]
                self.db.execute("DELETE FROM biometrics WHERE user_id IN (SELECT value FROM json_each(?))",
                                [json.dumps(reported)])
                # Their devices' copies (reports, enrolments) go once every device confirmed (store/retention.py).
                self.db.execute(
                    "INSERT INTO people_removed (user_id, removed_at) SELECT value, ? FROM json_each(?) WHERE true "
                    "ON CONFLICT (user_id) DO UPDATE SET removed_at = excluded.removed_at, purged_at = NULL",
                    [self.ctx.now(), json.dumps(found + reported)])
                removed += found
                scheduled += sorted(set(reported))
        unknown = [u for u in ids if u not in set(removed) and u not in set(scheduled)]
        return removed, scheduled, unknown

    def _check_devices(self, sns: Sequence[str]) -> list[str]:
        wanted = sorted(set(sns))
        known = {r[0] for r in self.db.execute(
            "SELECT sn FROM devices WHERE sn IN (SELECT value FROM json_each(?))", [json.dumps(wanted)])}
        missing = [sn for sn in wanted if sn not in known]
        if missing:
            raise PeopleError(f"unknown device {', '.join(missing)}: `facectl device list` shows the known ones, "
                              "`facectl device add SN` registers one in advance")
        return wanted
