"""Lenient JSON for device bodies.

Firmware and the vendor document both produce JSON that strict parsers refuse:
trailing commas (protocol.md 3.1), a UTF-8 BOM, unquoted keys in examples (3.2) and
duplicate keys (3.8). Devices retry a refused upload forever, so the server must
read what they meant, while the inspector must still be able to say what was odd.
`parse` therefore returns the value together with the list of quirks it had to
forgive; strict JSON takes the fast path through the standard library.

Decision: a lone surrogate escape (`"\\udfff"` without its partner) is valid JSON
syntax but no Unicode text; Python would carry it as an unencodable str that fails
much later, when the store or the answer encodes it, and the device would retry
the same record forever. `parse` replaces each one with U+FFFD (as a UTF-8 decoder
does with a broken byte) and reports the quirk, so every layer above only ever
sees text that encodes, and the record is kept with the rest of its content.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .limits import MAX_JSON_DEPTH


class JsonError(ValueError):
    """The body is not JSON even by lenient rules; the message says where."""


@dataclass(slots=True)
class ParsedJson:
    value: Any
    quirks: list[str] = field(default_factory=list)
    duplicate_keys: list[str] = field(default_factory=list)


#: Where a lone surrogate may be: a \\uD800-\\uDFFF escape (a pattern with a literal prefix, which
#: the regex engine finds at memchr speed), or, in a str input only, a surrogate itself (text
#: decoded from UTF-8 cannot hold one).
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def parse(data: bytes | str) -> ParsedJson:
    """Parse a device JSON body, forgiving the known firmware quirks.

    The cost is a small multiple of the strict parser's, whatever the input: strict JSON is
    parsed once; broken JSON is repaired only when the strict parser's first error is at a
    quirk the cleaner fixes (every fix is at a place where strict parsing fails, so if the first
    failure is not one, no cleaning can help), and the cleaner itself is one linear scan.
    """
    quirks: list[str] = []
    from_bytes = isinstance(data, bytes)
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            quirks.append("utf-8 BOM")
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError(f"body is not UTF-8 (byte {exc.start})") from None
    else:
        text = data
        if text.startswith("\ufeff"):
            quirks.append("utf-8 BOM")
            text = text[1:]
    if not text.strip():
        raise JsonError("body is empty")
    duplicates: list[str] = []
    token = _DUPLICATES.set(duplicates)
    try:
        try:
            value = _decode(text)
        except json.JSONDecodeError as exc:
            if not _repairable(text, exc.pos):
                line, col = _position(text, exc.pos)
                raise JsonError(f"invalid JSON at line {line} column {col}: {exc.msg}") from None
            duplicates.clear()
            cleaned, fixes, shifts = _clean(text)
            quirks.extend(fixes)
            try:
                value = _decode(cleaned)
            except json.JSONDecodeError as exc:
                line, col = _position(text, exc.pos + _shift_at(shifts, exc.pos))
                raise JsonError(f"invalid JSON at line {line} column {col}: {exc.msg}") from None
    except RecursionError:
        raise JsonError("JSON nested too deeply") from None
    finally:
        _DUPLICATES.reset(token)
    # Nesting needs a bracket per level, so a text with few brackets (every keepalive) skips the walk.
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise JsonError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if _ESCAPED_SURROGATE.search(text) or (not from_bytes and _SURROGATE.search(text)):
        replaced = [0]
        value = _replace_surrogates(value, replaced)
        if replaced[0]:
            quirks.append(f"{replaced[0]} lone surrogate(s) replaced with U+FFFD")
    if duplicates:
        quirks.append("duplicate keys: " + ", ".join(duplicates))
    return ParsedJson(value, quirks, duplicates)


def _decode(text: str) -> Any:
    """The strict parse; an integer Python will not convert (over 4300 digits) is kept as its digits.

    Decision: such a number is valid JSON but no protocol number (the widest is 64 bits); as
    a string it reaches the layers above like any other unreadable number (`numbers.as_int`
    reads None: a record goes to quarantine, an optional field is stored as NULL), where a
    ValueError here would be a server error and a device retrying the same bytes forever.
    The common case pays nothing: the hook is used only after the plain parse refused one.
    """
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        return _BIG_INT_DECODER.decode(text)


def _int_or_digits(digits: str) -> int | str:
    try:
        return int(digits)
    except ValueError:
        return digits


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Last wins, as standard JSON parsers do (protocol.md 3.8); repeated keys are noted for the caller."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicates = _DUPLICATES.get()
        for key, _ in pairs:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
    return obj


#: The duplicate keys of the parse under way (per thread and per task), so that one decoder,
#: built once, serves every parse: building a JSONDecoder costs as much as parsing a keepalive.
_DUPLICATES: ContextVar[list[str]] = ContextVar("duplicate_keys")
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook)
_BIG_INT_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_int=_int_or_digits)


#: Whitespace as JSON defines it.
_WS = "[ \t\r\n]*+"
#: A key the document writes without quotes, and a comma before a closing bracket.
_KEY = r"(?P<key>[A-Za-z_][A-Za-z0-9_]*+)(?=[ \t]*+:)"
_FIX_AHEAD = rf"{_WS}(?:[A-Za-z_][A-Za-z0-9_]*+[ \t]*+:|[}}\]])"
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+'
#: What the cleaner looks at: a run with nothing to fix (whole strings included, copied in bulk),
#: a bare key after `{` or `,`, a trailing comma, or a string left open at the end. Possessive
#: quantifiers never backtrack, so the scan is linear and in C, with one Python step per fix:
#: 16 MiB of spaces, or of commas, is one match.
_TOKEN = re.compile(
    rf'(?:[^",{{]++|{_STRING}"|[,{{](?!{_FIX_AHEAD}))++'
    rf"|(?P<lead>[{{,]{_WS}){_KEY}"
    rf"|(?P<comma>,)(?={_WS}[}}\]])"
    rf"|{_STRING}|[{{,]"
)
#: The strict parser's first error is at a quirk the cleaner fixes: a closing bracket after a
#: comma (trailing comma), or a bare word followed by a colon where a key belongs.
_TRAILING_COMMA_AT = re.compile(r"[}\]]")
_BARE_KEY_AT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*+[ \t]*+:")


def _repairable(text: str, pos: int) -> bool:
    """Whether the strict parser's first error, at `pos`, is one the cleaner can fix."""
    if _BARE_KEY_AT.match(text, pos):
        return True
    if not _TRAILING_COMMA_AT.match(text, pos):
        return False
    before = text.rfind(",", 0, pos)
    return before >= 0 and not text[before + 1:pos].strip(" \t\r\n")


