"""A full disk: devices are told to retry, never Success 1 for what was not stored; the log says why.

Two ways to fill the disk, both against the real server on a loopback port:

- **a real full file system**: the database lives on a 2 MB tmpfs mounted for the
  test (`mount -t tmpfs -o size=2m`), which a file of filler bytes then fills to the
  last block, so SQLite's next WAL append fails with ENOSPC (SQLITE_FULL). Mounting
  needs root (CAP_SYS_ADMIN); where that is not permitted this variant is skipped
  and the second one still runs.
- **an emulated full disk**: `PRAGMA max_page_count` on the server's own connections (the
  event loop's, and the record writer's, server/committer.py),
  set to the database's current size, so any write that needs a new page fails with
  SQLITE_FULL. This one reaches past the device lookup into each handler's own writes
  (record, photo, settings document, report, enrolment, snapshot, quarantine).

A read-only database (`PRAGMA query_only` on the server's connections, SQLITE_READONLY)
is checked the same way.

Every writing endpoint is checked: records (identify and system), settings, people
results (add and delete), PushPeople, snapshots, enrolment results and
authorization. While the disk is full each answer is a refusal the device retries
(Success other than 1; for RequestAuthorization a deny whose message says retry),
nothing new is in the store, and the server's log names the cause ("database or disk
is full"). After space is freed the same requests are accepted and stored.
"""

from __future__ import annotations

import errno
import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SN, DeviceClient, LiveServer, _serve, settings_document

from facectl.protocol import multipart
from facectl.server.app import COMMITTER, STORE
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store
from facectl.store.people import PersonInput

pytestmark = pytest.mark.timeout(60)

PHOTO_BYTES = 60_000  # several pages, so a photo always needs new pages


@dataclass
class Write:
    """One writing request, and how to see in the store that it was applied."""

    endpoint: str
    send: Callable[[DeviceClient, int], dict[str, Any]]  # (client, attempt) -> answer
    applied: Callable[[Store, float], bool]  # (store, since) -> the write is in the store


def _parts(client: DeviceClient, path: str, parts: list[multipart.Part]) -> dict[str, Any]:
    return client.post_parts(path, [multipart.text_part("SN", SN), *parts]).json


def _photo(seed: int) -> multipart.Part:
    return multipart.file_part("Photo", "Photo.jpg", make_jpeg(PHOTO_BYTES, seed), "image/jpeg")


def _record(rid: int, **extra: Any) -> str:
    return json.dumps({"RecordID": rid, "RecordType": 3, "RecordDate": int(time.time()), "UserID": "1",
                       "Name": "张三" * 400, **extra})


def _newer(store: Store, sql: str, since: float) -> bool:
    return store.db.execute(sql, [since]).fetchone()[0] > 0


