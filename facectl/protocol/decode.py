"""One decoder for device requests, shared by the server and the inspector.

Raw bytes in, a `DecodedRequest` out: the endpoint, the SN, the JSON document
(the body, or the JSON part of a multipart body found by any of its names among
text and file parts alike), the file parts, and every quirk that had to be
forgiven on the way. Keeping this in one place is what makes the inspector say
exactly what the server understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import lenient_json, multipart
from .endpoints import Body, Endpoint
from .gzip_bounded import GzipError, inflate, inflate_head, is_gzip
from .identity import clean_text
from .limits import MAX_BODY_BYTES, MAX_INFLATED_BYTES
from .settings import QUOTED_EMPTY


class DecodeError(ValueError):
    """The request cannot be read. `status` is the HTTP status to answer with.

    Only a whole body that is or inflates too large is 413. A part that inflates
    past the limit is 400: the body itself is small, so the server can keep it
    in quarantine and acknowledge it, where a 413 would have the device retry
    the same upload forever.

    `sn` is filled when the serial could be read before the failure, so the raw
    bytes can be quarantined under the right device.
    """

    def __init__(self, message: str, status: int = 400, sn: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.sn = sn


@dataclass(slots=True)
class DecodedRequest:
    endpoint: Endpoint
    sn: str
    document: Any = None
    form: dict[str, str] = field(default_factory=dict)
    json_part: multipart.Part | None = None
    json_part_gzip: bool = False
    files: list[multipart.Part] = field(default_factory=list)
    parts: list[multipart.Part] = field(default_factory=list)
    body_gzip: bool = False
    quirks: list[str] = field(default_factory=list)

    @property
    def photo(self) -> multipart.Part | None:
        """The photo: a part by one of the endpoint's names, else any file part (protocol.md 4.2)."""
        for part in self.files:
            if part.name in self.endpoint.file_parts:
                return part
        return self.files[0] if self.files else None


def unwrap_body(body: bytes, content_encoding: str | None, limit: int = MAX_INFLATED_BYTES,
                max_body: int = MAX_BODY_BYTES) -> tuple[bytes, bool]:
    """Inflate a whole gzip body (protocol.md 3.4, 6.2); (bytes, was_gzip). Bounded on the wire by
    `max_body` and after inflation by `limit`."""
    if len(body) > max_body:
        raise DecodeError(f"body of {len(body)} bytes exceeds the limit of {max_body}", 413)
    declared = "gzip" in (content_encoding or "").lower()
    if declared or is_gzip(body):
        if not is_gzip(body):
            return body, False  # labelled but plain: read it as it is
        try:
            return inflate(body, limit), True
        except GzipError as exc:
            status = 413 if "limit" in str(exc) else 400
            raise DecodeError(f"request body: {exc}", status) from None
    return body, False


def decode_request(
    endpoint: Endpoint, body: bytes, content_type: str | None = None,
    content_encoding: str | None = None,
) -> DecodedRequest:
    """Decode a request to `endpoint`, held to the endpoint's own limits (limits.py).

    A DecodeError carries the SN when one can be read from what was decodable (the first
    bytes of a JSON body, the parts before a broken one), so the server can decide identity
    before it keeps anything.
    """
    try:
        body, body_gzip = unwrap_body(body, content_encoding, endpoint.max_body, endpoint.max_body)
    except DecodeError as exc:
        exc.sn = exc.sn or sniff_sn(endpoint, body, content_type)
        raise
    if endpoint.body is Body.JSON:
        decoded = _decode_json(endpoint, body, body_gzip)
    else:
        try:
            decoded = _decode_multipart(endpoint, body, content_type, body_gzip)
        except DecodeError as exc:
            exc.sn = exc.sn or sniff_sn(endpoint, body, content_type)
            raise
    if "gzip" in (content_encoding or "").lower() and not body_gzip:
        decoded.quirks.append("body declares Content-Encoding: gzip but is not gzip")
    return decoded


def _decode_json(endpoint: Endpoint, body: bytes, body_gzip: bool) -> DecodedRequest:
    try:
        parsed = lenient_json.parse(body)
    except lenient_json.JsonError as exc:
        raise DecodeError(f"{endpoint.name}: {exc}", 400, sn=_sn_from_bytes(body)) from None
    doc = parsed.value
    if not isinstance(doc, dict):
        raise DecodeError(f"{endpoint.name}: body must be a JSON object", 400, sn=_sn_from_bytes(body))
    sn = _find_sn(endpoint, {}, doc)
    return DecodedRequest(endpoint, sn, doc, body_gzip=body_gzip, quirks=list(parsed.quirks))


