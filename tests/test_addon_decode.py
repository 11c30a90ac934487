"""addons/decode.py driven by mitmproxy's own test helpers, and once for real under mitmdump.

Flows are built from raw device bytes (gzip parts, JPEG photos) with
mitmproxy.test.tflow / tutils; the addon is loaded the way `-s` loads it.
"""

from __future__ import annotations

import http.client
import http.server
import io
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlite_utils
from mitmproxy import contentviews, exceptions
from mitmproxy import http as mhttp
from mitmproxy.addons.script import load_script
from mitmproxy.test import taddons, tflow, tutils
from rich.console import Console

from facectl.inspect import samples
from facectl.inspect.media import make_jpeg, md5_hex
from facectl.protocol import multipart, responses
from facectl.protocol.endpoints import ENDPOINTS

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addons" / "decode.py"
SN = samples.SN
P = {name: e.path for name, e in ENDPOINTS.items()}


def device_flow(sample: samples.Sample, error: str | None = None) -> mhttp.HTTPFlow:
    """A flow from raw bytes with mitmproxy's test helpers."""
    req = tutils.treq(
        method=sample.method.encode(), path=sample.path.encode(), host="192.168.1.10", port=9003,
        headers=mhttp.Headers([(k.encode(), v.encode()) for k, v in sample.req_headers]),
        content=sample.req_body, timestamp_start=sample.started, timestamp_end=sample.started + 0.001,
    )
    resp: mhttp.Response | bool = False
    if sample.status is not None:
        resp = tutils.tresp(
            status_code=sample.status,
            headers=mhttp.Headers([(k.encode(), v.encode()) for k, v in sample.resp_headers]),
            content=sample.resp_body, timestamp_start=sample.finished - 0.001,
            timestamp_end=sample.finished,
        )
    return tflow.tflow(req=req, resp=resp, err=tflow.terr(error) if error else False)


def keepalive_flow(**answer) -> mhttp.HTTPFlow:
    return device_flow(samples.exchange(
        samples.json_request(P["Keepalive"], samples.keepalive_doc(), trailing_comma=True),
        samples.answer(responses.ok(**answer))))


def record_flow(photo: bytes) -> mhttp.HTTPFlow:
    parts = samples.record_parts(SN, samples.record_detail(120, photo_len=len(photo)), None,
                                 json_name="recordJson", sn_space=True)
    parts.append(multipart.file_part("pic", "Postman_file.jpg", photo, "image/jpeg", gzip=True))
    return device_flow(samples.exchange(
        samples.multipart_request(P["UploadIdentifyRecord"], parts), samples.answer()))


@pytest.fixture
def loaded():
    """The script loaded by mitmproxy's own script loader (as `-s` does), its addon in a context."""
    module = load_script(str(ADDON))
    addon = module.addons[0]
    addon.console = Console(file=io.StringIO(), width=200, color_system=None)
    with taddons.context(addon) as tctx:
        yield tctx, addon
        addon.done()


@pytest.fixture
def tctx(loaded):
    return loaded[0]


@pytest.fixture
def addon(loaded):
    return loaded[1]


def output(addon) -> str:
    return addon.console.file.getvalue()


def test_compact_line_per_device_exchange(addon):
    addon.response(keepalive_flow(AddPeople=1))
    text = output(addon)
    assert text.count("\n") == 1
    assert SN in text and "Keepalive" in text and "ok: AddPeople" in text and "I1" in text


def test_full_table_with_labels_gzip_and_photo(tctx, addon):
    tctx.configure(addon, facectl_detail="full")
    addon.response(record_flow(make_jpeg(48, 64)))
    text = output(addon)
    assert "face verification" in text and "48×64" in text
    assert "request part 'recordJson' (declared)" in text and "leading-space" in text


def test_full_view_separates_exchanges_with_a_blank_line(tctx, addon):
    """The table's caption (its document section) must not read as the next exchange's title."""
    tctx.configure(addon, facectl_detail="full")
    addon.response(keepalive_flow())
    first = output(addon)
    addon.response(record_flow(make_jpeg(48, 64)))
    second = output(addon)[len(first):]
    assert not first.startswith("\n") and second.startswith("\n") and second.strip().startswith("UploadIdentifyRecord")


