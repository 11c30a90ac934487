"""Generated hostile requests where the bugs were: at the size limits, huge digits, odd header bytes, no or forged SN.

Each request is sent as raw HTTP to the real server (a new connection, as an attacker
would), from one of four senders: none (no SN), a stranger (an SN the server does not
know), a broken SN (a 0xFF byte at its end), or the approved device's SN forged. The
property: the answer is JSON with an integer Success, never a 5xx or "server error";
the log has no ERROR; a sender that is not the approved device leaves nothing in
quarantine; what the approved SN leaves is kept with the answer it was given. How long
a concurrent device's keepalive takes meanwhile is measured in bench/bench_hostile.py,
not here (no wall-clock limits in correctness tests).
"""

from __future__ import annotations

import gzip
import json
import socket

from conftest import SN, Errors, LiveServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facectl.protocol import multipart, responses
from facectl.protocol.endpoints import ENDPOINTS, Body, Endpoint
from facectl.store import Store

STRANGER = "FC-8190H66666666"
BOUNDARY = "fuzz-boundary"
SENDERS = {"none": None, "stranger": STRANGER, "broken": SN.encode() + b"\xff", "forged": SN}
#: Fields whose numbers became server errors past 4300 digits.
NUMBER_FIELDS = ("RecordID", "PhotoLen", "RecordType", "RecordDate", "UserID", "Limit", "SuccessCount", "BodyTemp")


def _post(port: int, path: str, body: bytes, header_lines: bytes) -> tuple[int, bytes]:
    """One request on its own connection, headers as raw bytes (non-ASCII ones included)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
            .encode() + header_lines + b"\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def _document(sn: bytes | str | None, numbers: dict[str, int]) -> bytes:
    """A JSON object with the sender's SN (raw bytes for the broken one) and numbers of `digits` digits."""
    fields = [b'"SN":"' + (sn if isinstance(sn, bytes) else sn.encode()) + b'"'] if sn is not None else []
    fields += [f'"{name}":{"9" * digits}'.encode() for name, digits in numbers.items()]
    return b"{" + b",".join(fields) + b"}"


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[Endpoint, str, bytes, bytes]:
    endpoint = ENDPOINTS[draw(st.sampled_from(list(ENDPOINTS)))]
    sender = draw(st.sampled_from(list(SENDERS)))
    sn = SENDERS[sender]
    numbers = draw(st.dictionaries(st.sampled_from(NUMBER_FIELDS), st.integers(1, 6000), max_size=2))
    text = _document(sn, numbers)
    limit = endpoint.max_json if endpoint.body is Body.MULTIPART else endpoint.max_body
    shape = draw(st.sampled_from(["as is", "padded", "padded, unclosed", "truncated"]))
    if shape != "as is":
        size = limit + draw(st.integers(-64, 64))  # at the limit: just under, at, just over
        padded = text[:-1] + b"," + b" " * max(0, size - len(text) - 2) + b"}"
        text = {"padded": padded, "padded, unclosed": padded[:-1],
                "truncated": padded[:draw(st.integers(1, len(padded)))]}[shape]
    header = b"Content-Type: application/json\r\n"
    if endpoint.body is Body.MULTIPART:
        parts = [multipart.text_part(endpoint.json_part[0] if endpoint.json_part else "Detail", text)]
        if sn is not None and draw(st.booleans()):
            parts.insert(0, multipart.text_part("SN", sn))
        text = multipart.build(parts, BOUNDARY)
        header = f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n".encode()
    if draw(st.booleans()):
        text = gzip.compress(text, compresslevel=1)
        header += b"Content-Encoding: gzip\r\n"
    if draw(st.integers(0, 3)) == 0:
        # Non-ASCII bytes among printable ones (control bytes are the HTTP parser's to refuse).
        odd = draw(st.binary(min_size=1, max_size=8).filter(
            lambda b: not b.isascii() and all(c >= 0x20 and c != 0x7F for c in b)))
        header = b"Content-Type: " + draw(st.sampled_from([b"", b"multipart/form-data; boundary="])) + odd + b"\r\n"
    return endpoint, sender, text, header


def _quarantine(store: Store) -> tuple[int, int]:
    return store.db.execute("SELECT count(*), COALESCE(SUM(length(body)), 0) FROM quarantine").fetchone()


def test_hostile_requests_get_clear_answers_and_strangers_leave_nothing(server: LiveServer, store: Store,
                                                                        errors: Errors) -> None:
    store.devices.add(SN)
    seen: set[str] = set()

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(hostile_requests())
    def one(req: tuple[Endpoint, str, bytes, bytes]) -> None:
        endpoint, sender, body, header = req
        seen.add(sender)
        before = _quarantine(store)
        status, raw = _post(server.port, endpoint.path, body, header)
        where = (endpoint.name, sender, len(body), header)
        assert status in (200, 400, 413), (where, status, raw[:200])
        answer = json.loads(raw)
        assert isinstance(answer["Success"], int), (where, answer)
        assert "server error" not in answer.get("Message", ""), (where, answer)
        logged = errors.take()
        assert not logged, (where, logged)
        if sender != "forged":
            assert _quarantine(store) == before, (where, answer, "a stranger's bytes were kept")
            if status == 200:
                assert answer["Success"] in (responses.BAD_SN, responses.NOT_ACTIVATED), (where, answer)
        elif _quarantine(store) != before:
            item = store.quarantine.list(SN, limit=1)[0]
            assert json.loads(item["answer"]) == answer, (where, answer)

    one()
    assert seen == set(SENDERS)
