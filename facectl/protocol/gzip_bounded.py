"""Bounded gzip inflation, for whole bodies (protocol.md 3.4, 6.2) and single parts (3.3, 6.3).

A few hundred bytes of gzip can inflate to gigabytes; every inflation in the
project goes through `inflate`, which stops at a limit and says so.
Per-part headers are unreliable on real firmware (6.3), so gzip is recognised
by its magic bytes as well as by a Content-Encoding header.
"""

from __future__ import annotations

import zlib

from .limits import MAX_INFLATED_BYTES

GZIP_MAGIC = b"\x1f\x8b"


class GzipError(ValueError):
    """The gzip stream is corrupt or would inflate past the limit."""


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def inflate(data: bytes, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """Inflate one gzip member (or concatenated members) to at most `limit` bytes."""
    out = bytearray()
    remaining = data
    while remaining:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = d.decompress(remaining, limit + 1 - len(out))
        except zlib.error as exc:
            raise GzipError(f"corrupt gzip data: {exc}") from None
        out += chunk
        if len(out) > limit or d.unconsumed_tail:
            raise GzipError(f"gzip data inflates past the limit of {limit} bytes")
        if not d.eof:
            raise GzipError("gzip data is cut short")
        remaining = d.unused_data
        if remaining and not is_gzip(remaining):
            break  # trailing garbage after a complete member: ignore, as gzip(1) does
    return bytes(out)


def inflate_head(data: bytes, size: int) -> bytes:
    """The first `size` inflated bytes of a gzip stream, or as many as a corrupt stream gives."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return d.decompress(data, size)
    except zlib.error:
        return b""


def maybe_inflate(data: bytes, limit: int = MAX_INFLATED_BYTES) -> tuple[bytes, bool]:
    """Inflate when the bytes are gzip; return (bytes, was_gzip).

    The decision is made on the magic bytes alone: firmware labels parts
    inconsistently (protocol.md 6.3), and a part labelled gzip but sent plain must
    still be read rather than lose the record. Callers that care about the
    label (the inspector's lint) compare it with `was_gzip` themselves.
    """
    if is_gzip(data):
        return inflate(data, limit), True
    return data, False
