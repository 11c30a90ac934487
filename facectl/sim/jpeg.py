"""Small valid JPEG images of a chosen size, without an imaging library.

The image is an 8x8 mid-grey baseline JPEG (one component, one DC-only block,
the smallest Huffman tables a decoder accepts), padded to the requested size
with COM (comment) segments. The padding is pseudo-random, so every photo has
its own MD5, and it is inside COM segments, so every decoder skips it. The
result starts with FF D8 and ends with FF D9 as a device photo does.
"""

from __future__ import annotations

import random
import struct

_SOI = b"\xff\xd8"
_EOI = b"\xff\xd9"
_APP0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
_DQT = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
# SOF0: 8-bit, 8x8 pixels, 1 component (id 1, sampling 1x1, quant table 0)
_SOF0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 8, 8, 1) + b"\x01\x11\x00"
# One code of length 1 per table: DC category 0 and AC end-of-block.
_DHT_DC = b"\xff\xc4" + struct.pack(">H", 20) + b"\x00" + bytes([1] + [0] * 15) + b"\x00"
_DHT_AC = b"\xff\xc4" + struct.pack(">H", 20) + b"\x10" + bytes([1] + [0] * 15) + b"\x00"
_SOS = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
# Bits "0" (DC diff 0) "0" (EOB), padded with ones.
_SCAN = b"\x3f"

_HEAD = _SOI + _APP0
_TAIL = _DQT + _SOF0 + _DHT_DC + _DHT_AC + _SOS + _SCAN + _EOI
#: The smallest image this module makes.
MIN_JPEG_BYTES = len(_HEAD) + len(_TAIL)
_MAX_COM_DATA = 0xFFFF - 2


def jpeg_size(size: int) -> int:
    """The length `make_jpeg(size)` returns."""
    padding = max(0, size - MIN_JPEG_BYTES)
    if 0 < padding < 4:
        padding = 4
    return MIN_JPEG_BYTES + padding


def make_jpeg(size: int = 0, seed: int | None = None) -> bytes:
    """A valid JPEG of `size` bytes: exact, except that it is never below MIN_JPEG_BYTES
    and a remainder of 1-3 bytes (too small for a segment) rounds up to 4."""
    rng = random.Random(seed)
    padding = max(0, size - MIN_JPEG_BYTES)
    if 0 < padding < 4:
        padding = 4
    segments = bytearray()
    while padding > 0:
        take = min(padding, _MAX_COM_DATA + 4)  # one COM segment: 4 bytes + data
        if 0 < padding - take < 4:
            take -= 4  # leave room for a last segment of at least 4 bytes
        segments += b"\xff\xfe" + struct.pack(">H", take - 2) + rng.randbytes(take - 4)
        padding -= take
    return _HEAD + bytes(segments) + _TAIL
