"""Lint: what in an exchange breaks the document, and what a device did oddly.

Each rule is a small function with an id, a severity and the document section
(or docs/protocol.md item) a reader should open to understand it. Three families:

* server answers that break the document - the integrator's main question
  ("why does the terminal not do what the server says?");
* device quirks the server must forgive (protocol.md 3.x, 4.x) - worth knowing,
  rarely a bug;
* timing across exchanges (the `Timeline`): a late keepalive, a second
  concurrent connection from one SN, a downloaded photo whose MD5 differs
  from the one promised.

Rules never raise on odd values: they only look at what the decoder produced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from facectl.protocol import responses
from facectl.protocol.device_rules import is_record_upload, is_url, other_server
from facectl.protocol.endpoints import (
    ENDPOINTS,
    KEEPALIVE_FLAGS,
    MESSAGE,
    PERSON_FIELDS,
    PROTOCOL_TYPE_V2,
    SUCCESS,
)
from facectl.protocol.identity import SnRule
from facectl.protocol.items import (
    MAX_OPEN_TIMES,
    MAX_TIMEGROUP,
    MD5_PARTNER,
    PASSWORD_LENGTHS,
)
from facectl.protocol.limits import (
    DEFAULT_DELETE_PAGE,
    MAX_CARD_NUM,
    MAX_EXPIRATION_DATE,
    MAX_PEOPLE_PAGE,
    MAX_PHOTO_BYTES,
    MAX_USER_ID,
)
from facectl.protocol.records import clock_problem
from facectl.protocol.settings import QUOTED_EMPTY

from .media import decode_base64, unreachable_reason
from .model import Exchange, FieldValue, Finding, Severity, Side

#: Success values that refuse a device on purpose (protocol.md 5.2), not a broken answer.
IDENTITY_REFUSALS = frozenset({responses.BAD_SN, responses.NOT_ACTIVATED, responses.BLOCKED})

_KEEPALIVE = ENDPOINTS["Keepalive"]
_PEOPLE = ENDPOINTS["DownloadPeopleList"]
_DELETE = ENDPOINTS["DeletePeopleList"]
_AUTH = ENDPOINTS["RequestAuthorization"]
_PERSON_SPECS = frozenset(PERSON_FIELDS)
_MD5_FIELDS = frozenset(MD5_PARTNER.values())
_HEX32 = re.compile(r"[0-9A-F]{32}")
_ERRATA_REF = re.compile(r"protocol\.md (\d+\.\d+)", re.IGNORECASE)
_SN_RULE = SnRule()


@dataclass(frozen=True, slots=True)
class Hit:
    """One problem a rule found; severity/section override the rule's defaults when given."""

    message: str
    severity: Severity | None = None
    section: str | None = None


RuleFn = Callable[[Exchange], Iterable[Hit | str]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    section: str
    side: Side
    summary: str
    fn: RuleFn | None = None  # None: produced by the Timeline


RULES: dict[str, Rule] = {}


def rule(id: str, severity: Severity, section: str, side: Side, summary: str):
    def register(fn: RuleFn) -> RuleFn:
        RULES[id] = Rule(id, severity, section, side, summary, fn)
        return fn
    return register


def _timeline_rule(id: str, severity: Severity, section: str, summary: str,
                   side: Side = "timing") -> None:
    RULES[id] = Rule(id, severity, section, side, summary)


#: Not a lint rule: the guard in decode_exchange for a bug in the inspector itself.
_timeline_rule("decoder-failure", "error", "facectl",
               "the inspector itself failed on this exchange (a bug: please report it)", "request")


def check(ex: Exchange) -> list[Finding]:
    """Run every per-exchange rule on a device exchange."""
    if not ex.is_device:
        return []
    out: list[Finding] = []
    for r in RULES.values():
        if r.fn is None:
            continue
        for hit in r.fn(ex):
            out.append(make_finding(r.id, hit))
    return out


def make_finding(rule_id: str, hit: Hit | str) -> Finding:
    r = RULES[rule_id]
    if isinstance(hit, str):
        hit = Hit(hit)
    return Finding(r.id, hit.severity or r.severity, hit.section or r.section, hit.message, r.side)


# --- helpers ---------------------------------------------------------------------------


def _resp_doc(ex: Exchange) -> dict[str, Any] | None:
    doc = ex.response.document if ex.response is not None else None
    return doc if isinstance(doc, dict) else None


def _req_doc(ex: Exchange) -> dict[str, Any] | None:
    doc = ex.request.document
    return doc if isinstance(doc, dict) else None


def _fields(ex: Exchange, side: Side) -> Iterator[FieldValue]:
    return (v for v in ex.fields if v.side == side)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any) -> int | None:
    if _is_int(value):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _section(ex: Exchange, tail: str = "返回值参数说明") -> str:
    return f"{ex.endpoint.section} / {tail}" if ex.endpoint is not None else "protocol.md 2.1"


