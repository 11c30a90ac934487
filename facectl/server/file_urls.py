"""Absolute, expiring, signed URLs for stored files (photos, features, firmware; errata 5.7).

Devices download these themselves, so the URL must be absolute and reachable
from the device: built from `--public-url`, else from the Host header of the
request that asked for it. Photos and biometrics are personal data, so a URL
only serves while its HMAC is valid and its expiry has not passed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .registry import DeviceRequest

#: How long a handed-out URL stays valid: long enough for a 1000-person page
#: on a slow device, short enough that a leaked URL soon stops working.
DEFAULT_TTL_SECONDS = 3600


def sign(secret: bytes, sha256: str, expires: int) -> str:
    return hmac.new(secret, f"{sha256}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def verify(secret: bytes, sha256: str, expires: int, signature: str, at: float | None = None) -> bool:
    """True while `signature` is this file's and this expiry's, and the expiry has not passed.

    A signature is hex, so one with other characters is simply wrong (compared as
    str, hmac.compare_digest would raise TypeError on non-ASCII text).
    """
    if (at or time.time()) > expires or not signature.isascii():
        return False
    return hmac.compare_digest(sign(secret, sha256, expires), signature)


def base_url(request: DeviceRequest, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def file_path(secret: bytes, sha256: str, ext: str = ".jpg", ttl: int = DEFAULT_TTL_SECONDS) -> str:
    """The signed, expiring path of a stored file, root-relative: `/files/<sha256><ext>?e=…&s=…`."""
    expires = int(time.time()) + ttl
    return f"/files/{sha256}{ext}?e={expires}&s={sign(secret, sha256, expires)}"


def file_url(request: DeviceRequest, public_url: str | None, secret: bytes, sha256: str,
             ext: str = ".jpg", ttl: int = DEFAULT_TTL_SECONDS) -> str:
    return base_url(request, public_url) + file_path(secret, sha256, ext, ttl)
