"""Device identity: reading the serial from any endpoint and checking it against the SN rule.

Serials seen in the field are two letters, a dash, a model code and digits
(FC-8190H24052799, FC-8380T12345678; protocol.md 6.8). Other brands may differ, so
the rule is a regular expression the operator can replace (`--sn-pattern`).
"""

from __future__ import annotations

import re

from .limits import MAX_SN_BYTES

DEFAULT_SN_PATTERN = r"[A-Za-z]{2}-[0-9A-Za-z]{6,27}"


class SnRule:
    def __init__(self, pattern: str = DEFAULT_SN_PATTERN) -> None:
        self.pattern = pattern
        self._regex = re.compile(pattern)

    def check(self, sn: str) -> str | None:
        """None when `sn` is acceptable, else the reason (for logs and the CLI)."""
        if not sn:
            return "SN is missing"
        if len(sn.encode("utf-8")) > MAX_SN_BYTES:
            return f"SN is longer than {MAX_SN_BYTES} bytes"
        if not self._regex.fullmatch(sn):
            return f"SN {sn!r} does not match the rule {self.pattern}"
        return None


def clean_text(value: object) -> str:
    """Identity values arrive with stray whitespace (protocol.md 3.6) and as numbers (4.4)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    return str(value).strip()