def _v2_answer(ex: Exchange) -> dict[str, Any] | None:
    """The response document of a v2 endpoint answered with HTTP 200, else None."""
    if ex.endpoint is None or ex.status != 200:
        return None
    return _resp_doc(ex)


def _severity_for(side: Side, server: Severity, device: Severity) -> Severity:
    return server if side == "response" else device


# --- server answers --------------------------------------------------------------------


@rule("no-response", "error", "异常处理 / 网络异常", "response",
      "the request got no answer (connection closed, server down, proxy error)")
def _no_response(ex: Exchange) -> Iterable[str]:
    if ex.status is None:
        why = f" ({ex.error})" if ex.error else ""
        yield (f"the server did not answer{why}; the device sees a timeout (or the proxy's "
               "502) and tries again later")


@rule("http-status", "warning", "protocol.md 5.2; 异常处理 / 服务器拒绝连接", "response",
      "a v2 endpoint answered with an HTTP status other than 200")
def _http_status(ex: Exchange) -> Iterable[str]:
    if ex.endpoint is not None and ex.status is not None and ex.status != 200:
        yield (f"HTTP {ex.status}: the device treats any status but 200 as a refusal and goes "
               "quiet until the next keepalive; answer 200 with the code in Success")


@rule("response-json", "error", "protocol.md: strict and canonical in what you send", "response",
      "the answer is not strict JSON (not JSON, not an object, or needed lenient parsing)")
def _response_json(ex: Exchange) -> Iterable[Hit | str]:
    if ex.response is None or ex.status != 200 or ex.v1 is not None:
        return
    msg = ex.response
    if msg.error:
        yield f"answer body: {msg.error}"
        return
    if msg.document is not None and not isinstance(msg.document, dict):
        yield f"answer is a JSON {type(msg.document).__name__}, not an object"
    for quirk in msg.quirks:
        yield Hit(f"answer needed lenient parsing ({quirk}); firmware parsers may reject it",
                  "warning")
    if msg.body_gzip and "gzip" not in (msg.header("Content-Encoding") or "").lower():
        yield "answer is gzip-compressed but has no Content-Encoding: gzip header"


@rule("success-missing", "error", "返回值参数说明", "response",
      "Success is missing or not an integer")
def _success_missing(ex: Exchange) -> Iterable[Hit]:
    doc = _v2_answer(ex)
    if doc is None:
        return
    section = _section(ex)
    if SUCCESS.name not in doc:
        yield Hit(f"answer has no {SUCCESS.name} field", section=section)
    elif not _is_int(doc[SUCCESS.name]):
        yield Hit(f"{SUCCESS.name} is {doc[SUCCESS.name]!r} ({type(doc[SUCCESS.name]).__name__}), "
                  "not an integer", section=section)


@rule("keepalive-success", "error", "protocol.md 6.1; API-设备心跳保活包 / 返回值参数说明", "response",
      "Keepalive answered with a Success that is neither 1 nor a refusal (400/401/403)")
