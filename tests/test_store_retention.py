"""Retention asked for by the operator, files freed only when unused, removed people purged, space handed back."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SN, DeviceClient, LiveServer
from test_people_server import SN2, Terminal

from facectl.cli.main import cli
from facectl.protocol.records import Record
from facectl.server.config import ServerConfig
from facectl.server.maintenance import MAINTENANCE
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store
from facectl.store.files import FRESH_SECONDS
from facectl.store.people import PersonInput
from facectl.store.retention import Retention

DAY = 86400


def run(db_path: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--db", db_path], catch_exceptions=False)


def record(record_id: int, kind: str = "identify") -> Record:
    return Record(kind=kind, record_id=record_id, record_type=3, record_date=1764547200 + record_id,
                  fields={"user_id": "1"}, detail={"RecordID": record_id})


def add_records(store: Store, ids: range, age_days: float, photo: bytes | None = None, kind: str = "identify") -> None:
    """Records as the server stores them, then made `age_days` old (received_at, and their photo's stored time)."""
    sha = store.files.put(photo, "image/jpeg").sha256 if photo else None
    store.records.add_many(SN, [record(i, kind) for i in ids], photo=sha)
    t = time.time() - age_days * DAY
    store.db.execute(f"UPDATE records SET received_at = ? WHERE record_id BETWEEN {ids.start} AND {ids.stop - 1} "
                     "AND kind = ?", [t, kind])
    store.db.execute("UPDATE files SET created_at = ? WHERE created_at > ?", [time.time() - 2 * FRESH_SECONDS,
                                                                            time.time() - FRESH_SECONDS])


@pytest.fixture
def aged(store: Store) -> Store:
    """300 old records (200 days) sharing photo OLD, 10 old ones with photo SHARED, 5 new ones with SHARED."""
    add_records(store, range(1, 301), 200, make_jpeg(2000, seed=1))
    add_records(store, range(301, 311), 200, make_jpeg(2000, seed=2))
    add_records(store, range(311, 316), 1, make_jpeg(2000, seed=2))
    return store


def test_prune_deletes_old_records_and_only_the_files_nothing_else_uses(aged: Store, db_path: str) -> None:
    old_photo = aged.records.get(SN, 1)["photo"]
    shared = aged.records.get(SN, 311)["photo"]
    dry = json.loads(run(db_path, "records", "prune", "--older-than", "90d", "--dry-run", "--json").output)
    assert (dry["records"], dry["photos"], dry["files"], dry["dry_run"]) == (310, 310, 1, True)
    assert aged.records.count() == 315  # a dry run deletes nothing
    result = run(db_path, "records", "prune", "--older-than", "90d", "--json")
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert (done["records"], done["files"], done["file_bytes"]) == (310, 1, 2000)
    assert sorted(r["record_id"] for r in aged.records.list(limit=1000)) == list(range(311, 316))
    assert aged.files.info(old_photo) is None
    assert aged.files.info(shared) is not None  # still used by the new records


def test_photos_only_keeps_the_records(aged: Store, db_path: str) -> None:
    result = run(db_path, "records", "prune", "--older-than", "90d", "--photos-only")
    assert result.exit_code == 0 and "310 record photos" in result.output
    rows = aged.records.list(limit=1000)
    assert len(rows) == 315
    assert sum(1 for r in rows if r["photo"]) == 5


def test_kind_limits_what_goes(aged: Store, db_path: str) -> None:
    add_records(aged, range(1, 21), 200, kind="door")
    assert json.loads(run(db_path, "records", "prune", "--older-than", "90d", "--kind", "door", "--json")
                      .output)["records"] == 20
    assert aged.records.count() == 315


def test_bad_age_is_a_usage_error(db_path: str, store: Store) -> None:
    result = CliRunner().invoke(cli, ["records", "prune", "--older-than", "1y", "--db", db_path])
    assert result.exit_code == 2 and "90d" in result.output


def test_files_a_person_snapshot_or_queued_command_uses_stay(store: Store) -> None:
    store.devices.add(SN)
    photo = make_jpeg(1500, seed=5)
    store.people.save_many([PersonInput(1, {"Name": "a"}, photo=photo)], mode="add")
    firmware = store.files.put(b"firmware" * 100)
    store.commands.enqueue(SN, "PushSoftware", {"File": firmware.sha256, "SoftwareVer": "2"})
    snap = store.files.put(make_jpeg(1500, seed=6), "image/jpeg")
    store.snapshots.add(SN, snap.sha256)
    orphan = store.files.put(b"nobody uses this")
    r = Retention(store.db)
    later = time.time() + 2 * FRESH_SECONDS
    after, freed = r.sweep_files(now=later)
    assert after is None and freed.files == 1
    assert store.files.info(orphan.sha256) is None
    for sha in (store.people.get(1)["photo"]["sha256"], firmware.sha256, snap.sha256):
        assert store.files.info(sha) is not None
    # A file just stored is never freed, even unused (the row that will use it comes next).
    fresh = store.files.put(b"just arrived")
    assert r.sweep_files()[1].files == 0 and store.files.info(fresh.sha256) is not None


def test_old_snapshots_and_closed_quarantine_items_age_out_open_ones_stay(store: Store, db_path: str) -> None:
    store.devices.add(SN)
    snap = store.files.put(make_jpeg(1500, seed=7), "image/jpeg")
    store.snapshots.add(SN, snap.sha256)
    open_item = store.quarantine.add(SN, "/Record/UploadIdentifyRecord", "bad", b"one")
    closed = store.quarantine.add(SN, "/Record/UploadIdentifyRecord", "bad", b"two")
    store.quarantine.dismiss(closed, "cannot apply")
    old = time.time() - 200 * DAY
    store.db.execute("UPDATE snapshots SET received_at = ?", [old])
    store.db.execute("UPDATE quarantine SET received_at = ?, replayed_at = CASE WHEN replayed_at IS NULL THEN NULL "
                     "ELSE ? END", [old, old])
    store.db.execute("UPDATE files SET created_at = ?", [old])
    done = json.loads(run(db_path, "records", "prune", "--older-than", "90d", "--json").output)
    assert (done["snapshots"], done["quarantine"], done["files"]) == (1, 1, 1)
    assert [i["id"] for i in store.quarantine.list(include_replayed=True)] == [open_item]


def test_removed_persons_device_copies_go_once_every_device_confirmed(server: LiveServer, store: Store) -> None:
    store.devices.add(SN)
    store.devices.add(SN2)
    a, b = Terminal(server, SN), Terminal(server, SN2)
    try:
        store.people.save_many([PersonInput(7, {"Name": "seven"}, photo=make_jpeg(1500, seed=70))], mode="add")
        a.sync()
        b.sync()
        feature = "RkFDRUZFQVRVUkU="
        assert a.push(2, 7, {"UserID": "7", "Name": "seven", "FaceFeature": feature,
                             "Fingerprints": [{"Num": 1, "Data": "RklOR0VS"}]}, make_jpeg(1600, seed=71)) \
            == {"Success": 1}
        shas = {b_["file"] for b_ in store.people.biometrics(7)} | {store.people.get(7)["photo"]["sha256"]}
        shas |= {r[0] for r in store.db.execute("SELECT photo FROM device_reports WHERE photo IS NOT NULL")}
        assert len(shas) == 4
        store.people.remove([7])
        r = Retention(store.db)
        a.sync()  # A confirms the delete; B has not yet
        assert r.purge_removed_people().people_purged == 0
        assert store.db.execute("SELECT count(*) FROM device_reports WHERE user_id = 7").fetchone()[0] == 1
        b.sync()
        assert not a.held and not b.held
        assert r.purge_removed_people().people_purged == 1
        r.sweep_files(now=time.time() + 2 * FRESH_SECONDS)
        assert store.db.execute("SELECT count(*) FROM device_reports WHERE user_id = 7").fetchone()[0] == 0
        assert store.people.biometrics(7) == []
        assert [sha for sha in shas if store.files.info(sha) is not None] == []
    finally:
        a.close()
        b.close()


def test_new_databases_hand_freed_space_back(store: Store, db_path: str) -> None:
    assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    for i in range(40):
        add_records(store, range(i * 10 + 1, i * 10 + 11), 200, make_jpeg(20_000, seed=100 + i))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    assert run(db_path, "records", "prune", "--older-than", "90d").exit_code == 0
    assert store.db.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert store.db.execute("PRAGMA page_count").fetchone()[0] < pages - 150  # 800 KB of photos gone


def test_db_vacuum_converts_an_old_database_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "v1.db", path)
    first = json.loads(run(str(path), "db", "vacuum", "--json").output)
    assert first["converted"] is True
    again = json.loads(run(str(path), "db", "vacuum", "--json").output)
    assert again["converted"] is False
    store = Store(str(path))
    assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2 and store.records.count() == 6
    store.close()


