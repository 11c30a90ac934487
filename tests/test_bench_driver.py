"""`python -m bench --quick` runs every benchmark script in bench/ (the driver itself is timed in bench/, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


def test_every_script_is_driven() -> None:
    done = bench("--list")
    assert done.returncode == 0, done.stderr
    assert "not run" not in done.stderr, done.stderr  # a script in bench/ that BENCHMARKS lacks
    listed = {line.split()[2] for line in done.stdout.splitlines()}
    assert all((ROOT / script).is_file() for script in listed), listed


def test_usage_errors_exit_2() -> None:
    assert bench().returncode == 2  # no --quick: nothing is run by accident
    done = bench("--quick", "--only", "nope")
    assert done.returncode == 2 and "unknown benchmark(s) nope" in done.stderr