def _keepalive_success(ex: Exchange) -> Iterable[str]:
    doc = _v2_answer(ex)
    if ex.endpoint is not _KEEPALIVE or doc is None:
        return
    value = doc.get(SUCCESS.name)
    if ex.request.error:
        return  # the server could not read the keepalive: refusing it is its right answer
    if _is_int(value) and value != responses.OK and value not in IDENTITY_REFUSALS:
        flags = [f for f in KEEPALIVE_FLAGS if doc.get(f)]
        extra = f" (flags {', '.join(flags)} are ignored)" if flags else ""
        yield (f"Keepalive answered Success:{value}{extra}; the device closes the connection "
               "and makes no follow-up call. Answer 1, or 400/401/403 to refuse it")


@rule("required-missing", "error", "返回值参数说明", "response",
      "a field the document marks required is missing from the answer")
def _required_missing(ex: Exchange) -> Iterable[Hit]:
    doc = _v2_answer(ex)
    if doc is None or ex.endpoint is None or doc.get(SUCCESS.name) != responses.OK:
        return
    for spec in ex.endpoint.response:
        if spec.required and spec is not SUCCESS and not any(n in doc for n in spec.names):
            yield Hit(f"required field {spec.name} is missing", section=_section(ex))


@rule("field-type", "warning", "返回值参数说明", "response",
      "an answer field has the wrong JSON type (e.g. \"1\" where the device expects 1)")
def _field_type(ex: Exchange) -> Iterable[Hit]:
    if ex.endpoint is None:
        return
    for v in _fields(ex, "response"):
        spec = v.spec
        if spec is None or spec is SUCCESS or _type_ok(spec.type, v.value):
            continue
        note = " (protocol.md 4.6: send the object form)" if spec.type == "object" and _is_int(v.value) else ""
        yield Hit(f"{v.path} is {v.value!r} ({_json_type(v.value)}), the document says "
                  f"{spec.type}{note}", section=_section(ex))


def _type_ok(wire_type: str, value: Any) -> bool:
    if wire_type in ("int", "int64"):
        return _is_int(value)
    if wire_type == "uint":
        return _is_int(value) and value >= 0
    if wire_type == "string":
        return isinstance(value, str)
    if wire_type == "array":
        return isinstance(value, list)
    if wire_type == "object":
        return isinstance(value, dict)
    return True


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


@rule("message-missing", "info", "返回值参数说明", "response",
      "a refusal or error without a Message for the device to show")
def _message_missing(ex: Exchange) -> Iterable[Hit]:
    doc = _v2_answer(ex)
    if doc is None or doc.get(MESSAGE.name):
        return
    value = doc.get(SUCCESS.name)
    if not _is_int(value):
        return
    refused = value == 0 if ex.endpoint is _AUTH else value != responses.OK
    if refused:
        yield Hit(f"Success:{value} without a Message: the device has nothing to show",
                  section=_section(ex))


@rule("people-limit", "error", "API-拉取人员授权信息 / 请求参数 (Limit)", "response",
      "PeopleList holds more people than the device's Limit (or than 1000)")
def _people_limit(ex: Exchange) -> Iterable[str]:
    doc = _v2_answer(ex)
    if ex.endpoint is not _PEOPLE or doc is None or not isinstance(doc.get("PeopleList"), list):
        return
    count = len(doc["PeopleList"])
    limit = _int((_req_doc(ex) or {}).get("Limit"))
    cap = min(limit, MAX_PEOPLE_PAGE) if limit is not None and limit > 0 else MAX_PEOPLE_PAGE
    if count > cap:
        asked = f"the device asked for at most {limit}" if limit else f"the maximum is {MAX_PEOPLE_PAGE}"
        yield f"PeopleList holds {count} people; {asked}"


@rule("people-count", "warning", "protocol.md 4.3; API-拉取人员授权信息 / 返回值参数说明", "response",
      "PeopleCount / Count disagree with PeopleList, or only one spelling is sent")
