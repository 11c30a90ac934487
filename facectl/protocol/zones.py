"""The device's time zone, read from every form the firmware writes it in (protocol.md 8.5).

One reader for authorization (time groups, holidays), the fleet views and the
inspector, so that what an operator sees is the zone time groups are judged in.

Forms
-----
* ``TimeZone`` (the document): hours east of UTC as a number, ``8``; half and
  quarter hours as fractions, ``5.5``, ``5.75``; also as numeric text, ``"5.5"``.
* ``UTCTimeZone`` (firmware 9.25, instead of ``TimeZone``): text ``"UTC+08:00"``;
  also read: ``"+05:30"``, ``"UTC+8"``, ``"GMT-3:30"``, ``"UTC"``.

Decisions (section 8 leaves them open)
--------------------------------------
* **Both keys present**: ``UTCTimeZone`` wins (the newer firmware's explicit
  form); a disagreement is noted.
* **A number larger than 14** cannot be hours (real offsets are UTC-12 to
  UTC+14). ``480`` is read as **minutes** (UTC+8) when it is a whole number of
  quarter hours from 1 h to 14 h, since some firmware and tools store minutes;
  any other value (15 to 59, 481, 99999) is "not understood".
* **Offsets must be whole quarter hours** within ±14 h, as every real zone is.
* **A device that reports no zone**, or one that cannot be read, is taken as
  UTC+8, the zone of the document's own examples, with a note saying so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

#: The settings keys that carry the zone, in the order they are trusted.
ZONE_KEYS = ("UTCTimeZone", "TimeZone")
#: Taken when the device reports no readable zone (the document's examples are China, UTC+8).
DEFAULT_OFFSET_MINUTES = 8 * 60
MAX_OFFSET_MINUTES = 14 * 60
_HOURS_LIMIT = 14

_TEXT = re.compile(r"^(?:UTC|GMT)?\s*(?:([+-])\s*(\d{1,2})(?:[:.h]?(\d{2}))?)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DeviceZone:
    """A device's offset from UTC, where it came from, and why it was assumed if it was."""

    minutes: int
    #: "UTCTimeZone", "TimeZone", or None when the default was assumed.
    source: str | None = None
    note: str | None = None

    @property
    def tzinfo(self) -> timezone:
        return timezone(timedelta(minutes=self.minutes))

    @property
    def label(self) -> str:
        return offset_label(self.minutes)


def offset_label(minutes: int) -> str:
    """`UTC+08:00`, `UTC+05:30`, `UTC-03:30`: the firmware 9.25 spelling."""
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def parse_offset(value: Any) -> int | None:
    """Minutes east of UTC for any form of TimeZone / UTCTimeZone; None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _from_number(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return _from_number(float(text))
    except ValueError:
        pass
    m = _TEXT.match(text)
    if m is None:
        return None
    if m.group(1) is None:
        return 0  # "UTC" or "GMT" alone
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    if int(m.group(3) or 0) >= 60:
        return None
    return _checked(-minutes if m.group(1) == "-" else minutes)


def _from_number(number: float) -> int | None:
    if abs(number) > MAX_OFFSET_MINUTES or not math.isfinite(number):
        return None
    if abs(number) <= _HOURS_LIMIT:
        minutes = number * 60
    elif abs(number) >= 60:
        minutes = number
    else:
        return None  # 15-59: neither hours nor the minutes of any real zone
    if minutes != int(minutes):
        return None
    return _checked(int(minutes))


def _checked(minutes: int) -> int | None:
    if abs(minutes) > MAX_OFFSET_MINUTES or minutes % 15:
        return None
    return minutes


def device_zone(settings: dict[str, Any] | None) -> DeviceZone:
    """The zone a device's settings document gives, reading every key and form."""
    settings = settings or {}
    readings: list[tuple[str, int]] = []
    unread: list[str] = []
    for key in ZONE_KEYS:
        raw = settings.get(key)
        if raw is None or raw == "":
            continue
        minutes = parse_offset(raw)
        if minutes is None:
            unread.append(f"{key} {raw!r} not understood")
        else:
            readings.append((key, minutes))
    if not readings:
        why = "; ".join(unread) or "no TimeZone or UTCTimeZone"
        return DeviceZone(DEFAULT_OFFSET_MINUTES, None,
                          f"{why}: assumed {offset_label(DEFAULT_OFFSET_MINUTES)}")
    key, minutes = readings[0]
    notes = unread + [f"{other} says {offset_label(m)}; {key} wins" for other, m in readings[1:] if m != minutes]
    return DeviceZone(minutes, key, "; ".join(notes) or None)
