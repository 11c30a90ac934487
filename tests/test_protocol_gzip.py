"""Bounded gzip inflation (protocol.md 3.4, 3.5, 6.2, 6.3)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from facectl.protocol.gzip_bounded import (
    GZIP_MAGIC,
    GzipError,
    inflate,
    is_gzip,
    maybe_inflate,
)
from facectl.protocol.limits import MAX_INFLATED_BYTES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "requests"


def test_round_trip():
    data = "人员 UserID 1, 张三\n".encode() * 100
    assert inflate(gzip.compress(data)) == data


def test_round_trip_empty_payload():
    assert inflate(gzip.compress(b"")) == b""


def test_document_example_whole_body_gzip():
    raw = (EXAMPLES / "UploadWorkSetting.json.gz").read_bytes()
    plain = (EXAMPLES / "UploadWorkSetting.json").read_bytes()
    assert is_gzip(raw)
    assert inflate(raw) == plain


def test_detection_by_magic():
    assert GZIP_MAGIC == b"\x1f\x8b"
    assert is_gzip(gzip.compress(b"x"))
    assert is_gzip(b"\x1f\x8b")
    assert not is_gzip(b'{"SN": "FC-8190H24052799"}')
    assert not is_gzip(b"\x1f")
    assert not is_gzip(b"")
    assert not is_gzip(b"\x8b\x1f")


def test_inflation_past_the_limit_refused():
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < 2_000
    with pytest.raises(GzipError, match="limit"):
        inflate(bomb, limit=10_000)


def test_inflation_exactly_at_the_limit_accepted():
    data = b"\0" * 10_000
    assert inflate(gzip.compress(data), limit=10_000) == data
    with pytest.raises(GzipError, match="limit"):
        inflate(gzip.compress(data + b"\0"), limit=10_000)


def test_default_limit_is_the_project_limit():
    bomb = gzip.compress(b"\0" * (MAX_INFLATED_BYTES + 1), compresslevel=1)
    with pytest.raises(GzipError, match=str(MAX_INFLATED_BYTES)):
        inflate(bomb)


def test_concatenated_members_past_the_limit_refused():
    member = gzip.compress(b"a" * 600)
    with pytest.raises(GzipError, match="limit"):
        inflate(member + member, limit=1_000)


@pytest.mark.parametrize("cut", [2, 10, 20, -8, -1])
def test_truncated_gzip_refused(cut):
    data = gzip.compress(json.dumps({"SN": "FC-8190H24052799", "pad": "x" * 500}).encode())
    with pytest.raises(GzipError, match="cut short"):
        inflate(data[:cut])


def test_corrupt_gzip_refused():
    data = bytearray(gzip.compress(b"hello world " * 50))
    data[12:20] = b"\xff" * 8  # inside the deflate stream
    with pytest.raises(GzipError, match="corrupt"):
        inflate(bytes(data))


def test_bad_crc_refused():
    data = bytearray(gzip.compress(b"hello world"))
    data[-8] ^= 0xFF  # CRC32 of the trailer
    with pytest.raises(GzipError, match="corrupt"):
        inflate(bytes(data))


def test_not_gzip_at_all_refused():
    with pytest.raises(GzipError):
        inflate(b'{"SN": "x"}')


def test_concatenated_members():
    data = gzip.compress(b"first,") + gzip.compress(b"second,") + gzip.compress(b"third")
    assert inflate(data) == b"first,second,third"


def test_gzip_error_is_a_value_error():
    assert issubclass(GzipError, ValueError)


def test_maybe_inflate_passes_plain_bytes_through():
    plain = b'{"SN": "FC-8190H24052799"}'
    data, was_gzip = maybe_inflate(plain)
    assert data is plain or data == plain
    assert was_gzip is False


def test_maybe_inflate_inflates_gzip():
    assert maybe_inflate(gzip.compress(b"abc")) == (b"abc", True)


def test_maybe_inflate_is_bounded():
    with pytest.raises(GzipError, match="limit"):
        maybe_inflate(gzip.compress(b"\0" * 100_000), limit=1_000)
