"""The SQLite store: schema and every query, one repository per area.

All state lives in one database file (WAL mode, busy timeout) so the CLI can
write while the server runs. Handlers and commands never write SQL; they call
these repositories. Opening the store brings the schema up to date
(migrations.py); retention.py, health.py and backup.py keep it small and safe.
"""

from __future__ import annotations

from facectl.protocol.commands import RECOVER

from .commands import Commands
from .db import StoreError, connect
from .devices import Devices
from .events import Events
from .files import Files
from .meta import Meta
from .migrations import SchemaTooNew, migrate
from .people import People
from .quarantine import Quarantine
from .records import Records
from .samples import Samples
from .settings import Settings
from .snapshots import Snapshots
from .work import Work


class Store:
    """One open database with its repositories."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = connect(path)
        #: The schema version the database had when opened (migrations.py brought it up to date).
        try:
            self.opened_version = migrate(self.db)
        except BaseException:
            self.db.close()
            raise
        self.meta = Meta(self.db)
        self.events = Events(self.db)
        self.files = Files(self.db)
        self.devices = Devices(self.db)
        self.settings = Settings(self.db, self.devices)
        self.records = Records(self.db)
        self.quarantine = Quarantine(self.db)
        self.samples = Samples(self.db)
        self.snapshots = Snapshots(self.db)
        self.commands = Commands(self.db, on_sent={RECOVER: self._factory_reset_sent})
        self.people = People(self.db, self.files)
        #: Which repository raises which Keepalive flag (the order is the protocol's, not this one).
        self.work = Work({
            "UploadWorkParameter": self.settings.needs_upload,
            "Remote": self.commands.has_queued,
            "SyncParameter": self.settings.has_pending,
            "DeletePeople": self.people.needs_delete,
            "AddPeople": self.people.needs_add,
        })

    def _factory_reset_sent(self, sn: str, at: float) -> None:
        """Recover handed out: the device holds no people and has factory settings.

        People: every person it should hold is delivered again (store/people/factory_reset.py,
        "After a factory reset"). Settings: the next keepalive asks for an upload (UploadWorkParameter),
        so the stored document, and the settings history's diff, show the factory values.
        Changes an operator had applied are not sent again by themselves: the reset asked
        for the factory state; `facectl device set` applies them again if wanted.
        """
        self.people.factory_reset(sn, at)
        self.devices.request_settings(sn, True)

    def close(self) -> None:
        self.db.close()


__all__ = ["SchemaTooNew", "Store", "StoreError"]
