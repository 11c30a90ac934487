"""Canonical answers: what the server sends is always strict, compact JSON.

Be liberal in what we accept, canonical in what we send (errata, rule of thumb).
Devices show `Message` on screen, so messages are short, plain and in English
(the document's English texts where it gives one).
"""

from __future__ import annotations

import json
from typing import Any

OK = 1
FAILED = 0
BAD_SN = 400
NOT_ACTIVATED = 401
BLOCKED = 403

MSG_NOT_ACTIVATED = "Connected to server, but device is not activated"
MSG_BAD_SN = "Connected to server, but SN does not comply with platform rules"
MSG_BLOCKED = "Connected to server, but device is blocked"


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (CJK names stay readable and within byte limits)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ok(**fields: Any) -> dict[str, Any]:
    return {"Success": OK, **fields}


def fail(message: str, code: int = FAILED) -> dict[str, Any]:
    return {"Success": code, "Message": message}