def _people_count(ex: Exchange) -> Iterable[Hit | str]:
    doc = _v2_answer(ex)
    if ex.endpoint is not _PEOPLE or doc is None or not isinstance(doc.get("PeopleList"), list):
        return
    spec = next(f for f in _PEOPLE.response if f.name == "PeopleCount")
    count = len(doc["PeopleList"])
    present = [n for n in spec.names if n in doc]
    for name in present:
        if _int(doc[name]) != count:
            yield f"{name} is {doc[name]!r} but PeopleList holds {count}"
    if len(present) == 1:
        missing = next(n for n in spec.names if n not in doc)
        yield Hit(f"only {present[0]} is sent; send {missing} too, firmware reads either", "info")


@rule("delete-limit", "error", "API-拉取待删除人员 / 请求参数 (Limit)", "response",
      "DeleteList is longer than the Limit (default 50), or DeleteCount disagrees")
def _delete_limit(ex: Exchange) -> Iterable[Hit | str]:
    doc = _v2_answer(ex)
    if ex.endpoint is not _DELETE or doc is None or not isinstance(doc.get("DeleteList"), list):
        return
    count = len(doc["DeleteList"])
    limit = _int((_req_doc(ex) or {}).get("Limit"))
    cap = min(limit, MAX_PEOPLE_PAGE) if limit else DEFAULT_DELETE_PAGE
    if count > cap:
        yield f"DeleteList holds {count} user ids; the limit is {cap}" + (
            "" if limit else " (no Limit sent: the document's default)")
    if doc.get("DeleteAll") != 1 and "DeleteCount" in doc and _int(doc["DeleteCount"]) != count:
        yield Hit(f"DeleteCount is {doc['DeleteCount']!r} but DeleteList holds {count}", "warning")


@rule("md5-mismatch", "error", "API-拉取人员授权信息 / PeopleJson人员数据格式 (PhotoMD5)", "response",
      "a PhotoMD5 (or file MD5) does not match the photo or file")
def _md5_mismatch(ex: Exchange) -> Iterable[Hit]:
    for photo in ex.photos:
        if photo.declared_md5 and photo.declared_md5.upper() != photo.md5:
            yield Hit(f"{photo.where}: declared MD5 {photo.declared_md5} but the photo's is "
                      f"{photo.md5}; the device rejects it",
                      _severity_for(photo.side, "error", "warning"))


@rule("md5-format", "warning", "protocol.md 5.6", "response",
      "an MD5 in an answer is not 32 upper-case hex digits")
def _md5_format(ex: Exchange) -> Iterable[str]:
    for v in _fields(ex, "response"):
        if v.name in _MD5_FIELDS and isinstance(v.value, str) and v.value:
            if not _HEX32.fullmatch(v.value):
                yield f"{v.path} is {v.value!r}: MD5s are 32 upper-case hex digits"


@rule("photo-size", "error", "API-拉取人员授权信息 / PeopleJson人员数据格式 (PhotoLen); protocol.md 5.8",
      "response", "a photo over 400 KB, or a PhotoLen that is not the photo's length")
def _photo_size(ex: Exchange) -> Iterable[Hit]:
    for photo in ex.photos:
        if photo.size > MAX_PHOTO_BYTES:
            yield Hit(f"{photo.where} is {photo.size} bytes, over the {MAX_PHOTO_BYTES}-byte "
                      "maximum a device accepts", _severity_for(photo.side, "error", "warning"))
        if photo.declared_length and photo.declared_length != photo.size:
            yield Hit(f"{photo.where}: PhotoLen says {photo.declared_length} bytes, the photo has "
                      f"{photo.size}", _severity_for(photo.side, "warning", "info"))


@rule("expiry-max", "error", "protocol.md 6.7; PeopleJson人员数据格式 (ExpirationDate)", "response",
      "ExpirationDate past the firmware maximum 4102412399 (2099-12-31 23:59:59 UTC+8)")
def _expiry_max(ex: Exchange) -> Iterable[str]:
    for v in _fields(ex, "response"):
        if v.spec is not None and v.spec.name == "ExpirationDate" and _is_int(v.value):
            if v.value > MAX_EXPIRATION_DATE or v.value < 0:
                yield (f"{v.path} is {v.value}; the firmware takes at most {MAX_EXPIRATION_DATE} "
                       "(0 = never)")