WRITES = [
    Write("UploadIdentifyRecord",
          lambda c, n: _parts(c, "/Record/UploadIdentifyRecord",
                              [multipart.text_part("RecordDetail", _record(100 + n)), _photo(100 + n)]),
          lambda s, t: _newer(s, "SELECT count(*) FROM records WHERE kind = 'identify' AND received_at >= ?", t)),
    Write("UploadSystemRecord",
          lambda c, n: c.post_json("/Record/UploadSystemRecord", RecordType=1, Records=[
              {"RecordID": 10_000 * (n + 1) + i, "RecordType": 1, "RecordDate": 1_700_000_000 + i}
              for i in range(1000)]).json,
          lambda s, t: _newer(s, "SELECT count(*) FROM records WHERE kind = 'door' AND received_at >= ?", t)),
    Write("UploadWorkSetting",
          lambda c, n: c.post("/Device/UploadWorkSetting", json.dumps(
              {**settings_document(), "DeviceName": f"door {n}", "Notes": "x" * 40_000}).encode()).json,
          lambda s, t: (s.settings.uploaded_at(SN) or 0) >= t),
    Write("DownloadPeopleListResult",
          lambda c, n: c.post_json("/People/DownloadPeopleListResult", SuccessCount=0, FailCount=1, FailList=[
              {"UserID": "1", "ErrorCode": 2, "RepeatID": "", "ErrMsg": "photo download failed " * 300}]).json,
          lambda s, t: _newer(s, "SELECT count(*) FROM people_sync WHERE last_result_at >= ?", t)),
    Write("DeletePeopleListResult",
          lambda c, n: c.post_json("/People/DeletePeopleListResult", DeleteCount=1, DeleteAll=0,
                                   DeleteList=[2]).json,
          lambda s, t: _newer(s, "SELECT count(*) FROM people_sync WHERE last_result_at >= ?", t)),
    Write("PushPeople",
          lambda c, n: _parts(c, "/People/PushPeople", [
              multipart.text_part("PushType", "2"), multipart.text_part("UserID", "1"),
              multipart.file_part("Detail", "Detail", json.dumps(
                  {"UserID": "1", "Name": "Zhang", "Attachment": "附" * 3000}).encode(), gzip=True),
              _photo(300 + n)]),
          lambda s, t: _newer(s, "SELECT count(*) FROM device_reports WHERE received_at >= ?", t)),
    Write("UploadSnapshoot",
          lambda c, n: _parts(c, "/Device/UploadSnapshoot", [_photo(400 + n)]),
          lambda s, t: _newer(s, "SELECT count(*) FROM snapshots WHERE received_at >= ?", t)),
    Write("RegisterIdentifyTicketResult",
          lambda c, n: _parts(c, "/Device/RegisterIdentifyTicketResult", [
              multipart.text_part("ResultJson", json.dumps({"SN": SN, "UserID": 1, "Result": 1, "UserDetail": {
                  "UserID": "1", "Name": f"Zhang {n}", "Attachment": "x" * 20_000}})), _photo(500 + n)]),
          lambda s, t: _newer(s, "SELECT count(*) FROM enrolments WHERE received_at >= ?", t)),
    Write("RequestAuthorization",
          lambda c, n: _parts(c, "/Device/RequestAuthorization",
                              [multipart.text_part("RecordDetail", _record(600 + n)), _photo(600 + n)]),
          lambda s, t: _newer(s, "SELECT count(*) FROM records WHERE kind = 'auth' AND received_at >= ?", t)),
]
IDS = [w.endpoint for w in WRITES]


def _prepare(store: Store) -> None:
    """A device with people handed out (so results have something to confirm) and settings held."""
    store.devices.add(SN)
    store.people.save_many([PersonInput(uid, {"Name": f"P{uid}"}) for uid in (1, 2)])


def _start_sync(client: DeviceClient) -> None:
    assert client.keepalive().json["Success"] == 1
    assert client.post_json("/People/DownloadPeopleList", Limit=10).json["Success"] == 1


def _check_refused_then_accepted(client: DeviceClient, store: Store, caplog: pytest.LogCaptureFixture,
                                 full: Callable[[], Any], free: Callable[[], None], write: Write,
                                 must_refuse: bool = True, cause: str = "database or disk is full") -> None:
    """While full: refused (retry), nothing stored, the cause logged; or, where allowed, accepted and stored.

    Then, with space again: the device's retry is accepted and stored.
    """
    counts = {t: store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("records", "quarantine", "enrolments", "device_reports", "snapshots")}
    caplog.clear()
    since = time.time()
    full()
    try:
        answer = write.send(client, 0)
    finally:
        free()
    if answer["Success"] == 1 and not must_refuse:
        assert write.applied(store, since), (write.endpoint, "acknowledged but not stored")
    else:
        assert answer["Success"] != 1, (write.endpoint, answer)
        assert "retry" in answer.get("Message", ""), (write.endpoint, answer)
        assert not write.applied(store, since), write.endpoint
        for table, before in counts.items():  # (an orphan photo in `files` is harmless; a half record is not)
            assert store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == before, (write.endpoint, table)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(cause in m for m in errors), (write.endpoint, errors)
    since = time.time()
    answer = write.send(client, 1)
    assert answer["Success"] == 1 or (write.endpoint == "RequestAuthorization" and answer["Success"] == 0
                                      and "retry" not in answer.get("Message", "")), (write.endpoint, answer)
    assert write.applied(store, since), write.endpoint


# --------------------------------------------------------------- emulated: max_page_count


@pytest.fixture
def paged(db_path: str) -> Iterator[tuple[LiveServer, Store, DeviceClient]]:
    store = Store(db_path)
    _prepare(store)
    gen = _serve(db_path)
    server = next(gen)
    client = DeviceClient(server.port)
    _start_sync(client)
    yield server, store, client
    client.close()
    gen.close()
    store.close()


