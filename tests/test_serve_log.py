"""`facectl serve -v` and `--log-format json`, the banner in a journal, and a start that fails.

The server is the real `facectl serve` process; its output goes to a pipe, as under systemd.
Log lines are read after the process has stopped (SIGTERM), so nothing waits on timing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import SN, DeviceClient, ServeOutput

from facectl.protocol import multipart

PHOTO = (Path(__file__).resolve().parents[1] / "examples" / "requests" / "photo.jpg").read_bytes()
SECRET_NAME = "张三丰"
SECRET_USER = "4242"


def _serve(db: Path, *options: str) -> tuple[subprocess.Popen, ServeOutput]:
    env = {**os.environ, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "facectl", "serve", "--db", str(db), "--host", "127.0.0.1",
                             "--port", "0", "--open-enrollment", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = ServeOutput(proc)
    assert out.listening.wait(20) and proc.poll() is None, "".join(out.lines)
    return proc, out


def _traffic(port: int) -> None:
    client = DeviceClient(port)
    try:
        assert client.keepalive().json == {"Success": 1, "UploadWorkParameter": 1}
        detail = {"RecordID": 1, "RecordType": 3, "RecordDate": 1796393303, "UserID": SECRET_USER,
                  "Name": SECRET_NAME, "CardNum": "0", "QRCode": "", "IsEntry": 1, "BodyTemp": 0,
                  "PhotoLen": len(PHOTO)}
        parts = [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", json.dumps(detail)),
                 multipart.file_part("Photo", "p.jpg", PHOTO, "image/jpeg")]
        assert client.post_parts("/Record/UploadIdentifyRecord", parts).json["Success"] == 1
        assert client.post_json("/Device/Keepalive", {"SN": "x"}).json["Success"] == 400  # a broken serial
    finally:
        client.close()


def _stop(proc: subprocess.Popen, out: ServeOutput) -> str:
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    out.thread.join(10)
    return "".join(out.lines)


def test_verbose_logs_one_line_per_request_and_nothing_personal(tmp_path: Path) -> None:
    deep = tmp_path / "a-directory-with-a-long-name" / "and-another-one-below-it"
    deep.mkdir(parents=True)
    proc, out = _serve(deep / "site.db", "-v")
    _traffic(out.port())
    text = _stop(proc, out)
    # The banner in a journal: the database path on the same line as "database", not cut at 80.
    assert f"database {deep / 'site.db'}" in text
    requests = [line for line in text.splitlines() if " INFO 127.0.0.1 " in line]
    assert len(requests) == 3, text
    keepalive, upload, refused = requests
    assert f" INFO 127.0.0.1 {SN} Keepalive 200 " in keepalive and keepalive.endswith(" Success=1 UploadWorkParameter")
    assert f"{SN} UploadIdentifyRecord 200 " in upload and upload.endswith("Success=1")
    assert "ms " in upload
    assert " Keepalive 200 " in refused and refused.endswith("Success=400")
    assert SECRET_NAME not in text and SECRET_USER not in text


def test_json_log_format_is_one_object_per_line(tmp_path: Path) -> None:
    proc, out = _serve(tmp_path / "site.db", "-v", "--log-format", "json")
    _traffic(out.port())
    text = _stop(proc, out)
    logged = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [e for e in logged if e["logger"] == "facectl.requests"]
    assert [(e["sn"], e["endpoint"], e["status"], e["success"]) for e in requests] == [
        (SN, "Keepalive", 200, 1), (SN, "UploadIdentifyRecord", 200, 1), ("x", "Keepalive", 200, 400)]
    assert requests[0]["flags"] == ["UploadWorkParameter"] and requests[0]["remote"] == "127.0.0.1"
    assert all(isinstance(e["ms"], float) and e["time"] and e["level"] == "INFO" for e in requests)
    assert any(e["logger"] == "facectl.server" and "stopped" in e["message"] for e in logged)
    assert SECRET_NAME not in text and SECRET_USER not in text


def test_without_verbose_no_request_lines(tmp_path: Path) -> None:
    proc, out = _serve(tmp_path / "site.db")
    _traffic(out.port())
    assert " INFO 127.0.0.1 " not in _stop(proc, out)


def test_a_start_on_a_busy_port_leaves_no_new_file(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for command in (["serve", "--host", "127.0.0.1", "--port", port], ["demo", "--port", port]):
            db = tmp_path / f"{command[0]}.db"
            result = subprocess.run([sys.executable, "-m", "facectl", *command, "--db", str(db)],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 1, result.stdout + result.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
            assert list(tmp_path.iterdir()) == [], (command, result.stdout, result.stderr)
        existing = tmp_path / "site.db"
        existing.write_bytes(b"")  # a site's file is never removed by a failed start
        result = subprocess.run([sys.executable, "-m", "facectl", "serve", "--host", "127.0.0.1", "--port", port,
                                 "--db", str(existing)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and existing.exists()
