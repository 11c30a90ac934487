"""A server install has no mitmproxy: `pip install facectl` serves and manages devices without it.

Each test runs facectl in a fresh Python in which importing mitmproxy fails, as it does
where only the base package is installed; the inspector says in one line which extra
to install.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from conftest import SN, ServeOutput

ROOT = Path(__file__).resolve().parents[1]
INSTALL_LINE = "pip install 'facectl[inspect]'"

#: Prepended to the child's program: mitmproxy cannot be imported, and the child reports
#: at exit whether anything tried.
BLOCKER = """
import atexit, sys
tried = []
class NoMitmproxy:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "mitmproxy":
            tried.append(name)
            raise ImportError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoMitmproxy())
atexit.register(lambda: tried and print("IMPORTED mitmproxy", file=sys.stderr))
import runpy
"""
WITHOUT_MITMPROXY = BLOCKER + """
sys.argv = ["facectl", *sys.argv[1:]]
runpy.run_module("facectl", run_name="__main__")
"""


def facectl(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WITHOUT_MITMPROXY, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def run(*args: str) -> tuple[int, str, str]:
    proc = facectl(*args)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out.decode(), err.decode()


def test_help_never_imports_mitmproxy() -> None:
    for args in (["--help"], ["inspect", "--help"], ["serve", "--help"], ["sim", "--help"]):
        code, out, err = run(*args)
        assert code == 0 and "Usage:" in out, (args, err)
        assert "IMPORTED mitmproxy" not in err, args


def test_inspect_without_mitmproxy_names_the_extra_in_one_line() -> None:
    code, out, err = run("inspect", "examples/capture.flows", "--summary")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[1] == "IMPORTED mitmproxy", err  # the attempt, then the one line
    assert lines[0] == f"error: mitmproxy is not installed; install the inspector with: {INSTALL_LINE}"


def test_server_runs_without_mitmproxy(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_MITMPROXY, "serve", "--db", str(tmp_path / "f.db"),
         "--host", "127.0.0.1", "--port", "0", "--open-enrollment"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = ServeOutput(proc)
    try:
        assert out.listening.wait(30) and proc.poll() is None, "".join(out.lines)
        request = urllib.request.Request(f"http://127.0.0.1:{out.port()}/Device/Keepalive",
                                         data=json.dumps({"SN": SN}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.loads(resp.read())["Success"] == 1
    finally:
        proc.terminate()
        proc.wait(15)
    out.thread.join(10)
    assert "IMPORTED mitmproxy" not in "".join(out.lines)


def test_addon_without_mitmproxy_names_the_extra() -> None:
    """The addon loaded by a Python that lacks what it needs: mitmproxy prints this ImportError's line."""
    proc = subprocess.run([sys.executable, "-c", BLOCKER + "runpy.run_path('addons/decode.py')"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-2]  # the exception's line, before the blocker's report
    assert last == (f"ImportError: addons/decode.py: mitmproxy is missing in {sys.executable}; "
                    f"install there: {INSTALL_LINE}"), proc.stderr
