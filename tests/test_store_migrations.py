"""Schema versions: an old database opens with everything intact and the server carries on.

tests/fixtures/v1.db was made by the release before schema versions (tests/fixtures/make_v1_db.py
says what it holds). Every test works on a copy.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BOUNDARY, DeviceClient, LiveServer

from facectl.cli.main import cli
from facectl.protocol import multipart
from facectl.server.config import ServerConfig
from facectl.store import SchemaTooNew, Store, StoreError
from facectl.store.migrations import SCHEMA_VERSION
from facectl.store.people import PersonInput

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1 = FIXTURES / "v1.db"
SN_A, SN_B = "FC-8190H24052799", "FC-8190H25061293"
#: Tables and the rows the fixture holds in each (read from the file, not from facectl).
TABLES = ("devices", "settings", "settings_history", "setting_changes", "records", "files", "people",
          "biometrics", "device_people", "people_sync", "device_reports", "commands", "quarantine", "snapshots",
          "meta")


def columns(path: Path, table: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def rows(path: Path, table: str, cols: list[str] | None = None) -> list[tuple]:
    """Every row of `table`, in the columns given (default: all), so later migrations' columns can be left out."""
    cols = cols or columns(path, table)
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


def schema(path: Path) -> dict[str, object]:
    """Columns of every table and the definition of every index: what the code relies on."""
    conn = sqlite3.connect(path)
    try:
        out: dict[str, object] = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            out[name] = [r[1:] for r in conn.execute(f"PRAGMA table_info({name})")]
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"):
            out[f"index {name}"] = " ".join(sql.replace("IF NOT EXISTS ", "").split())
        out["user_version"] = conn.execute("PRAGMA user_version").fetchone()[0]
        return out
    finally:
        conn.close()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    target = tmp_path / "site.db"
    shutil.copyfile(V1, target)
    return target


def test_the_fixture_is_a_database_from_before_versions() -> None:
    conn = sqlite3.connect(V1)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = '_sqlite_migrations'").fetchone()[0] == 0
    conn.close()
    assert V1.stat().st_size < 1_000_000


def test_old_database_opens_with_every_row_intact(old_db: Path) -> None:
    old_columns = {t: columns(old_db, t) for t in TABLES}
    #: The one value a migration rewrites: the time zone, whole hours before, a label after.
    old_columns["devices"].remove("timezone")
    before = {t: rows(old_db, t, old_columns[t]) for t in TABLES}
    store = Store(str(old_db))
    assert store.opened_version == 0
    store.close()
    after = {t: rows(old_db, t, old_columns[t]) for t in TABLES}
    assert after == before
    assert len(before["records"]) == 6 and len(before["people"]) == 3 and len(before["biometrics"]) == 2
    assert schema(old_db)["user_version"] == SCHEMA_VERSION
    zones = {r[0] for r in sqlite3.connect(old_db).execute("SELECT timezone FROM devices WHERE timezone IS NOT NULL")}
    assert zones and all(str(z).startswith("UTC") for z in zones), zones


def test_migrated_and_new_databases_have_the_same_schema(old_db: Path, tmp_path: Path) -> None:
    Store(str(old_db)).close()
    fresh = tmp_path / "fresh.db"
    Store(str(fresh)).close()
    assert schema(old_db) == schema(fresh)


