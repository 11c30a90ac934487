"""Group commit (server/committer.py): uploads arriving together share a transaction, each is
answered after the commit that stored it, and a failure is answered per upload as before."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import EXAMPLES, DeviceClient, LiveServer, _serve

from facectl.protocol import multipart
from facectl.server import app as app_module
from facectl.server.app import COMMITTER, STORE
from facectl.server.committer import GroupCommitter
from facectl.store import Store
from facectl.store.db import checkpoint, checkpoint_connection, file_of

PHOTO = (EXAMPLES / "photo.jpg").read_bytes()
UPLOADS = 8


@pytest.fixture
def batching_server(db_path: str) -> Iterator[LiveServer]:
    """Batches of UPLOADS, and a first upload that waits long enough for the others to arrive."""
    yield from _serve(db_path, open_enrollment=True, record_batch=UPLOADS, record_batch_wait=5.0)


def _upload(port: int, sn: str, record_id: int) -> dict:
    client = DeviceClient(port, sn)
    try:
        doc = json.dumps({"RecordID": record_id, "RecordType": 3, "RecordDate": 1718616771, "UserID": "1",
                          "Name": "张三", "PhotoLen": len(PHOTO)}, ensure_ascii=False)
        parts = [multipart.text_part("SN", sn), multipart.text_part("RecordDetail", doc),
                 multipart.file_part("Photo", "Photo.jpg", PHOTO, "image/jpeg")]
        return client.post_parts("/Record/UploadIdentifyRecord", parts).json
    finally:
        client.close()


def test_uploads_arriving_together_share_a_transaction_and_each_is_stored_once(
        batching_server: LiveServer, store: Store) -> None:
    sns = [f"GC-{i:08d}" for i in range(UPLOADS)]
    with ThreadPoolExecutor(UPLOADS) as pool:
        answers = list(pool.map(_upload, [batching_server.port] * UPLOADS, sns, range(100, 100 + UPLOADS)))
    assert answers == [{"Success": 1}] * UPLOADS
    committer = batching_server.runner.app[COMMITTER]
    # Each upload is one write (its record and photo; its contact is the server's in-memory one):
    # fewer transactions than writes.
    assert committer.writes == UPLOADS
    assert committer.batches < committer.writes
    for sn, record_id in zip(sns, range(100, 100 + UPLOADS), strict=True):
        row = store.records.get(sn, record_id)
        assert row is not None and store.files.get(row["photo"])[1] == PHOTO
    assert store.records.count() == UPLOADS
    assert len(store.events.after(0, limit=100, types=["record.identify"])) == UPLOADS

    # The same uploads again (a device's retry): acknowledged, not stored twice, no second event.
    with ThreadPoolExecutor(UPLOADS) as pool:
        again = list(pool.map(_upload, [batching_server.port] * UPLOADS, sns, range(100, 100 + UPLOADS)))
    assert again == [{"Success": 1}] * UPLOADS
    assert store.records.count() == UPLOADS
    assert len(store.events.after(0, limit=100, types=["record.identify"])) == UPLOADS


def test_a_storage_failure_on_the_writer_answers_every_upload_of_the_batch_and_stores_none(
        batching_server: LiveServer, store: Store) -> None:
    """The writer's connection cannot write (the database file turned read-only, as SQLite reports it
    to that connection): each upload of the batch is told to retry, none is stored; the devices'
    retries are then stored."""
    committer = batching_server.runner.app[COMMITTER]
    writer = committer.writer.db
    sns = [f"GF-{i:08d}" for i in range(UPLOADS)]
    for sn in sns:  # known and online first: the uploads below write nothing on the loop's connection
        client = DeviceClient(batching_server.port, sn)
        assert client.keepalive().json["Success"] == 1
        client.close()
    writer.execute("PRAGMA query_only = ON")
    try:
        with ThreadPoolExecutor(UPLOADS) as pool:
            answers = list(pool.map(_upload, [batching_server.port] * UPLOADS, sns, range(UPLOADS)))
    finally:
        writer.execute("PRAGMA query_only = OFF")
    assert answers == [{"Success": 0, "Message": "server storage unavailable; please retry later"}] * UPLOADS
    assert (committer.batches, committer.writes) == (0, 0)
    assert store.records.count() == 0
    assert store.db.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    assert store.events.after(0, limit=100, types=["record.identify"]) == []

    with ThreadPoolExecutor(UPLOADS) as pool:
        again = list(pool.map(_upload, [batching_server.port] * UPLOADS, sns, range(UPLOADS)))
    assert again == [{"Success": 1}] * UPLOADS
    assert store.records.count() == UPLOADS


def test_keepalives_are_answered_while_a_batch_waits_on_the_writer(
        db_path: str, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch is written on the writer's thread: while it cannot commit (another process holds
    SQLite's write lock, as the CLI may), the event loop goes on answering other devices, and the
    upload is answered Success 1 only once its batch committed."""
    # No last-contact flush meanwhile: that write, on the loop's connection, would wait for the lock too.
    monkeypatch.setattr(app_module, "FLUSH_SECONDS", 3600.0)
    gen = _serve(db_path, open_enrollment=True)
    open_server = next(gen)
    committer = open_server.runner.app[COMMITTER]
    other = DeviceClient(open_server.port, "GK-00000002")
    assert other.keepalive().json["Success"] == 1  # online: its next keepalives write nothing
    assert DeviceClient(open_server.port, "GK-00000001").keepalive().json["Success"] == 1
    store.db.execute("BEGIN IMMEDIATE")  # the write lock, held by this test's own connection
    with ThreadPoolExecutor(1) as pool:
        try:
            upload = pool.submit(_upload, open_server.port, "GK-00000001", 5)
            asyncio.run_coroutine_threadsafe(_until_writing(committer), open_server.loop).result(10)
            for _ in range(3):
                assert other.keepalive().json["Success"] == 1
            assert not upload.done()
            assert committer.writes == 0
        finally:
            store.db.execute("COMMIT")
        assert upload.result(10) == {"Success": 1}
    other.close()
    assert committer.writes == 1
    assert store.records.get("GK-00000001", 5) is not None
    gen.close()


