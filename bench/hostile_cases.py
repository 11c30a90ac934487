"""Hostile requests, as bytes: the cases that once froze or filled the server, and a seeded fuzzer.

Shared by bench/bench_hostile.py (latency under attack, bytes stored, ERROR lines over a
fuzz run). The correctness tests have their own hypothesis strategies
(tests/test_hostile.py); these are plain `random.Random` builders, fast enough to
send 10,000 requests in a benchmark run.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field

from facectl.protocol import multipart
from facectl.protocol.endpoints import ENDPOINTS, Body
from facectl.protocol.limits import MAX_PERSON_JSON_BYTES, MAX_SYSTEM_RECORD_BYTES

MiB = 1024 * 1024
BOUNDARY = "hostile-boundary-7c1e"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@dataclass(frozen=True)
class Case:
    """One request: path, body, headers."""

    name: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def worst_cases(sn: str) -> list[Case]:
    """The four requests that held the event loop for seconds, plus the two that got past identity.

    `sn` is the attacker's serial (not an approved one); the no-SN cases carry none.
    """
    spaces = b" " * (16 * MiB)
    detail = b'{"X":[' + b" " * (8 * MiB - 400)
    record = multipart.build([multipart.text_part("SN", sn), multipart.text_part("RecordDetail", detail)], BOUNDARY)
    blocked_parts = multipart.build(
        [multipart.text_part("SN", sn)] + [multipart.text_part(f"x{i}", "y") for i in range(64)], BOUNDARY)
    result = multipart.build([multipart.text_part("ResultJson", b'{"SN":"' + sn.encode() + b'\xff","UserID":1')],
                             BOUNDARY)
    # At the limits: the largest bodies each endpoint still decodes, made as costly as possible
    # (a bare key first, so the lenient parser has to clean all of it).
    person_json = b'{a:1,"X":[' + b" " * (MAX_PERSON_JSON_BYTES - 64) + b"]}"
    person = multipart.build([multipart.text_part("SN", sn), multipart.text_part("PushType", "1"),
                              multipart.text_part("UserID", "1"),
                              multipart.text_part("Detail", person_json, gzip=True)], BOUNDARY)
    system = b'{a:1,"SN":"' + sn.encode() + b'","X":[' + b" " * (MAX_SYSTEM_RECORD_BYTES - 64) + b"]}"
    return [
        Case("gzip keepalive, 16 MiB of spaces", "/Device/Keepalive",
             gzip.compress(b'{"SN":"' + sn.encode() + b'","X":[' + spaces), {"Content-Encoding": "gzip"}),
        Case("gzip system records, no SN", "/Record/UploadSystemRecord",
             gzip.compress(b'{"X":[' + spaces), {"Content-Encoding": "gzip"}),
        Case("8 MiB plain body", "/Record/UploadSystemRecord", b'{"X":[' + b" " * (8 * MiB - 6)),
        Case("8 MiB RecordDetail part", "/Record/UploadIdentifyRecord", record, {"Content-Type": MULTIPART}),
        Case("65 parts, SN first", "/Record/UploadIdentifyRecord", blocked_parts, {"Content-Type": MULTIPART}),
        Case("ResultJson SN ending in 0xFF", "/Device/RegisterIdentifyTicketResult", result,
             {"Content-Type": MULTIPART}),
        Case("gzip Detail at its 2 MiB limit, to clean", "/People/PushPeople", person, {"Content-Type": MULTIPART}),
        Case("system records at the 512 KiB limit, to clean", "/Record/UploadSystemRecord", system),
    ]


#: Values that once became server errors or slow paths.
_HUGE_DIGITS = ("9" * 4301, "1" * 5000, "-" + "7" * 4400, "1" + "0" * 30)
_BAD_HEADER_BYTES = (b"\xff\xfe", b"multipart/form-data; boundary=\xff\xfe", b"\xc3\x28", b"text/\x80")


def fuzz_case(rng: random.Random, sn: str | None, endpoint_names: list[str] | None = None) -> tuple[Case, bytes]:
    """One random hostile request and the raw header bytes to add (for non-ASCII headers).

    Kinds: whitespace-padded and truncated bodies at the endpoint's limit, huge digit
    strings in number fields, non-ASCII Content-Type bytes, and bodies without an SN or
    with `sn` (forged or unknown).
    """
    endpoint = ENDPOINTS[rng.choice(endpoint_names or list(ENDPOINTS))]
    doc: dict[str, object] = {} if sn is None else {"SN": sn}
    number = rng.choice(_HUGE_DIGITS)
    for name in ("RecordID", "PhotoLen", "RecordType", "UserID", "Limit", "RecordDate"):
        if rng.random() < 0.5:
            doc[name] = "__NUM__"
    text = json.dumps(doc).replace('"__NUM__"', number if rng.random() < 0.7 else f'"{number}"').encode()
    kind = rng.choice(("pad", "truncate", "digits", "header", "gzip-pad"))
    limit = endpoint.max_body
    if kind == "pad":
        text = text[:-1] + b"," + b" " * max(0, limit - len(text) - rng.randint(0, 2))
    elif kind == "truncate":
        text = (text + b" " * limit)[:rng.randint(1, limit)]
    elif kind == "gzip-pad":
        text = text[:-1] + b',"X":[' + b" " * (limit + rng.randint(-64, 64))
    headers: dict[str, str] = {}
    raw_header = b""
    if endpoint.body is Body.MULTIPART:
        parts = [multipart.text_part(endpoint.json_part[0] if endpoint.json_part else "SN", text)]
        if sn is not None and rng.random() < 0.5:
            parts.insert(0, multipart.text_part("SN", sn))
        body = multipart.build(parts, BOUNDARY)
        headers["Content-Type"] = MULTIPART
    else:
        body = text
    if kind == "gzip-pad":
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if kind == "header":
        headers.pop("Content-Type", None)
        raw_header = b"Content-Type: " + rng.choice(_BAD_HEADER_BYTES) + b"\r\n"
    return Case(f"{endpoint.name} {kind}", endpoint.path, body, headers), raw_header