@rule("string-bytes", "error", "protocol.md 5.8", "response",
      "a string longer than its limit in UTF-8 bytes (a CJK character is 3 bytes)")
def _string_bytes(ex: Exchange) -> Iterable[Hit]:
    for v in ex.fields:
        if v.spec is None or v.spec.max_bytes is None or not isinstance(v.value, str):
            continue
        size = len(v.value.encode("utf-8"))
        if size > v.spec.max_bytes:
            who = "the device truncates or rejects it" if v.side == "response" else "sent by the device"
            yield Hit(f"{v.side} {v.path} is {size} bytes, over {v.spec.max_bytes} ({who})",
                      _severity_for(v.side, "error", "warning"))


@rule("person-value", "error", "API-拉取人员授权信息 / PeopleJson人员数据格式; protocol.md 5.8", "response",
      "a person value out of the document's range (UserID, CardNum, Password, OpenTimes, Timegroup)")
def _person_value(ex: Exchange) -> Iterable[str]:
    for v in _fields(ex, "response"):
        if v.spec is None or v.spec not in _PERSON_SPECS:
            continue
        problem = _person_problem(v.spec.name, v.value)
        if problem:
            yield f"{v.path} is {v.value!r}: {problem}"


def _person_problem(name: str, value: Any) -> str | None:
    if name == "UserID":
        n = _int(value)
        return None if n is not None and 0 < n <= MAX_USER_ID else f"must be 1-{MAX_USER_ID} (uint32)"
    if name == "CardNum":
        if value in ("", None):
            return None
        n = _int(value)
        return None if n is not None and n <= MAX_CARD_NUM else "must be digits, at most uint64"
    if name == "Password":
        text = str(value)
        ok = isinstance(value, str) and (text == "" or text.isdigit()) and len(text) in PASSWORD_LENGTHS
        return None if ok else "must be digits, length 0 or 4-8"
    if name == "OpenTimes" and _is_int(value) and not 0 <= value <= MAX_OPEN_TIMES:
        return f"must be 0-{MAX_OPEN_TIMES}"
    if name == "Timegroup" and _is_int(value) and not 0 <= value <= MAX_TIMEGROUP:
        return f"must be 0-{MAX_TIMEGROUP}"
    return None


@rule("unreachable-url", "error", "protocol.md 5.7", "response",
      "a URL the device cannot download (localhost, loopback, no host), or a photo that is "
      "neither URL nor base64")
def _unreachable_url(ex: Exchange) -> Iterable[str]:
    for ref in ex.files:
        reason = unreachable_reason(ref.url)
        if reason:
            yield f"{ref.where} {ref.url!r} {reason}"
    for v in _fields(ex, "response"):
        if v.name in MD5_PARTNER and isinstance(v.value, str) and v.value.strip():
            if not is_url(v.value) and decode_base64(v.value) is None:
                yield (f"{v.path} {v.value[:60]!r} is neither a URL nor base64; "
                       "the device cannot load it")


@rule("other-server-url", "warning", "protocol.md 8.2-8.3", "response",
      "an absolute file URL whose host:port is not the address the device talks to")
def _other_server_url(ex: Exchange) -> Iterable[str]:
    if not ex.server:
        return
    for ref in ex.files:
        reason = other_server(ref.url, ex.server)
        if reason:
            yield f"{ref.where} {ref.url[:80]!r} {reason}"


@rule("slow-answer", "error", "异常处理 / 网络异常 (timeout)", "response",
      "the answer came after the device's timeout (2 s; 30 s for record uploads)")
def _slow_answer(ex: Exchange) -> Iterable[Hit]:
    if ex.endpoint is None or ex.duration is None or ex.status is None:
        return
    timeout = ex.endpoint.device_timeout
    if ex.duration > timeout:
        yield Hit(f"answered after {ex.duration:.2f} s; the device gives up after {timeout:g} s "
                  "and retries", section=f"{ex.endpoint.section}; 异常处理 / 网络异常")


