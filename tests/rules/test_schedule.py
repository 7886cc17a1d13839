from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomcrm.domain import Channel
from ecomcrm.errors import ValidationError
from ecomcrm.rules import FrequencyCap, Policies, QuietHours
from ecomcrm.rules._schedule import (
    format_duration,
    in_window,
    localize,
    next_allowed,
    next_anniversary,
    next_local_time,
    parse_duration,
)

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "America/Santiago", "Pacific/Apia"]  # fmt: skip


def test_durations() -> None:
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("-2d") == timedelta(days=-2)
    assert format_duration(timedelta(minutes=90)) == "90m"
    with pytest.raises(ValidationError, match="duration"):
        parse_duration("soon")


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9999)))
def test_duration_text_round_trip(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


def test_dst_gap_and_overlap_new_york() -> None:
    # spring forward: 02:30 does not exist and becomes 03:30 EDT (07:30 UTC)
    assert localize(date(2024, 3, 10), time(2, 30), "America/New_York") == datetime(
        2024, 3, 10, 7, 30, tzinfo=UTC
    )
    # fall back: 01:30 happens twice; the first (EDT) is used
    assert localize(date(2024, 11, 3), time(1, 30), "America/New_York") == datetime(
        2024, 11, 3, 5, 30, tzinfo=UTC
    )


def test_quiet_hours_across_dst_london() -> None:
    # Saturday night before clocks go forward (2024-03-31 01:00 UTC)
    at = datetime(2024, 3, 30, 22, tzinfo=UTC)  # 22:00 GMT: quiet
    assert next_allowed(at, time(21), time(8), "Europe/London") == datetime(
        2024,
        3,
        31,
        7,
        tzinfo=UTC,  # 08:00 BST
    )
    at = datetime(2024, 10, 26, 22, tzinfo=UTC)  # 23:00 BST: quiet
    assert next_allowed(at, time(21), time(8), "Europe/London") == datetime(
        2024,
        10,
        27,
        8,
        tzinfo=UTC,  # 08:00 GMT
    )


@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    tz=st.sampled_from(ZONES),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
)
def test_next_allowed_is_outside_window_and_not_before(
    at: datetime, tz: str, start: int, end: int
) -> None:
    if start == end:
        return
    allowed = next_allowed(at, time(start), time(end), tz)
    assert allowed >= at
    assert not in_window(allowed, time(start), time(end), tz)
    assert allowed - at <= timedelta(hours=26)


@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    tz=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    weekdays=st.none() | st.frozensets(st.integers(0, 6), min_size=1),
)
def test_next_local_time_properties(
    at: datetime, tz: str, hour: int, weekdays: frozenset[int] | None
) -> None:
    result = next_local_time(at, time(hour), tz, weekdays=weekdays)
    assert at <= result <= at + timedelta(days=8, hours=2)
    local = result.astimezone(__import__("zoneinfo").ZoneInfo(tz))
    assert local.hour in (hour, (hour + 1) % 24)  # +1 only inside a DST gap
    if weekdays is not None:
        assert local.weekday() in weekdays or local.hour != hour


def test_anniversaries_feb29_and_days_before() -> None:
    t = datetime(2023, 3, 1, tzinfo=UTC)
    assert next_anniversary(2, 29, t, time(9), "UTC").date() == date(2024, 2, 29)
    t = datetime(2024, 3, 1, tzinfo=UTC)
    assert next_anniversary(2, 29, t, time(9), "UTC").date() == date(2025, 2, 28)
    assert next_anniversary(2, 29, t, time(9), "UTC", feb29="mar1").date() == date(2025, 3, 1)
    assert next_anniversary(5, 6, t, time(9), "UTC", days_before=3).date() == date(2024, 5, 3)
    # strictly after: at the instant itself, next year
    at = datetime(2024, 5, 6, 9, tzinfo=UTC)
    assert next_anniversary(5, 6, at, time(9), "UTC").year == 2025


