"""People and their delivery to devices, by reconciliation (ARCHITECTURE.md, "State, not messages").

The operator's people are the truth. What each device should hold follows from them as
one row per (device, person), and the keepalive flags and pages follow from those rows,
so a message that never arrived loses nothing. One module per concern, each with the
decisions it carries out (all are also in docs/people.md):

- base.py: what every part shares: the connection, the delivery knobs, rows by key.
- state.py: what a (device, person) row says: delivered, pending, in flight, failed, to delete.
- wants.py: versions, and which devices should hold each person (scope).
- biometrics.py: photos, face features, fingerprints and palm veins, kept as files.
- persons.py: the operator adds, changes and removes people.
- lookup.py: people read back: by id, listed, exported, by credential (authorization).
- status.py: delivery state per person and per device.
- counters.py: per-device counts kept by triggers, so status does not group every row.
- sync.py: the operator's `people sync`, and the file mode.
- add_pages.py: AddPeople pages and their results; retries of failures.
- delete_pages.py: DeletePeople pages, DeleteAll, and their results.
- factory_reset.py: a device that holds nobody (factory reset, DeleteAll done).
- device_reports.py: PushPeople, the device's own word, and how it differs from the server.
- enrolments.py: RegisterIdentifyTicketResult.
"""

from __future__ import annotations

import sqlite_utils

from ..files import Files
from .add_pages import AddPages, PageFile, PagePerson
from .delete_pages import DeletePages
from .device_reports import DeviceReports
from .enrolments import Enrolments
from .lookup import Lookup
from .persons import PeopleError, PersonInput, Persons
from .status import Status
from .sync import Sync
from .wants import ALL

#: In-flight people are handed out again after this many seconds without a result.
REDELIVERY_SECONDS = 120.0
#: When the operator asks for automatic retries (`retry_limit`), a failure with a passing cause
#: (protocol.codes.TRANSIENT_PEOPLE_ERRORS) is tried again after this many seconds, doubling
#: at each attempt.
RETRY_SECONDS = 60.0


class People(Persons, Lookup, Status, Sync, AddPages, DeletePages, DeviceReports, Enrolments):
    """The store's people repository (`store.people`): the mixins of this package as one object.

    The defaults are read from this module when a store opens, so a launcher may change
    REDELIVERY_SECONDS first (tests/test_reliability_crash.py starts a server that way).
    """

    def __init__(self, db: sqlite_utils.Database, files: Files) -> None:
        self.db = db
        self.files = files
        #: Seconds before an in-flight person is handed out again (tests set it small).
        self.redelivery_timeout = REDELIVERY_SECONDS
        #: Automatic retries of a transient failure; 0 (protocol.md 5.3): it waits for a change or `people sync`.
        self.retry_limit = 0
        #: Seconds before the first automatic retry of a transient failure (tests set it small).
        self.retry_delay = RETRY_SECONDS


__all__ = ["ALL", "REDELIVERY_SECONDS", "RETRY_SECONDS", "PageFile", "PagePerson", "People", "PeopleError",
           "PersonInput"]
