"""`people status` reads per-device counters kept by triggers; they must equal a full recount.

Each scenario drives the store through its real write paths (add, scope, pages, results
with failures, retries, sync, removal, DeleteAll, a device's own report, factory reset) and
compares `people_counts` with the GROUP BY over `device_people` that status used to run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from facectl.protocol.codes import PEOPLE_ERROR_CODES
from facectl.protocol.people import Failure
from facectl.store import Store
from facectl.store.migrations import SCHEMA_VERSION
from facectl.store.people import PersonInput
from facectl.store.people.counters import STATES

SN = "FC-8190H24052799"
SN2 = "FC-8190H25061293"
DUPLICATE_CARD = int(PEOPLE_ERROR_CODES.value_of("duplicate card number"))
PHOTO_DOWNLOAD = int(PEOPLE_ERROR_CODES.value_of("photo download failed"))


def recount(store: Store) -> dict[str, tuple[int, ...]]:
    terms = ", ".join(f"total({t.format(r='device_people')})" for t in STATES.values())
    return {r[0]: tuple(int(v) for v in r[1:]) for r in store.db.execute(
        f"SELECT sn, count(*), {terms} FROM device_people GROUP BY sn")}


def counters(store: Store) -> dict[str, tuple[int, ...]]:
    return {r[0]: tuple(r[1:]) for r in store.db.execute(
        f"SELECT sn, rows, {', '.join(STATES)} FROM people_counts WHERE rows > 0")}


def assert_exact(store: Store) -> None:
    assert counters(store) == recount(store)


def test_counters_follow_every_write_path(store: Store) -> None:
    store.devices.add(SN)
    store.devices.add(SN2)
    store.people.save_many([PersonInput(uid, {"Name": f"person {uid}"}) for uid in range(1, 31)], mode="add")
    store.people.save_many([PersonInput(uid, {"Name": f"scoped {uid}"}, scope=[SN2]) for uid in range(31, 36)],
                           mode="add")
    assert_exact(store)
    assert status_of(store, SN)["pending"] == 30 and status_of(store, SN2)["pending"] == 35

    page = store.people.take_add_page(SN, 10, now=1000.0)
    assert_exact(store)
    assert status_of(store, SN)["in_flight"] == 0  # handed out long ago: pending again
    store.people.take_add_page(SN2, 10)
    assert status_of(store, SN2)["in_flight"] == 10 and status_of(store, SN2)["pending"] == 25
    store.people.add_result(SN2, [Failure(1, DUPLICATE_CARD, None, "dup"), Failure(2, PHOTO_DOWNLOAD, None, "")])
    assert_exact(store)
    s = status_of(store, SN2)
    assert (s["delivered"], s["failed"], s["in_flight"]) == (8, 2, 0)
    assert {f["code"] for f in s["failures"]} == {DUPLICATE_CARD, PHOTO_DOWNLOAD}

    store.people.add_result(SN, [Failure(page.people[0].user_id, DUPLICATE_CARD, None, "")])
    store.people.update(PersonInput(1, {"Name": "renamed"}))
    store.people.update(PersonInput(3, {}, scope=[SN]))
    store.people.remove([4, 5, 31])
    assert_exact(store)
    store.people.sync([SN2])
    assert_exact(store)
    while store.people.take_delete_page(SN2, 100).user_ids:
        store.people.delete_result(SN2, False, [])
    assert_exact(store)
    store.people.sync([SN], full=True)
    store.people.sync([SN2], wipe=True)
    assert store.people.take_delete_page(SN2, 100).delete_all
    store.people.delete_result(SN2, True, [])
    assert_exact(store)
    store.people.factory_reset(SN)
    store.devices.set_state(SN2, "blocked")
    store.people.reconcile_device(SN2)
    assert_exact(store)
    assert status_of(store, SN2)["wanted"] == 4  # people listed for it by name stay wanted in any state


def status_of(store: Store, sn: str) -> dict:
    return store.people.status(sn)[0]


def test_a_database_without_counters_is_counted_once_when_opened(tmp_path: Path) -> None:
    """The migration counts the rows an older database already has, in its one transaction."""
    path = str(tmp_path / "old.db")
    store = Store(path)
    store.devices.add(SN)
    store.people.save_many([PersonInput(uid, {"Name": f"p{uid}"}) for uid in range(1, 6)], mode="add")
    store.people.take_add_page(SN, 2)
    store.people.add_result(SN, [])
    store.close()
    with sqlite3.connect(path) as conn:  # as a database of the version before the counters
        conn.executescript(
            "DROP TABLE people_counts; DROP TABLE people_counts_paused; DROP TRIGGER people_counts_insert; "
            "DROP TRIGGER people_counts_update; DROP TRIGGER people_counts_delete; "
            "DROP INDEX device_people_failed; DROP INDEX device_people_unneeded; "
            "DELETE FROM _sqlite_migrations WHERE name LIKE '%_people_counters'; "
            f"PRAGMA user_version = {SCHEMA_VERSION - 1};")
    conn.close()
    store = Store(path)
    try:
        assert_exact(store)
        s = status_of(store, SN)
        assert (s["wanted"], s["delivered"], s["pending"]) == (5, 2, 3)
        store.people.remove([1])
        assert_exact(store)
    finally:
        store.close()
