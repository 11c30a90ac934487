"""Privacy and access: no photo, PIN or face feature in any log; owner-only files; TLS 1.2+.

The server runs with logging at DEBUG twice: in this process (every log record
captured by caplog, tracebacks included) and as `facectl serve -v` in a subprocess
(everything it prints captured). Through each, the flows that carry personal data
run as a device runs them: a people sync with PINs, photos and face features
(downloaded by signed URL, as the simulator does it), PushPeople with a PIN, a face
feature, fingerprints and a photo, an enrolment result with all of those, record and
authorization uploads with a photo, bodies that end in quarantine with a PIN inside,
a storage failure and an unexpected error while a PIN is in the body. None of the
values, in the clear or as base64 or hex, may appear in what was logged.

Files: the database, its WAL and its SHM are created 0600 by the server and by the
CLI, whatever the umask; the database directory holds nothing else (photos and
biometrics live inside the database). TLS: `facectl serve --tls-cert/--tls-key`
completes TLS 1.2 and 1.3 handshakes and refuses 1.1 and 1.0.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import SN, DeviceClient, LiveServer, ServeOutput
from test_reliability import _free_port
from test_server_limits_paths import _self_signed

from facectl.protocol import multipart
from facectl.protocol.people import md5_hex
from facectl.server.app import COMMITTER, STORE
from facectl.sim.config import SimConfig
from facectl.sim.device import SimDevice
from facectl.sim.jpeg import make_jpeg
from facectl.store import Store
from facectl.store.people import PersonInput

pytestmark = pytest.mark.timeout(60)

PINS = ["73915284", "60428137", "82640519", "39175062", "51839406", "28406195"]
PHOTOS = [make_jpeg(2500, seed) for seed in (9101, 9102, 9103, 9104, 9105)]
FEATURES = [base64.b64encode(os.urandom(300)).decode("ascii") for _ in range(4)]
FINGERPRINT = base64.b64encode(os.urandom(200)).decode("ascii")


def _forms(secret: str | bytes) -> list[str]:
    """The ways a value could show up in a log: as is, base64, hex, repr of bytes."""
    data = secret.encode() if isinstance(secret, str) else secret
    out = [base64.b64encode(data).decode()[:16]]
    if isinstance(secret, str):
        out.append(secret if len(secret) <= 12 else secret[40:72])
    else:
        middle = data[len(data) // 2: len(data) // 2 + 24]
        out += [base64.b64encode(data).decode()[200:232], data.hex()[400:432], repr(middle)[2:-1],
                middle.decode("latin-1")]
    return out


def assert_no_secret(log: str) -> None:
    assert log, "nothing was logged: the capture is broken"
    for secret in [*PINS, *PHOTOS, *FEATURES, FINGERPRINT]:
        for form in _forms(secret):
            if form in log:
                pytest.fail(f"{form!r} (from {secret!r:.40}) is in the log: ...{log[log.find(form) - 300:][:600]}")


@dataclass
class Device:
    """A device on one keep-alive connection: people sync by URL, pushes, enrolments, uploads."""

    port: int
    sn: str = SN
    held: dict[int, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = DeviceClient(self.port, self.sn)

    def people_sync(self) -> None:
        assert self.client.keepalive().json["AddPeople"] == 1
        while True:
            page = self.client.post_json("/People/DownloadPeopleList", Limit=50).json["PeopleList"]
            if not page:
                break
            for person in page:
                for key in ("Photo", "FaceFeature"):
                    if person.get(key):
                        parts = urlsplit(person[key])
                        reply = self.client.get(f"{parts.path}?{parts.query}")
                        assert reply.status == 200 and md5_hex(reply.body) == person[f"{key}MD5"]
                self.held[int(person["UserID"])] = person
            assert self.client.post_json("/People/DownloadPeopleListResult", SuccessCount=len(page), FailCount=0,
                                         FailList=[]).json["Success"] == 1

    def push(self, push_type: str, detail: dict, photo: bytes | None) -> dict:
        parts = [multipart.text_part("SN", self.sn), multipart.text_part("PushType", push_type),
                 multipart.text_part("UserID", str(detail["UserID"])),
                 multipart.file_part("Detail", "Detail", json.dumps(detail).encode(), gzip=True)]
        if photo is not None:
            parts.append(multipart.file_part("Photo", "Photo.jpg", photo, "image/jpeg"))
        return self.client.post_parts("/People/PushPeople", parts).json

    def exercise(self, on_store_failure: Callable[[], Any] | None = None,
                 on_server_failure: Callable[[], Any] | None = None) -> None:
        """Every flow with personal data (module docstring); answers checked, so each flow really ran."""
        self.people_sync()
        assert self.held[1]["Password"] == PINS[0] and self.held[1]["FaceFeature"]
        fingerprints = [{"Num": 1, "Data": FINGERPRINT, "MD5": md5_hex(FINGERPRINT.encode())}]
        assert self.push("1", {"UserID": "2", "Name": "Pushed", "Password": PINS[1], "FaceFeature": FEATURES[1],
                               "FaceFeatureMD5": md5_hex(FEATURES[1].encode()), "Fingerprints": fingerprints},
                         PHOTOS[1]) == {"Success": 1}
        result = {"SN": self.sn, "UserID": 1, "Result": 1, "UserDetail": {
            "UserID": "1", "Password": PINS[2], "FaceFeature": FEATURES[2],
            "FaceFeatureMD5": md5_hex(FEATURES[2].encode())}}
        parts = [multipart.text_part("ResultJson", json.dumps(result)),
                 multipart.file_part("Photo", "Photo.jpg", PHOTOS[2], "image/jpeg")]
        assert self.client.post_parts("/Device/RegisterIdentifyTicketResult", parts).json == {"Success": 1}
        # Quarantined: a PushType no device sends, and a record whose JSON is cut, both carrying a PIN.
        answer = self.push("9", {"UserID": "3", "Password": PINS[3], "FaceFeature": FEATURES[3]}, PHOTOS[3])
        assert answer["Success"] == 1 and "kept for review" in answer["Message"]
        cut = json.dumps({"RecordID": 1, "RecordType": 3, "RecordDate": 1, "Password": PINS[3],
                          "Photo": base64.b64encode(PHOTOS[3]).decode()})[:-20]
        parts = [multipart.text_part("SN", self.sn), multipart.text_part("RecordDetail", cut)]
        answer = self.client.post_parts("/Record/UploadIdentifyRecord", parts).json
        assert answer["Success"] == 1 and "kept for review" in answer["Message"]
        # A record and an authorization with photos (and a PIN where no field expects one).
        for path, rid in (("/Record/UploadIdentifyRecord", 10), ("/Device/RequestAuthorization", 11)):
            detail = {"RecordID": rid, "RecordType": 3, "RecordDate": 1_700_000_000, "UserID": "1",
                      "Password": PINS[4]}
            parts = [multipart.text_part("SN", self.sn), multipart.text_part("RecordDetail", json.dumps(detail)),
                     multipart.file_part("Photo", "Photo.jpg", PHOTOS[4], "image/jpeg")]
            assert "Success" in self.client.post_parts(path, parts).json
        # The error paths: a PIN in the body of a request that fails on the storage, or in the server
        # (logged with its traceback, the request quarantined).
        if on_store_failure is not None:
            with on_store_failure():
                answer = self.push("2", {"UserID": "1", "Password": PINS[5]}, None)
            assert answer["Success"] != 1
        if on_server_failure is not None:
            with on_server_failure():
                answer = self.push("2", {"UserID": "1", "Password": PINS[5]}, None)
            assert answer["Success"] == 1 and "the server failed on it" in answer["Message"], answer
        answer = self.push("2", {"UserID": "1", "Password": PINS[5], "Name": "\ud800"}, None)
        assert answer == {"Success": 1}  # the lone surrogate became U+FFFD (protocol/lenient_json.py)
        self.client.close()


def _seed(store: Store) -> None:
    store.devices.add(SN)
    store.people.save_many([
        PersonInput(1, {"Name": "Zhang", "Password": PINS[0], "CardNum": "1001"}, photo=PHOTOS[0],
                    face_feature=FEATURES[0]),
        PersonInput(2, {"Name": "Li", "Password": PINS[1]}, photo=make_jpeg(2500, 9199)),
    ])


def test_nothing_personal_in_the_in_process_server_log_at_debug(server: LiveServer, store: Store, db_path: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _seed(store)
    server_db = server.runner.app[STORE].db

    server_dbs = (server_db, server.runner.app[COMMITTER].writer.db)  # the loop's, and the record writer's

    class ReadOnly:
        def __enter__(self) -> None:
            for db in server_dbs:
                db.execute("PRAGMA query_only = ON")

        def __exit__(self, *exc: object) -> None:
            for db in server_dbs:
                db.execute("PRAGMA query_only = OFF")

    class ReportsTableGone:
        """An unexpected server failure: the table PushPeople writes renamed away (SQLITE_ERROR, not storage)."""

        def __enter__(self) -> None:
            server_db.execute("ALTER TABLE device_reports RENAME TO device_reports_gone")

        def __exit__(self, *exc: object) -> None:
            server_db.execute("ALTER TABLE device_reports_gone RENAME TO device_reports")

    Device(server.port).exercise(on_store_failure=ReadOnly, on_server_failure=ReportsTableGone)
    text = "\n".join(caplog.text.splitlines() + [caplog.handler.format(r) for r in caplog.records])
    assert "read-only" in text  # the storage failure was logged...
    assert "Traceback" in text and "no such table: device_reports" in text  # ...and the server failure...
    assert_no_secret(text)  # ...and nothing personal was
    assert store.quarantine.count() == 3 and store.people.reports(SN)
    _assert_owner_only(Path(db_path))


def _serve(args: list[str], umask: int | None = None) -> tuple[subprocess.Popen, ServeOutput]:
    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    proc = subprocess.Popen([sys.executable, "-m", "facectl", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=set_umask)
    out = ServeOutput(proc)
    assert out.listening.wait(20) and proc.poll() is None, "".join(out.lines)
    return proc, out


def _stop(proc: subprocess.Popen, out: ServeOutput) -> str:
    proc.terminate()
    proc.wait(10)
    out.thread.join(10)
    return "".join(out.lines)


def test_nothing_personal_in_facectl_serve_verbose_output(tmp_path: Path) -> None:
    """`facectl serve -v` (DEBUG) with a simulated terminal syncing people, then the device flows above."""
    db = tmp_path / "privacy.db"
    store = Store(str(db))
    _seed(store)
    port = _free_port()
    proc, out = _serve(["--db", str(db), "--host", "127.0.0.1", "--port", str(port), "-v"], umask=0)
    try:
        sim = SimDevice("FC-8190H00000077", SimConfig(server=f"http://127.0.0.1:{port}", interval=0.3, seed=2,
                                                      photo_bytes=0, records_per_min=0))
        store.devices.add(sim.ctx.sn)

        def synced() -> bool:
            held = sim.ctx.people.get(1)
            return held is not None and bool(held.photo) and bool(held.face_feature)

        async def run_sim() -> None:
            """Run the terminal until it holds person 1 with photo and face feature (a condition, not a clock)."""
            loop = asyncio.get_running_loop()
            running = asyncio.create_task(sim.run(None, loop.time() + 15))
            while not running.done() and not synced():
                await asyncio.sleep(0.05)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

        asyncio.run(asyncio.wait_for(run_sim(), 20))
        assert sim.ctx.people.get(1) is not None and sim.ctx.people.get(1).detail["Password"] == PINS[0]
        assert sim.ctx.people.get(1).photo == PHOTOS[0] and sim.ctx.people.get(1).face_feature == FEATURES[0]
        Device(port).exercise()
    finally:
        log = _stop(proc, out)
    assert "DEBUG" in log  # -v really logs at DEBUG
    assert_no_secret(log)
    _assert_owner_only(db)
    store.close()


def _assert_owner_only(db: Path, open_now: bool = True) -> None:
    """The database and its WAL/SHM are 0600, and nothing else sits next to them.

    The WAL and SHM exist while a connection is open (`open_now`); the last one to
    close removes them.
    """
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{db}{suffix}")
        if suffix and not open_now:
            continue
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
    others = [p.name for p in db.parent.iterdir() if not p.name.startswith(db.name) and p.suffix not in (".pem",)]
    assert others == [], others


def test_cli_keeps_the_database_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """`facectl serve` creates the database (only it and `demo` do), then the CLI writes to it,
    both under umask 0: the file stays owner-only."""
    db = tmp_path / "cli.db"
    photo = tmp_path.parent / f"{tmp_path.name}-p.jpg"
    photo.write_bytes(PHOTOS[0])
    _stop(*_serve(["--db", str(db), "--host", "127.0.0.1", "--port", "0"], umask=0))
    _assert_owner_only(db, open_now=False)
    done = subprocess.run(
        [sys.executable, "-c", "import os, sys; os.umask(0); from facectl.cli.main import cli; "
         "cli.main(sys.argv[1:], prog_name='facectl')", "people", "add", "5", "--name", "Wang", "--password",
         PINS[0], "--photo", str(photo), "--db", str(db)], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PINS[0].encode() not in done.stdout + done.stderr
    _assert_owner_only(db, open_now=False)
    reader = Store(str(db))  # opening it again (this process's umask is 022) must not widen it either
    _assert_owner_only(db)
    reader.close()


# ---------------------------------------------------------------------------------- TLS


def _handshake(port: int, version: ssl.TLSVersion) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("ALL:@SECLEVEL=0")  # let this client offer the old versions at all
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        return tls.version() or ""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_facectl_serve_tls_accepts_1_2_and_1_3_and_refuses_older(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    proc, out = _serve(["--db", str(tmp_path / "tls.db"), "--host", "127.0.0.1", "--port", str(port),
                        "--tls-cert", cert, "--tls-key", key])
    try:
        assert _handshake(port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert _handshake(port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            with pytest.raises(ssl.SSLError) as refused:
                _handshake(port, old)
            # refused by the server (an alert or a closed connection), not by this client being unable to offer it
            assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value), refused.value
    finally:
        _stop(proc, out)
