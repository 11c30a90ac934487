"""`facectl backup`: a checked copy made while the server runs; restored, a device carries on without duplicates."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from click.testing import CliRunner
from conftest import SN, DeviceClient, LiveServer
from test_server_records import upload

from facectl.cli.main import cli
from facectl.server.config import ServerConfig
from facectl.store import Store


def run(db_path: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--db", db_path], catch_exceptions=False)


def send(port: int, ids: range) -> None:
    client = DeviceClient(port)
    try:
        for i in ids:
            assert upload(client, record_id=i).json == {"Success": 1}
    finally:
        client.close()


def test_backup_while_serving_then_restore_and_the_device_carries_on(db_path: str, tmp_path: Path) -> None:
    with_store = Store(db_path)
    with_store.devices.add(SN)
    with_store.close()
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0))
    copy = tmp_path / "backup.db"
    try:
        send(server.port, range(1, 6))
        result = run(db_path, "backup", str(copy), "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["integrity"] == "ok" and report["records"] == 5 and report["bytes"] == copy.stat().st_size
        assert report["seconds"] >= 0
        send(server.port, range(6, 9))  # after the backup: lost by the restore, sent again by the device
    finally:
        server.stop()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    for suffix in ("", "-wal", "-shm"):  # the restore as docs/operations.md says it
        Path(db_path + suffix).unlink(missing_ok=True)
    shutil.copyfile(copy, db_path)
    server = LiveServer(ServerConfig(db=db_path, host="127.0.0.1", port=0))
    try:
        send(server.port, range(1, 9))  # the device's retries: everything it is unsure of
        store = Store(db_path)
        ids = [r["record_id"] for r in store.records.list(sn=SN, limit=100)]
        assert sorted(ids) == list(range(1, 9))  # each once
        store.close()
    finally:
        server.stop()


def test_backup_into_a_directory_and_no_silent_overwrite(db_path: str, tmp_path: Path) -> None:
    Store(db_path).close()
    out = tmp_path / "backups"
    out.mkdir()
    first = run(db_path, "backup", str(out))
    assert first.exit_code == 0 and "integrity ok" in first.output
    made = list(out.iterdir())
    assert len(made) == 1 and made[0].name.startswith("facectl-") and made[0].suffix == ".db"
    again = CliRunner().invoke(cli, ["backup", str(made[0]), "--db", db_path])
    assert again.exit_code == 1 and "--force" in again.output
    assert run(db_path, "backup", str(made[0]), "--force").exit_code == 0


def test_backup_of_a_missing_database_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["backup", str(tmp_path / "x.db"), "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 3 and "no database" in result.output
    assert not os.path.exists(tmp_path / "x.db")


def test_backup_to_an_unwritable_place_is_one_line(db_path: str, tmp_path: Path) -> None:
    Store(db_path).close()
    result = CliRunner().invoke(cli, ["backup", str(tmp_path / "no" / "such" / "dir" / "b.db"), "--db", db_path])
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
