"""Ctrl-C on `facectl sim`: the run so far is reported and the exit code is 0.

The simulator is the real `facectl sim` process against the real server; SIGINT is sent once
the server has seen the simulated device (so the run has started), and the run's own
--duration is far beyond the test, so only the signal can end it in time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import LiveServer

from facectl.store import Store

SIM_SN = "FC-8190H99000001"
GUARD_SECONDS = 60


def _wait_for_device(db_path: str, deadline: float) -> bool:
    """True once the server has stored the simulated device's first keepalive."""
    store = Store(db_path)
    try:
        while time.monotonic() < deadline:
            row = store.devices.get(SIM_SN)
            if row is not None and row["last_seen"]:
                return True
            time.sleep(0.05)
        return False
    finally:
        store.close()


def test_ctrl_c_prints_the_report_and_exits_0(open_server: LiveServer, db_path: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    env = {**os.environ, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "facectl", "sim", "--server", open_server.url, "--sn", SIM_SN,
                             "--interval", "1", "--duration", "3600", "--report", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert _wait_for_device(db_path, time.monotonic() + GUARD_SECONDS)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=GUARD_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err and "interrupted" not in err
    first = out.splitlines()[0]
    assert first.endswith("keepalive every 1 s"), out  # the first line, whole, in a pipe at COLUMNS=80
    assert "stopped by Ctrl-C after" in out and "Keepalive" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["interrupted"] is True and data["endpoints"]["Keepalive"]["ok"] >= 1
