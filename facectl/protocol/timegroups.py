"""Time groups, holidays and the device's time zone, as the device's settings define them.

A person carries ``Timegroup`` (a number, 1-64) and ``Holidays`` (which holidays
restrict them); the *device* defines what those numbers mean in its settings
(UploadWorkSetting: ``TimeGroups``, ``Holidays``, ``TimeZone``). Online
authorization reads them exactly there, so the server and the device's own
offline check agree.

Decisions (the document leaves these open)
-----------------------------------------
* **Week1 is Monday, Week7 is Sunday.** In Chinese the weekdays are numbered:
  星期一 ("week-one") is Monday ... 星期六 is Saturday, and Sunday is 星期日, not a
  number — so "Week1..Week7" is 星期一..星期日, which is also ISO 8601's numbering.
  The vendor's own reference server documents its ``HTTPOpenDoorTimegroupV2``
  fields the same way (Week1 星期一 ... Week7 星期日).
* **A day's text** is one or more ``HH:MM-HH:MM`` ranges. The vendor's reference
  server joins them with ``/`` and uses ``00:00-00:00`` for an unused slot; we
  also accept ``,`` ``;`` ``|`` or spaces between ranges and the HTTPv1 ``--``.
  The end minute is included ("00:00-23:59" is the whole day). A range whose end
  is before its start wraps past midnight *within that day's entry* (22:00-06:00
  allows 22:00-23:59 and 00:00-06:00 of that weekday). An empty or absent day
  allows nothing.
* **The device's zone** (``TimeZone`` hours, firmware 9.25's ``UTCTimeZone``
  text) is read by `zones.device_zone`, the one reader the fleet views and the
  inspector use too.
* **Holidays** in the settings: the document only shows ``"Holidays": []``. We
  read a list of entries, each with a number (``Num``, else its 1-based position)
  and a date: ``Date`` (``YYYY-MM-DD``, or ``MM-DD`` for every year, or unix
  seconds), or a range (``BeginDate``/``StartDate``/``Start`` to ``EndDate``/``End``),
  or ``Month`` + ``Day`` (+ ``Year``). A plain string entry is a date. Entries
  that cannot be read are reported and never match.
* **A person's Holidays**: empty or absent = not restricted on holidays; ``*`` =
  restricted on every holiday; else a comma list of holiday numbers (document,
  "Holidays 节假日").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from .numbers import as_int
from .zones import DEFAULT_OFFSET_MINUTES

WEEK_KEYS = ("Week1", "Week2", "Week3", "Week4", "Week5", "Week6", "Week7")  # Monday .. Sunday
UNUSED_SLOT = (0, 0)  # "00:00-00:00" (vendor reference server: an empty slot)

_RANGE = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2})?\s*-{1,2}\s*(\d{1,2}):(\d{2})(?::\d{2})?")


def week_key(day: date) -> str:
    """The settings key of a date's weekday: Monday -> Week1 ... Sunday -> Week7."""
    return WEEK_KEYS[day.isoweekday() - 1]


def parse_ranges(text: Any) -> list[tuple[int, int]]:
    """Minute ranges (start, end inclusive) of one day's text; unused 00:00-00:00 slots dropped."""
    if not isinstance(text, str):
        return []
    out = []
    for m in _RANGE.finditer(text):
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            continue
        span = (h1 * 60 + m1, h2 * 60 + m2)
        if span != UNUSED_SLOT:
            out.append(span)
    return out


def in_ranges(ranges: list[tuple[int, int]], minute: int) -> bool:
    for start, end in ranges:
        if start <= end:
            if start <= minute <= end:
                return True
        elif minute >= start or minute <= end:  # wraps past midnight within the day's entry
            return True
    return False


def find_group(settings: dict[str, Any] | None, number: int) -> dict[str, Any] | None:
    groups = (settings or {}).get("TimeGroups")
    if not isinstance(groups, list):
        return None
    for group in groups:
        if isinstance(group, dict) and as_int(group.get("Num")) == number:
            return group
    return None


def group_allows(group: dict[str, Any], when: datetime) -> bool:
    """Whether a time group allows the (device-local) moment `when`."""
    ranges = parse_ranges(group.get(week_key(when.date())))
    return in_ranges(ranges, when.hour * 60 + when.minute)


