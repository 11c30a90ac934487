"""Hostile input, storage failures and crashes: never a 500, never a lost or doubled record."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from conftest import SN, DeviceClient, LiveServer, timed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facectl.protocol import multipart
from facectl.protocol.endpoints import ENDPOINTS, Body
from facectl.protocol.limits import DEVICE_TIMEOUT_SECONDS
from facectl.server.app import COMMITTER, STORE
from facectl.store import Store

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=80),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
FIELD_NAMES = st.sampled_from(["SN", "DeviceSN", "RecordDetail", "recordJson", "Photo", "pic", "Detail",
                               "ResultJson", "PushType", "UserID", "RecordID", "RecordType", "RecordDate",
                               "Records", "Limit", "FailList", "DeleteList", "x"])


def _json_bodies() -> st.SearchStrategy[bytes]:
    objects = st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=8).map(lambda d: {"SN": SN, **d})
    encoded = objects.map(lambda d: json.dumps(d).encode())
    broken = st.tuples(encoded, st.integers(min_value=0, max_value=200)).map(lambda t: t[0][: t[1]])
    return st.one_of(encoded, broken, st.binary(max_size=300), encoded.map(gzip.compress),
                     encoded.map(lambda b: gzip.compress(b)[:-6]), st.just(b"[" * 5000 + b"]" * 5000))


def _part(name: str, data: bytes, as_file: bool, gz: bool) -> multipart.Part:
    if as_file:
        return multipart.file_part(name, "../../etc/passwd", data, gzip=gz)
    return multipart.text_part(name, data, gzip=gz)


def _multipart_bodies() -> st.SearchStrategy[tuple[bytes, str]]:
    parts = st.lists(st.builds(_part, FIELD_NAMES, _json_bodies(), st.booleans(), st.booleans()), max_size=6)
    built = parts.map(lambda ps: (multipart.build([multipart.text_part("SN", SN), *ps], "bnd"),
                                  "multipart/form-data; boundary=bnd"))
    truncated = st.tuples(built, st.integers(min_value=0, max_value=400)).map(lambda t: (t[0][0][: t[1]], t[0][1]))
    endless = st.just((b"--bnd\r\n" + b"Content-Disposition: form-data; name=x\r\n" * 400,
                       "multipart/form-data; boundary=bnd"))
    no_boundary = st.binary(max_size=200).map(lambda b: (b, "multipart/form-data"))
    return st.one_of(built, truncated, endless, no_boundary)


def _check_answer(client: DeviceClient, path: str, body: bytes, ctype: str, headers: dict[str, str],
                  timed: bool) -> None:
    started = time.monotonic()
    reply = client.post(path, body, ctype, headers)
    elapsed = time.monotonic() - started
    assert reply.status in (200, 400, 413), (path, reply.status, reply.body[:200])
    answer = reply.json
    assert isinstance(answer["Success"], int)
    assert answer["Success"] == 1 or answer.get("Message")
    assert b"Traceback" not in reply.body
    assert not timed or elapsed < DEVICE_TIMEOUT_SECONDS


@timed
def test_generated_hostile_input_on_every_endpoint(server: LiveServer, store: Store, timed: bool) -> None:
    store.devices.add(SN)
    client = DeviceClient(server.port)
    json_paths = [e.path for e in ENDPOINTS.values() if e.body is Body.JSON]
    form_paths = [e.path for e in ENDPOINTS.values() if e.body is Body.MULTIPART]

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.sampled_from(json_paths), _json_bodies(), st.booleans())
    def json_endpoints(path: str, body: bytes, gz_header: bool) -> None:
        _check_answer(client, path, body, "application/json", {"Content-Encoding": "gzip"} if gz_header else {},
                      timed)

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.sampled_from(form_paths), _multipart_bodies())
    def multipart_endpoints(path: str, body_and_type: tuple[bytes, str]) -> None:
        _check_answer(client, path, body_and_type[0], body_and_type[1], {}, timed)

    json_endpoints()
    multipart_endpoints()
    client.close()
    # Nothing half-stored: every stored record has its identity and type.
    bad = store.db.execute("SELECT count(*) FROM records WHERE record_id IS NULL OR record_type IS NULL "
                           "OR record_date IS NULL OR detail IS NULL").fetchone()[0]
    assert bad == 0
    assert DeviceClient(server.port).keepalive().json["Success"] == 1  # still serving


def test_read_only_storage_never_acknowledges_what_it_did_not_store(approved: DeviceClient, server: LiveServer,
                                                                   store: Store, caplog) -> None:
    approved.keepalive()
    # Both of the server's connections: the loop's, and the one records are written on.
    server_dbs = (server.runner.app[STORE].db, server.runner.app[COMMITTER].writer.db)
    for db in server_dbs:
        db.execute("PRAGMA query_only = ON")
    try:
        reply = approved.post_json("/Record/UploadSystemRecord", RecordType=2,
                                   Records=[{"RecordID": 1, "RecordType": 28, "RecordDate": 1}])
    finally:
        for db in server_dbs:
            db.execute("PRAGMA query_only = OFF")
    assert reply.status == 200
    assert reply.json["Success"] == 0 and "retry" in reply.json["Message"]
    assert any("read-only" in r.getMessage() for r in caplog.records)
    assert store.records.count(SN) == 0
    retry = approved.post_json("/Record/UploadSystemRecord", RecordType=2,
                               Records=[{"RecordID": 1, "RecordType": 28, "RecordDate": 1}])
    assert retry.json["Success"] == 1 and store.records.count(SN) == 1


def test_database_file_is_readable_by_its_owner_only(server: LiveServer, db_path: str) -> None:
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600


def test_cli_writes_while_devices_upload_never_reach_a_device_as_locked(approved: DeviceClient, db_path: str) -> None:
    """The CLI and the server share the file; a writer collision is a short wait, not an error."""
    approved.keepalive()
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from facectl.store import Store\n"
        "s = Store(sys.argv[1])\n"
        "for i in range(300):\n"
        "    s.devices.request_settings(sys.argv[2], i % 2 == 0)\n"
        "    s.devices.add(f'FC-9000X{i:08d}')\n"
    ), db_path, SN])
    answers = []
    while writer.poll() is None:
        answers.append(approved.post_json("/Record/UploadSystemRecord", RecordType=2, Records=[
            {"RecordID": len(answers) + 1, "RecordType": 28, "RecordDate": 1}]).json["Success"])
    assert writer.wait(60) == 0
    assert answers and set(answers) == {1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn_server(db_path: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "facectl", "serve", "--db", db_path, "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for the announcement, not for a fixed time
        if b"listening on" in line:
            return proc
    raise AssertionError("server did not start")


def test_sigkill_during_uploads_loses_no_acknowledged_record_and_stores_none_twice(tmp_path: Path) -> None:
    db_path = str(tmp_path / "crash.db")
    Store(db_path).devices.add(SN)
    port = _free_port()
    proc = _spawn_server(db_path, port)
    acked: set[int] = set()
    kill_after = 150
    record_id = 0
    try:
        client = DeviceClient(port)
        while True:
            record_id += 1
            parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", json.dumps(
                {"RecordID": record_id, "RecordType": 3, "RecordDate": 1700000000 + record_id}), gzip=True),
                multipart.file_part("Photo", "p.jpg", b"\xff\xd8" + os.urandom(2000) + b"\xff\xd9", "image/jpeg")]
            if record_id == kill_after:
                os.kill(proc.pid, signal.SIGKILL)  # mid-stream: the request below may or may not land
            try:
                if client.post_parts("/Record/UploadIdentifyRecord", parts).json["Success"] == 1:
                    acked.add(record_id)
            except (OSError, ValueError, json.JSONDecodeError):
                break
    finally:
        proc.kill()
        proc.wait()
    assert len(acked) >= kill_after - 1
    proc = _spawn_server(db_path, port)
    try:
        client = DeviceClient(port)
        for rid in range(1, record_id + 1):  # the device re-sends what it was not sure of, and more
            parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", json.dumps(
                {"RecordID": rid, "RecordType": 3, "RecordDate": 1700000000 + rid}))]
            assert client.post_parts("/Record/UploadIdentifyRecord", parts).json["Success"] == 1
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
    store = Store(db_path)
    stored = [r[0] for r in store.db.execute("SELECT record_id FROM records WHERE sn = ?", [SN])]
    assert len(stored) == len(set(stored)) == record_id
    assert acked <= set(stored)
