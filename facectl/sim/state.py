"""What a simulated terminal keeps across a reboot (`facectl sim --state DIR`).

A real terminal keeps its people, its settings, its record counter and the records it
has not uploaded yet in flash; only a factory reset (Recover, or the terminal's own
menu) clears them. Without a state directory a simulator starts empty every time,
which to a server looks like a terminal that was factory-reset. With one, each device
keeps two JSON files in DIR, named after its serial:

- `SN.json`: settings, the next RecordID, and the records not uploaded yet (identify,
  door-sensor and system records); small, rewritten when it changes;
- `SN.people.json`: the people it holds with their photos (base64) and biometrics,
  rewritten only when the people change.

Both are written to a temporary file and renamed, so a simulator stopped mid-write
keeps the previous copy. What is not kept is what a terminal keeps in RAM: a people
page half imported, pushes owed, alarms and door state, and RequestAuthorization events
waiting for the server.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .people import PeopleStore, StoredPerson

#: The format of the files; a file that is not of this version stops the simulator with a message.
STATE_VERSION = 1


@dataclass(slots=True)
class Saved:
    """The small file's content: settings, RecordID counter, records not yet uploaded."""

    settings: dict[str, Any]
    next_record_id: int
    #: [kind or None, detail, photo_seed, photo_size] per record, oldest first.
    backlog: list[list[Any]] = field(default_factory=list)


class StateDir:
    """Reads and writes one device's files in a state directory."""

    def __init__(self, directory: str | Path, sn: str) -> None:
        self.dir = Path(directory)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in sn)
        self.main = self.dir / f"{safe}.json"
        self.people_file = self.dir / f"{safe}.people.json"
        self._last_main: str | None = None
        self._last_people_revision: int | None = None

    def load(self) -> tuple[Saved | None, list[StoredPerson]]:
        """What the device kept, or (None, []) for a device seen for the first time."""
        main = _read(self.main)
        if main is None:
            return None, []
        saved = Saved(main["settings"], int(main["next_record_id"]), list(main.get("backlog") or []))
        people = [_person(p) for p in (_read(self.people_file) or {}).get("people", [])]
        self._last_main = _dump({"version": STATE_VERSION, **_as_dict(saved)})
        return saved, people

    def save(self, saved: Saved, people: PeopleStore) -> None:
        """Write what changed since the last save."""
        self.dir.mkdir(parents=True, exist_ok=True)
        text = _dump({"version": STATE_VERSION, **_as_dict(saved)})
        if text != self._last_main:
            _write(self.main, text)
            self._last_main = text
        if people.revision != self._last_people_revision:
            _write(self.people_file, _dump({"version": STATE_VERSION,
                                            "people": [_person_doc(p) for p in people.people.values()]}))
            self._last_people_revision = people.revision


def _as_dict(saved: Saved) -> dict[str, Any]:
    return {"settings": saved.settings, "next_record_id": saved.next_record_id, "backlog": saved.backlog}


def _person_doc(p: StoredPerson) -> dict[str, Any]:
    return {"user_id": p.user_id, "detail": p.detail,
            "photo": base64.b64encode(p.photo).decode("ascii") if p.photo is not None else None,
            "face_feature": p.face_feature, "fingerprints": p.fingerprints, "palmveins": p.palmveins}


def _person(doc: dict[str, Any]) -> StoredPerson:
    photo = doc.get("photo")
    return StoredPerson(int(doc["user_id"]), doc["detail"],
                        base64.b64decode(photo) if photo else None, doc.get("face_feature"),
                        list(doc.get("fingerprints") or []), list(doc.get("palmveins") or []))


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}: {exc}; remove it to start that device empty") from None
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise StateError(f"{path} is not a facectl sim state file (version {STATE_VERSION}); "
                         "remove it to start that device empty")
    return doc


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class StateError(Exception):
    """A state file that cannot be used; the message says which and what to do."""