# --- Holidays ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Holiday:
    number: int
    start: tuple[int, int, int | None]  # (month, day, year or None = every year)
    end: tuple[int, int, int | None]

    def covers(self, day: date) -> bool:
        (m1, d1, y1), (m2, d2, y2) = self.start, self.end
        if y1 is not None and y2 is not None:
            return date(y1, m1, d1) <= day <= date(y2, m2, d2)
        a, b, x = (m1, d1), (m2, d2), (day.month, day.day)
        return a <= x <= b if a <= b else (x >= a or x <= b)  # a yearly range may span New Year


@dataclass(slots=True)
class Holidays:
    entries: list[Holiday] = field(default_factory=list)
    unreadable: int = 0

    def on(self, day: date) -> list[int]:
        return sorted({h.number for h in self.entries if h.covers(day)})


def parse_holidays(value: Any, tz: timezone | None = None) -> Holidays:
    """The device's Holidays setting (shape assumed, see the module docstring)."""
    out = Holidays()
    if not isinstance(value, list):
        return out
    for position, entry in enumerate(value, 1):
        holiday = _holiday(entry, position, tz)
        if holiday is None:
            out.unreadable += 1
        else:
            out.entries.append(holiday)
    return out


def _holiday(entry: Any, position: int, tz: timezone | None) -> Holiday | None:
    if isinstance(entry, str | int) and not isinstance(entry, bool):
        day = _day(entry, tz)
        return Holiday(position, day, day) if day else None
    if not isinstance(entry, dict):
        return None
    number = as_int(entry.get("Num", entry.get("Number", entry.get("Index", position))))
    if number is None:
        return None
    if "Month" in entry and "Day" in entry:
        month, day_, year = as_int(entry["Month"]), as_int(entry["Day"]), as_int(entry.get("Year"))
        if month is None or day_ is None or not _valid(month, day_, year):
            return None
        return Holiday(number, (month, day_, year), (month, day_, year))
    start = _first(entry, ("Date", "BeginDate", "StartDate", "Begin", "Start"))
    end = _first(entry, ("EndDate", "End"))
    start_day = _day(start, tz) if start is not None else None
    end_day = _day(end, tz) if end is not None else start_day
    if start_day is None or end_day is None:
        return None
    if (start_day[2] is None) != (end_day[2] is None):
        year = start_day[2] or end_day[2]
        start_day, end_day = (start_day[0], start_day[1], year), (end_day[0], end_day[1], year)
    return Holiday(number, start_day, end_day)


def _first(entry: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if entry.get(key) not in (None, ""):
            return entry[key]
    return None


def _day(value: Any, tz: timezone | None) -> tuple[int, int, int | None] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 100000:
        d = datetime.fromtimestamp(value, UTC).astimezone(tz or timezone(timedelta(minutes=DEFAULT_OFFSET_MINUTES)))
        return d.month, d.day, d.year
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?", text)
    if m:
        year, month, day = (int(g) for g in m.groups())
        return (month, day, year) if _valid(month, day, year) else None
    m = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})", text)
    if m:
        month, day = (int(g) for g in m.groups())
        return (month, day, None) if _valid(month, day, None) else None
    if text.isdigit():
        return _day(int(text), tz)
    return None


def _valid(month: int, day: int, year: int | None) -> bool:
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: 02-29 is a valid yearly date
    except ValueError:
        return False
    return True


def person_holidays(value: Any) -> set[int] | str | None:
    """A person's Holidays: None = not restricted, "*" = all, else the holiday numbers."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        text = str(value).strip()
        if not text:
            return None
        if text == "*":
            return "*"
        items = text.split(",")
    numbers = {n for n in (as_int(i) for i in items) if n is not None}
    return numbers or None


def holiday_restriction(person_value: Any, holidays: Holidays, day: date) -> int | None:
    """The number of a holiday on `day` that restricts this person, else None."""
    restricted = person_holidays(person_value)
    if restricted is None:
        return None
    for number in holidays.on(day):
        if restricted == "*" or number in restricted:
            return number
    return None
