"""Whether a record means the door let the person through: granted, refused, or neither.

An attendance or visitor system wants one word per access record, not the
vendor's 49 record types. Identify records say it through their RecordType
(the code table's "…verification" types pass; expiry, time group, blacklist,
unregistered… refuse); an authorization record through the answer the server
gave (AUTH_RESULTS: 0 deny, 1 and 2 allow). Door-sensor and system records,
people edited on the device menu and "waiting for the next person" are neither.
"""

from __future__ import annotations

from .records import AUTH, IDENTIFY

GRANTED = "granted"
REFUSED = "refused"

#: IDENTIFY_RECORD_TYPES values that mean the person was let through.
_GRANTED_TYPES = frozenset({*range(1, 15), 25, 29, 31, 32, *range(36, 44), 46, 47})
#: IDENTIFY_RECORD_TYPES values that mean the person was turned away.
_REFUSED_TYPES = frozenset({*range(15, 25), 26, 27, 28, 30, 45, 48, 49})


def record_outcome(kind: str, record_type: int | None, decision: int | None = None) -> str | None:
    """GRANTED, REFUSED or None (not an access attempt) for one stored record."""
    if decision is not None:
        return GRANTED if decision in (1, 2) else REFUSED
    if kind not in (IDENTIFY, AUTH) or record_type is None:
        return None
    if record_type in _GRANTED_TYPES:
        return GRANTED
    if record_type in _REFUSED_TYPES:
        return REFUSED
    return None
