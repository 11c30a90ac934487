"""What a terminal decides by itself when someone it holds presents a credential (offline).

The document's identify-record types name the refusals a terminal makes without asking
anyone (API-上传识别记录 / 识别记录类型): 16 validity expired, 17 outside the access time
group, 18 no access on holidays, 21 open count used up, 24 blacklisted; a credential it
holds nobody for is 19 (unregistered). The person fields are the ones the server sends
(PeopleJson): AccessType 2 is the blacklist; ExpirationDate is unix seconds (0 or absent:
never); OpenTimes counts the opens left (65535 unlimited, 0 none left; the terminal
counts down by itself); Timegroup absent means no time restriction, 0 "restricted" (no
access at any time), 1-64 an entry of the device's TimeGroups read at its local time;
Holidays lists the device's holiday numbers (or `*`) on which the person may not enter.

The checks run in the order the server's own rules use, so a person refused for two
reasons is refused for the same one online and offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from . import timegroups
from .codes import ACCESS_TYPES, IDENTIFY_RECORD_TYPES
from .numbers import as_int

REFUSED_EXPIRED = int(IDENTIFY_RECORD_TYPES.value_of("validity expired"))
REFUSED_TIME_GROUP = int(IDENTIFY_RECORD_TYPES.value_of("outside access time group"))
REFUSED_HOLIDAY = int(IDENTIFY_RECORD_TYPES.value_of("no access on holidays"))
REFUSED_UNKNOWN = int(IDENTIFY_RECORD_TYPES.value_of("unregistered user"))
REFUSED_OPEN_TIMES = int(IDENTIFY_RECORD_TYPES.value_of("open count used up"))
REFUSED_BLACKLIST = int(IDENTIFY_RECORD_TYPES.value_of("blacklisted card"))
#: Every record type a terminal uses for its own refusals (the simulator produces each of them).
OFFLINE_REFUSALS = (REFUSED_EXPIRED, REFUSED_TIME_GROUP, REFUSED_HOLIDAY, REFUSED_UNKNOWN,
                    REFUSED_OPEN_TIMES, REFUSED_BLACKLIST)

BLACKLIST = int(ACCESS_TYPES.value_of("blacklist"))
#: OpenTimes that is never counted down (document: 65535 = unlimited).
OPEN_TIMES_UNLIMITED = 65535


def offline_refusal(person: dict[str, Any], settings: dict[str, Any] | None, at: float) -> int | None:
    """The identify-record type a terminal refuses `person` with at unix time `at`; None: it opens."""
    if as_int(person.get("AccessType")) == BLACKLIST:
        return REFUSED_BLACKLIST
    expires = as_int(person.get("ExpirationDate"))
    if expires and at > expires:
        return REFUSED_EXPIRED
    if as_int(person.get("OpenTimes")) == 0:
        return REFUSED_OPEN_TIMES
    tz, _ = timegroups.device_timezone(settings)
    local = datetime.fromtimestamp(at, UTC).astimezone(tz)
    group_number = as_int(person.get("Timegroup"))
    if group_number is not None:
        group = timegroups.find_group(settings, group_number) if group_number else None
        if group is None or not timegroups.group_allows(group, local):
            return REFUSED_TIME_GROUP
    if person.get("Holidays") not in (None, "") and settings is not None:
        holidays = timegroups.parse_holidays(settings.get("Holidays"), tz)
        if timegroups.holiday_restriction(person.get("Holidays"), holidays, local.date()) is not None:
            return REFUSED_HOLIDAY
    return None


def after_open(person: dict[str, Any]) -> None:
    """A granted open uses one of the person's counted opens (OpenTimes below 65535)."""
    left = as_int(person.get("OpenTimes"))
    if left is not None and 0 < left < OPEN_TIMES_UNLIMITED:
        person["OpenTimes"] = left - 1
