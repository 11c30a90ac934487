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

The same rules decide online (the server's RequestAuthorization handler) and offline
(the simulator), so a person refused for two reasons is refused for the same one either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import timegroups, zones
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


@dataclass(slots=True)
class Judgement:
    """The rules' verdict on one person: `refusal` is the record type refusing them (None: open)."""

    refusal: int | None
    reason: str
    #: What had to be assumed (no TimeZone) or could not be read (holiday entries).
    notes: list[str] = field(default_factory=list)


def judge(person: dict[str, Any], settings: dict[str, Any] | None, at: float) -> Judgement:
    """The access rules for a person found, at unix time `at`, on a device with these settings.

    One set of rules for the terminal's offline decisions (the simulator) and the server's
    online ones (RequestAuthorization): the first rule that refuses wins. A time group
    on a device whose settings are unknown refuses: nothing says when it allows.
    """
    if as_int(person.get("AccessType")) == BLACKLIST:
        return Judgement(REFUSED_BLACKLIST, "blacklisted (AccessType 2)")
    expires = as_int(person.get("ExpirationDate"))
    if expires and at > expires:
        when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return Judgement(REFUSED_EXPIRED, f"access expired at {when}")
    if as_int(person.get("OpenTimes")) == 0:
        return Judgement(REFUSED_OPEN_TIMES, "OpenTimes is 0 (no opens left)")
    zone = zones.device_zone(settings)
    tz, tz_note = zone.tzinfo, zone.note
    local = datetime.fromtimestamp(at, UTC).astimezone(tz)
    notes = [tz_note] if tz_note else []
    group_number = as_int(person.get("Timegroup"))
    if group_number is not None:
        if group_number == 0:
            return Judgement(REFUSED_TIME_GROUP, "time group 0 (restricted)", notes)
        if settings is None:
            return Judgement(REFUSED_TIME_GROUP,
                             f"time group {group_number}: the device has not uploaded its settings", notes)
        group = timegroups.find_group(settings, group_number)
        if group is None:
            return Judgement(REFUSED_TIME_GROUP,
                             f"time group {group_number} is not defined in the device's TimeGroups", notes)
        if not timegroups.group_allows(group, local):
            key = timegroups.week_key(local.date())
            return Judgement(REFUSED_TIME_GROUP, f"outside time group {group_number} at {local:%a %H:%M} "
                                                 f"(UTC{local:%z}; {key}: {group.get(key) or 'no times'})", notes)
    if settings is not None and person.get("Holidays") not in (None, ""):
        holidays = timegroups.parse_holidays(settings.get("Holidays"), tz)
        number = timegroups.holiday_restriction(person.get("Holidays"), holidays, local.date())
        if number is not None:
            return Judgement(REFUSED_HOLIDAY, f"restricted on holiday {number} ({local:%Y-%m-%d})", notes)
        if holidays.unreadable:
            notes.append(f"{holidays.unreadable} holiday entries not understood")
    return Judgement(None, "allowed by the rules", notes)


def offline_refusal(person: dict[str, Any], settings: dict[str, Any] | None, at: float) -> int | None:
    """The identify-record type a terminal refuses `person` with at unix time `at`; None: it opens."""
    return judge(person, settings, at).refusal


def after_open(person: dict[str, Any]) -> None:
    """A granted open uses one of the person's counted opens (OpenTimes below 65535)."""
    left = as_int(person.get("OpenTimes"))
    if left is not None and 0 < left < OPEN_TIMES_UNLIMITED:
        person["OpenTimes"] = left - 1
