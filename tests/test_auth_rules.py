"""Authorization rules without a server: time groups, holidays, time zones, and each rule both ways."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from facectl.protocol import timegroups as tg
from facectl.server.handlers.authorization import evaluate

CST = timezone(timedelta(hours=8))
# 2024-06-17 is a Monday (Week1); 10:30 in UTC+8.
MONDAY_1030 = datetime(2024, 6, 17, 10, 30, tzinfo=CST).timestamp()


def ts(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=CST).timestamp()


def test_week1_is_monday_and_week7_is_sunday() -> None:
    assert tg.week_key(date(2024, 6, 17)) == "Week1"   # Monday
    assert tg.week_key(date(2024, 6, 22)) == "Week6"   # Saturday
    assert tg.week_key(date(2024, 6, 23)) == "Week7"   # Sunday


@pytest.mark.parametrize(("text", "ranges"), [
    ("00:00-23:59", [(0, 1439)]),
    ("08:00-12:00/13:30-18:00", [(480, 720), (810, 1080)]),          # the vendor server's separator
    ("08:00-12:00, 13:30-18:00", [(480, 720), (810, 1080)]),
    ("08:00--12:00", [(480, 720)]),                                   # HTTPv1 spelling
    ("08:00-12:00/00:00-00:00/00:00-00:00", [(480, 720)]),            # unused slots
    ("", []), (None, []), ("always", []), ("25:00-26:00", []),
])
def test_parse_ranges(text: object, ranges: list) -> None:
    assert tg.parse_ranges(text) == ranges


def test_in_ranges_includes_the_end_minute_and_wraps() -> None:
    assert tg.in_ranges([(0, 1439)], 1439)
    assert tg.in_ranges([(480, 720)], 720) and not tg.in_ranges([(480, 720)], 721)
    night = [(22 * 60, 6 * 60)]
    assert tg.in_ranges(night, 23 * 60) and tg.in_ranges(night, 5 * 60) and not tg.in_ranges(night, 12 * 60)


def test_group_allows_reads_the_devices_local_time() -> None:
    group = {"Num": 2, "Week1": "09:00-11:00"}
    assert tg.group_allows(group, datetime.fromtimestamp(MONDAY_1030, CST))
    # 10:30 in UTC+8 is 02:30 UTC: the same instant read in UTC is outside.
    assert not tg.group_allows(group, datetime.fromtimestamp(MONDAY_1030, UTC))
    assert not tg.group_allows({"Num": 2, "Week2": "00:00-23:59"}, datetime.fromtimestamp(MONDAY_1030, CST))


def test_holidays_parsing_and_matching() -> None:
    hol = tg.parse_holidays([
        {"Num": 1, "Date": "2024-10-01"},
        {"Num": 2, "BeginDate": "2024-10-02", "EndDate": "2024-10-07"},
        {"Num": 3, "Date": "01-01"},                     # every year
        {"Num": 4, "Month": 12, "Day": 25},
        {"Num": 5, "StartDate": "12-30", "EndDate": "01-02"},  # yearly, across New Year
        {"Num": 6, "Date": int(ts(2024, 5, 1))},         # unix seconds
        "2024-06-10",                                    # plain string: numbered by position (7)
        {"Num": 8, "Date": "someday"},                   # unreadable
        42,                                              # unreadable
    ])
    assert hol.unreadable == 2
    assert hol.on(date(2024, 10, 1)) == [1]
    assert hol.on(date(2024, 10, 5)) == [2]
    assert hol.on(date(2031, 1, 1)) == [3, 5]
    assert hol.on(date(2024, 12, 25)) == [4]
    assert hol.on(date(2024, 12, 31)) == [5]
    assert hol.on(date(2024, 5, 1)) == [6]
    assert hol.on(date(2024, 6, 10)) == [7]
    assert hol.on(date(2024, 6, 11)) == []
    assert tg.parse_holidays(None).entries == [] and tg.parse_holidays([]).entries == []


@pytest.mark.parametrize(("person", "restricted_on"), [
    ("", None), (None, None), ("*", 1), ("1,3", 1), ("2,3", None), ([1], 1),
])
def test_person_holiday_restriction(person: object, restricted_on: int | None) -> None:
    hol = tg.parse_holidays([{"Num": 1, "Date": "2024-10-01"}, {"Num": 2, "Date": "2024-10-02"}])
    assert tg.holiday_restriction(person, hol, date(2024, 10, 1)) == restricted_on


SETTINGS = {
    "TimeZone": 8,
    "TimeGroups": [
        {"Num": 1, **{f"Week{i}": "00:00-23:59" for i in range(1, 8)}},
        {"Num": 2, "Week1": "08:00-12:00/13:00-18:00", "Week2": "08:00-18:00"},
        {"Num": 64, "Week1": "", "Week7": ""},
    ],
    "Holidays": [{"Num": 1, "Date": "2024-06-17"}, {"Num": 2, "Date": "2024-10-01"}],
}


def person(**fields: object) -> dict:
    return {"UserID": "7", "Name": "张三", "AccessType": 0, "ExpirationDate": 0, "OpenTimes": 65535, **fields}


def judge(p: dict | None, at: float = MONDAY_1030, settings: dict | None = SETTINGS):
    return evaluate([p] if p else [], "UserID", "7", settings, at)


def test_allowed_by_default_with_welcome_name() -> None:
    verdict = judge(person())
    assert verdict.allow and verdict.message == "Welcome, 张三"
    assert judge(person(Name="")).message == "Welcome, user 7"


def test_unknown_and_ambiguous_people_are_denied() -> None:
    verdict = judge(None)
    assert not verdict.allow and verdict.message == "Not registered" and "unknown person (UserID 7)" in verdict.reason
    many = evaluate([person(), person(UserID="8")], "CardNum", "555", SETTINGS, MONDAY_1030)
    assert not many.allow and "matches several people (7, 8)" in many.reason


@pytest.mark.parametrize(("fields", "allowed", "words"), [
    ({"AccessType": 2}, False, "blacklisted"),
    ({"AccessType": 1}, True, "allowed"),
    ({"ExpirationDate": int(MONDAY_1030) - 1}, False, "expired"),
    ({"ExpirationDate": int(MONDAY_1030) + 60}, True, "allowed"),
    ({"OpenTimes": 0}, False, "OpenTimes is 0"),
    ({"OpenTimes": 1}, True, "allowed"),
    ({"Timegroup": 2}, True, "allowed"),                    # Monday 10:30 in 08:00-12:00
    ({"Timegroup": 64}, False, "outside time group 64"),    # defined, but no times
    ({"Timegroup": 0}, False, "time group 0 (restricted)"),
    ({"Timegroup": 9}, False, "not defined"),
    ({"Holidays": "1"}, False, "holiday 1"),                # 2024-06-17 is holiday 1
    ({"Holidays": "*"}, False, "holiday 1"),
    ({"Holidays": "2"}, True, "allowed"),
    ({"Holidays": ""}, True, "allowed"),
])
def test_each_rule_both_ways(fields: dict, allowed: bool, words: str) -> None:
    verdict = judge(person(**fields))
    assert verdict.allow is allowed, verdict.reason
    assert words in verdict.reason


def test_time_group_at_other_times() -> None:
    p = person(Timegroup=2)
    assert not judge(p, ts(2024, 6, 17, 12, 30)).allow      # lunch break
    assert judge(p, ts(2024, 6, 17, 18, 0)).allow           # end minute included
    assert not judge(p, ts(2024, 6, 17, 18, 1)).allow
    assert judge(p, ts(2024, 6, 18, 17, 0)).allow           # Tuesday, Week2
    sunday = judge(p, ts(2024, 6, 23, 10, 0))
    assert not sunday.allow and "Week7" in sunday.reason     # no Week7 entry: no access


def test_time_group_in_another_time_zone() -> None:
    p = person(Timegroup=2)
    utc_settings = {**SETTINGS, "TimeZone": 0}
    assert not judge(p, MONDAY_1030, utc_settings).allow   # 02:30 UTC
    assert judge(p, MONDAY_1030 + 8 * 3600, utc_settings).allow


def test_time_group_needs_the_device_settings() -> None:
    verdict = judge(person(Timegroup=1), settings=None)
    assert not verdict.allow and "has not uploaded its settings" in verdict.reason
    assert judge(person(), settings=None).allow  # no time group: nothing to check
