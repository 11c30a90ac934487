"""Expiring, signed URLs for stored files (photos, features, firmware, screen files).

Root-relative (`/files/…`) by default: a terminal resolves it against the server
address it is configured with, as it does for the vendor's own server (protocol.md
8.3). The Host header cannot be used instead: real terminals send it without
the port (protocol.md 8.2), so a URL built from it points at port 80. With
`--public-url` (TLS offload, a separate file host) the URL is absolute.
Photos and biometrics are personal data, so a URL only serves while its HMAC is
valid and its expiry has not passed.
"""

from __future__ import annotations

import hashlib
import hmac
import time

#: How long a handed-out URL stays valid: long enough for a 1000-person page
#: on a slow device, short enough that a leaked URL soon stops working.
DEFAULT_TTL_SECONDS = 3600


def sign(secret: bytes, sha256: str, expires: int) -> str:
    """The URL's signature; hmac.digest is the one-shot C path (a 1000-person page signs ~1,500 files)."""
    return hmac.digest(secret, f"{sha256}:{expires}".encode(), hashlib.sha256).hex()[:32]


def verify(secret: bytes, sha256: str, expires: int, signature: str, at: float | None = None) -> bool:
    """True while `signature` is this file's and this expiry's, and the expiry has not passed.

    A signature is hex, so one with other characters is simply wrong (compared as
    str, hmac.compare_digest would raise TypeError on non-ASCII text).
    """
    if (at or time.time()) > expires or not signature.isascii():
        return False
    return hmac.compare_digest(sign(secret, sha256, expires), signature)


def file_path(secret: bytes, sha256: str, ext: str = ".jpg", ttl: int = DEFAULT_TTL_SECONDS) -> str:
    """The signed, expiring path of a stored file, root-relative: `/files/<sha256><ext>?e=…&s=…`."""
    expires = int(time.time()) + ttl
    return f"/files/{sha256}{ext}?e={expires}&s={sign(secret, sha256, expires)}"


def file_url(public_url: str | None, secret: bytes, sha256: str,
             ext: str = ".jpg", ttl: int = DEFAULT_TTL_SECONDS) -> str:
    """`/files/<sha256><ext>?e=…&s=…`, prefixed with `public_url` when the operator gave one."""
    return (public_url.rstrip("/") if public_url else "") + file_path(secret, sha256, ext, ttl)