@given(
    month_day=st.dates(min_value=date(2000, 1, 1), max_value=date(2000, 12, 31)),
    at=st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
    tz=st.sampled_from(ZONES),
)
def test_anniversary_within_a_year(month_day: date, at: datetime, tz: str) -> None:
    result = next_anniversary(month_day.month, month_day.day, at, time(9), tz)
    assert at < result <= at + timedelta(days=367)


def test_caps() -> None:
    now = datetime(2024, 1, 1, 12, tzinfo=UTC)
    us = lambda d: int((d - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)  # noqa: E731
    cap = FrequencyCap(limit=2, per="1d", channel="sms")
    sends = [("sms", us(now - timedelta(hours=20))), ("sms", us(now - timedelta(hours=2)))]
    assert cap.free_at(Channel.EMAIL, sends, now) is None
    assert cap.free_at(Channel.SMS, sends, now) == now + timedelta(hours=4)
    assert cap.free_at(Channel.SMS, sends[1:], now) is None
    with pytest.raises(ValidationError):
        FrequencyCap(limit=0)


def test_policies_quiet_until() -> None:
    p = Policies(quiet_hours=[QuietHours(start="21:00", end="08:00", channels=["sms"]),
                              QuietHours(start="07:00", end="09:00", channels=["sms"])])  # fmt: skip
    at = datetime(2024, 1, 1, 22, tzinfo=UTC)
    _, until = p.quiet_until(Channel.SMS, at, "UTC")  # type: ignore[misc]
    assert until == datetime(2024, 1, 2, 9, tzinfo=UTC)
    assert p.quiet_until(Channel.EMAIL, at, "UTC") is None


def _anniversary_by_rrule(
    month: int, day: int, after: datetime, at: time, tz: str, days_before: int, feb29: str
) -> datetime:
    """The reference: occurrences from ``dateutil.rrule`` (how next_anniversary once worked)."""
    from dateutil import rrule

    start_local = after.astimezone(ZoneInfo(tz)).date() - timedelta(days=370)
    dtstart = datetime(start_local.year, 1, 1)
    if (month, day) == (2, 29) and feb29 == "feb28":
        rule = rrule.rrule(rrule.YEARLY, dtstart=dtstart, bymonth=2, bymonthday=-1)
    elif (month, day) == (2, 29) and feb29 == "mar1":
        rule = rrule.rrule(rrule.YEARLY, dtstart=dtstart, byyearday=60)
    else:
        rule = rrule.rrule(rrule.YEARLY, dtstart=dtstart, bymonth=month, bymonthday=day)
    for occurrence in rule:
        instant = localize(occurrence.date() - timedelta(days=days_before), at, tz)
        if instant > after:
            return instant
    raise AssertionError("unreachable")


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2000, 12, 31)),
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    st.times(),
    st.sampled_from(ZONES),
    st.integers(0, 40),
    st.sampled_from(["feb28", "mar1", "skip"]),
)
def test_anniversary_equals_the_rrule_reference(
    month_day: date, after: datetime, at: time, tz: str, days_before: int, feb29: str
) -> None:
    args = (month_day.month, month_day.day, after, at, tz)
    expected = _anniversary_by_rrule(*args, days_before, feb29)
    assert next_anniversary(*args, days_before=days_before, feb29=feb29) == expected


@pytest.mark.parametrize("feb29", ["feb28", "mar1", "skip"])
@pytest.mark.parametrize("year", [1999, 2000, 2023, 2024, 2099, 2100])
def test_anniversary_of_29_february_around_leap_years(year: int, feb29: str) -> None:
    after = datetime(year, 1, 15, tzinfo=UTC)
    expected = _anniversary_by_rrule(2, 29, after, time(9), "Pacific/Apia", 1, feb29)
    assert next_anniversary(2, 29, after, time(9), "Pacific/Apia", days_before=1, feb29=feb29) == (
        expected
    )
