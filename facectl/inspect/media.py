"""Photos and URLs as a device sees them: sizes, MD5s, JPEG dimensions, reachability.

No imaging library: the dimensions come from the JPEG's SOF marker, which is
all an integrator needs to tell a real face photo from a thumbnail or a
truncated upload. URLs are judged the way a terminal on the site's network
would judge them: `localhost` in a URL the server hands out points at the
terminal itself (protocol.md 5.7).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import struct
from urllib.parse import urlsplit

from facectl.protocol.gzip_bounded import GzipError, maybe_inflate

from .model import Photo, Side

_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


def md5_hex(data: bytes) -> str:
    """Upper-case hex, as every MD5 in the document is written (protocol.md 5.6)."""
    return hashlib.md5(data).hexdigest().upper()


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOF marker, or None if `data` is not a readable JPEG."""
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any SOF
            return None
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if pos + 9 > n:
                return None
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        pos += 2 + length
    return None


def photo_info(data: bytes, side: Side, where: str) -> Photo:
    """Describe a photo as stored: inflated when it was gzip (protocol.md 6.3), then measured."""
    was_gzip = False
    try:
        data, was_gzip = maybe_inflate(data)
    except GzipError:
        pass  # keep the bytes as sent; the MD5 will show they are not a photo
    dims = jpeg_dimensions(data)
    return Photo(
        side=side, where=where, size=len(data), md5=md5_hex(data),
        width=dims[0] if dims else None, height=dims[1] if dims else None,
        gzip=was_gzip, kind="jpeg" if dims else "other", data=data,
    )


def decode_base64(value: str) -> bytes | None:
    """Strict base64 (whitespace allowed, as PEM-style line breaks are common), else None."""
    text = "".join(value.split())
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def unreachable_reason(url: str) -> str | None:
    """Why a terminal could not download `url`, or None if it plausibly can.

    A root-relative URL is fine: the device resolves it against its own server
    address (protocol.md 8.3).
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "is not a valid URL"
    if not parts.scheme and not parts.netloc and parts.path.startswith("/"):
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return f"has scheme {parts.scheme or 'none'!r}; the device only fetches http(s) URLs"
    host = (parts.hostname or "").lower()
    if not host:
        return "has no host"
    if host == "localhost" or host.endswith(".localhost"):
        return "points at localhost, which on the device is the device itself"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    if addr.is_loopback:
        return f"points at the loopback address {host}, which on the device is the device itself"
    if addr.is_unspecified:
        return f"points at {host}, which is not an address a device can connect to"
    if addr.is_link_local:
        return f"points at the link-local address {host}"
    return None


def make_jpeg(width: int = 16, height: int = 12, comment: bytes = b"") -> bytes:
    """A valid grey baseline JPEG of any size, for examples, tests and benchmarks.

    One grey component; every 8x8 block is coded as "DC difference 0, end of
    block" (two one-bit codes), so the scan is 2 bits per block. `comment`
    goes into a COM segment, which gives each image its own MD5.
    """
    if not (0 < width <= 0xFFFF and 0 < height <= 0xFFFF):
        raise ValueError("JPEG dimensions must be 1-65535")
    blocks = -(-width // 8) * -(-height // 8)
    bits = "00" * blocks
    bits += "1" * (-len(bits) % 8)
    scan = int(bits, 2).to_bytes(len(bits) // 8, "big")  # never 0xFF: each byte holds a 0 bit
    out = bytearray(b"\xff\xd8")
    out += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    if comment:
        out += b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    out += b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    out += b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    out += b"\xff\xc4" + struct.pack(">H", 20) + b"\x00" + bytes([1] + [0] * 15) + b"\x00"
    out += b"\xff\xc4" + struct.pack(">H", 20) + b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    out += b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    out += scan + b"\xff\xd9"
    return bytes(out)
