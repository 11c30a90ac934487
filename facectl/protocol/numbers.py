"""Reading integers from device JSON, where numbers arrive as numbers, strings or floats.

The document types many ids as strings ("UserID": "3") and devices send the
same field either way (protocol.md 4.4), so every layer reads integers through these
two functions instead of its own variant.

Decision: an integer outside the signed 64-bit range is not a number for this
protocol. The document's widest fields are 64-bit (RecordID, card numbers as
numbers), SQLite stores at most 64 bits, and Python would carry a bigger value
until binding it fails deep in the store. So `as_int` reads such a value as
None, like any other unreadable number: callers already treat None as "not an
integer" (a record goes to quarantine, a count or flag is ignored).
"""

from __future__ import annotations

import re
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: ASCII digits only: str.isdigit() and int() also accept other scripts' digits ("١٢٣"), which no device sends.
_INTEGER = re.compile(r"-?[0-9]{1,20}")


def as_int(value: Any, *, allow_bool: bool = False) -> int | None:
    """A 64-bit int from an int, an integral float, or a decimal string; None otherwise."""
    if isinstance(value, bool):
        return int(value) if allow_bool else None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if INT64_MIN <= number <= INT64_MAX else None


def as_uint(value: Any) -> int | None:
    """Like `as_int`, for ids and counts: a negative value is None."""
    number = as_int(value)
    return number if number is not None and number >= 0 else None
