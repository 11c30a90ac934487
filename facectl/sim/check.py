"""`facectl sim --check`: a conformance run against any HTTPv2 server.

One simulated device goes through every flow of the document over one
keep-alive connection, and each answer is checked against what a device needs:
HTTP 200, JSON, `Success: 1`, within the device's timeout. Checks are labelled
with the document section they come from and a level:

- must: the vendor document requires it; a device breaks without it.
- should: a decision of docs/protocol.md (variants real firmware sends, idempotent retries,
  canonical answers); a server that fails these loses data from some devices.

The run has side effects on the server under test, as a real device would: it
uploads settings, records, a snapshot and one pushed person, and it downloads
(and confirms) any people the server hands to the check device.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from facectl.protocol import multipart
from facectl.protocol.codes import AUTH_RESULTS
from facectl.protocol.device_rules import (
    ERR_FACE_DOWNLOAD,
    ERR_FINGERPRINT_DOWNLOAD,
    ERR_PALM_DOWNLOAD,
    ERR_PHOTO_DOWNLOAD,
    ERR_PHOTO_TOO_LARGE,
    ERR_PHOTO_UNRECOGNISABLE,
    flag_set,
    is_url,
    other_server,
    person_error,
)
from facectl.protocol.endpoints import ENDPOINTS, V1_PATHS
from facectl.protocol.settings import is_read_only

from . import wire
from .codes import PUSH_QUERIED
from .config import SimConfig, Variants
from .device import SimDevice
from .flow import DeviceRestart, Flow
from .jpeg import make_jpeg
from .people import StoredPerson
from .stats import Stats
from .transport import USER_AGENT, Answer, Transport

MUST = "must"
SHOULD = "should"
DEFAULT_CHECK_SN = "FC-8190H99999999"
#: People error codes that mean the server's files were wrong (not the person's data).
_FILE_ERRORS = frozenset({ERR_PHOTO_DOWNLOAD, ERR_PHOTO_TOO_LARGE, ERR_PHOTO_UNRECOGNISABLE,
                          ERR_FACE_DOWNLOAD, ERR_FINGERPRINT_DOWNLOAD, ERR_PALM_DOWNLOAD})


@dataclass(slots=True)
class Check:
    name: str
    section: str
    level: str
    passed: bool | None = None  # None: not run
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "section": self.section, "level": self.level,
                "result": "pass" if self.passed else "skip" if self.passed is None else "FAIL",
                "detail": self.detail}


@dataclass(slots=True)
class CheckReport:
    server: str
    sn: str
    checks: list[Check] = field(default_factory=list)

    @property
    def must_failures(self) -> int:
        return sum(1 for c in self.checks if c.level == MUST and c.passed is False)

    @property
    def failures(self) -> int:
        return sum(1 for c in self.checks if c.passed is False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server, "sn": self.sn,
            "passed": sum(1 for c in self.checks if c.passed),
            "failed": self.failures, "must_failed": self.must_failures,
            "skipped": sum(1 for c in self.checks if c.passed is None),
            "checks": [c.as_dict() for c in self.checks],
        }


def _section(name: str) -> str:
    return ENDPOINTS[name].section


class Conformance:
    def __init__(self, server: str, sn: str = DEFAULT_CHECK_SN, *, photo_bytes: int = 20000,
                 timeout_scale: float = 1.0, verify_tls: bool = True) -> None:
        self.server = server.rstrip("/")
        self.sn = sn
        self.stats = Stats(devices=1)
        # A record the server refuses is reported, not retried after the 10 s pause.
        self.config = SimConfig(server=self.server, interval=30.0, photo_bytes=photo_bytes,
                                people_limit=50, timeout_scale=timeout_scale, record_retry_pause=60.0,
                                verify_tls=verify_tls)
        self.device = SimDevice(sn, self.config, self.stats)
        self.report = CheckReport(self.server, sn)
        self.connections = 0
        self.answers: list[tuple[str, Answer]] = []
        self._stopped = ""

    # ------------------------------------------------------------ helpers

    def add(self, name: str, section: str, level: str, passed: bool | None, detail: str = "") -> bool:
        if self._stopped and passed is not None:
            passed, detail = None, self._stopped
        self.report.checks.append(Check(name, section, level, passed, detail))
        return bool(passed)

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + 60.0

    async def post(self, name: str, body: wire.Body, *, path: str | None = None) -> Answer:
        assert self.device.ctx.transport is not None
        answer = await self.device.ctx.transport.call(name, body, self._deadline(), path=path)
        self.answers.append((name, answer))
        return answer

    async def post_json(self, name: str, doc: dict[str, Any], variants: Variants | None = None,
                        *, quirk: str | None = None, path: str | None = None) -> Answer:
        return await self.post(name, wire.json_body(doc, variants or Variants(), quirk=quirk), path=path)

    async def post_parts(self, name: str, parts: list[multipart.Part],
                         variants: Variants | None = None) -> Answer:
        return await self.post(name, wire.multipart_body(parts, variants or Variants(), self.device.ctx.rng))

    def expect_ok(self, title: str, section: str, level: str, answer: Answer) -> bool:
        return self.add(title, section, level, answer.ok, _describe(answer))

    # --------------------------------------------------------------- run

    async def run(self) -> CheckReport:
        trace = aiohttp.TraceConfig()

        async def on_connect(*_: Any) -> None:
            self.connections += 1

        trace.on_connection_create_end.append(on_connect)
        connector = aiohttp.TCPConnector(limit=1, force_close=False, keepalive_timeout=60.0,
                                         ssl=None if self.config.verify_tls else False)
        session = aiohttp.ClientSession(
            connector=connector, trace_configs=[trace],
            headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "gzip"},
            timeout=aiohttp.ClientTimeout(total=None))
        self.device.ctx.transport = Transport(session, self.server, self.stats, rng=self.device.ctx.rng,
                                          timeout_scale=self.config.timeout_scale)
        try:
            steps: list[Callable[[], Awaitable[None]]] = [
                self.boot, self.keepalive_variants, self.settings_flow, self.remote_flow,
                self.people_flow, self.delete_flow, self.record_flow, self.authorization_flow,
                self.system_record_flow,
                self.push_flow, self.snapshot_flow, self.register_flow, self.identity_flow,
                self.full_cycle,
            ]
            for step in steps:
                await step()
            self.transport_checks()
        finally:
            await self.device.close()
        return self.report

    # -------------------------------------------------------------- steps

    async def boot(self) -> None:
        ka_section = _section("Keepalive")
        answer = await self.post_json("Keepalive", self.device.keepalive_doc())
        if not answer.answered:
            self.add("server answers Keepalive", ka_section, MUST, False, _describe(answer))
            self._stopped = "server did not answer"
            return
        self.add("Keepalive answer is a JSON object with an integer Success", ka_section, MUST,
                 answer.success is not None, "" if answer.success is not None else answer.raw[:80].decode(
                     "utf-8", "replace"))
        if answer.quiet:
            self.add("Keepalive answered Success 1", ka_section, MUST, False,
                     f"{_describe(answer)}: approve {self.sn} on the server (facectl: `facectl device "
                     f"approve {self.sn}` or `serve --open-enrollment`), then run the check again")
            self._stopped = f"device {self.sn} not accepted"
            return
        self.expect_ok("Keepalive answered Success 1", ka_section, MUST, answer)
        flags_ok = isinstance(answer.doc, dict) and all(
            isinstance(answer.doc.get(k), int) for k in answer.doc if k != "Message")
        self.add("Keepalive flags are integers", ka_section, SHOULD, flags_ok, json.dumps(answer.doc)[:200])
        self.add("a device without settings is asked for them (UploadWorkParameter)", "protocol.md 1.3",
                 SHOULD, flag_set(answer.doc, "UploadWorkParameter"),
                 "" if flag_set(answer.doc, "UploadWorkParameter")
                 else "not set: the server already had settings for this SN, or never asks")
        upload = await self.post_json("UploadWorkSetting", self.device.work_settings.settings_doc())
        if self.expect_ok("boot: UploadWorkSetting accepted", _section("UploadWorkSetting"), MUST, upload):
            self.device.work_settings.uploaded = True
        again = await self.post_json("Keepalive", self.device.keepalive_doc())
        self.add("after the upload, UploadWorkParameter is no longer set", "protocol.md 1.3", SHOULD,
                 again.ok and not flag_set(again.doc, "UploadWorkParameter"), _describe(again))

    async def keepalive_variants(self) -> None:
        doc = self.device.keepalive_doc()
        self.expect_ok("Keepalive with a trailing comma (as the document's example)", "protocol.md 3.1",
                       SHOULD, await self.post_json("Keepalive", doc, Variants(trailing_comma=True)))
        self.expect_ok("Keepalive with a gzip body (Content-Encoding: gzip)", "protocol.md 3.4, 6.2", SHOULD,
                       await self.post_json("Keepalive", doc, Variants(gzip="body")))
        self.expect_ok("Keepalive with a UTF-8 BOM", "protocol.md 3.1", SHOULD,
                       await self.post_json("Keepalive", doc, quirk="utf-8 BOM"))
        path = ENDPOINTS["Keepalive"].path.lower() + "/"
        self.expect_ok(f"path case and trailing slash ignored ({path})", "protocol.md 2.2", SHOULD,
                       await self.post_json("Keepalive", doc, path=path))
        self.expect_ok("UploadWorkSetting with the example's duplicate DeviceSN", "protocol.md 3.8", SHOULD,
                       await self.post_json("UploadWorkSetting", self.device.work_settings.settings_doc(),
                                            quirk="duplicate DeviceSN"))
        self.expect_ok("UploadWorkSetting with a whole-body gzip", "protocol.md 6.2", SHOULD,
                       await self.post_json("UploadWorkSetting", self.device.work_settings.settings_doc(),
                                            Variants(gzip="body")))

    async def settings_flow(self) -> None:
        section = _section("DownloadWorkSetting")
        answer = await self.post_json("DownloadWorkSetting", {"SN": self.sn})
        self.expect_ok("DownloadWorkSetting answered Success 1", section, MUST, answer)
        if answer.ok and isinstance(answer.doc, dict):
            read_only = sorted(k for k in answer.doc if is_read_only(k))
            nulls = sorted(k for k, v in answer.doc.items() if v is None)
            self.add("DownloadWorkSetting leaves out read-only fields", "protocol.md 5.4, 8.5", SHOULD,
                     not read_only, ", ".join(read_only))
            self.add("DownloadWorkSetting sends no null", "protocol.md 8.5", SHOULD, not nulls, ", ".join(nulls))
            unknown = sorted(k for k in answer.doc
                             if k not in self.device.ctx.settings and k not in ("Success", "Message"))
            self.add("DownloadWorkSetting sends only settings the device has", "protocol.md 5.4", SHOULD,
                     not unknown, ", ".join(unknown[:10]))

    async def remote_flow(self) -> None:
        section = _section("RemoteCommand")
        answer = await self.post_json("RemoteCommand", {"SN": self.sn})
        self.expect_ok("RemoteCommand answered Success 1", section, MUST, answer)
        if answer.ok and isinstance(answer.doc, dict):
            known = {f.name for f in ENDPOINTS["RemoteCommand"].response}
            unknown = sorted(set(answer.doc) - known)
            self.add("RemoteCommand uses the document's command names", section, SHOULD, not unknown,
                     ", ".join(unknown))
            plan = self.device.remote.apply(answer.doc)
            self.add("RemoteCommand values are readable", section, MUST, not plan.unreadable,
                     "; ".join(plan.unreadable))
            if plan.restart:
                self.add("RemoteCommand", section, SHOULD, True,
                         "the server queued a restart for the check device; ignored by the check")

    async def people_flow(self) -> None:
        section = _section("DownloadPeopleList")
        limit = self.config.people_limit
        answer = await self.post_json("DownloadPeopleList", {"SN": self.sn, "Limit": limit})
        if not self.expect_ok("DownloadPeopleList answered Success 1", section, MUST, answer):
            return
        doc = answer.doc if isinstance(answer.doc, dict) else {}
        people = doc.get("PeopleList")
        self.add("DownloadPeopleList has a PeopleList array", section, MUST, isinstance(people, list),
                 f"PeopleList is {type(people).__name__}")
        people = people if isinstance(people, list) else []
        self.add("DownloadPeopleList sends both PeopleCount and Count", "protocol.md 4.3", SHOULD,
                 "PeopleCount" in doc and "Count" in doc, ", ".join(k for k in doc if "Count" in k))
        self.add(f"DownloadPeopleList respects Limit ({limit})", section, MUST, len(people) <= limit,
                 f"{len(people)} people")
        bad = [(p.get("UserID") if isinstance(p, dict) else p, person_error(p)[1])
               for p in people if person_error(p) is not None]
        self.add("people are within the document's limits", "protocol.md 5.8", MUST, not bad,
                 "; ".join(f"{u}: {m}" for u, m in bad[:3]))
        elsewhere = [(p.get("UserID"), reason) for p in people if isinstance(p, dict)
                     and isinstance(p.get("Photo"), str) and is_url(p["Photo"])
                     and (reason := other_server(p["Photo"], self.server))]
        self.add("photo URLs reach the server the device talks to", "protocol.md 8.2-8.3", SHOULD, not elsewhere,
                 "; ".join(f"{u}: {m}" for u, m in elsewhere[:3]))
        done, failures = await self.device.people_sync.import_page(people, self._deadline())
        self.add("people photos download and match their MD5", section, MUST,
                 not [f for f in failures if f.code in _FILE_ERRORS] if people else None,
                 "; ".join(f"{f.user_id}: {f.message}" for f in failures[:3]) if people
                 else "the server had no people for the check device")
        result = await self.post_json("DownloadPeopleListResult", {
            "SN": self.sn, "SuccessCount": done - len(failures), "FailCount": len(failures),
            "FailList": [f.wire() for f in failures]})
        self.expect_ok("DownloadPeopleListResult accepted", _section("DownloadPeopleListResult"), MUST,
                       result)

    async def delete_flow(self) -> None:
        answer = await self.post_json("DeletePeopleList", {"SN": self.sn, "Limit": 50})
        if not self.expect_ok("DeletePeopleList answered Success 1", _section("DeletePeopleList"), MUST,
                              answer):
            return
        doc = answer.doc if isinstance(answer.doc, dict) else {}
        ids = doc.get("DeleteList") if isinstance(doc.get("DeleteList"), list) else []
        self.add("DeletePeopleList's DeleteList is an array when present", _section("DeletePeopleList"),
                 MUST, "DeleteList" not in doc or isinstance(doc.get("DeleteList"), list))
        variants = Variants.document_examples()
        result = await self.post_json("DeletePeopleListResult", {
            "SN": self.sn, "DeleteCount": len(ids), "DeleteAll": 0, variants.delete_list_name: ids},
            variants)
        self.expect_ok("DeletePeopleListResult with the example's DeletList", "protocol.md 4.5", SHOULD, result)

    def _record(self) -> tuple[dict[str, Any], bytes]:
        rec = self.device.records.make_identify_record(time.time())
        return rec.detail, rec.photo() or make_jpeg(self.config.photo_bytes)

    async def _upload_record(self, variants: Variants, detail: dict[str, Any], photo: bytes | None,
                             raw_json: bytes | None = None) -> Answer:
        parts = [wire.sn_part(self.sn, variants)]
        if raw_json is not None:
            parts.append(multipart.text_part(variants.record_json_part, raw_json))
        else:
            parts.append(wire.json_part(variants.record_json_part, detail, variants))
        if photo is not None:
            parts.append(wire.photo_part(variants.record_photo_part, photo))
        return await self.post_parts("UploadIdentifyRecord", parts, variants)

    async def record_flow(self) -> None:
        section = _section("UploadIdentifyRecord")
        cases: list[tuple[str, str, str, Variants]] = [
            ("UploadIdentifyRecord with RecordDetail and Photo", section, MUST, Variants()),
            ("UploadIdentifyRecord with recordJson and pic (the example's names)", "protocol.md 4.1, 4.2",
             SHOULD, Variants(record_json_part="recordJson", record_photo_part="pic")),
            ("record JSON part gzip-compressed (per-part Content-Encoding)", "protocol.md 3.3", SHOULD,
             Variants(gzip="parts")),
            ("record JSON part as a gzip file part", "protocol.md 6.3", SHOULD,
             Variants(gzip="parts", json_part_as_file=True)),
            ("record upload with a whole-body gzip", "protocol.md 3.4", SHOULD, Variants(gzip="body")),
            ("SN form value with a leading space", "protocol.md 3.6", SHOULD, Variants(sn_leading_space=True)),
            ("record JSON with a trailing comma", "protocol.md 3.1", SHOULD, Variants(trailing_comma=True)),
        ]
        last: tuple[dict[str, Any], bytes] | None = None
        for title, sec, level, variants in cases:
            detail, photo = self._record()
            self.expect_ok(title, sec, level, await self._upload_record(variants, detail, photo))
            last = (detail, photo)
        if last is not None:
            answer = await self._upload_record(Variants(), *last)
            self.expect_ok("a retried record (same RecordID) is acknowledged", "protocol.md 5.1", SHOULD, answer)
        answer = await self._upload_record(Variants(), {}, None, raw_json=b"{not json")
        self.expect_ok("an unreadable record is acknowledged (kept aside, queue not wedged)",
                       "protocol.md 5.1", SHOULD, answer)
        self._timely("record uploads answered within the device timeout", section,
                     "UploadIdentifyRecord")

    async def authorization_flow(self) -> None:
        section = _section("RequestAuthorization")
        detail, photo = self._record()
        variants = Variants()
        parts = [wire.sn_part(self.sn, variants), wire.json_part("RecordDetail", detail, variants),
                 wire.photo_part("Photo", photo)]
        answer = await self.post_parts("RequestAuthorization", parts, variants)
        valid = answer.status == 200 and answer.success in AUTH_RESULTS
        self.add("RequestAuthorization answered with Success 0, 1 or 2", section, MUST, valid,
                 _describe(answer) + (f" ({AUTH_RESULTS.label(answer.success)})" if valid else ""))

    async def system_record_flow(self) -> None:
        section = _section("UploadSystemRecord")
        now = int(time.time())
        for kind, event, title in ((1, 1, "door-sensor records"), (2, 28, "system records")):
            records = [{"RecordID": self.device.log.next_id(), "RecordType": event, "RecordDate": now}
                       for _ in range(3)]
            answer = await self.post_json("UploadSystemRecord",
                                          {"SN": self.sn, "RecordType": kind, "Records": records})
            self.expect_ok(f"UploadSystemRecord with {title}", section, MUST, answer)

    async def push_flow(self) -> None:
        person = next(iter(self.device.ctx.people.people.values()), None)
        if person is None:
            person = StoredPerson(1, {"UserID": "1", "Name": "facectl check"},
                                  photo=make_jpeg(self.config.photo_bytes, 7))
            self.device.ctx.people.put(person)
        answer = await self.device.people_sync.push_people(PUSH_QUERIED, person.user_id, self._deadline())
        self.answers.append(("PushPeople", answer))
        self.expect_ok("PushPeople with a gzip Detail file part and a photo", "protocol.md 6.4", MUST, answer)

    async def snapshot_flow(self) -> None:
        await self.device.remote.upload_snapshot(self._deadline())
        answer = self.device.ctx.last_answer
        assert answer is not None
        self.answers.append(("UploadSnapshoot", answer))
        self.expect_ok("UploadSnapshoot accepted", _section("UploadSnapshoot"), MUST, answer)

    async def register_flow(self) -> None:
        doc = {"SN": self.sn, "UserID": 1, "Result": 2}
        answer = await self.post_parts("RegisterIdentifyTicketResult",
                                       [wire.json_part("ResultJson", doc, Variants())])
        self.expect_ok("RegisterIdentifyTicketResult accepted", _section("RegisterIdentifyTicketResult"),
                       MUST, answer)

    async def identity_flow(self) -> None:
        answer = await self.post_json("Keepalive", {**self.device.keepalive_doc(), "SN": "not a serial!"})
        self.add("a malformed SN is answered Success 400 (HTTP 200)", "protocol.md 5.2", SHOULD,
                 answer.status == 200 and answer.success == 400, _describe(answer))
        v1 = next(iter(V1_PATHS))
        # A sibling serial, so the server does not mark the check device itself as HTTPv1.
        sibling = self.sn[:-1] + ("1" if self.sn[-1] != "1" else "2")
        answer = await self.post_json("DownloadPeopleList", {"DeviceID": sibling, "SN": sibling},
                                      path=v1)
        self.add(f"an HTTPv1 path ({v1}) does not get a v2 success", "protocol.md 2.1", SHOULD,
                 not answer.ok, _describe(answer))

    async def full_cycle(self) -> None:
        """A whole keepalive period as a device runs it, following whatever the server flags."""
        loop = asyncio.get_running_loop()
        self.device.records.generate_records()
        self.device.log.identify_backlog.append(self.device.records.make_identify_record(time.time()))
        before = len(self.device.ctx.calls)
        started = loop.time()
        try:
            flow = await self.device.cycle(started + self.config.interval)
            detail = " > ".join(list(self.device.ctx.calls)[before:][:12])
            restarted = False
        except DeviceRestart as exc:  # the server had queued a restart for the check device
            flow, detail, restarted = Flow.CONTINUE, f"the device restarted: {exc}", True
        self.add("a full keepalive cycle (flags in priority order, then records) completes",
                 "调用流程", MUST, flow is Flow.CONTINUE and (restarted or not self.device.log.identify_backlog),
                 detail)
        self.add("the cycle ends before the next keepalive is due", "调用流程", MUST,
                 loop.time() - started < self.config.interval, f"{loop.time() - started:.2f} s")

    def _timely(self, title: str, section: str, endpoint: str) -> None:
        limit = ENDPOINTS[endpoint].device_timeout * self.config.timeout_scale
        slow = [a.latency for n, a in self.answers if n == endpoint and a.latency > limit]
        self.add(title, section, MUST, not slow, f"{len(slow)} slow" if slow else "")

    def transport_checks(self) -> None:
        limit = ENDPOINTS["Keepalive"].device_timeout * self.config.timeout_scale
        worst = max((a.latency for n, a in self.answers if ENDPOINTS[n].device_timeout <= limit),
                    default=0.0)
        unanswered = [n for n, a in self.answers if not a.answered]
        self.add(f"every ordinary call answered within {limit:.0f} s", "异常处理 / 网络异常", MUST,
                 not unanswered and worst <= limit, f"slowest {worst * 1000:.0f} ms"
                 + (f"; no answer: {', '.join(sorted(set(unanswered)))}" if unanswered else ""))
        not_strict = sorted({n for n, a in self.answers if a.answered and _strict_json(a)})
        self.add("answers are strict JSON (canonical in what the server sends)", "protocol.md rule of thumb",
                 SHOULD, not not_strict, ", ".join(not_strict))
        self.add("one keep-alive connection served the whole run", "关于HTTP的连接保持, protocol.md 1.4",
                 SHOULD, self.connections <= 1,
                 f"{self.connections} connections opened for {len(self.answers)} requests")


def _describe(answer: Answer) -> str:
    if not answer.answered:
        return answer.error or "no answer"
    text = f"HTTP {answer.status}, {answer.latency * 1000:.0f} ms"
    if isinstance(answer.doc, dict):
        text += f", Success {answer.doc.get('Success')!r}"
        if answer.doc.get("Message"):
            text += f" ({answer.doc['Message']})"
    elif answer.error:
        text += f", {answer.error}"
    return text


def _strict_json(answer: Answer) -> str | None:
    """None when the answer is strict JSON with an application/json type, else what is wrong."""
    ctype = answer.headers.get("Content-Type", "")
    try:
        value = json.loads(answer.raw)
    except (ValueError, UnicodeDecodeError):
        return "not strict JSON"
    if not isinstance(value, dict) or not isinstance(value.get("Success"), int):
        return "not an object with an integer Success"
    if "json" not in ctype.lower():
        return f"Content-Type {ctype or 'missing'}"
    return None


async def run_check(server: str, sn: str = DEFAULT_CHECK_SN, **options: Any) -> CheckReport:
    return await Conformance(server, sn, **options).run()
