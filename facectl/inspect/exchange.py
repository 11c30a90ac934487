"""Turn one HTTP exchange (bytes in, bytes out) into a decoded, labelled `Exchange`.

The request side goes through `facectl.protocol.decode.decode_request`, the very
decoder the server uses, so the inspector shows what the server understood;
multipart bodies are parsed from the raw bytes by the project's parser, never by
mitmproxy's (which drops part headers and corrupts binary parts, its issue 4466).
Every value is paired with its catalog field and code-table label, every photo is
measured, and the lint rules run at the end. Pure: no I/O, no mitmproxy.

Odd bytes never raise out of `decode_exchange`: a body that cannot be read
becomes a finding, because the inspector sits in front of production traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from facectl.protocol import lenient_json, multipart, zones
from facectl.protocol.codes import ALARMS, SUCCESS_CODES, TABLES, CodeTable, parse_alarms
from facectl.protocol.decode import DecodedRequest, DecodeError, decode_request, unwrap_body
from facectl.protocol.device_rules import is_url
from facectl.protocol.endpoints import SUCCESS, Body, Endpoint, Field, lookup, v1_endpoint
from facectl.protocol.gzip_bounded import is_gzip
from facectl.protocol.identity import clean_text
from facectl.protocol.items import (
    EVENT_TABLE_BY_BATCH_TYPE,
    LENGTH_PARTNER,
    MD5_PARTNER,
    TENTHS_CELSIUS_FIELDS,
    UNIX_TIME_FIELDS,
    V1_SN_FIELDS,
    item_fields,
)

from . import lint
from .media import decode_base64, photo_info
from .model import Exchange, FieldValue, FileRef, Message, Photo, Side

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
#: The photo field of a person and the fields beside it (from the catalog's partner tables).
_PHOTO = "Photo"


def decode_exchange(
    method: str,
    path: str,
    req_headers: Headers,
    req_body: bytes,
    status: int | None,
    resp_headers: Headers | None,
    resp_body: bytes | None,
    started: float,
    finished: float | None,
    *,
    client: str | None = None,
    peer: str | None = None,
    server: str | None = None,
    error: str | None = None,
    run_lint: bool = True,
) -> Exchange:
    """Decode and lint one exchange. `status` None means no answer arrived (`error` says why).

    `client` identifies the TCP connection (mitmproxy's client id), which the
    Timeline needs to spot a second concurrent connection from one device.
    `server` is the address the device talks to (scheme://host:port), against
    which absolute file URLs are checked.
    """
    request = Message(headers=_header_list(req_headers), size=len(req_body or b""))
    ex = Exchange(
        method=(method or "").upper(), path=path or "/", started=started, finished=finished,
        status=status, request=request, response=None, client=client, peer=peer, server=server,
        error=error,
    )
    try:
        _decode(ex, req_body or b"", resp_headers, resp_body)
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not take the proxy down
        ex.findings.append(lint.make_finding("decoder-failure", (
            f"the inspector could not decode this exchange ({type(exc).__name__}: {exc}); "
            "please report it with the capture")))
        return ex
    if run_lint:
        ex.findings.extend(lint.check(ex))
    return ex


def _decode(ex: Exchange, req_body: bytes, resp_headers: Headers | None, resp_body: bytes | None) -> None:
    ex.endpoint = lookup(ex.path)
    if ex.endpoint is None:
        ex.v1 = v1_endpoint(ex.path)
    if ex.endpoint is not None:
        _decode_request(ex, ex.endpoint, req_body)
    elif ex.v1 is not None:
        _decode_v1_request(ex, req_body)
    if ex.status is None:
        return
    body = resp_body or b""
    ex.response = Message(headers=_header_list(resp_headers or ()), size=len(body))
    if ex.is_device:
        _decode_response(ex, body)
    elif ex.method == "GET":
        ex.response.raw = body  # maybe a handed-out file: the Timeline decides, then drops it


# --- request ---------------------------------------------------------------------------


def _decode_request(ex: Exchange, endpoint: Endpoint, body: bytes) -> None:
    msg = ex.request
    try:
        dec = decode_request(
            endpoint, body, msg.header("Content-Type"), msg.header("Content-Encoding"),
        )
    except DecodeError as exc:
        msg.error = exc.message
        ex.sn = exc.sn or ""
        return
    ex.sn = dec.sn
    msg.document = dec.document
    msg.form = dict(dec.form)
    msg.quirks = list(dec.quirks)
    msg.body_gzip = dec.body_gzip
    if dec.body_gzip:
        ex.gzip.append("request body (Content-Encoding: gzip)")
    msg.parts = [_part_summary(p) for p in dec.parts]
    for part in dec.parts:
        if is_gzip(part.data):
            label = "declared" if part.declared_gzip else "not declared"
            ex.gzip.append(f"request part {part.name!r} ({label})")
    _request_fields(ex, endpoint, dec)
    _request_photos(ex, endpoint, dec)


def _request_fields(ex: Exchange, endpoint: Endpoint, dec: DecodedRequest) -> None:
    ctx = _Ctx(endpoint.name, "request", _item_tables(endpoint, dec.document))
    if endpoint.body is Body.JSON:
        if isinstance(dec.document, dict):
            _flatten_object(ex.fields, ctx, dec.document, "", endpoint.request)
        return
    for name, value in dec.form.items():
        spec = endpoint.request_field(name)
        _add(ex.fields, ctx, path=name, name=name, value=value, spec=spec)
    for part in dec.files:
        spec = _file_spec(endpoint, part.name)
        shown = f"file {part.filename!r}, {len(part.data)} bytes"
        ex.fields.append(FieldValue(
            "request", part.name or "?", part.name or "?", shown, None, spec,
            variant=_is_variant_name(part.name, endpoint.file_parts),
        ))
    if dec.json_part is not None:
        name = dec.json_part.name or "?"
        spec = endpoint.request_field(name)
        ex.fields.append(FieldValue(
            "request", name, name, dec.document, None, spec,
            variant=_is_variant_name(name, endpoint.json_part),
        ))
        if isinstance(dec.document, dict):
            _flatten_object(ex.fields, ctx, dec.document, name, endpoint.detail)


def _request_photos(ex: Exchange, endpoint: Endpoint, dec: DecodedRequest) -> None:
    md5, length = _declared_photo(dec.document)
    for part in dec.files:
        where = f"request part {part.name!r}" + (f" ({part.filename})" if part.filename else "")
        photo = photo_info(part.data, "request", where)
        photo.declared_md5, photo.declared_length = md5, length
        ex.photos.append(photo)


def _decode_v1_request(ex: Exchange, body: bytes) -> None:
    """HTTPv1 payloads differ (protocol.md 2.1); read what we can, find the serial, never fail."""
    msg = ex.request
    try:
        data, msg.body_gzip = unwrap_body(body, msg.header("Content-Encoding"))
    except DecodeError as exc:
        msg.error = exc.message
        return
    ctype = msg.header("Content-Type") or ""
    ctx = _Ctx("", "request", {})
    if "multipart/" in ctype.lower():
        try:
            parts = multipart.parse(data, multipart.boundary_from_content_type(ctype))
        except multipart.MultipartError as exc:
            msg.error = str(exc)
            return
        msg.parts = [_part_summary(p) for p in parts]
        for part in parts:
            if part.name and not part.is_file:
                msg.form[part.name] = part.data.decode("utf-8", "replace").strip()
        for name, value in msg.form.items():
            _add(ex.fields, ctx, path=name, name=name, value=value, spec=None)
        ex.sn = next((msg.form[n] for n in V1_SN_FIELDS if msg.form.get(n)), "")
        return
    if not data.strip():
        return
    try:
        parsed = lenient_json.parse(data)
    except lenient_json.JsonError as exc:
        msg.error = str(exc)
        return
    msg.document, msg.quirks = parsed.value, list(parsed.quirks)
    if isinstance(parsed.value, dict):
        _flatten_object(ex.fields, ctx, parsed.value, "", ())
        ex.sn = next((clean_text(parsed.value[n]) for n in V1_SN_FIELDS if parsed.value.get(n)), "")


# --- response --------------------------------------------------------------------------


def _decode_response(ex: Exchange, body: bytes) -> None:
    msg = ex.response
    assert msg is not None
    encoding = msg.header("Content-Encoding")
    try:
        data, msg.body_gzip = unwrap_body(body, encoding)
    except DecodeError as exc:
        msg.error = exc.message
        return
    if msg.body_gzip:
        declared = "gzip" in (encoding or "").lower()
        ex.gzip.append("response body" + ("" if declared else " (no Content-Encoding: gzip header)"))
    if not data.strip():
        msg.error = "empty body"
        return
    try:
        parsed = lenient_json.parse(data)
    except lenient_json.JsonError as exc:
        msg.error = f"not JSON: {exc}"
        return
    msg.document = parsed.value
    msg.quirks = list(parsed.quirks)
    msg.duplicate_keys = list(parsed.duplicate_keys)
    if not isinstance(parsed.value, dict):
        return
    endpoint = ex.endpoint
    specs = endpoint.response if endpoint is not None else ()
    ctx = _Ctx(endpoint.name if endpoint else "", "response", {})
    _flatten_object(ex.fields, ctx, parsed.value, "", specs)
    _response_files(ex, parsed.value)


def _response_files(ex: Exchange, doc: dict[str, Any]) -> None:
    """URLs the device will download (checked later by the Timeline), and inline photos."""
    for path, obj in _walk_objects(doc, ""):
        for name, md5_name in MD5_PARTNER.items():
            value = obj.get(name)
            if not isinstance(value, str) or not value.strip():
                continue
            where = f"{path}.{name}" if path else name
            md5 = obj.get(md5_name) if isinstance(obj.get(md5_name), str) else None
            length = _as_int(obj.get(LENGTH_PARTNER.get(name, "")))
            if is_url(value):
                ex.files.append(FileRef(value.strip(), where, md5, length))
            elif name == _PHOTO:
                data = decode_base64(value)
                if data is not None:
                    photo = photo_info(data, "response", f"response {where} (base64)")
                    photo.declared_md5, photo.declared_length = md5, length
                    ex.photos.append(photo)


# --- fields and labels -----------------------------------------------------------------


@dataclass(slots=True)
class _Ctx:
    endpoint: str
    side: Side
    #: (array field, item key) -> table, for labels that depend on a sibling (Records[].RecordType).
    item_tables: dict[tuple[str, str], CodeTable] = field(default_factory=dict)


def _flatten_object(
    out: list[FieldValue], ctx: _Ctx, obj: dict[str, Any], prefix: str,
    specs: tuple[Field, ...], parent: str = "",
) -> None:
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        spec = _spec(specs, key, value)
        table = ctx.item_tables.get((parent, key))
        _add(out, ctx, path=path, name=key, value=value, spec=spec, table=table)


def _add(
    out: list[FieldValue], ctx: _Ctx, *, path: str, name: str, value: Any,
    spec: Field | None, table: CodeTable | None = None,
) -> None:
    variant = spec is not None and name != spec.name
    out.append(FieldValue(ctx.side, path, name, value, _label(spec, name, value, table), spec, variant))
    container = spec.name if spec is not None else name
    if isinstance(value, dict):
        _flatten_object(out, ctx, value, path, item_fields(ctx.endpoint, container), container)
    elif isinstance(value, list):
        specs = item_fields(ctx.endpoint, container)
        for i, item in enumerate(value):
            item_path = f"{path}[{i}]"
            if isinstance(item, dict):
                out.append(FieldValue(ctx.side, item_path, name, item))
                _flatten_object(out, ctx, item, item_path, specs, container)
            else:
                out.append(FieldValue(ctx.side, item_path, name, item))


def _label(spec: Field | None, name: str, value: Any, table: CodeTable | None) -> str | None:
    if isinstance(value, dict | list) or value is None:
        return None
    if table is not None:
        return table.label(value)
    if spec is not None and spec.table is not None:
        if spec.table == ALARMS.name:
            names = parse_alarms(value) if isinstance(value, str) else []
            return ", ".join(ALARMS.label(n) for n in names) if names else "no alarm"
        return TABLES[spec.table].label(value)
    if spec is SUCCESS:
        return SUCCESS_CODES.label(value)
    if name in UNIX_TIME_FIELDS:
        seconds = _as_int(value)
        if seconds is None:
            return None
        if seconds == 0:  # the catalog documents where 0 means "never" (ExpirationDate)
            return "never" if spec is not None and "0 = never" in spec.doc else None
        try:
            return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
        except (OverflowError, OSError, ValueError):
            return "out of range"
    if name in zones.ZONE_KEYS:
        minutes = zones.parse_offset(value)
        return zones.offset_label(minutes) if minutes is not None else "not understood"
    if name in TENTHS_CELSIUS_FIELDS:
        tenths = _as_int(value)
        return None if not tenths else f"{tenths / 10:.1f} °C"
    return None


def _spec(specs: tuple[Field, ...], name: str, value: Any) -> Field | None:
    """The catalog field for `name`; when a name is shared (FailCount, protocol.md 4.4), by JSON type."""
    found = [f for f in specs if name in f.names]
    if len(found) > 1:
        for f in found:
            if _type_matches(f.type, value):
                return f
    return found[0] if found else None


def _type_matches(wire_type: str, value: Any) -> bool:
    if wire_type == "array":
        return isinstance(value, list)
    if wire_type == "object":
        return isinstance(value, dict)
    if wire_type in ("int", "uint", "int64"):
        return isinstance(value, int) and not isinstance(value, bool)
    if wire_type == "string":
        return isinstance(value, str)
    return True


def _item_tables(endpoint: Endpoint, doc: Any) -> dict[tuple[str, str], CodeTable]:
    """UploadSystemRecord: Records[].RecordType is labelled by the batch's kind (1 door, 2 system)."""
    if not isinstance(doc, dict):
        return {}
    out: dict[tuple[str, str], CodeTable] = {}
    for kind_field in endpoint.request:
        if kind_field.table != "system_record_kind":
            continue
        table_name = EVENT_TABLE_BY_BATCH_TYPE.get(_as_int(doc.get(kind_field.name)) or 0)
        if table_name is None:
            continue
        for array in endpoint.request:
            if array.type == "array":
                out[(array.name, kind_field.name)] = TABLES[table_name]
    return out


def _file_spec(endpoint: Endpoint, name: str | None) -> Field | None:
    if name is None:
        return None
    spec = endpoint.request_field(name)
    if spec is None and name in endpoint.file_parts and endpoint.file_parts:
        spec = endpoint.request_field(endpoint.file_parts[0])
    return spec


def _is_variant_name(name: str | None, names: tuple[str, ...]) -> bool:
    return bool(names) and name in names[1:]


def _declared_photo(doc: Any) -> tuple[str | None, int | None]:
    """PhotoMD5 / PhotoLen from the first object of the JSON part that carries them."""
    if not isinstance(doc, dict):
        return None, None
    md5_name, len_name = MD5_PARTNER[_PHOTO], LENGTH_PARTNER[_PHOTO]
    for _, obj in _walk_objects(doc, ""):
        if md5_name in obj or len_name in obj:
            md5 = obj.get(md5_name)
            return (md5 if isinstance(md5, str) and md5 else None), _as_int(obj.get(len_name))
    return None, None


def _walk_objects(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        yield path, value
        for key, child in value.items():
            yield from _walk_objects(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk_objects(child, f"{path}[{i}]")


def _part_summary(part: multipart.Part) -> dict[str, Any]:
    return {
        "name": part.name, "filename": part.filename, "size": len(part.data),
        "headers": [list(h) for h in part.headers], "gzip": is_gzip(part.data),
        "declared_gzip": part.declared_gzip,
    }


def _header_list(headers: Headers) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


__all__ = ["decode_exchange", "Exchange", "Photo"]