def test_serve_prunes_what_the_operator_asked_and_records_it(db_path: str) -> None:
    store = Store(db_path)
    add_records(store, range(1, 501), 200, make_jpeg(2000, seed=1))
    add_records(store, range(501, 511), 40, make_jpeg(2000, seed=2))
    add_records(store, range(511, 521), 1, make_jpeg(2000, seed=3))
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, keep_records=90, keep_photos=30,
                                     maintenance_pause=0))
    try:
        assert server.runner.app[MAINTENANCE].wait_for(1, timeout=60)
        rows = store.records.list(limit=1000)
        assert sorted(r["record_id"] for r in rows) == list(range(501, 521))
        assert {r["record_id"] for r in rows if r["photo"]} == set(range(511, 521))
        device = DeviceClient(server.port)
        store.devices.add(SN)
        assert device.keepalive().json["Success"] == 1
        device.close()
    finally:
        server.stop()
    check = json.loads(run(db_path, "db", "check", "--json").output)
    assert (check["retention"]["keep_records_days"], check["retention"]["keep_photos_days"]) == (90, 30)
    store.close()


def test_serve_without_retention_deletes_no_record(db_path: str) -> None:
    store = Store(db_path)
    add_records(store, range(1, 11), 2000, make_jpeg(2000, seed=1))
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0, maintenance_pause=0))
    try:
        assert server.runner.app[MAINTENANCE].wait_for(1, timeout=60)
        assert store.records.count() == 10 and all(r["photo"] for r in store.records.list())
    finally:
        server.stop()
    store.close()