def test_compact_line_fits_a_terminal_and_is_whole_in_a_file(addon):
    addon.console = Console(file=io.StringIO(), width=80, color_system=None, force_terminal=True)
    addon.response(record_flow(make_jpeg(48, 64)))
    line = output(addon).rstrip("\n")
    assert "\n" not in line and len(line) <= 80 and "granted 3 张三" in line, line
    addon.console = Console(file=io.StringIO(), width=80, color_system=None)  # a log file
    addon.response(record_flow(make_jpeg(48, 64)))
    assert "granted 3 张三 (face verification) → ok" in output(addon)


def test_only_device_traffic_is_printed(addon):
    other = tflow.tflow(req=tutils.treq(path=b"/index.html"), resp=True)
    addon.response(other)
    assert output(addon) == ""


def test_sn_filter(tctx, addon):
    tctx.configure(addon, facectl_sn="FC-8380T12345678")
    addon.response(keepalive_flow())
    assert output(addon) == ""
    tctx.configure(addon, facectl_sn=f"fc-8380t12345678, {SN.lower()}")
    addon.response(keepalive_flow())
    assert SN in output(addon)


def test_photos_are_saved(tctx, addon, tmp_path):
    tctx.configure(addon, facectl_photos=str(tmp_path / "photos"))
    jpeg = make_jpeg(48, 64, b"saved")
    addon.response(record_flow(jpeg))
    (saved,) = (tmp_path / "photos").iterdir()
    assert saved.read_bytes() == jpeg and md5_hex(jpeg)[:8] in saved.name and SN in saved.name


def test_exchanges_are_stored_in_sqlite(tctx, addon, tmp_path):
    db_path = tmp_path / "site.db"
    tctx.configure(addon, facectl_db=str(db_path))
    addon.response(keepalive_flow())
    addon.response(record_flow(make_jpeg()))
    addon.done()
    db = sqlite_utils.Database(db_path)
    rows = list(db.query("select endpoint, sn, status, labels from exchanges order by id"))
    assert [r["endpoint"] for r in rows] == ["Keepalive", "UploadIdentifyRecord"]
    assert json.loads(rows[1]["labels"])["request.recordJson.RecordType"] == "face verification"
    rules = {r["rule"] for r in db.query("select rule from findings")}
    assert {"trailing-comma", "leading-space", "name-variant"} <= rules


def test_misspelt_option_is_reported(tctx, addon, caplog):
    tctx.options.update_defer(facectl_detial="full", unrelated_option="x")
    with caplog.at_level(logging.ERROR, logger="facectl"):
        messages = addon.report_misspelt()
    assert messages == ["facectl: unknown option 'facectl_detial' is ignored; did you mean facectl_detail?"]
    assert "facectl_detial" in caplog.text
    assert addon.report_misspelt() == []  # once


def test_bad_option_values_are_refused(tctx, addon, tmp_path):
    with pytest.raises(exceptions.OptionsError, match="compact"):
        tctx.options.set("facectl_detail=verbose")
    with pytest.raises(exceptions.OptionsError, match="facectl_detail"):
        tctx.configure(addon, facectl_detail="verbose")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(exceptions.OptionsError, match="facectl_photos"):
        tctx.configure(addon, facectl_photos=str(blocker / "sub"))


def test_odd_bytes_never_crash_the_proxy(addon):
    for path in (P["Keepalive"], P["UploadIdentifyRecord"], "/devicePass/selectPassInfo"):
        for body in (b"\x00\xff" * 40, b"\x1f\x8b\x08garbage", b"{"):
            flow = device_flow(samples.exchange(
                (path, [("Content-Type", "multipart/form-data; boundary=zz")], body),
                (200, [("Content-Encoding", "gzip")], b"\x1f\x8b\x08\x00broken")))
            addon.response(flow)
    flow = keepalive_flow()
    flow.request.raw_content = None  # a streamed body mitmproxy did not keep
    addon.response(flow)
    lines = output(addon).splitlines()
    assert len(lines) == 10
    assert all(re.search(r" [EW]\d+", line) for line in lines[:9]), lines


def test_no_answer_is_shown(addon):
    sample = samples.exchange(samples.json_request(P["Keepalive"], samples.keepalive_doc()), None)
    addon.error(device_flow(sample, error="server timed out"))
    assert "no answer" in output(addon) and "E1" in output(addon)


def test_timeline_spans_hooks(addon):
    first = keepalive_flow()
    second = keepalive_flow()
    for f in (second.request,):
        f.timestamp_start += 45
    second.response.timestamp_end += 45
    addon.response(first)
    addon.response(second)
    assert "W1" in output(addon).splitlines()[1]


# --- the contentview --------------------------------------------------------------------