def _decode_multipart(
    endpoint: Endpoint, body: bytes, content_type: str | None, body_gzip: bool,
) -> DecodedRequest:
    try:
        boundary = multipart.boundary_from_content_type(content_type)
        parts = multipart.parse(body, boundary)
    except multipart.MultipartError as exc:
        raise DecodeError(f"{endpoint.name}: {exc}", 400, sn=_sn_from_parts(endpoint, exc.parts)) from None
    req = DecodedRequest(endpoint, "", parts=parts, body_gzip=body_gzip)
    json_names = set(endpoint.json_part)
    for part in parts:
        if part.name in json_names and req.json_part is None:
            req.json_part = part
        elif part.is_file:
            req.files.append(part)
        elif part.name is not None:
            try:
                data, was_gzip = part.decoded(endpoint.max_json)
            except GzipError as exc:
                raise DecodeError(f"{endpoint.name}: part {part.name!r}: {exc}", 400) from None
            if was_gzip:
                req.quirks.append(f"text part {part.name!r} is gzip-compressed")
            text = data.decode("utf-8", errors="replace")
            if text != text.strip():
                req.quirks.append(f"part {part.name!r} has surrounding whitespace")
            req.form[part.name] = text.strip()
    sn = _find_sn(endpoint, req.form, None)
    if req.json_part is not None:
        part = req.json_part
        try:
            data, req.json_part_gzip = part.decoded(endpoint.max_json)
        except GzipError as exc:
            raise DecodeError(f"{endpoint.name}: part {part.name!r}: {exc}", 400, sn=sn or None) from None
        if len(data) > endpoint.max_json:
            raise DecodeError(f"{endpoint.name}: part {part.name!r} of {len(data)} bytes exceeds the limit "
                              f"of {endpoint.max_json}", 400, sn=sn or _sn_from_bytes(data)) from None
        if part.declared_gzip != req.json_part_gzip:
            req.quirks.append(
                f"part {part.name!r} is {'' if req.json_part_gzip else 'not '}gzip but "
                f"{'declares' if part.declared_gzip else 'does not declare'} Content-Encoding: gzip"
            )
        if part.is_file:
            req.quirks.append(f"JSON part {part.name!r} sent as a file part")
        try:
            parsed = lenient_json.parse(data)
        except lenient_json.JsonError as exc:
            raise DecodeError(f"{endpoint.name}: part {part.name!r}: {exc}", 400,
                              sn=sn or _sn_from_bytes(data)) from None
        req.document = parsed.value
        req.quirks.extend(f"{part.name}: {q}" for q in parsed.quirks)
    if not sn and isinstance(req.document, dict):
        sn = _find_sn(endpoint, {}, req.document)
    req.sn = sn
    return req


def _find_sn(endpoint: Endpoint, form: dict[str, str], doc: dict[str, Any] | None) -> str:
    for name in endpoint.sn_fields:
        if name in form:
            return clean_text(form[name])
        if doc is not None and name in doc:
            value = clean_text(doc[name])
            return "" if value == QUOTED_EMPTY else value
    return ""


def sniff_sn(endpoint: Endpoint, body: bytes, content_type: str | None) -> str | None:
    """Best effort: the serial of a body that cannot be decoded, from its first bytes.

    Only the start is read (of a gzip body, its first inflated bytes): JSON's `"SN":"..."`,
    or a multipart SN part near the start. Identity is all this is for:
    what it finds is checked like any SN (a forged or broken one is refused).
    """
    head = inflate_head(body, SNIFF_BYTES) if is_gzip(body) else body[:SNIFF_BYTES]
    if endpoint.body is Body.MULTIPART:
        m = _MULTIPART_SN.search(head)
        if m is not None:
            return m.group(1).decode("utf-8", "replace").strip() or None
    return _sn_from_bytes(head)


#: How far into an undecodable body its serial is looked for.
SNIFF_BYTES = 4096
_JSON_SN = re.compile(rb'"(?:Device)?SN"\s*:\s*"\s*([^"\\]{1,64})"')
_MULTIPART_SN = re.compile(rb'name="?SN"?[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?\r?\n([^\r\n]{1,64})\r?\n')


def _sn_from_bytes(body: bytes) -> str | None:
    """Best effort: find `"SN":"..."` in a body that is not JSON, to file it under its device."""
    m = _JSON_SN.search(body[:SNIFF_BYTES])
    return m.group(1).decode("utf-8", "replace").strip() if m else None


def _sn_from_parts(endpoint: Endpoint, parts: list[multipart.Part]) -> str | None:
    """The SN of the parts read before a multipart body broke: a form field, or in a JSON part."""
    for part in parts:
        if part.name in endpoint.sn_fields and not part.is_file:
            return clean_text(part.data[:64].decode("utf-8", "replace")) or None
        if part.name in endpoint.json_part:
            sn = _sn_from_bytes(part.data)
            if sn:
                return sn
    return None
