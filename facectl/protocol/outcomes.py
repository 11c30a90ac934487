"""Whether a stored record means the door let the person through: granted, refused, or neither.

An attendance or visitor system wants one word per access record, not the vendor's
49 record types. The classification itself is the code table's (codes.py:
GRANTED_RECORD_TYPES, REFUSED_RECORD_TYPES); this picks the rule for a record's kind:
an identify record by its RecordType, an authorization record by the answer the
server gave. Door-sensor and system records are no access attempt.
"""

from __future__ import annotations

from .codes import GRANTED, REFUSED, auth_outcome, identify_outcome
from .records import AUTH, IDENTIFY

__all__ = ["GRANTED", "REFUSED", "record_outcome"]


def record_outcome(kind: str, record_type: int | None, decision: int | None = None) -> str | None:
    """GRANTED, REFUSED or None (not an access attempt) for one stored record."""
    if decision is not None:
        return auth_outcome(decision)
    if kind not in (IDENTIFY, AUTH):
        return None
    return identify_outcome(record_type)
