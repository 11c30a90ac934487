"""The Timeline: per-device state across exchanges, and the --summary document.

Some problems only show across exchanges: a keepalive later than the device's
interval, a second connection from one SN while the first is busy, a device
refused after it was accepted, a photo whose download does not match the MD5
the server promised in an earlier answer. The Timeline sees every exchange in
order (the CLI sorts a capture by start time; the addon sees them live) and
adds those findings, using the rules registered in lint.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from facectl.protocol import responses, settings
from facectl.protocol.endpoints import ENDPOINTS, SUCCESS

from .lint import IDENTITY_REFUSALS, RULES, Hit, make_finding
from .media import md5_hex, photo_info
from .model import SEVERITIES, SEVERITY_RANK, Exchange, Finding, Severity

#: Keepalive interval assumed until the device uploads its settings: the value of
#: HTTPClient_KeepaliveTime in the document's settings example.
DEFAULT_KEEPALIVE_INTERVAL = 30.0
#: Slack on top of the interval before a keepalive counts as late (network, retries).
DEFAULT_KEEPALIVE_GRACE = 2.0

_KEEPALIVE = ENDPOINTS["Keepalive"]
_SETTINGS_UPLOAD = ENDPOINTS["UploadWorkSetting"]


def _doc(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


@dataclass(slots=True)
class _Device:
    sn: str
    first: float
    last: float
    exchanges: int = 0
    endpoints: Counter[str] = field(default_factory=Counter)
    keepalives: list[float] = field(default_factory=list)
    max_gap: float | None = None
    interval: float | None = None
    #: The zone its settings upload gives (protocol.zones, as the server reads it).
    timezone: str | None = None
    accepted: bool = False
    #: connection id -> [first request start, last answer end]
    connections: dict[str, list[float]] = field(default_factory=dict)
    reported_pairs: set[frozenset[str]] = field(default_factory=set)
    severities: Counter[str] = field(default_factory=Counter)
    #: keepalive cycles: [start, [(endpoint, worst severity or "")]]
    cycles: list[tuple[float, list[tuple[str, str]]]] = field(default_factory=list)


@dataclass(slots=True)
class _Announced:
    ref_url: str
    where: str
    md5: str | None
    length: int | None
    sn: str


class Timeline:
    """Per-device state across exchanges: keepalive rhythm, connections, handed-out files.

    Feed it every exchange in the order they started (the CLI sorts; the
    addon sees them live). `observe` appends its findings to the exchange and
    returns them.
    """

    def __init__(self, keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
                 grace: float = DEFAULT_KEEPALIVE_GRACE) -> None:
        self.default_interval = keepalive_interval
        self.grace = grace
        self.devices: dict[str, _Device] = {}
        self.files: dict[str, _Announced] = {}

    def observe(self, ex: Exchange) -> list[Finding]:
        found: list[Finding] = []
        if not ex.is_device:
            found += self._download(ex)
        if ex.response is not None:
            ex.response.raw = b""
        if not ex.is_device:
            return found
        dev = self._device(ex)
        found += self._keepalive(dev, ex)
        found += self._connections(dev, ex)
        found += self._refused(dev, ex)
        self._settings(dev, ex)
        self._announce(ex)
        ex.findings.extend(found)
        self._count(dev, ex)
        return found

    def connection_closed(self, client: str, when: float) -> None:
        """A device connection ended (live addon): extends its span for the overlap check."""
        for dev in self.devices.values():
            span = dev.connections.get(client)
            if span is not None:
                span[1] = max(span[1], when)

    # -- rules

    def _keepalive(self, dev: _Device, ex: Exchange) -> list[Finding]:
        if ex.endpoint is not _KEEPALIVE:
            return []
        out = []
        if dev.keepalives:
            gap = ex.started - dev.keepalives[-1]
            dev.max_gap = gap if dev.max_gap is None else max(dev.max_gap, gap)
            interval = dev.interval or self.default_interval
            if gap > interval + self.grace:
                source = "its HTTPClient_KeepaliveTime" if dev.interval else "assumed; no settings seen yet"
                out.append(make_finding("keepalive-late", (
                    f"{gap:.1f} s since the previous keepalive; the interval is {interval:g} s "
                    f"({source}). The device was busy, offline, or its requests are slow")))
        dev.keepalives.append(ex.started)
        return out

    def _connections(self, dev: _Device, ex: Exchange) -> list[Finding]:
        if ex.client is None:
            return []
        end = ex.finished if ex.finished is not None else ex.started
        span = dev.connections.setdefault(ex.client, [ex.started, end])
        span[0], span[1] = min(span[0], ex.started), max(span[1], end)
        out = []
        for other_id, other in dev.connections.items():
            pair = frozenset((other_id, ex.client))
            if other_id == ex.client or pair in dev.reported_pairs:
                continue
            if other[0] < span[1] and span[0] < other[1]:
                dev.reported_pairs.add(pair)
                out.append(make_finding("concurrent-connection", (
                    f"{dev.sn} uses a second connection while another is open; the document "
                    "asks for one HTTP connection per device")))
        return out

    def _refused(self, dev: _Device, ex: Exchange) -> list[Finding]:
        doc = _doc(ex.response.document) if ex.response is not None else None
        if ex.endpoint is None or doc is None or ex.status != 200:
            return []
        value = doc.get(SUCCESS.name)
        if ex.endpoint is _KEEPALIVE and value == responses.OK:
            dev.accepted = True
            return []
        if ex.endpoint is _KEEPALIVE and dev.accepted and value in IDENTITY_REFUSALS:
            return [make_finding("refused-known", (
                f"Keepalive answered Success:{value} although this device was answered 1 "
                "before; it stops uploading records until accepted again"))]
        return []

    def _settings(self, dev: _Device, ex: Exchange) -> None:
        doc = _doc(ex.request.document)
        if ex.endpoint is _SETTINGS_UPLOAD and doc is not None:
            summary = settings.summary(doc)
            interval = summary.get("keepalive_interval")
            if interval and interval > 0:
                dev.interval = float(interval)
            dev.timezone = summary["timezone"]

    def _announce(self, ex: Exchange) -> None:
        for ref in ex.files:
            key = _url_key(ref.url)
            if key:
                self.files[key] = _Announced(ref.url, ref.where, ref.md5, ref.length, ex.sn)

    def _download(self, ex: Exchange) -> list[Finding]:
        announced = self.files.get(ex.path)
        if announced is None:
            return []
        ex.download = f"{announced.where} for {announced.sn}"
        ex.sn = announced.sn
        out = []
        if ex.status != 200 or ex.response is None:
            status = "no answer" if ex.status is None else f"HTTP {ex.status}"
            out.append(make_finding("download-failed", (
                f"{announced.ref_url}: {status}; the device reports the person as failed "
                "(error code 2, photo download failed)")))
        else:
            photo = photo_info(ex.response.raw, "response", f"download of {announced.where}")
            photo.declared_md5, photo.declared_length = announced.md5, announced.length
            ex.photos.append(photo)
            if announced.md5 and announced.md5.upper() != md5_hex(photo.data):
                out.append(make_finding("md5-mismatch", Hit(
                    f"{announced.where}: the server promised MD5 {announced.md5}, the file "
                    f"downloaded from {announced.ref_url} has {photo.md5}")))
            if announced.length and announced.length != photo.size:
                out.append(make_finding("photo-size", Hit(
                    f"{announced.where}: length {announced.length} promised, {photo.size} "
                    "downloaded", "warning")))
        return out

    # -- bookkeeping

    def _device(self, ex: Exchange) -> _Device:
        sn = ex.sn or "(no SN)"
        dev = self.devices.get(sn)
        if dev is None:
            dev = self.devices[sn] = _Device(sn, ex.started, ex.started)
        return dev

    def _count(self, dev: _Device, ex: Exchange) -> None:
        dev.exchanges += 1
        dev.first = min(dev.first, ex.started)
        dev.last = max(dev.last, ex.finished or ex.started)
        dev.endpoints[ex.name] += 1
        worst = ex.worst or ""
        if ex.endpoint is _KEEPALIVE or not dev.cycles:
            dev.cycles.append((ex.started, []))
        dev.cycles[-1][1].append((ex.name, worst))
        for f in ex.findings:
            dev.severities[f.severity] += 1

    def device_summaries(self, sns: set[str] | None = None) -> list[dict[str, Any]]:
        """Per-device timelines, JSON-ready: rhythm, connections, keepalive cycles."""
        out = []
        for dev in sorted(self.devices.values(), key=lambda d: d.first):
            if sns and dev.sn.upper() not in sns:
                continue
            out.append({
                "sn": dev.sn,
                "first_seen": dev.first,
                "last_seen": dev.last,
                "exchanges": dev.exchanges,
                "endpoints": dict(dev.endpoints),
                "keepalives": len(dev.keepalives),
                "keepalive_interval": dev.interval,
                "timezone": dev.timezone,
                "max_keepalive_gap": None if dev.max_gap is None else round(dev.max_gap, 3),
                "connections": len(dev.connections),
                "findings": {s: dev.severities.get(s, 0) for s in SEVERITIES},
                "cycles": [{"started": t, "calls": [{"endpoint": n, "worst": w or None} for n, w in calls]}
                           for t, calls in dev.cycles],
            })
        return out


def finding_counts(exchanges: Iterable[Exchange]) -> list[dict[str, Any]]:
    """Findings grouped by rule, worst first: count, devices, section, one example."""
    counts: Counter[str] = Counter()
    devices: dict[str, set[str]] = {}
    example: dict[str, Finding] = {}
    worst: dict[str, Severity] = {}
    for ex in exchanges:
        for f in ex.findings:
            counts[f.rule] += 1
            devices.setdefault(f.rule, set()).add(ex.sn or "(no SN)")
            if f.rule not in worst or SEVERITY_RANK[f.severity] < SEVERITY_RANK[worst[f.rule]]:
                worst[f.rule] = f.severity
                example[f.rule] = f
    ordered = sorted(counts.items(), key=lambda kv: (SEVERITY_RANK[worst[kv[0]]], -kv[1], kv[0]))
    return [{
        "rule": rule_id, "severity": worst[rule_id], "count": count,
        "devices": sorted(devices[rule_id]), "section": example[rule_id].section,
        "summary": RULES[rule_id].summary, "example": example[rule_id].message,
    } for rule_id, count in ordered]


def summarize(timeline: Timeline, exchanges: list[Exchange], total: int | None = None,
              sns: set[str] | None = None) -> dict[str, Any]:
    """The --summary document: per-device timelines and counts of findings.

    `exchanges` are those to count (already filtered, or all); `total` is how
    many flows the capture held, for the "other flows" figure.
    """
    device = [ex for ex in exchanges if ex.is_device]
    total = len(exchanges) if total is None else total
    return {
        "exchanges": total,
        "device_exchanges": len(device),
        "other_exchanges": total - len(device),
        "devices": timeline.device_summaries(sns),
        "findings": finding_counts(device),
    }


def _url_key(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.path:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
