"""Server configuration, built by `facectl serve` and by tests."""

from __future__ import annotations

from dataclasses import dataclass

from facectl.protocol.identity import DEFAULT_SN_PATTERN
from facectl.protocol.limits import QUARANTINE_BYTES_PER_DEVICE, RECORD_TIMEOUT_SECONDS


@dataclass(slots=True)
class ServerConfig:
    db: str = "facectl.db"
    host: str = "0.0.0.0"
    port: int = 8080
    #: Base URL devices use to reach this server (for photo and file URLs, protocol.md 5.7).
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
    #: could not download); 0 keeps protocol.md 5.3: a failure waits for a change or `people sync`.
    retry_failed: int = 0
    #: Seconds requests in flight get to finish when the server stops (SIGTERM, Ctrl-C); systemd's
    #: own stop timeout (90 s by default) is well above it.
    shutdown_grace: float = 5.0
    #: The record gate (server/gate.py): record uploads stored per turn of the event loop (the
    #: others wait while keepalives go first), how many may wait, and how long one may wait (s)
    #: before the device is told "server busy; retry later" (Success 0). The wait stays well under
    #: the device's 30 s timeout, so the device hears the answer and pauses 10 s instead.
    record_slots: int = 32
    record_queue: int = 500
    record_wait: float = RECORD_TIMEOUT_SECONDS - 10.0
    #: Group commit (server/committer.py): the writes of at most `record_batch` uploads arriving
    #: within `record_batch_wait` seconds of the first share one transaction; each upload is
    #: answered after that commit.
    record_batch: int = 32
    record_batch_wait: float = 0.002
    #: Events out (server/event_delivery.py): the receiver's URL, the HMAC key that signs each body,
    #: events per POST, how long one POST may take (s), the longest pause between retries (s), and
    #: how often the offline sweep runs (s).
    event_webhook: str | None = None
    event_secret: str | None = None
    event_batch: int = 100
    event_timeout: float = 10.0
    event_retry_max: float = 10.0
    event_sweep: float = 5.0
    #: Retention the operator asked for (`serve --keep-records/--keep-photos`), in days; None: keep all.
    keep_records: float | None = None
    keep_photos: float | None = None
    #: Seconds between upkeep passes (server/maintenance.py), rows per batch, and the pause between batches.
    maintenance_interval: float = 3600.0
    maintenance_batch: int = 50
    maintenance_pause: float = 0.02
    #: One log line per request on the `facectl.requests` logger (`facectl serve -v`).
    log_requests: bool = False
    #: Bytes of open quarantine items one device may hold; past it items keep metadata, not bytes.
    quarantine_budget: int = QUARANTINE_BYTES_PER_DEVICE
