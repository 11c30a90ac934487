"""What a simulated device is told: timing, load, wire variants and faults to inject."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from facectl.protocol.device_rules import RECORD_RETRY_PAUSE_SECONDS
from facectl.protocol.endpoints import ENDPOINTS

from .settings_doc import EXAMPLE_PERSON_CAPACITY

#: Serial of a fleet device: prefix + zero-padded number (FC-8190H00000001, protocol.md 6.8).
#: Here rather than in fleet.py so that `facectl sim --help` shows them without aiohttp.
SN_DIGITS = 8
DEFAULT_SN_PREFIX = "FC-8190H"

_RECORD = ENDPOINTS["UploadIdentifyRecord"]
_DELETE_RESULT = ENDPOINTS["DeletePeopleListResult"]

#: JSON part names of a record upload (protocol.md 4.1), table spelling first.
RECORD_JSON_PARTS: tuple[str, ...] = _RECORD.json_part
#: Photo part names of a record upload (protocol.md 4.2), table spelling first.
RECORD_PHOTO_PARTS: tuple[str, ...] = _RECORD.file_parts
#: DeletePeopleListResult list names (protocol.md 4.5), table spelling first.
DELETE_LIST_NAMES: tuple[str, ...] = next(
    f.names for f in _DELETE_RESULT.request if f.name == "DeleteList"
)
GZIP_MODES = ("none", "parts", "body")


@dataclass(slots=True)
class Variants:
    """How the device spells and encodes its requests (protocol.md 3.1, 3.3, 3.4, 3.6, 4.1, 4.2, 4.5, 6.3).

    Defaults are the document's tables; each option switches to a spelling seen in
    the document's examples or on real devices.
    """

    record_json_part: str = RECORD_JSON_PARTS[0]
    record_photo_part: str = RECORD_PHOTO_PARTS[0]
    delete_list_name: str = DELETE_LIST_NAMES[0]
    #: none: plain; parts: gzip the JSON parts of multipart bodies; body: gzip whole bodies.
    gzip: str = "none"
    #: Send gzipped JSON parts as file parts with a filename (protocol.md 6.3).
    json_part_as_file: bool = False
    #: A leading space in the SN form value, as in the document's raw examples (protocol.md 3.6).
    sn_leading_space: bool = False
    #: A trailing comma before the closing brace of JSON objects (protocol.md 3.1).
    trailing_comma: bool = False

    def __post_init__(self) -> None:
        if self.record_json_part not in RECORD_JSON_PARTS:
            raise ValueError(f"record JSON part must be one of {', '.join(RECORD_JSON_PARTS)}")
        if self.record_photo_part not in RECORD_PHOTO_PARTS:
            raise ValueError(f"record photo part must be one of {', '.join(RECORD_PHOTO_PARTS)}")
        if self.delete_list_name not in DELETE_LIST_NAMES:
            raise ValueError(f"delete list name must be one of {', '.join(DELETE_LIST_NAMES)}")
        if self.gzip not in GZIP_MODES:
            raise ValueError(f"gzip must be one of {', '.join(GZIP_MODES)}")

    @classmethod
    def document_examples(cls) -> Variants:
        """Every spelling the document's examples use instead of its tables."""
        return cls(record_json_part=RECORD_JSON_PARTS[-1], record_photo_part=RECORD_PHOTO_PARTS[-1],
                   delete_list_name=DELETE_LIST_NAMES[-1], sn_leading_space=True, trailing_comma=True)


FAULT_NAMES = ("drop-result", "timeout", "restart-mid-sync", "duplicate-records", "quirky-json")


@dataclass(slots=True)
class Faults:
    """Probabilities (0..1) of each injected fault, per opportunity.

    drop-result: skip a result call (DownloadPeopleListResult, DeletePeopleListResult,
        RegisterIdentifyTicketResult) as if it was lost.
    timeout: throw away a server answer and act as if the call timed out (it is retried,
        so the server sees the same request twice).
    restart-mid-sync: restart after importing a page of people, before reporting it.
    duplicate-records: upload an acknowledged record once more with the same RecordID.
    quirky-json: send a JSON body with a firmware quirk (trailing comma, BOM, quoted-empty
        AlarmStatus, numbers as strings, the settings example's duplicate DeviceSN).
    """

    drop_result: float = 0.0
    timeout: float = 0.0
    restart_mid_sync: float = 0.0
    duplicate_records: float = 0.0
    quirky_json: float = 0.0

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...]) -> Faults:
        """From CLI values `name` (probability 1) or `name=p`."""
        out = cls()
        for spec in specs:
            name, _, value = spec.partition("=")
            name = name.strip()
            if name not in FAULT_NAMES:
                raise ValueError(f"unknown fault {name!r}; choose from {', '.join(FAULT_NAMES)}")
            try:
                p = float(value) if value else 1.0
            except ValueError:
                raise ValueError(f"fault {name}: {value!r} is not a probability") from None
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault {name}: probability must be between 0 and 1")
            setattr(out, name.replace("-", "_"), p)
        return out

    def active(self) -> dict[str, float]:
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) > 0}


@dataclass(slots=True)
class SimConfig:
    server: str = "http://127.0.0.1:8080"
    #: Keepalive interval in seconds (the device setting HTTPClient_KeepaliveTime).
    interval: float = 15.0
    records_per_min: float = 0.0
    #: Share of identify records that come with door-sensor records (open + close).
    door_records: bool = True
    photo_bytes: int = 30 * 1024
    #: DownloadPeopleList / DeletePeopleList Limit the device asks for.
    people_limit: int = 100
    people_capacity: int = EXAMPLE_PERSON_CAPACITY
    #: Most records one UploadSystemRecord carries.
    system_batch: int = 100
    variants: Variants = field(default_factory=Variants)
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None
    #: Keepalive sent later than this after its due time counts as a missed deadline.
    keepalive_slack: float = 0.5
    #: Seconds from a restart to the first keepalive.
    boot_seconds: float = 1.0
    #: Timing of the document, overridable only to make tests fast.
    record_retry_pause: float = RECORD_RETRY_PAUSE_SECONDS
    timeout_scale: float = 1.0
    #: Check the server's TLS certificate (https servers); off for self-signed lab servers.
    verify_tls: bool = True
    #: Do not start a request with less than this much time before the next keepalive.
    min_request_window: float = 0.05
    #: Online authorization (在线鉴权): each identify event first asks the server
    #: (RequestAuthorization), and the door opens only when it allows.
    online_auth: bool = False
    #: A directory where each device keeps what a terminal keeps across a reboot (sim/state.py);
    #: None: every start is a factory-new terminal.
    state_dir: str | None = None
    #: The settings document the device uploads: None, the vendor document's example;
    #: "9.25", shaped like firmware 9.25's captured upload (protocol.md 8.5).
    firmware: str | None = None
