"""What the document asks of the *device* side: retries, pauses, silence, what it refuses.

The server and inspector read the wire from `endpoints`; the simulator also has
to behave like firmware, and these are the rules it follows. They are written
here rather than in the simulator because they are facts of the document that
the server's tests and the docs refer to as well.

- 异常处理 / 网络异常: every request has a timeout and is retried; the document's
  suggestion is "超时时间2秒，超时重试次数3次". We read "3 tries" (the first
  attempt included), the reading the project took in `limits.DEVICE_TIMEOUT_SECONDS`.
- 上传打卡记录 / 上传系统记录: the device waits 30 s for an answer and, after an
  error code, waits 10 s before uploading the record again.
- 服务器拒绝连接: Success 401/403 in the body, or HTTP status 401/403/400, make the
  device stop calling until its next keepalive.
- 拉取人员授权信息: what a device refuses to import, and with which error code (the
  field limits themselves are `people.normalize`'s, the ones operator input meets).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urljoin, urlsplit

from .codes import PEOPLE_ERROR_CODES
from .endpoints import Endpoint
from .limits import DEVICE_TIMEOUT_SECONDS, MAX_PHOTO_BYTES, RECORD_TIMEOUT_SECONDS
from .numbers import as_uint
from .people import COLUMNS as PERSON_COLUMNS
from .people import PersonError, as_base64, check_user_id, is_jpeg, normalize
from .responses import BAD_SN, BLOCKED, NOT_ACTIVATED, OK

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Attempts per ordinary call (document: "超时重试次数3次"), each with DEVICE_TIMEOUT_SECONDS.
ORDINARY_TRIES = 3
#: Pause before a record upload is tried again after an error (document: "等待10秒后重新上传记录").
RECORD_RETRY_PAUSE_SECONDS = 10.0
#: Success codes after which the device stays quiet until its next keepalive.
QUIET_SUCCESS_CODES: frozenset[int] = frozenset({NOT_ACTIVATED, BLOCKED, BAD_SN})
#: HTTP statuses after which the device stays quiet until its next keepalive.
QUIET_HTTP_STATUSES: frozenset[int] = frozenset({400, 401, 403})

#: People error codes by meaning (values from the document's table, via codes.py).
ERR_PARAMETERS = int(PEOPLE_ERROR_CODES.value_of("invalid person parameters"))
ERR_PHOTO_DOWNLOAD = int(PEOPLE_ERROR_CODES.value_of("photo download failed"))
ERR_PHOTO_TOO_LARGE = int(PEOPLE_ERROR_CODES.value_of("photo too large"))
ERR_FACE_DOWNLOAD = int(PEOPLE_ERROR_CODES.value_of("face feature download failed"))
ERR_FINGERPRINT_DOWNLOAD = int(PEOPLE_ERROR_CODES.value_of("fingerprint download failed"))
ERR_PALM_DOWNLOAD = int(PEOPLE_ERROR_CODES.value_of("palm vein download failed"))
ERR_DUPLICATE_CARD = int(PEOPLE_ERROR_CODES.value_of("duplicate card number"))
ERR_STORAGE_FULL = int(PEOPLE_ERROR_CODES.value_of("person storage full"))
ERR_FACE_FORMAT = int(PEOPLE_ERROR_CODES.value_of("invalid face feature format"))
ERR_FINGERPRINT_FORMAT = int(PEOPLE_ERROR_CODES.value_of("invalid fingerprint format"))
ERR_PALM_FORMAT = int(PEOPLE_ERROR_CODES.value_of("invalid palm vein format"))
ERR_PHOTO_UNRECOGNISABLE = int(PEOPLE_ERROR_CODES.value_of("photo not recognisable"))

def is_record_upload(endpoint: Endpoint) -> bool:
    """Record uploads wait 30 s and retry after a pause; every other call is 2 s x 3 tries."""
    return endpoint.device_timeout >= RECORD_TIMEOUT_SECONDS


def tries_for(endpoint: Endpoint) -> int:
    """Attempts within one call; a record upload is not retried at once but after the pause."""
    return 1 if is_record_upload(endpoint) else ORDINARY_TRIES


def timeout_for(endpoint: Endpoint) -> float:
    return endpoint.device_timeout if endpoint.device_timeout else DEVICE_TIMEOUT_SECONDS


def success_code(answer: Any) -> int | None:
    """The Success field of an answer as an int, or None when there is none."""
    if not isinstance(answer, dict):
        return None
    value = answer.get("Success")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def is_ok(answer: Any) -> bool:
    return success_code(answer) == OK


def is_quiet(http_status: int | None, answer: Any) -> bool:
    """True when the device must stay quiet until the next keepalive (服务器拒绝连接)."""
    if http_status in QUIET_HTTP_STATUSES:
        return True
    return success_code(answer) in QUIET_SUCCESS_CODES


def flag_set(answer: Any, flag: str) -> bool:
    """Keepalive flags: ">0 means work to do; 0 or absent means none"."""
    if not isinstance(answer, dict):
        return False
    value = answer.get(flag)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0
    if isinstance(value, str):
        text = value.strip()
        return text.isdigit() and int(text) > 0
    return False


def is_url(value: Any) -> bool:
    """Photo / feature / file values the device downloads rather than decodes.

    The document: "http或https开头表示使用url地址，否则表示使用base64". Real terminals
    also download a root-relative URL (`/People/1.jpg?md5=…`, protocol.md 8.3) against
    their configured server address. A base64 JPEG starts with "/9j/" too, so a
    value starting with "/" is a URL only when it is not base64 (a URL path has
    '.', '?' or '=' in the middle, which base64 never has).
    """
    if not isinstance(value, str):
        return False
    text = value.strip()
    if text.lower().startswith(("http://", "https://")):
        return True
    return text.startswith("/") and not text.startswith("//") and as_base64(text) is None


def resolve_url(value: str, server_address: str) -> str:
    """The URL a terminal fetches for `value`: root-relative ones against its server address.

    `server_address` is the device's HTTPClient_ServerAddr (scheme, host and port);
    an absolute `value` is used as it is.
    """
    return urljoin(server_address.rstrip("/") + "/", value.strip())


def other_server(value: str, server_address: str) -> str | None:
    """Why an absolute file URL points elsewhere than the server the device talks to, or None.

    Root-relative URLs always reach the device's own server. An absolute one built
    from a Host header without the port (protocol.md 8.2) names port 80 while the device
    talks to, say, port 4610: every download then fails. A deliberate file host
    (`--public-url`) is reported too, so the operator can confirm it is meant.
    """
    text = value.strip()
    if not text.lower().startswith(("http://", "https://")):
        return None
    try:
        url, server = urlsplit(text), urlsplit(server_address.strip())
        url_port, server_port = url.port, server.port
    except ValueError:
        return None
    if not server.hostname:
        return None
    url_at = (url.hostname or "", url_port or _DEFAULT_PORTS.get(url.scheme.lower()))
    server_at = (server.hostname, server_port or _DEFAULT_PORTS.get(server.scheme.lower()))
    if url_at == server_at:
        return None
    return (f"points at {url_at[0]}:{url_at[1]} but the device talks to {server_at[0]}:{server_at[1]}; "
            "a root-relative URL (the default without --public-url) reaches the device's own server")


def decode_inline(value: str) -> bytes | None:
    """A base64 photo or feature; None when it is not base64."""
    text = as_base64(value)
    return None if text is None else base64.b64decode(text)


def photo_error(data: bytes, md5_hex: str | None = None, declared_len: Any = None) -> tuple[int, str] | None:
    """Check a downloaded person photo as a device would: size, integrity, format."""
    if len(data) > MAX_PHOTO_BYTES:
        return ERR_PHOTO_TOO_LARGE, f"photo is {len(data)} bytes, more than {MAX_PHOTO_BYTES}"
    if md5_hex:
        actual = hashlib.md5(data).hexdigest()
        if actual.lower() != str(md5_hex).strip().lower():
            return ERR_PHOTO_DOWNLOAD, f"photo MD5 {actual.upper()} does not match PhotoMD5 {md5_hex}"
    if declared_len not in (None, "", 0, "0"):
        try:
            if int(declared_len) != len(data):
                return ERR_PHOTO_DOWNLOAD, f"photo is {len(data)} bytes but PhotoLen says {declared_len}"
        except (TypeError, ValueError):
            return ERR_PARAMETERS, f"PhotoLen is not a number: {declared_len!r}"
    if not is_jpeg(data):
        return ERR_PHOTO_UNRECOGNISABLE, "photo is not a JPEG image"
    return None


def person_error(person: Any) -> tuple[int, str] | None:
    """Parameter checks of PeopleJson a device makes before importing (error code 1).

    The limits are the ones operator input is held to (`people.normalize`, protocol.md 5.8):
    strings in UTF-8 bytes, Password digits of length 0 or 4-8, UserID a uint32,
    CardNum a uint64, ExpirationDate at most 2099-12-31.
    """
    if not isinstance(person, dict):
        return ERR_PARAMETERS, "person is not a JSON object"
    try:
        check_user_id(person.get("UserID"))
        normalize({k: v for k, v in person.items() if k in PERSON_COLUMNS})
    except PersonError as exc:
        return ERR_PARAMETERS, str(exc)
    length = person.get("PhotoLen")
    if length not in (None, "") and (as_uint(length) is None):
        return ERR_PARAMETERS, f"PhotoLen is not a number: {length!r}"
    return None


def person_user_id(person: Any) -> int | None:
    if not isinstance(person, dict):
        return None
    return as_uint(person.get("UserID"))