def _clean(text: str) -> tuple[str, list[str], list[tuple[int, int]]]:
    """Remove trailing commas and quote bare keys, outside strings only.

    Returns the cleaned text, the fixes made, and the shifts: (position in the
    cleaned text, how far the original is ahead from there) so an error in the
    cleaned text can be reported at its place in what the device sent.
    """
    out: list[str] = []
    fixes: set[str] = set()
    shifts: list[tuple[int, int]] = []
    written = 0  # length of the cleaned text so far
    ahead = 0  # original position minus cleaned position
    for m in _TOKEN.finditer(text):
        if m.group("comma") is not None:
            fixes.add("trailing comma")
            ahead += 1
            shifts.append((written, ahead))
            continue
        key = m.group("key")
        if key is not None:
            fixes.add("unquoted key")
            chunk = f'{m.group("lead")}"{key}"'
            ahead -= 2
            out.append(chunk)
            written += len(chunk)
            shifts.append((written, ahead))
            continue
        chunk = m.group(0)
        out.append(chunk)
        written += len(chunk)
    return "".join(out), sorted(fixes), shifts


def _shift_at(shifts: list[tuple[int, int]], pos: int) -> int:
    ahead = 0
    for at, value in shifts:
        if at > pos:
            break
        ahead = value
    return ahead


def _position(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of `pos` in `text`, as json.JSONDecodeError counts them."""
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _replace_surrogates(value: Any, count: list[int]) -> Any:
    """`value` with every lone surrogate in keys and strings replaced by U+FFFD; count[0] += how many.

    Recursive: the depth was checked against MAX_JSON_DEPTH before this runs.
    A surrogate pair is already one astral character after json.loads, so any
    surrogate left is a lone one.
    """
    if isinstance(value, str):
        fixed, n = _SURROGATE.subn(REPLACEMENT, value)
        count[0] += n
        return fixed
    if isinstance(value, list):
        return [_replace_surrogates(item, count) for item in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k, count): _replace_surrogates(v, count) for k, v in value.items()}
    return value


def _depth(value: Any) -> int:
    """Iterative depth so hostile nesting cannot blow the stack after parsing."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest
