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
    assert_wants_exact(store)


def assert_wants_exact(store: Store) -> None:
    """Rows plus the people above each cursor are exactly the wants one row per (device, person) would hold.

    Recomputed from scratch: every approved device wants every person for all devices, a
    listed device its listed people. Each such want is a row with that version, or (people
    for all devices only) the person is above the device's cursor and has no row; every
    other row wants nothing. And `people status` counts what that full set says.
    """
    db = store.db
    approved = {r[0] for r in db.execute("SELECT sn FROM devices WHERE state = 'approved'")}
    cursor = dict(db.execute("SELECT sn, through FROM people_sync").fetchall())
    people = {r[0]: r[1:] for r in db.execute("SELECT user_id, version, scope_all, since FROM people")}
    listed = set(db.execute("SELECT sn, user_id FROM person_devices").fetchall())
    rows = {(r[0], r[1]): r[2:] for r in db.execute("SELECT sn, user_id, want, have, fail_version FROM device_people")}
    desired = {(sn, uid): p[0] for uid, p in people.items() for sn in approved if p[1]}
    desired |= {(sn, uid): people[uid][0] for sn, uid in listed if not people[uid][1]}
    implicit: dict[str, int] = {}
    for (sn, uid), version in desired.items():
        above = people[uid][1] == 1 and people[uid][2] > cursor.get(sn, 0)
        if above:
            assert (sn, uid) not in rows, f"{sn} has a row for {uid}, above its cursor"
            implicit[sn] = implicit.get(sn, 0) + 1
        else:
            assert rows.get((sn, uid), (None,))[0] == version, f"{sn} lacks the row for {uid} at v{version}"
    for key, (want, _, _) in rows.items():
        assert key in desired or want is None, f"{key} wants v{want}, nobody asks for it"
    full = {sn: [0, 0, 0] for sn in approved | {sn for sn, _ in rows}}  # wanted, delivered, failed
    for (sn, _), (want, have, fail_version) in rows.items():
        if want is not None:
            full[sn][0] += 1
            full[sn][1] += want == have
            full[sn][2] += want != have and fail_version == want
    for sn, n in implicit.items():
        full[sn][0] += n
    for s in store.people.status():
        wanted, delivered, failed = full.get(s["sn"], [0, 0, 0])
        assert (s["wanted"], s["delivered"], s["failed"]) == (wanted, delivered, failed), s["sn"]
        assert s["pending"] + s["in_flight"] == wanted - delivered - failed, s["sn"]


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
            "DROP TABLE people_counts; DROP TRIGGER people_counts_insert; "
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


def test_implicit_wants_follow_every_write_path(store: Store) -> None:
    """People for all devices get a device's row only when it takes them (or something needs the row)."""
    from facectl.protocol.people import DevicePerson

    store.devices.add(SN)
    store.devices.add(SN2)
    store.people.save_many([PersonInput(uid, {"Name": f"p{uid}"}) for uid in range(1, 21)], mode="add")
    assert store.db.execute("SELECT count(*) FROM device_people").fetchone()[0] == 0
    assert_exact(store)
    page = store.people.take_add_page(SN, 7)
    assert [p.user_id for p in page.people] == list(range(1, 8))
    assert_exact(store)
    store.people.add_result(SN, [Failure(3, DUPLICATE_CARD, None, "dup")])
    store.people.update(PersonInput(2, {"Name": "renamed"}))  # a row on SN, implicit on SN2
    store.people.update(PersonInput(15, {"Name": "renamed too"}))
    assert_exact(store)
    s = status_of(store, SN)
    assert (s["wanted"], s["delivered"], s["failed"], s["pending"]) == (20, 5, 1, 14)
    # A failure of someone never handed out, and a device holding someone not sent yet: rows are needed.
    store.people.add_result(SN2, [Failure(12, PHOTO_DOWNLOAD, None, "")])
    assert_exact(store)
    store.people.device_report(SN, 1, 18, DevicePerson(18, {"Name": "p18"}), None)
    assert_exact(store)
    assert store.people.diff(SN)["reported"] == 1
    store.people.device_report(SN2, 3, 19, None, None)  # not held, still wanted: pending anyway
    assert [r["user_id"] for r in [*store.people.diff(SN2)["missing"]]] == [19]
    assert_exact(store)
    # Scope narrowed and widened again, a person removed and added again while a device holds them.
    store.people.update(PersonInput(5, {}, scope=[SN2]))
    assert_exact(store)
    store.people.update(PersonInput(5, {}, scope="all"))
    assert_exact(store)
    store.people.remove([6])
    store.people.add(PersonInput(6, {"Name": "back"}))
    assert_exact(store)
    # A device blocked, approved again, and one approved after the people were added.
    store.devices.set_state(SN2, "blocked")
    store.people.reconcile_device(SN2)
    assert_exact(store)
    store.devices.set_state(SN2, "approved")
    assert store.people.needs_add(SN2)
    assert_exact(store)
    store.devices.add("FC-8190H26010101")
    assert status_of(store, "FC-8190H26010101")["pending"] == 20
    store.people.sync([SN, SN2, "FC-8190H26010101"])
    assert_exact(store)
    for sn in (SN, SN2, "FC-8190H26010101"):
        while (page := store.people.take_add_page(sn, 6)).people:
            store.people.add_result(sn, [])
            assert_exact(store)
        assert not store.people.needs_add(sn)
    deliveries = {d["sn"]: d["state"] for d in store.people.deliveries(1)}
    assert set(deliveries.values()) == {"delivered"} and len(deliveries) == 3
    store.people.save_many([PersonInput(uid, {"Name": f"late {uid}"}) for uid in range(30, 35)], mode="add")
    assert {d["sn"]: d["state"] for d in store.people.deliveries(30)} == dict.fromkeys(deliveries, "pending")
    assert [p["delivery"]["wanted"] for p in store.people.list() if p["user_id"] >= 30] == [3] * 5
    store.people.factory_reset(SN)
    assert_exact(store)
    assert status_of(store, SN)["pending"] == 25
