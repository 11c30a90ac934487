"""Capture files: written with mitmproxy's FlowWriter, read back, decoded like the live addon; the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from facectl.cli.inspect import inspect
from facectl.inspect import samples
from facectl.inspect.flows import (
    FlowFileError,
    build_flow,
    decode_flow,
    flow_inputs,
    inspect_files,
    read_flows,
    write_flows,
)
from facectl.protocol.endpoints import ENDPOINTS

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "examples" / "capture.flows"


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("flows") / "session.flows"
    flows = [build_flow(**s.kwargs()) for s in samples.session().samples]
    assert write_flows(path, flows) == len(flows)
    return path


def test_flows_written_and_read_back_decode_the_same(capture):
    session = samples.session().samples
    read = list(read_flows(capture))
    assert len(read) == len(session)
    for flow, sample in zip(read, session, strict=True):
        inputs = flow_inputs(flow)
        assert inputs["req_body"] == sample.req_body and inputs["resp_body"] == sample.resp_body
        assert inputs["path"] == sample.path and inputs["status"] == sample.status
        from_file, direct = decode_flow(flow), sample.decode()
        assert from_file.to_dict()["labels"] == direct.to_dict()["labels"]
        assert [p.md5 for p in from_file.photos] == [p.md5 for p in direct.photos]


def test_raw_bodies_survive_the_file_byte_for_byte(capture):
    """Multipart with binary JPEG and gzip parts is kept raw (mitmproxy issue 4466 is about parsing)."""
    flow = next(f for f in read_flows(capture) if f.request.path == ENDPOINTS["PushPeople"].path)
    ex = decode_flow(flow)
    assert ex.photos[0].kind == "jpeg" and "request part 'Detail' (declared)" in ex.gzip


def test_inspect_files_orders_by_start_and_runs_the_timeline(tmp_path):
    late = samples.session(t0=samples.T0 + 100, client="conn-2").samples
    early = samples.session(t0=samples.T0, client="conn-1").samples
    path = tmp_path / "two.flows"
    write_flows(path, [build_flow(**s.kwargs()) for s in late + early])
    exchanges = inspect_files([path])
    starts = [ex.started for ex in exchanges]
    assert starts == sorted(starts)
    assert "keepalive-late" in {f.rule for ex in exchanges for f in ex.findings}


def test_unreadable_files_raise_a_clear_error(tmp_path):
    bad = tmp_path / "bad.flows"
    bad.write_bytes(b"this is not a capture")
    with pytest.raises(FlowFileError, match="not a readable mitmproxy capture"):
        list(read_flows(bad))


def test_flow_without_answer_is_kept_with_its_error():
    sample = samples.exchange(samples.json_request(ENDPOINTS["Keepalive"].path, samples.keepalive_doc()), None)
    flow = build_flow(**sample.kwargs(), error="connection refused")
    ex = decode_flow(flow)
    assert ex.status is None and "no-response" in {f.rule for f in ex.findings}


# --- examples/capture.flows ------------------------------------------------------------


def test_example_capture_is_current_and_shows_findings(tmp_path):
    out = tmp_path / "capture.flows"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_capture.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == CAPTURE.read_bytes(), "run python examples/make_capture.py"
    exchanges = inspect_files([CAPTURE])
    rules = {f.rule for ex in exchanges for f in ex.findings}
    assert {"people-limit", "md5-mismatch", "unreachable-url", "other-server-url", "expiry-max", "string-bytes",
            "v1-path", "keepalive-late", "concurrent-connection", "trailing-comma",
            "keepalive-success", "slow-answer", "no-response"} <= rules
    assert any("request body (Content-Encoding: gzip)" in ex.gzip for ex in exchanges)
    assert any(ex.photos and ex.photos[0].width for ex in exchanges)


# --- facectl inspect -------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(inspect, [str(a) for a in args], catch_exceptions=False)


def test_cli_compact_lines(capture):
    result = invoke(capture)
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if "FC-8190H24052799" in line]
    assert len(lines) == len(samples.session().samples)
    assert any("Opendoor=2 (keep open)" in line for line in lines)
    assert "exchanges shown" in result.output


def test_cli_full_tables(capture):
    result = invoke(capture, "--full", "--endpoint", "UploadIdentifyRecord")
    assert result.exit_code == 0
    words = result.output.split()
    assert "verification" in words and "36.5" in words and "API-上传打卡记录" in words


def test_cli_json(capture):
    result = invoke(capture, "--json", "--endpoint", "keepalive", "--sn", samples.SN.lower())
    docs = json.loads(result.output)
    assert [d["endpoint"] for d in docs] == ["Keepalive", "Keepalive"]


def test_cli_lint_only_and_summary_on_the_example():
    result = invoke(CAPTURE, "--lint-only")
    assert result.exit_code == 0
    assert "people-limit" in result.output and "Opendoor" not in result.output
    docs = json.loads(invoke(CAPTURE, "--lint-only", "--json").output)
    assert docs and all(d["findings"] for d in docs)
    summary = json.loads(invoke(CAPTURE, "--summary", "--json").output)
    assert {d["sn"] for d in summary["devices"]} == {"FC-8190H24052799", "FC-8380T12345678"}
    assert summary["findings"][0]["severity"] == "error"
    text = invoke(CAPTURE, "--summary").output
    assert "one line per keepalive cycle" in text and "keepalive-late" in text


def test_cli_filters_v1_and_downloads():
    docs = json.loads(invoke(CAPTURE, "--json", "--endpoint", "v1", "--endpoint", "download").output)
    assert {d["endpoint"].split()[0] for d in docs} == {"HTTPv1", "download"}


def test_cli_usage_errors(tmp_path):
    assert CliRunner().invoke(inspect, [str(CAPTURE), "--endpoint", "Nope"]).exit_code == 2
    bad = tmp_path / "x.flows"
    bad.write_bytes(b"garbage")
    result = CliRunner().invoke(inspect, [str(bad)])
    assert result.exit_code == 1
