"""A multipart/form-data parser that keeps every part exactly as sent.

Standard parsers (aiohttp's `post()`, mitmproxy's) drop per-part headers such
as `Content-Encoding: gzip` (protocol.md 3.3) and treat file and text parts
differently, while real firmware sends gzipped JSON as *file* parts (6.3). This
parser works on the raw body and returns each part's headers and bytes
untouched, so the server and the inspector make the same decisions from the
same bytes. Bounded by part count and header size; the body size is bounded
by the caller before it gets here.
"""

from __future__ import annotations

import gzip as _gziplib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from .gzip_bounded import maybe_inflate
from .limits import MAX_INFLATED_BYTES, MAX_PART_HEADER_BYTES, MAX_PARTS


class MultipartError(ValueError):
    """The body is not usable multipart; the message says why, for the device and the log.

    `parts` are the ones read before the body broke (the server reads the sender's SN there).
    """

    def __init__(self, message: str, parts: list[Part] | None = None) -> None:
        super().__init__(message)
        self.parts = parts or []


def find_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header `name`, compared case-insensitively as HTTP says; kept as a
    list of pairs (not a dict) so repeated and oddly-cased headers survive for the inspector."""
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


def content_digest(data: bytes) -> tuple[str, str]:
    """(SHA-256 hex, upper-case MD5 hex) of a file's bytes: how the store names it, and the MD5
    devices are given with its URL (protocol.md 5.6)."""
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest().upper()


@dataclass(slots=True)
class Part:
    headers: list[tuple[str, str]]
    data: bytes
    name: str | None
    filename: str | None
    _digest: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def digest(self) -> tuple[str, str]:
        """`content_digest` of the data, computed once. The server asks for a photo's on the thread
        that decoded it (hashlib lets go of the GIL there), so its writer never hashes."""
        if self._digest is None:
            self._digest = content_digest(self.data)
        return self._digest

    def header(self, name: str) -> str | None:
        return find_header(self.headers, name)

    @property
    def content_type(self) -> str | None:
        return self.header("Content-Type")

    @property
    def declared_gzip(self) -> bool:
        return "gzip" in (self.header("Content-Encoding") or "").lower()

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    def decoded(self, limit: int = MAX_INFLATED_BYTES) -> tuple[bytes, bool]:
        """The part's bytes, inflated when they are gzip (by magic); (bytes, was_gzip)."""
        return maybe_inflate(self.data, limit)


def boundary_from_content_type(content_type: str | None) -> str:
    """Extract the boundary parameter, quoted or not."""
    if not content_type:
        raise MultipartError("missing Content-Type header; expected multipart/form-data")
    mime, params = parse_header_params(content_type)
    if not mime.lower().startswith("multipart/"):
        raise MultipartError(f"Content-Type is {mime!r}, expected multipart/form-data")
    boundary = params.get("boundary")
    if not boundary:
        raise MultipartError("multipart Content-Type has no boundary parameter")
    if len(boundary) > 200:
        raise MultipartError("multipart boundary longer than 200 characters")
    if not (boundary.isascii() and boundary.isprintable()):
        # Raw bytes such as \xff\xfe in the header: the client's fault, answered as bad input.
        raise MultipartError(f"multipart boundary {boundary!r} is not printable ASCII (RFC 2046)")
    return boundary


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split `type; a=1; b="x;y"` into ("type", {"a": "1", "b": "x;y"}); names lower-cased."""
    items = _split_params(value) if "\\" in value else _split_params_plain(value)
    head = items[0].strip()
    params: dict[str, str] = {}
    for item in items[1:]:
        key, sep, val = item.partition("=")
        if not sep:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        params[key.strip().lower()] = val
    return head, params


def _split_params(value: str) -> list[str]:
    """Split at the semicolons outside quotes; a backslash inside quotes escapes the next character."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == ";" and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return items


def _split_params_plain(value: str) -> list[str]:
    """`_split_params` for a value without backslashes (every part header a device sends), by
    whole segments instead of characters: this runs for each part of every upload."""
    items: list[str] = []
    current = ""
    for i, segment in enumerate(value.split('"')):
        if i:
            current += '"'
        if i % 2:  # between quotes
            current += segment
            continue
        first, *rest = segment.split(";")
        current += first
        for piece in rest:
            items.append(current)
            current = piece
    items.append(current)
    return items


