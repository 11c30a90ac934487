"""Reading integers from device JSON, where numbers arrive as numbers, strings or floats.

The document types many ids as strings ("UserID": "3") and devices send the
same field either way (errata 4.4), so every layer reads integers through these
two functions instead of its own variant.
"""

from __future__ import annotations

import re
from typing import Any

_INTEGER = re.compile(r"-?[0-9]{1,20}")


def as_int(value: Any, *, allow_bool: bool = False) -> int | None:
    """An int from an int, an integral float, or a decimal string; None otherwise."""
    if isinstance(value, bool):
        return int(value) if allow_bool else None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def as_uint(value: Any) -> int | None:
    """Like `as_int`, for ids and counts: a negative value is None."""
    number = as_int(value)
    return number if number is not None and number >= 0 else None
