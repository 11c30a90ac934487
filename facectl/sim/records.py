"""Records of one simulated terminal: the log they wait in.

`RecordLog` is the terminal's record memory, shared through the context: the identify and
system backlogs, the history of acknowledged records (for RepostRecord) and the RecordID
counter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codes import KIND_DOOR, KIND_SYSTEM
from .jpeg import make_jpeg

if TYPE_CHECKING:
    pass

#: How many uploaded records a device keeps for RepostRecord.
HISTORY_SIZE = 10000


@dataclass(slots=True)
class PendingRecord:
    kind: int | None  # None: identify record; else the UploadSystemRecord kind (1 door, 2 system)
    detail: dict[str, Any]
    photo_seed: int | None = None  # the photo is made at upload time from this seed
    photo_size: int = 0

    def photo(self) -> bytes | None:
        if self.photo_seed is None:
            return None
        return make_jpeg(self.photo_size, self.photo_seed)


class RecordLog:
    """The records a terminal holds: waiting to be uploaded, and uploaded (kept for RepostRecord)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.identify_backlog: deque[PendingRecord] = deque()
        self.system_backlog: dict[int, deque[PendingRecord]] = {KIND_DOOR: deque(), KIND_SYSTEM: deque()}
        self.history: deque[PendingRecord] = deque(maxlen=HISTORY_SIZE)
        self.next_record_id = int(clock()) * 1000

    def next_id(self) -> int:
        self.next_record_id += 1
        return self.next_record_id

    def system_event(self, event: int, when: float | None = None) -> None:
        self._system(KIND_SYSTEM, event, when)

    def door_event(self, event: int, when: float | None = None) -> None:
        self._system(KIND_DOOR, event, when)

    def _system(self, kind: int, event: int, when: float | None) -> None:
        when = self.clock() if when is None else when
        self.system_backlog[kind].append(PendingRecord(
            kind, {"RecordID": self.next_id(), "RecordType": event, "RecordDate": int(when)}))

    def waiting(self) -> list[PendingRecord]:
        """Every record not yet uploaded: identify records first, then door and system records."""
        return [r for q in (self.identify_backlog, *self.system_backlog.values()) for r in q]

    def requeue(self, rec: PendingRecord) -> None:
        """Put a record back in the backlog of its kind (restored from flash, or reposted)."""
        (self.identify_backlog if rec.kind is None else self.system_backlog[rec.kind]).append(rec)

    def clear(self) -> None:
        """Forget every record, waiting or uploaded (ClearRecord, factory reset)."""
        self.identify_backlog.clear()
        for q in self.system_backlog.values():
            q.clear()
        self.history.clear()

    def repost(self) -> int:
        """Queue every uploaded record again (RepostRecord); how many."""
        count = len(self.history)
        for rec in self.history:
            self.requeue(rec)
        self.history.clear()
        return count
