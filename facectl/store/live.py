"""What the server keeps of its devices in memory, so that a steady keepalive writes nothing.

A keepalive that changes nothing (same door, lock and alarm state, device already online,
same flags) is most of a server's traffic. Writing its last-seen time would cost a
transaction per request; instead the server keeps, per device, what the database holds
(approval state, door state, online) and the flags it last computed, and writes the
last-seen times of all devices in one transaction at most once a second (`flush`).

What is written at once, as before, in its own transaction:
- a device never seen before (stored pending, or approved under open enrollment);
- a device coming online (its last-seen time with the device.online event, so the
  offline sweep never sees an online device with an old last-seen time);
- a door, lock or alarm state that differs from the stored one (with its alarm.raised /
  alarm.cleared events: durably, once).
So a SIGKILL loses at most a second of last-seen times, never a state change or an event.

The memory is thrown away whenever the database changed under it: `PRAGMA data_version`
moves when another connection (the CLI approving a device, queueing a command) commits,
and the connection's `total_changes` moves when this process writes (a handler handing
out people, the offline sweep). Both are read on every request (a few microseconds), so
an operator's change takes effect at the device's next keepalive. Only "no flags" is
remembered, and only for a device where time alone cannot raise one (nothing handed out
and unanswered, no delivery retry waiting, no wipe): any other answer is computed anew.
A reader in another process (the CLI) sees a device's last contact up to a second late.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .db import transaction
from .devices import APPROVED, STATUS_FIELDS, Contact

if TYPE_CHECKING:
    from . import Store

_STATUS_COLUMNS = tuple(STATUS_FIELDS.values())


@dataclass(slots=True)
class _Known:
    """A device as the database holds it, as of the last check."""

    state: str
    status: tuple[Any, ...]
    protocol: str | None
    online: bool


class LiveDevices:
    """The server's in-memory view of its devices, with write-behind of last contact (module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self._known: dict[str, _Known] = {}
        #: Devices known to have no flags due, until the database changes.
        self._idle: set[str] = set()
        #: sn -> (last_seen, last_endpoint, remote_addr) not yet written.
        self._contacts: dict[str, tuple[float, str, str | None]] = {}
        #: sn -> status_at of a keepalive whose state equalled the stored one, not yet written.
        self._status_at: dict[str, float] = {}
        self._key = (-1, -1)

    # --- staying in step with the database -------------------------------------------------

    def _check(self) -> None:
        """Forget what is known when anyone (this process or another) changed the database."""
        conn = self.db.conn  # the raw connection: this runs on every request, twice for a keepalive
        key = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        if key != self._key:
            self._known.clear()
            self._idle.clear()
            self._key = key

    def _wrote(self) -> None:
        """Our own write: still in step (another process's commit since `_check` still shows in data_version)."""
        self._key = (self._key[0], self.db.conn.total_changes)

    def _load(self, sn: str) -> _Known | None:
        row = self.db.execute(
            f"SELECT d.state, {', '.join('d.' + c for c in _STATUS_COLUMNS)}, d.protocol, "
            "coalesce(p.online, 0) FROM devices d LEFT JOIN event_presence p ON p.sn = d.sn WHERE d.sn = ?",
            [sn]).fetchone()
        if row is None:
            return None
        return _Known(row[0], tuple(row[1:-2]), row[-2], bool(row[-1]))

    # --- the request path ------------------------------------------------------------------

    def contact(self, sn: str, remote_addr: str | None, endpoint: str, open_enrollment: bool) -> Contact:
        """`devices.contact`, written at once only for a new device or one coming online."""
        self._check()
        known = self._known.get(sn) or self._load(sn)
        if known is None or (known.state == APPROVED and not known.online):
            contact = self.store.devices.contact(sn, remote_addr, endpoint, open_enrollment)
            self._contacts.pop(sn, None)
            self._wrote()
            if known is not None:
                known.state, known.online = contact.state, contact.state == APPROVED
                self._known[sn] = known
            return contact
        self._known[sn] = known
        self._contacts[sn] = (time.time(), endpoint, remote_addr)
        return Contact(sn, known.state, False)

    def keepalive(self, sn: str, status: dict[str, Any]) -> dict[str, int]:
        """Store the door state if it changed (with its alarm events), and the flags due (maybe reused)."""
        self._check()
        columns = tuple(status.get(wire) for wire in STATUS_FIELDS)
        known = self._known.get(sn) or self._load(sn)
        if known is None or known.status != columns or known.protocol != "v2":
            with transaction(self.db):
                self.store.devices.record_status(sn, status)
            self._status_at.pop(sn, None)
            self._wrote()
            if known is not None:
                known.status, known.protocol = columns, "v2"
        else:
            self._status_at[sn] = time.time()
        if known is not None:
            self._known[sn] = known
        if sn in self._idle:
            return {}
        flags = self.store.work.flags(sn)
        if not flags and not self._waiting_on_time(sn):
            self._wrote()  # computing flags can write (a newly approved device is reconciled)
            self._idle.add(sn)
        return flags

    def _waiting_on_time(self, sn: str) -> bool:
        """Whether the passing of time alone could raise a flag for `sn`: people handed out and not
        answered for (redelivered after the timeout), a failed delivery with a retry time, a wipe."""
        return bool(self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM device_people WHERE sn = :sn AND inflight_at > 0) "
            "OR EXISTS (SELECT 1 FROM device_people WHERE sn = :sn AND retry_at IS NOT NULL) "
            "OR EXISTS (SELECT 1 FROM people_sync WHERE sn = :sn AND wipe = 1)", {"sn": sn}).fetchone()[0])

    # --- write-behind ----------------------------------------------------------------------

    def flush(self) -> int:
        """Write the buffered last contacts in one transaction; returns how many devices."""
        if not self._contacts and not self._status_at:
            return 0
        contacts, self._contacts = self._contacts, {}
        status_at, self._status_at = self._status_at, {}
        self._check()
        try:
            with transaction(self.db):
                self.store.devices.touch(contacts, status_at)
        except BaseException:
            for sn, seen in contacts.items():  # kept for the next try, unless newer ones came
                self._contacts.setdefault(sn, seen)
            for sn, at in status_at.items():
                self._status_at.setdefault(sn, at)
            raise
        self._wrote()
        return len(contacts) + len(status_at)