def test_reopening_a_current_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    Store(str(path)).close()
    store = Store(str(path))
    assert store.opened_version == SCHEMA_VERSION
    applied = [r["name"] for r in store.db.query("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert len(applied) == SCHEMA_VERSION and applied[0] == "0001_initial"
    store.close()


def test_the_server_carries_on_with_an_old_database(old_db: Path) -> None:
    server = LiveServer(ServerConfig(db=str(old_db), host="127.0.0.1", port=0))
    store = Store(str(old_db))
    a, b = DeviceClient(server.port, SN_A), DeviceClient(server.port, SN_B)
    try:
        # A retried record (same SN, kind, id and date) is acknowledged and stored once.
        detail = {"RecordID": 1, "RecordType": 3, "RecordDate": 1764547200 + 1, "UserID": "1", "Name": "张三",
                  "CardNum": "0", "IsEntry": 1, "BodyTemp": 365}
        parts = [multipart.text_part("SN", SN_A), multipart.text_part("RecordDetail", json.dumps(detail)),
                 multipart.file_part("Photo", "Photo.jpg", _record_photo(store), "image/jpeg")]
        assert a.post_parts("/Record/UploadIdentifyRecord", parts, BOUNDARY).json == {"Success": 1}
        assert len(store.records.list(sn=SN_A, kind="identify")) == 3
        # SN_B: its queued commands go out, its page in flight is handed out again, people 4 too.
        sent: dict[str, object] = {}
        for _ in range(3):  # PushSoftware goes alone (exclusive), so two rounds
            if not b.keepalive().json.get("Remote"):
                break
            sent.update(b.post_json("/Device/RemoteCommand").json)
        assert sent.get("Opendoor") == 1 and "PushSoftware" in sent
        people_before = {r["user_id"]: r for r in store.db.query(
            "SELECT * FROM device_people WHERE sn = ?", [SN_B])}
        assert people_before[1]["inflight"] == 1
        page = _take_all(b, server)
        assert sorted(int(p["UserID"]) for p in page) == [1, 3, 4]
        held_b = {r[0]: r[1] for r in store.db.execute("SELECT user_id, have FROM device_people WHERE sn = ?", [SN_B])}
        assert {uid for uid, have in held_b.items() if have} == {1, 3, 4}
        # SN_A: person 2 is deleted there, person 4 delivered.
        assert a.keepalive().json.get("DeletePeople") == 1
        deletes = a.post_json("/People/DeletePeopleList").json
        assert deletes["DeleteList"] == [2]
        a.post_json("/People/DeletePeopleListResult", DeleteCount=1, DeleteAll=0, DeleteList=[2])
        page_a = a.post_json("/People/DownloadPeopleList", Limit=100).json["PeopleList"]
        assert [int(p["UserID"]) for p in page_a] == [4]
        a.post_json("/People/DownloadPeopleListResult", SuccessCount=1, FailCount=0, FailList=[])
        held = {r[0]: r[1] for r in store.db.execute("SELECT user_id, have FROM device_people WHERE sn = ?", [SN_A])}
        assert set(held) == {1, 3, 4} and all(held.values())
    finally:
        a.close()
        b.close()
        store.close()
        server.stop()


def _record_photo(store: Store) -> bytes:
    found = store.files.get(store.records.get(SN_A, 1, "identify")["photo"])
    assert found is not None
    return found[1]


def _take_all(client: DeviceClient, server: LiveServer) -> list[dict]:
    """SN_B takes its people: the page of the old release was never answered, so it comes again after the
    server's redelivery timeout; the running server's timeout is made 0 so it comes at once."""
    from facectl.server.app import STORE

    server.runner.app[STORE].people.redelivery_timeout = 0
    page = client.post_json("/People/DownloadPeopleList", Limit=100).json["PeopleList"]
    client.post_json("/People/DownloadPeopleListResult", SuccessCount=len(page), FailCount=0, FailList=[])
    return page


def test_a_newer_database_is_refused_with_a_clear_message(old_db: Path) -> None:
    conn = sqlite3.connect(old_db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this facectl"):
        Store(str(old_db))
    result = CliRunner().invoke(cli, ["device", "list", "--db", str(old_db)])
    assert result.exit_code == 3
    assert "newer than this facectl" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["serve", "--db", str(old_db), "--host", "127.0.0.1", "--port", "0"])
    assert result.exit_code == 3 and "newer than this facectl" in result.output


def _open(path: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:
    barrier.wait()
    try:
        store = Store(path)
        out.put(("ok", store.db.execute("PRAGMA user_version").fetchone()[0]))
        store.close()
    except Exception as exc:  # reported to the test, which fails with it
        out.put(("error", repr(exc)))


@pytest.mark.parametrize("age", ["v1", "older"])
def test_four_processes_opening_an_old_database_at_once_all_succeed(old_db: Path, age: str) -> None:
    """The first one migrates under BEGIN IMMEDIATE; the others wait for it, then find nothing to do."""
    if age == "older":  # the people schema of an earlier release: no retry columns yet
        conn = sqlite3.connect(old_db)
        conn.execute("DROP INDEX device_people_retry")
        conn.execute("ALTER TABLE device_people DROP COLUMN retry_at")
        conn.execute("ALTER TABLE device_people DROP COLUMN retries")
        conn.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(str(old_db), barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
    assert results == [("ok", SCHEMA_VERSION)] * 4
    assert "retry_at" in {r[0] for r in schema(old_db)["device_people"]}  # type: ignore[union-attr]


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    """Every migration runs in one transaction: one that fails leaves the database as it was."""
    path = tmp_path / "odd.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, sn TEXT)")  # no received_at: migration 2 fails
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="nothing was changed"):
        Store(str(path))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["records"]
    conn.close()
    result = CliRunner().invoke(cli, ["device", "list", "--db", str(path)])
    assert result.exit_code == 3 and "nothing was changed" in result.output


def _deliveries_in_every_state(path: Path) -> None:
    """Two devices with people delivered, failed with a reason, in flight, pending, to delete, being deleted,
    listed for one device only, and a DeleteAll waiting; every row written, as before the cursors."""
    from facectl.protocol.codes import PEOPLE_ERROR_CODES
    from facectl.protocol.people import Failure
    from facectl.store.db import transaction

    store = Store(str(path))
    sn_c = "FC-8190H26010101"
    for sn in (SN_A, SN_B, sn_c):
        store.devices.add(sn)
    store.people.save_many([PersonInput(u, {"Name": f"p{u}"}) for u in range(1, 13)], mode="add")
    store.people.add(PersonInput(13, {"Name": "only B"}, scope=[SN_B]))
    store.people.take_add_page(SN_A, 4)
    store.people.add_result(SN_A, [Failure(2, int(PEOPLE_ERROR_CODES.value_of("duplicate card number")), None,
                                           "dup")])
    store.people.take_add_page(SN_A, 3)  # 5, 6, 7 in flight
    store.people.remove([1])
    assert store.people.take_delete_page(SN_A, 10).user_ids == [1]  # being deleted
    store.people.remove([4])  # to delete
    store.people.take_add_page(SN_B, 5)
    store.people.add_result(SN_B, [])
    store.people.sync([sn_c], wipe=True)
    with transaction(store.db):  # as the code before the cursors left it: a row per device and person
        for sn in (SN_A, SN_B, sn_c):
            store.people.parts.implicit.catch_up(sn)
    store.close()


def _what_is_delivered(path: Path) -> list[object]:
    """Everything each device is handed from now on, page by page, with the state shown on the way."""
    store = Store(str(path))
    out: list[object] = []
    try:
        store.people.save_many([PersonInput(u, {"Name": f"new {u}"}) for u in (20, 21)], mode="add")
        for sn in (SN_A, SN_B, "FC-8190H26010101"):
            for _ in range(6):
                s = store.people.status(sn)[0]
                out.append({k: s[k] for k in ("wanted", "delivered", "pending", "in_flight", "failed", "to_delete",
                                              "failures", "wipe_requested")})
                out.append((store.people.needs_add(sn), store.people.needs_delete(sn)))
                out.append(sorted(d["state"] for u in range(1, 22) for d in store.people.deliveries(u)
                                  if d["sn"] == sn))
                gone = store.people.take_delete_page(sn, 4)
                out.append(("delete", gone.user_ids, gone.delete_all))
                store.people.delete_result(sn, gone.delete_all, [])
                page = store.people.take_add_page(sn, 4)
                out.append(("add", [(p.user_id, p.version) for p in page.people]))
                store.people.add_result(sn, [])
    finally:
        store.close()
    return out


def test_deliveries_in_every_state_carry_on_exactly_after_the_cursor_migration(tmp_path: Path) -> None:
    """A database with a row per (device, person), migrated to cursors, hands out what it would have."""
    before = tmp_path / "before.db"
    _deliveries_in_every_state(before)
    migrated = tmp_path / "migrated.db"
    shutil.copyfile(before, migrated)
    conn = sqlite3.connect(migrated)  # as a database of the version before the cursors
    conn.executescript(
        "DROP INDEX people_since; ALTER TABLE people DROP COLUMN since; ALTER TABLE people_sync DROP COLUMN through; "
        "DELETE FROM _sqlite_migrations WHERE name LIKE '%_people_cursors'; "
        f"PRAGMA user_version = {SCHEMA_VERSION - 1};")
    conn.close()
    expected = _what_is_delivered(before)
    assert _what_is_delivered(migrated) == expected
    first = expected[0]
    assert isinstance(first, dict)
    assert (first["wanted"], first["delivered"], first["failed"], first["in_flight"], first["to_delete"]) == \
        (12, 1, 1, 3, 2)
    assert [x for x in expected if isinstance(x, tuple) and x[0] == "delete" and x[1]] == [("delete", [4], False)]