def _view_text(flow: mhttp.HTTPFlow, message, view_name: str) -> tuple[str, str]:
    """(description, text) of a message through the installed mitmproxy's contentview API."""
    if hasattr(contentviews, "registry"):  # mitmproxy >= 12: "auto" picks by render_priority
        result = contentviews.prettify_message(message, flow, view_name.lower())
        return result.view_name or "", result.text
    desc, lines, error = contentviews.get_message_content_view(view_name, message, flow)
    assert error is None, error
    return desc, "\n".join("".join(text for _, text in line) for line in lines)


def test_contentview_decodes_device_bodies(addon):
    flow = record_flow(make_jpeg(48, 64))
    desc, text = _view_text(flow, flow.request, "FCARD HTTPv2")
    assert "FCARD HTTPv2" in desc
    assert "recordJson.RecordType" in text and "face verification" in text and "48x64" in text
    desc, text = _view_text(flow, flow.response, "FCARD HTTPv2")
    assert "Success" in text and "= ok" in text


def test_contentview_is_chosen_for_device_traffic_only(addon):
    flow = keepalive_flow()
    desc, _ = _view_text(flow, flow.request, "auto")
    assert desc.startswith("FCARD HTTPv2")
    other = tflow.tflow(req=tutils.treq(path=b"/api/x", content=b'{"a": 1}',
                                        headers=mhttp.Headers(content_type="application/json")))
    desc, _ = _view_text(other, other.request, "auto")
    assert not desc.startswith("FCARD")


def test_contentview_is_registered_on_load_and_removed_on_done():
    addon = load_script(str(ADDON)).addons[0]
    with taddons.context(addon):
        if not hasattr(contentviews, "registry"):
            assert contentviews.get("FCARD HTTPv2") is addon.view
        addon.done()
        if not hasattr(contentviews, "registry"):
            assert contentviews.get("FCARD HTTPv2") is None


# --- under mitmdump, from a checkout where facectl is not installed ------------------------

_NO_FACECTL = """
import sys
def _editable(obj):
    return "__editable__" in str(getattr(obj, "__module__", "")) or "__editable__" in str(obj)
sys.meta_path[:] = [f for f in sys.meta_path if not _editable(f)]
sys.path_hooks[:] = [h for h in sys.path_hooks if not _editable(h)]
sys.path[:] = [p for p in sys.path if "__editable__" not in p]
sys.path_importer_cache.clear()
try:
    import facectl
except ImportError:
    pass
else:
    raise SystemExit("facectl is still importable: " + str(facectl.__file__))
from mitmproxy.tools.main import mitmdump
sys.argv = ["mitmdump"] + sys.argv[1:]
mitmdump()
"""


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = responses.encode(responses.ok(AddPeople=1))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _mitmdump(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, queue.Queue]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _NO_FACECTL, "--mode", f"reverse:http://127.0.0.1:{server.server_port}",
         "--listen-host", "127.0.0.1", "-p", "0", "-s", str(ADDON),
         "--set", "connection_strategy=lazy", "--set", "flow_detail=0", *extra],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)
        server.shutdown()

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _until(lines: queue.Queue, needle: str, seen: list[str]) -> str | None:
    while True:
        line = lines.get(timeout=30)
        if line is None:
            return None
        seen.append(line)
        if needle in line:
            return line


def test_mitmdump_runs_the_addon_without_facectl_installed(tmp_path):
    proc, lines = _mitmdump(tmp_path)
    seen: list[str] = []
    try:
        ready = _until(lines, "listening at", seen)
        assert ready, "".join(seen)
        port = int(ready.rsplit(":", 1)[1].strip(" .\n"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        _, headers, body = samples.json_request(P["Keepalive"], samples.keepalive_doc(),
                                                trailing_comma=True)
        conn.request("POST", P["Keepalive"], body=body, headers=dict(headers[1:]))
        assert json.loads(conn.getresponse().read()) == {"Success": 1, "AddPeople": 1}
        conn.close()
        assert _until(lines, "Keepalive", seen), "".join(seen)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    printed = next(line for line in seen if "Keepalive" in line)
    assert SN in printed and "ok: AddPeople" in printed


def test_mitmdump_refuses_a_misspelt_option(tmp_path):
    proc, lines = _mitmdump(tmp_path, "--set", "facectl_detial=full")
    seen: list[str] = []
    _until(lines, "\0", seen)  # read to the end
    assert proc.wait(timeout=30) != 0
    assert "did you mean facectl_detail" in "".join(seen)