@rule("v1-answer", "warning", "protocol.md 2.1", "response",
      "an HTTPv1 request was answered as if it succeeded")
def _v1_answer(ex: Exchange) -> Iterable[str]:
    doc = _resp_doc(ex)
    if ex.v1 is not None and ex.status == 200 and doc is not None and doc.get(SUCCESS.name) == 1:
        yield ("an HTTPv1 request got a v2-style Success:1; in v1 Success:0 means OK and the "
               "payloads differ, so the device misreads it. Answer with a clear error instead")


@rule("gzip-unasked", "error", "protocol.md 3.4; HTTP协议说明 (GZIP)", "response",
      "a gzip answer to a request that did not accept gzip")
def _gzip_unasked(ex: Exchange) -> Iterable[str]:
    if ex.response is None or not ex.response.body_gzip:
        return
    accept = (ex.request.header("Accept-Encoding") or "").lower()
    if "gzip" not in accept:
        yield "answer is gzip but the request's Accept-Encoding does not allow gzip"


# --- device quirks ---------------------------------------------------------------------

#: Decoder quirk phrases (facectl.protocol.decode / lenient_json) and the rule for each.
QUIRK_RULES: tuple[tuple[str, str], ...] = (
    ("trailing comma", "trailing-comma"),
    ("unquoted key", "unquoted-key"),
    ("utf-8 BOM", "bom"),
    ("duplicate keys", "duplicate-keys"),
    ("surrounding whitespace", "leading-space"),
    ("gzip but", "gzip-label"),
    ("is gzip-compressed", "gzip-label"),
    ("sent as a file part", "json-part-as-file"),
)


def _quirks(ex: Exchange, rule_id: str) -> Iterator[str]:
    phrases = [p for p, r in QUIRK_RULES if r == rule_id]
    for quirk in ex.request.quirks:
        if any(p in quirk for p in phrases):
            yield quirk


def _quirk_rule(rule_id: str, severity: Severity, section: str, summary: str, advice: str) -> None:
    def fn(ex: Exchange) -> Iterable[str]:
        for quirk in _quirks(ex, rule_id):
            yield f"{quirk}; {advice}" if advice else quirk
    rule(rule_id, severity, section, "request", summary)(fn)


_quirk_rule("trailing-comma", "info", "protocol.md 3.1", "JSON with a trailing comma",
            "accepted (lenient JSON), as the document's own example does it")
_quirk_rule("unquoted-key", "info", "protocol.md 3.2", "JSON with unquoted keys", "accepted")
_quirk_rule("bom", "info", "protocol.md 3.1", "JSON with a UTF-8 BOM", "accepted")
_quirk_rule("duplicate-keys", "warning", "protocol.md 3.8", "the same JSON key twice",
            "the last value wins; check which one the device meant")
_quirk_rule("gzip-label", "info", "protocol.md 6.3", "a part's gzip label does not match its bytes",
            "detected by magic bytes")
_quirk_rule("json-part-as-file", "info", "protocol.md 6.3", "the JSON part arrives as a file part",
            "found by name")


@rule("leading-space", "info", "protocol.md 3.6", "request",
      "whitespace around the SN or another form value")
def _leading_space(ex: Exchange) -> Iterable[str]:
    for quirk in _quirks(ex, "leading-space"):
        yield f"{quirk}; stripped"
    doc = _req_doc(ex)
    if doc is not None and ex.endpoint is not None:
        for name in ex.endpoint.sn_fields:
            value = doc.get(name)
            if isinstance(value, str) and value != value.strip():
                yield f"{name} {value!r} has surrounding whitespace; stripped"


@rule("other-quirk", "info", "protocol.md 3", "request", "any other irregularity the decoder forgave")
def _other_quirk(ex: Exchange) -> Iterable[str]:
    for quirk in ex.request.quirks:
        if not any(p in quirk for p, _ in QUIRK_RULES):
            yield quirk