def test_db_check_reports_and_advises(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "v1.db", path)
    result = run(str(path), "db", "check", "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["integrity"] == "ok" and report["schema_version"] == report["code_schema_version"]
    assert report["records"] == 6 and report["photo_bytes"] > 0 and report["retention"] is None
    assert {t["table"] for t in report["tables"]} >= {"records", "files", "people"}
    assert any("facectl db vacuum" in p["action"] for p in report["problems"])
    text = run(str(path), "db", "check").output
    assert "Schema version" in text and "advice:" in text


def test_db_check_on_a_damaged_file_exits_1(tmp_path: Path, store: Store, db_path: str) -> None:
    add_records(store, range(1, 2001), 1)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = os.path.getsize(db_path)
    with open(db_path, "r+b") as fh:  # scribble over pages in the middle of the records table
        fh.seek(size // 2)
        fh.write(b"\x00\xff" * 8192)
    result = CliRunner().invoke(cli, ["db", "check", "--json", "--db", db_path])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    report = json.loads(result.output)
    assert report["integrity"] != "ok" and report["problems"][0]["severity"] == "error"
    assert "restore the latest backup" in report["problems"][0]["action"]
    text = CliRunner().invoke(cli, ["db", "check", "--db", db_path])
    assert text.exit_code == 1 and "DAMAGED" in text.output


def test_prune_while_the_server_takes_records_loses_nothing(server: LiveServer, store: Store, db_path: str) -> None:
    """The CLI prunes in batches while a device keeps sending: every answer is Success 1, every new record stays,
    although their RecordDate (2024-06-17, the device's clock) is far older than 90 days: age is the server's."""
    import threading

    from test_server_records import upload

    store.devices.add(SN)
    add_records(store, range(1, 2001), 200, make_jpeg(2000, seed=1))
    outcome: list[object] = []
    pruning = threading.Thread(target=lambda: outcome.append(run(db_path, "records", "prune", "--older-than", "90d",
                                                                 "--json")))
    device = DeviceClient(server.port)
    pruning.start()
    sent = 0
    try:
        while pruning.is_alive() or sent < 5:
            sent += 1
            assert device.keepalive().json["Success"] == 1
            assert upload(device, record_id=100_000 + sent).json == {"Success": 1}
    finally:
        pruning.join()
        device.close()
    assert json.loads(outcome[0].output)["records"] == 2000  # type: ignore[attr-defined]
    assert sorted(r["record_id"] for r in store.records.list(limit=10_000)) == [100_000 + i for i in range(1, sent + 1)]
