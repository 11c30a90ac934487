"""The SQLite store: schema and every query, one repository per area.

All state lives in one database file (WAL mode, busy timeout) so the CLI can
write while the server runs. Handlers and commands never write SQL; they call
these repositories.
"""

from __future__ import annotations

from .commands import Commands
from .db import StoreError, connect
from .devices import Devices
from .files import Files
from .meta import Meta
from .people import People
from .quarantine import Quarantine
from .records import Records
from .settings import Settings
from .snapshots import Snapshots
from .work import Work


class Store:
    """One open database with its repositories."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = connect(path)
        self.meta = Meta(self.db)
        self.files = Files(self.db)
        self.devices = Devices(self.db)
        self.settings = Settings(self.db, self.devices)
        self.records = Records(self.db)
        self.quarantine = Quarantine(self.db)
        self.snapshots = Snapshots(self.db)
        self.work = Work(self.db, self.devices, self.settings)
        for repo in (self.meta, self.files, self.devices, self.settings, self.records, self.quarantine,
                     self.snapshots):
            repo.ensure_schema()
        self.commands = Commands.attach(self)  # schema + the Keepalive flag Remote
        self.people = People.attach(self)  # schema + the Keepalive flags DeletePeople, AddPeople

    def close(self) -> None:
        self.db.close()


__all__ = ["Store", "StoreError"]
