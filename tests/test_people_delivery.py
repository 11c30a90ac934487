"""Delivery state in the store after the device's own failures and a factory reset.

Store-level: pages and results are taken with explicit times (`now=`), so the retry
backoff is checked to the second without waiting; the e2e tests (test_e2e_restart.py,
test_e2e_commands.py) show the same behaviour through the real server and a simulated
device.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from facectl.protocol import commands as command_rules
from facectl.protocol.codes import PEOPLE_ERROR_CODES
from facectl.protocol.people import Failure, read_device_person
from facectl.store import Store
from facectl.store.people import RETRY_SECONDS, PersonInput

SN = "FC-8190H24052799"
SN2 = "FC-8190H25061293"
#: `facectl serve --retry-failed 5`: the operator asked for automatic retries of passing causes.
RETRY_LIMIT = 5
PHOTO_DOWNLOAD = int(PEOPLE_ERROR_CODES.value_of("photo download failed"))
DUPLICATE_CARD = int(PEOPLE_ERROR_CODES.value_of("duplicate card number"))


def add(store: Store, ids: range | list[int]) -> None:
    store.people.save_many([PersonInput(uid, {"Name": f"person {uid}"}) for uid in ids], mode="add")


def page_ids(store: Store, at: float, sn: str = SN) -> list[int]:
    return [p.user_id for p in store.people.take_add_page(sn, 100, now=at).people]


def fail(store: Store, at: float, codes: dict[int, int], sn: str = SN) -> None:
    store.people.add_result(sn, [Failure(uid, code, None, "") for uid, code in codes.items()], now=at)


def row(store: Store, uid: int, sn: str = SN) -> dict[str, Any]:
    return next(iter(store.db.query("SELECT * FROM device_people WHERE sn = ? AND user_id = ?", [sn, uid])))


def status(store: Store, sn: str = SN) -> dict[str, Any]:
    return store.people.status(sn)[0]


def deliver(store: Store, sn: str = SN) -> None:
    """Hand out everything pending and confirm it, as a device that took every page."""
    while store.people.take_add_page(sn, 100).people:
        store.people.add_result(sn, [])


# --- failures that are retried ----------------------------------------------------------------

def test_by_default_a_failure_waits_for_a_change_or_the_operator(store: Store) -> None:
    """protocol.md 5.3: without `--retry-failed`, even a download failure is not retried by itself."""
    store.devices.add(SN)
    add(store, [1])
    t = time.time()
    page_ids(store, t)
    fail(store, t, {1: PHOTO_DOWNLOAD})
    assert row(store, 1)["retry_at"] is None and status(store)["retrying"] == 0
    assert page_ids(store, t + 10 * 24 * 3600) == []
    assert store.people.sync([SN])[0]["retry_failed"] == 1
    assert page_ids(store, t) == [1]


def test_a_download_failure_is_retried_with_a_doubling_backoff_then_waits(store: Store) -> None:
    store.people.retry_limit = RETRY_LIMIT
    store.devices.add(SN)
    add(store, [1, 2])
    t = time.time()
    assert page_ids(store, t) == [1, 2]
    fail(store, t, {1: PHOTO_DOWNLOAD, 2: DUPLICATE_CARD})
    s = status(store)
    assert s["failed"] == 2 and s["retrying"] == 1 and s["next_retry_at"] == t + RETRY_SECONDS
    assert {f["code"]: f["retrying"] for f in s["failures"]} == {PHOTO_DOWNLOAD: 1, DUPLICATE_CARD: 0}
    assert not store.people.needs_add(SN)  # not due yet
    assert page_ids(store, t + RETRY_SECONDS - 1) == []
    delays = []
    for attempt in range(RETRY_LIMIT):
        due = row(store, 1)["retry_at"]
        delays.append(due - t)
        assert page_ids(store, due) == [1], attempt  # the duplicate card is never retried by itself
        assert store.people.deliveries(1)[0]["state"] == "in flight"
        t = due
        fail(store, t, {1: PHOTO_DOWNLOAD})
    assert delays == [RETRY_SECONDS * 2 ** k for k in range(RETRY_LIMIT)]
    # The budget is spent: the failure now waits like any other.
    assert row(store, 1)["retry_at"] is None and row(store, 1)["retries"] == RETRY_LIMIT
    assert status(store)["retrying"] == 0 and status(store)["failed"] == 2
    assert page_ids(store, t + 10 * 24 * 3600) == []
    # The operator's sync retries both and gives a fresh budget.
    plan = store.people.sync([SN])[0]
    assert plan["retry_failed"] == 2 and row(store, 1)["retries"] == 0
    assert page_ids(store, t) == [1, 2]
    store.people.add_result(SN, [], now=t)
    assert status(store)["delivered"] == 2 and status(store)["failures"] == []


def test_a_due_retry_raises_add_people_at_the_keepalive(store: Store) -> None:
    store.people.retry_limit = RETRY_LIMIT
    store.devices.add(SN)
    add(store, [1])
    past = time.time() - RETRY_SECONDS - 5
    page_ids(store, past)
    fail(store, past, {1: PHOTO_DOWNLOAD})
    assert store.work.flags(SN) == {"UploadWorkParameter": 1, "AddPeople": 1}
    assert page_ids(store, time.time()) == [1]
    store.people.add_result(SN, [])
    r = row(store, 1)
    assert r["have"] == r["want"] and r["retries"] == 0 and r["retry_at"] is None and r["fail_code"] is None
    assert "AddPeople" not in store.work.flags(SN)


def test_a_change_to_the_person_replaces_a_scheduled_retry(store: Store) -> None:
    store.people.retry_limit = RETRY_LIMIT
    store.devices.add(SN)
    add(store, [1])
    t = time.time()
    page_ids(store, t)
    fail(store, t, {1: PHOTO_DOWNLOAD})
    page_ids(store, t + RETRY_SECONDS)
    fail(store, t + RETRY_SECONDS, {1: PHOTO_DOWNLOAD})
    assert row(store, 1)["retries"] == 1 and row(store, 1)["retry_at"] is not None
    store.people.update(PersonInput(1, {"Name": "renamed"}))
    r = row(store, 1)
    assert r["retries"] == 0 and r["retry_at"] is None
    assert store.people.deliveries(1)[0]["state"] == "pending"  # the new version goes out now
    assert page_ids(store, time.time()) == [1]


def test_a_failure_of_a_version_no_longer_wanted_schedules_nothing(store: Store) -> None:
    store.people.retry_limit = RETRY_LIMIT
    store.devices.add(SN)
    add(store, [1])
    t = time.time()
    page_ids(store, t)
    store.people.update(PersonInput(1, {"Name": "changed while in flight"}))
    fail(store, t, {1: PHOTO_DOWNLOAD})
    r = row(store, 1)
    assert r["retry_at"] is None and r["fail_version"] < r["want"]
    assert page_ids(store, t) == [1]  # pending for the new version anyway


# --- after a factory reset --------------------------------------------------------------------

def take_commands(store: Store, sn: str = SN, at: float | None = None) -> list[str]:
    return [r["field"] for r, _ in store.commands.take(sn, lambda field, value: value, at=at)]


def test_recover_handed_out_means_the_device_holds_nobody(store: Store) -> None:
    for sn in (SN, SN2):
        store.devices.add(sn)
    add(store, range(1, 6))
    for sn in (SN, SN2):
        deliver(store, sn)
    store.settings.upload(SN, {"DeviceSN": SN, "ReleaseTime": 600})
    store.people.sync([SN], wipe=True)
    store.people.remove([5])  # held, to delete
    store.people.update(PersonInput(4, {"Name": "fails"}))
    t = time.time()
    assert page_ids(store, t) == [4]
    fail(store, t, {4: DUPLICATE_CARD})
    # a person enrolled at the device only (with a Detail: without one it would mean "not held", protocol.md 8.7)
    store.people.device_report(SN, 1, 99, read_device_person({"UserID": "99"}), None)
    before = status(store)
    assert (before["delivered"], before["failed"], before["to_delete"], before["unknown_reported"],
            before["wipe_requested"]) == (3, 1, 1, 1, True)

    store.commands.enqueue(SN, command_rules.RECOVER, 1)
    assert take_commands(store, at=time.time() - 1) == [command_rules.RECOVER]

    after = status(store)
    assert (after["wanted"], after["delivered"], after["pending"], after["failed"], after["to_delete"],
            after["unknown_reported"], after["wipe_requested"]) == (4, 0, 4, 0, 0, 0, False)
    assert [d["sn"] for d in store.people.deliveries(5)] == [SN2]  # nothing to delete from an empty device
    # the settings it now has are the factory ones: the next keepalive asks for them
    assert store.settings.needs_upload(SN)
    # no page until the device has come back: its first keepalive after the reset
    assert store.people.take_add_page(SN, 100).people == []
    assert store.people.take_delete_page(SN, 100).user_ids == []
    store.devices.record_status(SN, {})
    flags = store.work.flags(SN)
    assert flags == {"UploadWorkParameter": 1, "AddPeople": 1}
    assert sorted(page_ids(store, time.time())) == [1, 2, 3, 4]
    assert store.people.take_delete_page(SN, 100).user_ids == []
    # the other device is untouched
    other = status(store, SN2)
    assert (other["delivered"], other["pending"], other["to_delete"]) == (3, 1, 1)  # 4 changed, 5 removed


def test_other_commands_leave_delivery_alone(store: Store) -> None:
    store.devices.add(SN)
    add(store, range(1, 4))
    deliver(store)
    for field, value in ((command_rules.RESTART, 1), (command_rules.CLEAR_RECORD, 1),
                         (command_rules.REPOST_RECORD, 1)):
        store.commands.enqueue(SN, field, value)
        assert field in take_commands(store)
    assert status(store)["delivered"] == 3
    assert store.people.take_add_page(SN, 100).people == []


def test_a_database_from_before_retries_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE device_people (sn TEXT NOT NULL, user_id INTEGER NOT NULL, want INTEGER, have INTEGER,
                have_at REAL, inflight INTEGER, inflight_at REAL NOT NULL DEFAULT 0, inflight_page INTEGER,
                fail_code INTEGER, fail_version INTEGER, fail_repeat TEXT, fail_message TEXT, fail_at REAL,
                PRIMARY KEY (sn, user_id)) WITHOUT ROWID;
            INSERT INTO device_people (sn, user_id, want, have) VALUES ('FC-8190H24052799', 1, 3, 3);
            CREATE TABLE people_sync (sn TEXT PRIMARY KEY, approved_at REAL, add_page INTEGER NOT NULL DEFAULT 0,
                delete_page INTEGER NOT NULL DEFAULT 0, wipe INTEGER NOT NULL DEFAULT 0,
                wipe_at REAL NOT NULL DEFAULT 0, inline_files INTEGER NOT NULL DEFAULT 0, last_page_at REAL,
                last_result_at REAL);
        """)
    conn.close()
    store = Store(str(path))
    try:
        assert row(store, 1)["retries"] == 0 and row(store, 1)["retry_at"] is None
        assert {r[1] for r in store.db.execute("PRAGMA table_info(people_sync)")} >= {"reset_at"}
        plan = " ".join(str(r) for r in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT 1 FROM device_people WHERE sn = 'x' AND retry_at IS NOT NULL "
            "AND retry_at <= 0"))
        assert "device_people_retry" in plan
    finally:
        store.close()
