"""Canonical answers: what the server sends is always strict, compact JSON.

Be liberal in what we accept, canonical in what we send (docs/protocol.md, rule of thumb).
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
#: What a device is told when what it sent is kept in quarantine instead of being used.
MSG_KEPT = "kept for review"


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (CJK names stay readable and within byte limits)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ok(**fields: Any) -> dict[str, Any]:
    return {"Success": OK, **fields}


def fail(message: str, code: int = FAILED) -> dict[str, Any]:
    return {"Success": code, "Message": message}


def kept(reason: str) -> dict[str, Any]:
    """The quarantine answer: Success 1, so the device's queue moves on (protocol.md 5.1), and why."""
    return {"Success": OK, "Message": f"{MSG_KEPT}: {reason}"}
