"""Lenient JSON for device bodies.

Firmware and the vendor document both produce JSON that strict parsers refuse:
trailing commas (errata 3.1), a UTF-8 BOM, unquoted keys in examples (3.2) and
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


_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Where a lone surrogate may be: a \\uD800-\\uDFFF escape, or one already in a str input.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def parse(data: bytes | str) -> ParsedJson:
    """Parse a device JSON body, forgiving the known firmware quirks."""
    quirks: list[str] = []
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
            value = _DECODER.decode(text)
        except json.JSONDecodeError:
            duplicates.clear()
            cleaned, fixes, shifts = _clean(text)
            quirks.extend(fixes)
            try:
                value = _DECODER.decode(cleaned)
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
    if _MAYBE_SURROGATE.search(text):
        replaced = [0]
        value = _replace_surrogates(value, replaced)
        if replaced[0]:
            quirks.append(f"{replaced[0]} lone surrogate(s) replaced with U+FFFD")
    if duplicates:
        quirks.append("duplicate keys: " + ", ".join(duplicates))
    return ParsedJson(value, quirks, duplicates)


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Last wins, as standard JSON parsers do (errata 3.8); repeated keys are noted for the caller."""
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
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            written += j - i
            i = j
            continue
        if ch == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "}]":
                fixes.add("trailing comma")
                ahead += 1
                shifts.append((written, ahead))
                i += 1
                continue
        else:
            m = _BARE_KEY.match(text, i)
            if m is not None:
                word = m.group(0)
                j = m.end()
                while j < n and text[j] in " \t":
                    j += 1
                if j < n and text[j] == ":" and _prev_significant(out) in "{,":
                    fixes.add("unquoted key")
                    out.append(f'"{word}"')
                    written += len(word) + 2
                    ahead -= 2
                    shifts.append((written, ahead))
                else:
                    out.append(word)
                    written += len(word)
                i = m.end()
                continue
        out.append(ch)
        written += 1
        i += 1
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


def _string_end(text: str, start: int) -> int:
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    return n


def _prev_significant(out: list[str]) -> str:
    for chunk in reversed(out):
        stripped = chunk.rstrip()
        if stripped:
            return stripped[-1]
    return ""


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