@rule("v1-path", "warning", "protocol.md 2.1", "request", "the device calls an HTTPv1 path")
def _v1_path(ex: Exchange) -> Iterable[str]:
    if ex.v1 is not None:
        yield (f"{ex.path}: {ex.v1}. The device speaks HTTPv1; set its HTTPClient_ProtocolType "
               f"to {PROTOCOL_TYPE_V2} (v2)")


@rule("path-variant", "info", "protocol.md 2.2", "request",
      "the path differs from the document's spelling (case, trailing slash)")
def _path_variant(ex: Exchange) -> Iterable[str]:
    if ex.endpoint is not None:
        path = ex.path.split("?", 1)[0]
        if path != ex.endpoint.path:
            yield f"path {path!r} for {ex.endpoint.path} (matched case-insensitively)"


@rule("name-variant", "info", "protocol.md 4", "request",
      "a field or part uses a variant name (recordJson, pic, DeletList, FailList under FailCount)")
def _name_variant(ex: Exchange) -> Iterable[Hit]:
    for v in _fields(ex, "request"):
        if not v.variant or v.spec is None:
            continue
        ref = _ERRATA_REF.search(v.spec.doc)
        yield Hit(f"{v.path} is the variant name of {v.spec.name}; accepted",
                  section=f"protocol.md {ref.group(1)}" if ref else None)


@rule("request-undecodable", "error", "protocol.md 5.1", "request",
      "the request cannot be decoded, so a server cannot use it")
def _request_undecodable(ex: Exchange) -> Iterable[Hit]:
    if ex.endpoint is None or not ex.request.error:
        return
    answered = (_resp_doc(ex) or {}).get(SUCCESS.name)
    if answered == responses.OK:
        yield Hit(f"{ex.request.error}; the server acknowledged it, as it should (keep the raw "
                  "bytes for review)", "warning")
    elif not is_record_upload(ex.endpoint):
        # Only a record upload is retried forever; any other call may be refused (an authorization
        # denied), and the server's own "Success 0" to a body it could not read is the right answer.
        yield Hit(f"{ex.request.error}; the server refused it (Success {answered}), which is right for "
                  "this call: the device's firmware sent it", "warning")
    else:
        yield Hit(f"{ex.request.error}; a server should keep the raw bytes (quarantine) and "
                  "still acknowledge, or the device retries forever")


@rule("sn-rule", "warning", "protocol.md 6.8", "request", "the SN is missing or does not look like a serial")
def _sn_rule(ex: Exchange) -> Iterable[str]:
    if ex.endpoint is None or ex.request.error:
        return
    reason = _SN_RULE.check(ex.sn)
    if reason:
        yield reason


@rule("quoted-empty", "info", "protocol.md 3.7", "request", "a value of two quote characters meaning empty")
def _quoted_empty(ex: Exchange) -> Iterable[str]:
    for v in _fields(ex, "request"):
        if v.value == QUOTED_EMPTY:
            yield f"{v.path} is '\"\"', read as empty"


@rule("record-date", "warning", "protocol.md 8.4", "request",
      "a RecordDate no clock could give (before 2020, or over a day after the exchange): the device's "
      "clock or firmware is wrong; the server lists such a record at the time it received it")
def _record_date(ex: Exchange) -> Iterable[str]:
    for v in _fields(ex, "request"):
        date = _int(v.value) if v.name == "RecordDate" else None
        if date is not None and (problem := clock_problem(date, ex.started)):
            yield f"{v.path}: {problem}"


# --- timing: registered here, produced by timeline.Timeline ------------------------------

_timeline_rule("keepalive-late", "warning", "调用流程 (keepalive interval)",
               "a keepalive came later than the device's keepalive interval")
_timeline_rule("concurrent-connection", "warning", "关于HTTP的连接保持",
               "a second connection from one SN while the first was in use")
_timeline_rule("download-failed", "warning", "protocol.md 5.7",
               "the device could not download a file the server handed out")
_timeline_rule("refused-known", "error", "protocol.md 6.1; 异常处理 / 服务器拒绝连接",
               "a device the server accepted earlier is now refused")
