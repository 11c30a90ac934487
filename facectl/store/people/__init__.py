"""People and their delivery to devices, by reconciliation (ARCHITECTURE.md, "State, not messages").

The operator's people are the truth. What each device should hold follows from them as
one row per (device, person) (for people for all devices: up to the device's cursor, the
rest implicit), and the keepalive flags and pages follow from those, so a message that
never arrived loses nothing. One module per concern, each with the
decisions it carries out (all are also in docs/people.md):

- context.py: what every part shares: the connection, files, clock, delivery knobs, rows by key.
- state.py: what a (device, person) row says: delivered, pending, in flight, failed, to delete.
- wants.py: versions, and which devices should hold each person (scope).
- implicit.py: people for all devices not written per device: a cursor per device.
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

Each concern is one class taking the shared `PeopleContext` and, in its constructor, the
other parts it calls (`Parts` below shows who needs whom); `People` builds them and
offers their public methods as one object, `store.people`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from ..files import Files
from .add_pages import AddPages, PageFile, PagePerson
from .biometrics import Biometrics
from .context import PeopleContext
from .delete_pages import DeletePages
from .device_reports import DeviceReports
from .enrolments import Enrolments
from .factory_reset import FactoryReset
from .implicit import Implicit
from .lookup import Lookup
from .persons import PeopleError, PersonInput, Persons
from .status import Status
from .sync import Sync
from .wants import ALL, Wants

#: In-flight people are handed out again after this many seconds without a result.
REDELIVERY_SECONDS = 120.0
#: When the operator asks for automatic retries (`retry_limit`), a failure with a passing cause
#: (protocol.codes.TRANSIENT_PEOPLE_ERRORS) is tried again after this many seconds, doubling
#: at each attempt.
RETRY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Parts:
    """The parts of the people store, built on one context, in the order they depend on each other."""

    biometrics: Biometrics
    implicit: Implicit
    wants: Wants
    reset: FactoryReset
    lookup: Lookup
    persons: Persons
    status: Status
    sync: Sync
    add_pages: AddPages
    delete_pages: DeletePages
    reports: DeviceReports
    enrolments: Enrolments

    @classmethod
    def build(cls, ctx: PeopleContext) -> Parts:
        biometrics = Biometrics(ctx)
        implicit = Implicit(ctx)
        wants = Wants(ctx, implicit)
        reset = FactoryReset(ctx, implicit)
        lookup = Lookup(ctx, biometrics, implicit)
        return cls(
            biometrics=biometrics,
            implicit=implicit,
            wants=wants,
            reset=reset,
            lookup=lookup,
            persons=Persons(ctx, wants, biometrics, lookup),
            status=Status(ctx, implicit),
            sync=Sync(ctx, wants, implicit),
            add_pages=AddPages(ctx, wants, reset, implicit),
            delete_pages=DeletePages(ctx, reset),
            reports=DeviceReports(ctx, wants, biometrics, implicit),
            enrolments=Enrolments(ctx, wants, biometrics),
        )


class People:
    """The store's people repository (`store.people`): the public methods of the parts, as one object.

    The defaults are read from this module when a store opens, so a launcher may change
    REDELIVERY_SECONDS first (tests/test_reliability_crash.py starts a server that way).
    The delivery knobs set here (`redelivery_timeout`, `retry_limit`, `retry_delay`) are
    the context's, which every part reads at each call.
    """

    def __init__(self, db: sqlite_utils.Database, files: Files) -> None:
        self.ctx = PeopleContext(db, files, redelivery_timeout=REDELIVERY_SECONDS, retry_delay=RETRY_SECONDS)
        self.parts = parts = Parts.build(self.ctx)
        # The operator's writes and reads.
        self.add = parts.persons.add
        self.update = parts.persons.update
        self.save_many = parts.persons.save_many
        self.check = parts.persons.check
        self.remove = parts.persons.remove
        self.all_ids = parts.lookup.all_ids
        self.exists = parts.lookup.exists
        self.count = parts.lookup.count
        self.get = parts.lookup.get
        self.find_by_credential = parts.lookup.find_by_credential
        self.list = parts.lookup.list
        self.iter_all = parts.lookup.iter_all
        self.biometrics = parts.biometrics.of
        # Delivery: state, the operator's sync, and the pages the handlers hand out.
        self.reconcile_device = parts.wants.reconcile_device
        self.deliveries = parts.status.deliveries
        self.status = parts.status.status
        self.sync = parts.sync.sync
        self.set_file_mode = parts.sync.set_file_mode
        self.needs_add = parts.add_pages.needs_add
        self.take_add_page = parts.add_pages.take_add_page
        self.add_result = parts.add_pages.add_result
        self.needs_delete = parts.delete_pages.needs_delete
        self.take_delete_page = parts.delete_pages.take_delete_page
        self.delete_result = parts.delete_pages.delete_result
        self.factory_reset = parts.reset.factory_reset
        self.storage_lost = parts.reset.storage_lost
        self.storage_lost_note = parts.reset.storage_lost_note
        # What devices say: PushPeople and enrolments.
        self.device_report = parts.reports.device_report
        self.reports = parts.reports.reports
        self.diff = parts.reports.diff
        self.record_enrolment = parts.enrolments.record_enrolment
        self.enrolment_results = parts.enrolments.enrolment_results
        self.link_enrolment = parts.enrolments.link_enrolment

    @property
    def redelivery_timeout(self) -> float:
        """Seconds before an in-flight person is handed out again (tests set it small)."""
        return self.ctx.redelivery_timeout

    @redelivery_timeout.setter
    def redelivery_timeout(self, value: float) -> None:
        self.ctx.redelivery_timeout = value

    @property
    def retry_limit(self) -> int:
        """Automatic retries of a transient failure; 0 (protocol.md 5.3): it waits for a change or `people sync`."""
        return self.ctx.retry_limit

    @retry_limit.setter
    def retry_limit(self, value: int) -> None:
        self.ctx.retry_limit = value

    @property
    def retry_delay(self) -> float:
        """Seconds before the first automatic retry of a transient failure (tests set it small)."""
        return self.ctx.retry_delay

    @retry_delay.setter
    def retry_delay(self, value: float) -> None:
        self.ctx.retry_delay = value


__all__ = ["ALL", "REDELIVERY_SECONDS", "RETRY_SECONDS", "PageFile", "PagePerson", "People", "PeopleContext",
           "PeopleError", "PersonInput", "Parts"]
