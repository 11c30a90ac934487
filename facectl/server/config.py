"""Server configuration, built by `facectl serve` and by tests."""

from __future__ import annotations

from dataclasses import dataclass

from facectl.protocol.identity import DEFAULT_SN_PATTERN


@dataclass(slots=True)
class ServerConfig:
    db: str = "facectl.db"
    host: str = "0.0.0.0"
    port: int = 8080
    #: Base URL devices use to reach this server (for photo and file URLs, errata 5.7).
    #: None: built from each request's Host header.
    public_url: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    open_enrollment: bool = False
    sn_pattern: str = DEFAULT_SN_PATTERN
    #: Signs expiring file URLs; generated and kept in the database when not given.
    secret: bytes | None = None
    #: Online authorization (RequestAuthorization): operator's webhook URL, its timeout (s), Success 2 for allows.
    auth_webhook: str | None = None
    auth_timeout: float = 1.0
    auth_silent: bool = False
    #: Automatic retries of a person whose delivery failed for a passing cause (a photo the device
    #: could not download); 0 keeps errata 5.3: a failure waits for a change or `people sync`.
    retry_failed: int = 0