async def _until_writing(committer: GroupCommitter) -> None:
    """Return once a batch is with the writer (yielding to the loop, which hands it over)."""
    while not committer.writing:
        await asyncio.sleep(0)


def _committer(path: Path) -> tuple[Store, GroupCommitter]:
    """A batch of three and a 10 s wait: three writes flush at once, as one transaction, on the
    committer's writer thread with its own connection."""
    store = Store(str(path))
    store.db.execute("CREATE TABLE t (v TEXT)")
    return store, GroupCommitter(store, batch=3, wait=10.0)


def test_an_upload_failing_on_its_own_is_rolled_back_alone(tmp_path: Path) -> None:
    store, committer = _committer(tmp_path / "x.db")

    def write(value: str, fail: bool = False):
        def work(writer: Store) -> str:
            writer.db.execute("INSERT INTO t VALUES (?)", [value])
            if fail:
                raise ValueError(f"{value} is bad")
            return value
        return work

    async def batch() -> list:
        try:
            return await asyncio.gather(committer.run(write("a")), committer.run(write("b", fail=True)),
                                        committer.run(write("c")), return_exceptions=True)
        finally:
            await committer.close()

    a, b, c = asyncio.run(batch())
    assert (a, c) == ("a", "c")
    assert isinstance(b, ValueError)
    assert committer.batches == 1
    assert [v for (v,) in store.db.execute("SELECT v FROM t ORDER BY v")] == ["a", "c"]
    store.close()


def test_a_storage_failure_fails_every_upload_of_the_batch_and_stores_none(tmp_path: Path) -> None:
    store, committer = _committer(tmp_path / "x.db")
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full

    committer.writer.db.execute(f"PRAGMA max_page_count = {pages}")

    def work(writer: Store) -> None:
        writer.db.execute("INSERT INTO t VALUES (?)", ["x" * 100_000])

    async def batch() -> list:
        return await asyncio.gather(*(committer.run(work) for _ in range(3)), return_exceptions=True)

    async def both() -> tuple[list, list]:
        try:
            failed = await batch()
            committer.writer.db.execute("PRAGMA max_page_count = 4294967294")
            assert not committer.writer.db.conn.in_transaction  # the next batch can begin
            return failed, await batch()
        finally:
            await committer.close()

    results, again = asyncio.run(both())
    assert all(isinstance(r, sqlite3.Error) and r.sqlite_errorname == "SQLITE_FULL" for r in results)
    assert again == [None] * 3
    assert store.db.execute("SELECT count(*) FROM t").fetchone()[0] == 3  # the second batch only
    store.close()


def test_the_server_leaves_checkpoints_to_a_thread_of_their_own(open_server: LiveServer) -> None:
    """The server's connection never stops for a checkpoint's fsync; the checkpointer copies the WAL."""
    server_db = open_server.runner.app[STORE].db
    assert server_db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert _upload(open_server.port, "GC-00000100", 7) == {"Success": 1}
    conn = checkpoint_connection(file_of(server_db))
    try:
        checkpoint(conn)
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, copied) == (0, frames)  # everything in the WAL is in the database file
    finally:
        conn.close()


def test_a_database_without_a_file_is_written_on_the_loop_in_one_transaction() -> None:
    """":memory:" cannot be opened a second time: the committer writes through the loop's store."""
    store = Store(":memory:")
    store.db.execute("CREATE TABLE t (v TEXT)")
    committer = GroupCommitter(store, batch=2, wait=10.0)
    assert committer.writer is store

    def write(value: str):
        def work(writer: Store) -> str:
            writer.db.execute("INSERT INTO t VALUES (?)", [value])
            return value
        return work

    async def batch() -> list:
        try:
            return await asyncio.gather(committer.run(write("a")), committer.run(write("b")))
        finally:
            await committer.close()

    assert asyncio.run(batch()) == ["a", "b"]
    assert committer.batches == 1
    assert [v for (v,) in store.db.execute("SELECT v FROM t ORDER BY v")] == ["a", "b"]
    store.close()
