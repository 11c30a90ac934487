#!/usr/bin/env python3
"""Regenerate the terminal screenshots in docs/screenshots/ (SVG, rich's export_svg).

    python docs/screenshots/make.py            # from the repository root, with facectl installed

It runs the real commands: `facectl demo` in the background on a database in a
temporary directory, then, while its simulated devices are online and once the
demo has opened its door and renamed its devices, `facectl watch --once`,
`facectl device list`, `facectl people status` and `facectl records list` on
that database, and `facectl inspect examples/capture.flows --summary`. Each
command's colour output (FORCE_COLOR) is replayed into a recording rich
Console and saved as an SVG named after the command. Times, serial numbers
and records differ from run to run; the layout is what the pictures show.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: `facectl ARGS`, with the interpreter running this script.
FACECTL = [sys.executable, "-m", "facectl"]
DEMO_SECONDS = 40
#: How long to wait for the demo to reach the state the pictures show.
READY_TIMEOUT = 30


def run(args: list[str], cwd: Path, width: int) -> str:
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": str(width), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    done = subprocess.run([*FACECTL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SystemExit(f"facectl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def save(name: str, args: list[str], output: str, width: int) -> None:
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", legacy_windows=False)
    console.print(Text.from_ansi(output.rstrip("\n")), soft_wrap=True)
    path = HERE / f"{name}.svg"
    path.write_text(console.export_svg(title="facectl " + " ".join(args)), encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({len(output.splitlines())} lines)")


def shot(name: str, args: list[str], cwd: Path, width: int = 120) -> None:
    save(name, args, run(args, cwd, width), width)


def ready(db: Path, devices: int) -> bool:
    """The demo has done what the pictures should show: door opened, every device renamed, records with names."""
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            applied = conn.execute("SELECT count(*) FROM setting_changes WHERE state = 'applied'").fetchone()[0]
            sent = conn.execute("SELECT count(*) FROM commands WHERE state = 'sent'").fetchone()[0]
            named = conn.execute("SELECT count(*) FROM records WHERE kind = 'identify' AND name != ''").fetchone()[0]
    except sqlite3.Error:
        return False
    return applied >= devices and sent >= 1 and named >= 3


def main() -> None:
    devices = 3
    with tempfile.TemporaryDirectory(prefix="facectl-shots-") as tmp:
        work = Path(tmp)
        db = work / "demo.db"
        env = {**os.environ, "COLUMNS": "140"}
        demo = subprocess.Popen([*FACECTL, "demo", "--devices", str(devices), "--people", "8",
                                 "--duration", str(DEMO_SECONDS), "--db", "demo.db"],
                                cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not ready(db, devices):
                if demo.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the demo did not get going: {demo.stderr.read() if demo.stderr else ''}")
                time.sleep(0.5)
            shot("watch", ["watch", "--once", "--feed", "10", "--db", "demo.db"], work, width=140)
            shot("device-list", ["device", "list", "--db", "demo.db"], work)
            shot("people-status", ["people", "status", "--db", "demo.db"], work)
            shot("records-list", ["records", "list", "--limit", "12", "--db", "demo.db"], work, width=140)
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    shot("inspect-summary", ["inspect", "examples/capture.flows", "--summary"], ROOT, width=130)


if __name__ == "__main__":
    main()