def _server_connections(server: LiveServer) -> list[Any]:
    """The server's two connections: the event loop's, and the one record uploads are written on."""
    return [server.runner.app[STORE].db, server.runner.app[COMMITTER].writer.db]


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_emulated_full_disk_every_write_is_refused_and_retried(paged, caplog: pytest.LogCaptureFixture,
                                                               write: Write) -> None:
    """SQLITE_FULL from `PRAGMA max_page_count` set to the current size, on the server's connection.

    DeletePeopleListResult only rewrites rows in place, which needs no new page, so here it
    may be accepted (and must then be stored); on the real full disk it is refused too.
    """
    server, store, client = paged
    server_dbs = _server_connections(server)

    def full() -> None:
        pages = server_dbs[0].execute("PRAGMA page_count").fetchone()[0]
        for db in server_dbs:
            db.execute(f"PRAGMA max_page_count = {pages}")

    def free() -> None:
        for db in server_dbs:
            db.execute("PRAGMA max_page_count = 4294967294")

    _check_refused_then_accepted(client, store, caplog, full, free, write,
                                 must_refuse=write.endpoint != "DeletePeopleListResult")


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_read_only_database_every_write_is_refused_and_retried(paged, caplog: pytest.LogCaptureFixture,
                                                               write: Write) -> None:
    """SQLITE_READONLY from `PRAGMA query_only` on the server's connection: what a database file
    (or a file system) turned read-only under a running server gives. Every write, in-place
    updates included, is refused, and the log says the file is read-only."""
    server, store, client = paged
    server_dbs = _server_connections(server)

    def read_only() -> None:
        for db in server_dbs:
            db.execute("PRAGMA query_only = ON")

    def writable() -> None:
        for db in server_dbs:
            db.execute("PRAGMA query_only = OFF")

    _check_refused_then_accepted(client, store, caplog, read_only, writable, write, cause="read-only")


# ------------------------------------------------------------------ real: a full tmpfs


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 8 MB tmpfs for one test (root only; module docstring)."""
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, timeout=10)
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN): "
                    f"{done.stderr.decode(errors='replace').strip()}; the max_page_count variant still runs")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True, timeout=10).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


class Filler:
    """Fills the file system to its last byte, and frees it again."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "filler"

    def fill(self) -> int:
        written = 0
        with open(self.path, "ab", buffering=0) as f:
            for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
                while True:
                    try:
                        written += f.write(b"\0" * size)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        self.path.unlink(missing_ok=True)


@pytest.fixture
def on_tiny_disk(tiny_disk: Path) -> Iterator[tuple[Store, DeviceClient, Filler]]:
    db = str(tiny_disk / "facectl.db")
    store = Store(db)
    _prepare(store)
    gen = _serve(db)
    server = next(gen)
    client = DeviceClient(server.port)
    _start_sync(client)
    yield store, client, Filler(tiny_disk)
    client.close()
    server_store = server.runner.app[STORE]
    gen.close()
    server_store.close()  # (the runner does not close the store; the mount must be free to unmount)
    store.close()


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_real_full_disk_every_write_is_refused_and_retried(on_tiny_disk, caplog: pytest.LogCaptureFixture,
                                                           write: Write) -> None:
    """ENOSPC from a full tmpfs (see the module docstring)."""
    store, client, filler = on_tiny_disk
    _check_refused_then_accepted(client, store, caplog, filler.fill, filler.free, write)


def test_real_full_disk_keepalive_is_a_clear_retry_and_the_server_keeps_serving(
        on_tiny_disk, caplog: pytest.LogCaptureFixture) -> None:
    """A new door state cannot be stored: the device is told to retry (the state is not lost).
    A keepalive that changes nothing needs no write, so it is answered as usual meanwhile."""
    store, client, filler = on_tiny_disk
    client.keepalive()
    filler.fill()
    try:
        answers = [client.keepalive(DoorSensorStatus=1).json for _ in range(3)]
        steady = client.keepalive().json
    finally:
        filler.free()
    assert all(a["Success"] == 0 and "retry" in a["Message"] for a in answers), answers
    assert steady["Success"] == 1
    assert sum(r.getMessage().startswith("database error on") and "database or disk is full" in r.getMessage()
               for r in caplog.records) == 3
    assert client.keepalive(DoorSensorStatus=1).json["Success"] == 1
    assert store.devices.get(SN)["door_sensor_status"] == 1
