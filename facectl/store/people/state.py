"""What a (device, person) row of `device_people` says, as SQL terms and as one word.

A row holds `want`, the version the device should hold (NULL: must not hold), and
`have`, the version it confirmed (0: it holds a version we did not send; NULL: it does
not hold the person). A page handed out sets `inflight` (the version sent; 0 for a
deletion), `inflight_at` and `inflight_page` (add_pages.py, delete_pages.py); a failure
keeps `fail_version` with its code and message, and maybe an automatic retry
(`retry_at`, `retries`). So a row with a `want` is delivered, failed, in flight or
pending, and a row without one is to delete while the device holds the person.

- **Flags are derived** (store/work.py). AddPeople: a row with `want` not NULL, `want IS NOT
  have`, not failed at `want`, and not in flight (or in flight for longer than
  `redelivery_timeout`, 120 s by default), or a failed row whose automatic retry is due,
  or a person for all devices above the device's cursor, who has no row (implicit.py).
  DeletePeople: a row with `want` NULL and `have` not NULL, not in flight; or a DeleteAll
  waiting. Each is an indexed lookup on a partial index.
  The checks are needs_add (add_pages.py) and needs_delete (delete_pages.py); the
  partial indexes (store/migrations.py) are built on the terms below, written out there:
  a change to a term needs a migration that rebuilds its index.
"""

from __future__ import annotations

from typing import Any

#: A row the device still needs (the partial index device_people_add has exactly these terms).
PENDING_ADD = "want IS NOT NULL AND want IS NOT have AND fail_version IS NOT want"
#: A row whose delivery failed at the version wanted; not retried until it changes or `sync`.
FAILED = "want IS NOT NULL AND want IS NOT have AND fail_version IS want"
#: A row the device holds but must not (partial index device_people_delete).
PENDING_DELETE = "want IS NULL AND have IS NOT NULL"


def delivery_state(row: dict[str, Any], cutoff: float) -> str:
    """One word for a (device, person) row: delivered, pending, in flight, failed, to delete, deleting."""
    want, have = row.get("want"), row.get("have")
    inflight, inflight_at = row.get("inflight"), row.get("inflight_at") or 0
    if want is None:
        if have is None:
            return "not held"
        return "deleting" if inflight == 0 and inflight_at > cutoff else "to delete"
    if have == want:
        return "delivered"
    if row.get("fail_version") == want:
        return "failed"
    if inflight is not None and inflight > 0 and inflight_at > cutoff:
        return "in flight"
    return "pending"
