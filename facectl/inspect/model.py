"""What the inspector knows about one HTTP exchange, as plain data.

These classes are shared by the decoder (exchange.py), the lint rules (lint.py),
the renderer (render.py) and the stores (sqlite.py, --json); they hold no logic
beyond serialisation so that every consumer sees the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from facectl.protocol.endpoints import Endpoint, Field
from facectl.protocol.multipart import find_header

Severity = Literal["error", "warning", "info"]
Side = Literal["request", "response", "timing"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

#: Strings longer than this are shortened in JSON output (base64 photos, features).
JSON_STRING_LIMIT = 256


@dataclass(slots=True)
class Finding:
    """One lint result: which rule, how bad, where in the document to read about it."""

    rule: str
    severity: Severity
    section: str
    message: str
    side: Side

    def to_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule, "severity": self.severity, "section": self.section,
            "message": self.message, "side": self.side,
        }


@dataclass(slots=True)
class FieldValue:
    """One value on the wire, with where it sits and what it means.

    `path` is how a reader finds it again: `RecordDetail.RecordType`,
    `PeopleList[0].Name`. Arrays and objects get an entry of their own (value
    is the container) so the renderer can say "1000 items" without counting.
    """

    side: Side
    path: str
    name: str
    value: Any
    label: str | None = None
    spec: Field | None = None
    #: True when the name is a variant spelling of the catalog's (protocol.md 4.x).
    variant: bool = False

    @property
    def is_container(self) -> bool:
        return isinstance(self.value, dict | list)


@dataclass(slots=True)
class Photo:
    """A picture (or other file) seen in the exchange, as the device would store it."""

    side: Side
    where: str
    size: int
    md5: str
    width: int | None = None
    height: int | None = None
    gzip: bool = False
    kind: str = "jpeg"  # jpeg | other
    #: What the JSON beside the photo promised (PhotoMD5 / PhotoLen), for the lint.
    declared_md5: str | None = None
    declared_length: int | None = None
    data: bytes = field(default=b"", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side, "where": self.where, "size": self.size, "md5": self.md5,
            "width": self.width, "height": self.height, "gzip": self.gzip, "kind": self.kind,
            "declared_md5": self.declared_md5, "declared_length": self.declared_length,
        }


@dataclass(slots=True)
class FileRef:
    """A URL the server told the device to download, with the MD5 / length it promised.

    The Timeline matches later GETs of the same URL against it, so a wrong
    PhotoMD5 is caught even when the photo travels as a URL.
    """

    url: str
    where: str
    md5: str | None = None
    length: int | None = None


@dataclass(slots=True)
class Message:
    """One direction of the exchange: headers as sent, and what the bytes decoded to."""

    headers: list[tuple[str, str]]
    size: int
    document: Any = None
    form: dict[str, str] = field(default_factory=dict)
    parts: list[dict[str, Any]] = field(default_factory=list)
    body_gzip: bool = False
    quirks: list[str] = field(default_factory=list)
    duplicate_keys: list[str] = field(default_factory=list)
    error: str | None = None
    #: Undecoded body, kept only for non-device responses until the Timeline has
    #: checked whether they are a file the server handed out (then dropped).
    raw: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        return find_header(self.headers, name)


@dataclass(slots=True)
class Exchange:
    """One HTTP request and its answer, decoded and checked against the document."""

    method: str
    path: str
    started: float
    finished: float | None
    status: int | None
    request: Message
    response: Message | None
    endpoint: Endpoint | None = None
    #: HTTPv1 endpoint description when the path is an HTTPv1 path (protocol.md 2.1).
    v1: str | None = None
    sn: str = ""
    #: A file download announced earlier (set by the Timeline): what it is.
    download: str | None = None
    #: mitmproxy client connection id (or any id of the TCP connection) and peer address.
    client: str | None = None
    peer: str | None = None
    #: The address the device talks to (scheme://host:port): Host header, port it connected to.
    server: str | None = None
    #: Why there is no answer (connection refused, timeout), from the proxy.
    error: str | None = None
    fields: list[FieldValue] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    files: list[FileRef] = field(default_factory=list)
    gzip: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.endpoint is not None:
            return self.endpoint.name
        if self.v1 is not None:
            return "HTTPv1 " + self.path.split("?", 1)[0]
        if self.download is not None:
            return "download"
        return self.path.split("?", 1)[0]

    @property
    def is_device(self) -> bool:
        """Device traffic: a v2 endpoint, an HTTPv1 path, or a file the server handed out."""
        return self.endpoint is not None or self.v1 is not None or self.download is not None

    @property
    def duration(self) -> float | None:
        return None if self.finished is None else max(0.0, self.finished - self.started)

    @property
    def worst(self) -> Severity | None:
        if not self.findings:
            return None
        return min((f.severity for f in self.findings), key=SEVERITY_RANK.__getitem__)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            out[f.severity] += 1
        return out

    def labels(self) -> dict[str, str]:
        """{side.path: label} for every labelled value, e.g. response.Opendoor: keep open."""
        return {f"{v.side}.{v.path}": v.label for v in self.fields if v.label is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; long strings (base64) are shortened, photo bytes left out."""
        duration = self.duration
        return {
            "started": self.started,
            "finished": self.finished,
            "duration_ms": None if duration is None else round(duration * 1000, 1),
            "sn": self.sn,
            "endpoint": self.name,
            "section": self.endpoint.section if self.endpoint else None,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "client": self.client,
            "peer": self.peer,
            "download": self.download,
            "error": self.error,
            "request": _message_dict(self.request),
            "response": None if self.response is None else _message_dict(self.response),
            "labels": self.labels(),
            "gzip": list(self.gzip),
            "photos": [p.to_dict() for p in self.photos],
            "findings": [f.to_dict() for f in self.findings],
        }


def _message_dict(msg: Message) -> dict[str, Any]:
    return {
        "headers": [list(h) for h in msg.headers],
        "size": msg.size,
        "document": shorten(msg.document),
        "form": dict(msg.form),
        "parts": msg.parts,
        "body_gzip": msg.body_gzip,
        "quirks": list(msg.quirks),
        "error": msg.error,
    }


def shorten(value: Any, limit: int = JSON_STRING_LIMIT) -> Any:
    """A copy of a JSON value with long strings cut, saying how long they were."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[:48]}… ({len(value)} chars)"
    if isinstance(value, dict):
        return {k: shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v, limit) for v in value]
    return value