def parse(body: bytes, boundary: str, max_parts: int = MAX_PARTS) -> list[Part]:
    """Parse a whole multipart body into parts, each with its exact headers and bytes."""
    delim = b"--" + boundary.encode("latin-1")
    start = _first_delimiter(body, delim)
    if start < 0:
        raise MultipartError("multipart body does not contain its boundary")
    parts: list[Part] = []
    pos = start + len(delim)
    while True:
        if body.startswith(b"--", pos):
            return parts  # closing delimiter
        pos = _skip_line_end(body, pos)
        if pos < 0:
            raise MultipartError("multipart body ends inside a boundary line", parts)
        if len(parts) >= max_parts:
            raise MultipartError(f"multipart body has more than {max_parts} parts", parts)
        header_end, sep_len = _find_header_end(body, pos)
        if header_end < 0:
            raise MultipartError(f"part {len(parts) + 1} has no end of headers", parts)
        if header_end - pos > MAX_PART_HEADER_BYTES:
            raise MultipartError(f"part {len(parts) + 1} headers exceed {MAX_PART_HEADER_BYTES} bytes", parts)
        headers = _parse_headers(body[pos:header_end])
        data_start = header_end + sep_len
        nxt, nl_len = _find_next_delimiter(body, delim, data_start)
        if nxt < 0:
            raise MultipartError(f"part {len(parts) + 1} is not closed by a boundary (body cut short?)", parts)
        part = _make_part(headers, body[data_start:nxt])
        parts.append(part)
        pos = nxt + nl_len + len(delim)


def _first_delimiter(body: bytes, delim: bytes) -> int:
    if body.startswith(delim):
        return 0
    for nl in (b"\r\n", b"\n"):
        idx = body.find(nl + delim)
        if idx >= 0:
            return idx + len(nl)
    return -1


def _skip_line_end(body: bytes, pos: int) -> int:
    while pos < len(body) and body[pos] in b" \t":
        pos += 1  # transport padding (RFC 2046)
    if body.startswith(b"\r\n", pos):
        return pos + 2
    if body.startswith(b"\n", pos):
        return pos + 1
    return -1


def _find_header_end(body: bytes, pos: int) -> tuple[int, int]:
    limit = pos + MAX_PART_HEADER_BYTES + 4
    crlf = body.find(b"\r\n\r\n", pos, limit)
    # An LF pair can only win when it ends before the CRLF pair: never read on into the part's data.
    lf = body.find(b"\n\n", pos, crlf if crlf >= 0 else limit)
    if body.startswith(b"\r\n", pos):
        return pos, 2  # a part with no headers at all
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def _find_next_delimiter(body: bytes, delim: bytes, start: int) -> tuple[int, int]:
    """Find the line break that precedes the next delimiter; the break belongs to the delimiter.

    The nearer of CRLF and LF wins, so a body with mixed line endings still ends
    each part at its own boundary.
    """
    lf = body.find(b"\n" + delim, start)  # a CRLF before the delimiter is this LF's CR: one search
    if lf < 0:
        return -1, 0
    if lf - 1 >= start and body[lf - 1] == 0x0D:
        return lf - 1, 2
    return lf, 1


def _parse_headers(raw: bytes) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.strip():
            continue
        if line[:1] in b" \t" and headers:  # folded continuation line
            key, value = headers[-1]
            headers[-1] = (key, value + " " + _text(line).strip())
            continue
        key, sep, value = line.partition(b":")
        if not sep:
            # Not a header (the vendor examples put prose here); keep it visible.
            headers.append(("X-Unparsed-Header-Line", _text(line).strip()))
            continue
        headers.append((_text(key).strip(), _text(value).strip()))
    return headers


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _make_part(headers: list[tuple[str, str]], data: bytes) -> Part:
    name = filename = None
    for key, value in headers:
        if key.lower() == "content-disposition":
            _, params = parse_header_params(value)
            name = params.get("name")
            filename = params.get("filename")
            break
    return Part(headers=headers, data=data, name=name, filename=filename)


def text_part(name: str, value: bytes | str, *, gzip: bool = False) -> Part:
    """A form field as a device sends it; `gzip` compresses it with a per-part header (protocol.md 3.3)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    headers = [("Content-Disposition", f'form-data; name="{name}"')]
    if gzip:
        data = _gzip(data)
        headers += [("Content-Encoding", "gzip"), ("Content-Type", "application/octet-stream")]
    return Part(headers=headers, data=data, name=name, filename=None)


def file_part(
    name: str, filename: str, data: bytes, content_type: str = "application/octet-stream",
    *, gzip: bool = False,
) -> Part:
    """A file part; with `gzip`, the bytes are compressed and labelled (protocol.md 6.3)."""
    headers = [("Content-Disposition", f'form-data; name="{name}"; filename="{filename}"')]
    if gzip:
        data = _gzip(data)
        headers.append(("Content-Encoding", "gzip"))
    headers.append(("Content-Type", content_type))
    return Part(headers=headers, data=data, name=name, filename=filename)


def build(parts: list[Part], boundary: str) -> bytes:
    """Serialise parts with their headers in order, exactly as `parse` reads them back."""
    delim = b"--" + boundary.encode("latin-1")
    out = bytearray()
    for part in parts:
        out += delim + b"\r\n"
        for key, value in part.headers:
            out += f"{key}: {value}\r\n".encode()
        out += b"\r\n" + part.data + b"\r\n"
    out += delim + b"--\r\n"
    return bytes(out)


def _gzip(data: bytes) -> bytes:
    return _gziplib.compress(data, mtime=0)
