"""Request bodies as the firmware writes them, in every variant docs/protocol.md lists.

JSON is printed the way the devices' cJSON prints it (tab indented, `"key":\tvalue`),
multipart bodies use the document's boundary style and the project's own
multipart builder, and each variant (trailing comma, gzip part or body, JSON
part as a file part, SN with a leading space) is one switch.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from facectl.protocol import multipart

from .config import Variants
from .settings_doc import EXAMPLE_FIRST_SN

_encode_str = encode_basestring  # the C function json.dumps(ensure_ascii=False) uses

#: What the terminals send (protocol.md 8.1).
JSON_CT = "application/json; charset=utf-8"
JPEG_CT = "image/jpeg"
#: Quirks the quirky-json fault picks from (protocol.md 3.1, 3.6, 3.7, 3.8, and a BOM).
JSON_QUIRKS = ("trailing comma", "utf-8 BOM", "quoted empty AlarmStatus", "padded SN",
               "duplicate DeviceSN")


@dataclass(slots=True)
class Body:
    data: bytes
    content_type: str
    content_encoding: str | None = None
    quirk: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        out = {"Content-Type": self.content_type}
        if self.content_encoding:
            out["Content-Encoding"] = self.content_encoding
        return out


def dumps(doc: Any, *, trailing_comma: bool = False) -> str:
    """cJSON-style text; with `trailing_comma`, the document's Keepalive example's comma (3.1)."""
    try:
        text = _cjson(doc, "\n")
    except _Unusual:
        text = json.dumps(doc, ensure_ascii=False, indent="\t", separators=(",", ":\t"))
    if trailing_comma and text.endswith("\n}") and len(doc) > 0:
        text = text[:-2] + ",\n}"
    return text


class _Unusual(Exception):
    """A value `_cjson` leaves to the json module (a non-str key, NaN, another type)."""


def _cjson(value: Any, nl: str) -> str:
    """Exactly `json.dumps(value, ensure_ascii=False, indent="\t", separators=(",", ":\t"))`.

    json.dumps falls back to its pure-Python encoder whenever `indent` is set, which made
    JSON the simulator's largest cost per request after HTTP; this covers the types a
    device's documents hold with the C string encoder and plain joins.
    """
    if isinstance(value, str):
        return _encode_str(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    inner = nl + "\t"
    if kind is dict:
        if not value:
            return "{}"
        items = []
        for k, v in value.items():
            if type(k) is not str:
                raise _Unusual
            items.append(_encode_str(k) + ":\t" + _cjson(v, inner))
        return "{" + inner + ("," + inner).join(items) + nl + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(_cjson(v, inner) for v in value) + nl + "]"
    raise _Unusual


def json_body(
    doc: dict[str, Any], variants: Variants, *, quirk: str | None = None,
) -> Body:
    """A JSON request body; `quirk` is one of JSON_QUIRKS (the quirky-json fault)."""
    doc = dict(doc)
    trailing = variants.trailing_comma or quirk == "trailing comma"
    if quirk == "quoted empty AlarmStatus" and doc.get("AlarmStatus") == "":
        doc["AlarmStatus"] = '""'
    if quirk == "padded SN":
        for key in ("SN", "DeviceSN"):
            if isinstance(doc.get(key), str):
                doc[key] = f" {doc[key]} "
    text = dumps(doc, trailing_comma=trailing)
    if quirk == "duplicate DeviceSN" and "DeviceSN" in doc:
        # The document's own example holds DeviceSN twice; the last one is the device's.
        text = '{\n\t"DeviceSN":\t"' + EXAMPLE_FIRST_SN + '",' + text[1:]
    data = text.encode("utf-8")
    if quirk == "utf-8 BOM":
        data = b"\xef\xbb\xbf" + data
    return _finish(Body(data, JSON_CT, quirk=quirk), variants)


def pick_quirk(doc: dict[str, Any], rng: random.Random) -> str:
    choices = [q for q in JSON_QUIRKS
               if (q != "quoted empty AlarmStatus" or doc.get("AlarmStatus") == "")
               and (q != "duplicate DeviceSN" or "DeviceSN" in doc)
               and (q != "padded SN" or "SN" in doc or "DeviceSN" in doc)]
    return rng.choice(choices)


def sn_part(sn: str, variants: Variants, name: str = "SN") -> multipart.Part:
    value = f" {sn}" if variants.sn_leading_space else sn
    return multipart.text_part(name, value)


def json_part(
    name: str, doc: Any, variants: Variants, *, force_gzip: bool = False, as_file: bool | None = None,
    quirk: str | None = None,
) -> multipart.Part:
    """A JSON form part: plain, gzip with a per-part header (3.3), or a gzip file part (6.3)."""
    text = dumps(doc, trailing_comma=variants.trailing_comma or quirk == "trailing comma")
    data = text.encode("utf-8")
    if quirk == "utf-8 BOM":
        data = b"\xef\xbb\xbf" + data
    compress = force_gzip or variants.gzip == "parts"
    as_file = variants.json_part_as_file if as_file is None else as_file
    if as_file:
        return multipart.file_part(name, f"{name}.json.gz" if compress else f"{name}.json", data,
                                   "application/octet-stream", gzip=compress)
    return multipart.text_part(name, data, gzip=compress)


def photo_part(name: str, data: bytes, filename: str | None = None) -> multipart.Part:
    return multipart.file_part(name, filename or f"{name}.jpg", data, JPEG_CT)


def multipart_body(parts: list[multipart.Part], variants: Variants, rng: random.Random) -> Body:
    boundary = "-" * 26 + "".join(rng.choice("0123456789") for _ in range(24))
    data = multipart.build(parts, boundary)
    return _finish(Body(data, f"multipart/form-data; boundary={boundary}"), variants)


def _finish(body: Body, variants: Variants) -> Body:
    if variants.gzip == "body":
        body.data = gzip.compress(body.data, mtime=0)
        body.content_encoding = "gzip"
    return body
