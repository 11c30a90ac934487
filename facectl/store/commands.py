"""Queued remote commands per device: order, expiry, delivery, and the follow-ups that answer them.

A command is *queued* until a RemoteCommand answer carries it (*sent*); the
commands that can share an answer go together (`protocol.commands.select`), the
rest wait for the next poll. A command the device answers with a call of its own
(Snapshoot -> UploadSnapshoot, RegisterIdentifyTicket -> RegisterIdentifyTicketResult,
PushAllPeople / QueryPeople -> PushPeople) becomes *done* (or *failed*) when that
call arrives, and the call is linked to it. The protocol has no acknowledgement
for the others, so for them *sent* is final: it means "handed to the device in an
answer".

A queued command past its expiry is never sent (protocol.md 5.5): it becomes *expired*
the next time anything looks at the queue. An operator can *cancel* a command
while it is queued, never after. Every state change is one guarded UPDATE inside
a write transaction, so a cancel and a delivery cannot both win.

Times come from `clock` (injectable) or an explicit `at`, so tests can make a
command expire without waiting for it.

Some commands change what the server must believe about the device the moment they
are handed out: after Recover (factory reset) the device holds no people and has
factory settings. `on_sent` maps such a field to the function that says so (the
Store wires them: store/__init__.py); it runs inside the transaction that marks the
command sent, so the server's belief and the command's state cannot disagree after a
crash. Sent is the only moment there is: the protocol acknowledges none of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlite_utils

from facectl.protocol import commands as command_rules
from facectl.protocol.codes import PUSH_TYPES, REGISTER_RESULTS

from .db import now, transaction

QUEUED = "queued"
SENT = "sent"
DONE = "done"
EXPIRED = "expired"
CANCELLED = "cancelled"
FAILED = "failed"
STATES = (QUEUED, SENT, DONE, EXPIRED, CANCELLED, FAILED)
FINAL_STATES = (DONE, EXPIRED, CANCELLED, FAILED)

#: At most this many queued commands are considered for one answer (a device's
#: queue is short; this bounds the work of one request whatever an operator did).
MAX_SCAN = 200
#: RegisterIdentifyTicketResult Result that means success (document table).
REGISTERED = int(REGISTER_RESULTS.value_of("registered"))
#: PushPeople PushType of a reply to QueryPeople / PushAllPeople (document: 4--查询).
PUSH_TYPE_QUERIED = int(PUSH_TYPES.value_of("queried"))


class UnknownDevice(LookupError):
    """Commands are queued only for devices the server knows."""


#: What the server does when a command of a field is handed out: on_sent[field](sn, at).
SentEffect = Callable[[str, float], None]


class Commands:
    def __init__(self, db: sqlite_utils.Database, clock: Callable[[], float] = now,
                 on_sent: Mapping[str, SentEffect] | None = None) -> None:
        self.db = db
        self.clock = clock
        unknown = set(on_sent or ()) - set(command_rules.SPECS)
        if unknown:
            raise command_rules.CommandError(f"not RemoteCommand fields: {sorted(unknown)}")
        self.on_sent: dict[str, SentEffect] = dict(on_sent or {})

    def _now(self, at: float | None) -> float:
        return self.clock() if at is None else at

    # --- queueing ------------------------------------------------------------------

    def enqueue(self, sn: str, field: str, value: Any, ttl: float | None = None,
                at: float | None = None) -> dict[str, Any]:
        """Queue one command (validated by the protocol rules); returns the stored row."""
        value = command_rules.validate(field, value)
        ttl = command_rules.spec(field).default_ttl if ttl is None else ttl
        if ttl <= 0:
            raise command_rules.CommandError("a command's lifetime must be positive")
        t = self._now(at)
        with transaction(self.db):
            if self.db.execute("SELECT 1 FROM devices WHERE sn = ?", [sn]).fetchone() is None:
                raise UnknownDevice(sn)
            missing = [sha for sha in command_rules.files_of(field, value)
                       if self.db.execute("SELECT 1 FROM files WHERE sha256 = ?", [sha]).fetchone() is None]
            if missing:
                raise command_rules.CommandError(f"file {missing[0]} is not stored")
            command_id = self.db.execute(
                "INSERT INTO commands (sn, field, value, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                [sn, field, json.dumps(value, ensure_ascii=False), QUEUED, t, t + ttl],
            ).fetchone()[0]
        return self.get(command_id)

    def has_queued(self, sn: str, at: float | None = None) -> bool:
        """The Keepalive flag `Remote`: a queued command that has not expired."""
        return self.db.execute(
            "SELECT 1 FROM commands WHERE sn = ? AND state = ? AND expires_at > ? LIMIT 1",
            [sn, QUEUED, self._now(at)],
        ).fetchone() is not None

    def expire_due(self, sn: str | None = None, at: float | None = None) -> int:
        """Mark queued commands past their expiry as expired; returns how many."""
        t = self._now(at)
        sql = "UPDATE commands SET state = ?, finished_at = expires_at WHERE state = ? AND expires_at <= ?"
        args: list[Any] = [EXPIRED, QUEUED, t]
        if sn is not None:
            sql += " AND sn = ?"
            args.append(sn)
        return self.db.execute(sql, args).rowcount

    def take(self, sn: str, render: Callable[[str, Any], Any],
             at: float | None = None) -> list[tuple[dict[str, Any], Any]]:
        """Hand out the next answer's commands: [(row, wire value)], now marked sent.

        `render(field, stored value)` gives the wire value (file URLs are built by
        the server); a command it cannot render (command_rules.CommandError) is marked
        failed with the reason and is not sent. Expired commands are marked first
        and never considered. One write transaction, which also runs the `on_sent`
        effect of each command sent: a concurrent cancel either happens before (and
        the command is not sent) or finds it sent.
        """
        t = self._now(at)
        taken: list[tuple[dict[str, Any], Any]] = []
        with transaction(self.db):
            self.expire_due(sn, t)
            rows = [self._decode(r) for r in self.db.query(
                "SELECT * FROM commands WHERE sn = ? AND state = ? ORDER BY id LIMIT ?", [sn, QUEUED, MAX_SCAN])]
            chosen = command_rules.select([command_rules.Queued(r["field"], r["value"]) for r in rows])
            batch = rows[chosen[0]]["id"] if chosen else None
            for i in chosen:
                row = rows[i]
                try:
                    wire = render(row["field"], row["value"])
                except command_rules.CommandError as exc:
                    self.db.execute("UPDATE commands SET state = ?, finished_at = ?, note = ? WHERE id = ?",
                                    [FAILED, t, f"could not be sent: {exc}", row["id"]])
                    continue
                self.db.execute("UPDATE commands SET state = ?, sent_at = ?, batch = ? WHERE id = ? AND state = ?",
                                [SENT, t, batch, row["id"], QUEUED])
                row.update(state=SENT, sent_at=t, batch=batch)
                taken.append((row, wire))
                effect = self.on_sent.get(row["field"])
                if effect is not None:
                    effect(sn, t)
        return taken

    def cancel(self, command_id: int, at: float | None = None) -> tuple[bool, str | None]:
        """Cancel a queued command: (True, "cancelled"), or (False, its state; None if unknown)."""
        t = self._now(at)
        with transaction(self.db):
            self.expire_due(None, t)
            row = self.db.execute(
                "UPDATE commands SET state = ?, finished_at = ? WHERE id = ? AND state = ? RETURNING id",
                [CANCELLED, t, command_id, QUEUED],
            ).fetchone()
            if row is not None:
                return True, CANCELLED
            current = self.db.execute("SELECT state FROM commands WHERE id = ?", [command_id]).fetchone()
        return False, current[0] if current else None

    # --- reading -------------------------------------------------------------------

    def get(self, command_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM commands WHERE id = ?", [command_id]))
        return self._decode(rows[0]) if rows else None

    def list(self, sn: str | None = None, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        self.expire_due()
        where, args = [], []
        for clause, value in (("sn = ?", sn), ("state = ?", state)):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = "SELECT * FROM commands" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])
        return [self._decode(r) for r in rows]

    def followups(self, command_id: int) -> list[dict[str, Any]]:
        rows = list(self.db.query(
            "SELECT endpoint, at, detail FROM command_followups WHERE command_id = ? ORDER BY id", [command_id]))
        for r in rows:
            r["detail"] = json.loads(r["detail"])
        return rows

    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        row["value"] = json.loads(row["value"])
        row["progress"] = json.loads(row["progress"]) if row.get("progress") else None
        return row

    # --- follow-ups ----------------------------------------------------------------

    def complete_followup(self, sn: str, field: str, detail: dict[str, Any] | None = None, *,
                          ok: bool = True, note: str | None = None, user_id: int | None = None,
                          at: float | None = None) -> list[int]:
        """Link a device call to the command that asked for it; returns the linked command ids.

        `field` is the command's RemoteCommand field ("Snapshoot", "RegisterIdentifyTicket",
        "QueryPeople", "PushAllPeople"). The newest *sent* command of that field is
        linked, together with any sent in the same answer (identical commands merged
        into one). `ok=False` marks them failed with `note`. For RegisterIdentifyTicket
        a `user_id` prefers the ticket for that user. Returns [] when no command asked
        (the device acted on its own); the call is still the caller's to store.
        """
        spec = command_rules.spec(field)
        if spec.follow_up is None:
            raise command_rules.CommandError(f"{field} has no follow-up call")
        t = self._now(at)
        with transaction(self.db):
            target = self._newest_sent(sn, field, user_id)
            if target is None:
                return []
            ids = [r[0] for r in self.db.execute(
                "SELECT id FROM commands WHERE sn = ? AND field = ? AND state = ? AND batch IS ? AND value = ?",
                [sn, field, SENT, target["batch"], json.dumps(target["value"], ensure_ascii=False)])]
            for command_id in ids:
                self._link(command_id, spec.follow_up, detail or {}, t)
                self.db.execute("UPDATE commands SET state = ?, finished_at = ?, note = ? WHERE id = ?",
                                [DONE if ok else FAILED, t, note, command_id])
        return ids

    def _newest_sent(self, sn: str, field: str, user_id: int | None) -> dict[str, Any] | None:
        rows = [self._decode(r) for r in self.db.query(
            "SELECT * FROM commands WHERE sn = ? AND field = ? AND state = ? ORDER BY sent_at DESC, id DESC LIMIT 50",
            [sn, field, SENT])]
        if user_id is not None:
            for row in rows:
                if isinstance(row["value"], dict) and row["value"].get("UserID") == user_id:
                    return row
        return rows[0] if rows else None

    def _link(self, command_id: int, endpoint: str, detail: dict[str, Any], t: float) -> None:
        self.db.execute("INSERT INTO command_followups (command_id, endpoint, at, detail) VALUES (?, ?, ?, ?)",
                        [command_id, endpoint, t, json.dumps(detail, ensure_ascii=False, default=str)])

    def snapshot_uploaded(self, sn: str, snapshot_id: int, at: float | None = None) -> list[int]:
        """UploadSnapshoot arrived: link it (and its photo) to the Snapshoot command that asked."""
        row = self.db.execute("SELECT photo FROM snapshots WHERE id = ?", [snapshot_id]).fetchone()
        detail = {"snapshot": snapshot_id, "photo": row[0] if row else None}
        return self.complete_followup(sn, command_rules.SNAPSHOT, detail, at=at)

    def ticket_result(self, sn: str, user_id: int | None, result: int | None,
                      detail: dict[str, Any] | None = None, at: float | None = None) -> list[int]:
        """RegisterIdentifyTicketResult arrived: the ticket is done (Result 1) or failed (others)."""
        ok = result == REGISTERED
        note = None if ok else f"device: {REGISTER_RESULTS.label(result)}"
        info = {"UserID": user_id, "Result": result, **(detail or {})}
        if not ok and info.get("RepetitionUserID") is not None:
            note = f"{note} (duplicate of user {info['RepetitionUserID']})"
        return self.complete_followup(sn, command_rules.REGISTER_TICKET, info, ok=ok, note=note, user_id=user_id, at=at)

    def people_pushed(self, sn: str, user_id: int | None, push_type: int | None,
                      detail: dict[str, Any] | None = None, at: float | None = None) -> list[int]:
        """A PushPeople arrived: link a reply (PushType 4) to the QueryPeople / PushAllPeople that asked.

        A QueryPeople naming this user gets it first, and is done once every user it
        named has been pushed (the device pushes a user it does not hold without a
        Detail, so every id gets an answer). Otherwise the newest PushAllPeople gets it:
        done at the first reply, and later replies are linked to it too, since the
        server cannot know how many people the device holds. PushType 1-3 are changes
        made at the device, not replies, and are not linked.
        """
        if push_type != PUSH_TYPE_QUERIED:
            return []
        t = self._now(at)
        info = {"UserID": user_id, "PushType": push_type, **(detail or {})}
        with transaction(self.db):
            linked: list[int] = []
            if user_id is not None:
                rows = [self._decode(r) for r in self.db.query(
                    "SELECT * FROM commands WHERE sn = ? AND field = ? AND state = ? ORDER BY id",
                    [sn, command_rules.QUERY_PEOPLE, SENT])]
                for row in rows:
                    if user_id not in row["value"]:
                        continue
                    answered = sorted(set(row["progress"] or []) | {user_id})
                    done = set(answered) >= set(row["value"])
                    self._link(row["id"], "PushPeople", info, t)
                    self.db.execute("UPDATE commands SET progress = ?, state = ?, finished_at = ? WHERE id = ?",
                                    [json.dumps(answered), DONE if done else SENT, t if done else None, row["id"]])
                    linked.append(row["id"])
            if linked:
                return linked
            row = self.db.execute(
                "SELECT id, state FROM commands WHERE sn = ? AND field = ? AND state IN (?, ?) "
                "ORDER BY sent_at DESC, id DESC LIMIT 1", [sn, command_rules.PUSH_ALL_PEOPLE, SENT, DONE]).fetchone()
            if row is None:
                return []
            self._link(row[0], "PushPeople", info, t)
            count = self.db.execute("SELECT count(*) FROM command_followups WHERE command_id = ?", [row[0]]).fetchone()
            self.db.execute("UPDATE commands SET state = ?, finished_at = coalesce(finished_at, ?), progress = ? "
                            "WHERE id = ?", [DONE, t, json.dumps({"pushed": count[0]}), row[0]])
            return [row[0]]
