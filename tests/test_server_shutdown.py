"""`facectl serve` stops cleanly on SIGTERM (systemd's stop), as on Ctrl-C.

A real `facectl serve` subprocess on a temporary database, with a device's idle
keep-alive connection open (devices keep theirs, protocol.md 1.4) when SIGTERM arrives.
The server must close that connection and its listener, close the database (the WAL
checkpointed into the main file, the file intact, every acknowledged record in it)
and exit 0 with one "stopped" line. The old behaviour, dying of the signal, exits 143.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import SN, ServeOutput

from facectl.store import Store

RECORDS = "/Record/UploadSystemRecord"


def _head(port: int, path: str, length: int, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def _post(port: int, path: str, body: bytes) -> bytes:
    return _head(port, path, len(body)) + body


def _read_answer(sock: socket.socket) -> dict:
    """One HTTP answer framed by Content-Length (the server always sends one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, "connection closed before the answer"
        data += more
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(rest) < length:
        more = sock.recv(65536)
        assert more, "connection closed before the answer's body"
        rest += more
    return json.loads(rest[:length])


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _records(first: int, count: int) -> bytes:
    return json.dumps({"SN": SN, "RecordType": 2, "Records": [
        {"RecordID": first + i, "RecordType": 28, "RecordDate": 1718616771 + i} for i in range(count)]}).encode()


def test_sigterm_closes_connections_and_the_database_and_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "shutdown.db"
    proc = subprocess.Popen([sys.executable, "-m", "facectl", "serve", "--db", str(db), "--host", "127.0.0.1",
                             "--port", "0", "--open-enrollment"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = ServeOutput(proc)
    try:
        assert out.listening.wait(20) and proc.poll() is None, "".join(out.lines)
        port = out.port()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(_post(port, "/Device/Keepalive", json.dumps({"SN": SN}).encode()))
            assert _read_answer(sock)["Success"] == 1
            sock.sendall(_post(port, RECORDS, _records(1, 10)))
            assert _read_answer(sock) == {"Success": 1}
            proc.send_signal(signal.SIGTERM)
            # The device's idle keep-alive connection is closed at once, not held for the grace period.
            assert sock.recv(1) == b""
        assert _refuses_connections(port)
        assert proc.wait(15) == 0, "".join(out.lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    out.thread.join(10)
    text = "".join(out.lines)
    stopped = [line for line in text.splitlines() if "facectl serve stopped" in line]
    assert len(stopped) == 1 and "SIGTERM" in stopped[0], text
    assert "Traceback" not in text and " ERROR " not in text, text

    # The database was closed: the WAL is checkpointed into the main file, which is intact.
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    store = Store(str(db))
    try:
        assert store.records.count(SN) == 10
    finally:
        store.close()
