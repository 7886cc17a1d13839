"""Time computations for flows: durations, local times of day, quiet hours, anniversaries.

Every function takes the current instant explicitly and returns aware UTC datetimes. Local
times are computed in the customer's IANA time zone with :mod:`zoneinfo`:

- a wall time that does not exist (the hour skipped when clocks go forward) is moved
  forward by the length of the gap (02:30 on a spring-forward night becomes 03:30);
- a wall time that happens twice (clocks going back) means its first occurrence.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from dateutil import rrule

from ecomcrm.errors import ValidationError
from ecomcrm.storage.toolkit import from_micros as from_micros  # re-exported for rules/
from ecomcrm.storage.toolkit import to_micros as to_micros

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|min|s|ms)\s*$", re.IGNORECASE)
_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: timedelta | str | int | float, *, field: str = "duration") -> timedelta:
    """A duration from a timedelta, seconds, or text such as ``"90m"``, ``"1h"``, ``"7d"``.

    Units: ``w`` weeks, ``d`` days, ``h`` hours, ``m``/``min`` minutes, ``s`` seconds,
    ``ms`` milliseconds. Negative durations are allowed here; flows reject them.

    Example:
        >>> parse_duration("36h")
        datetime.timedelta(days=1, seconds=43200)
        >>> parse_duration(90)
        datetime.timedelta(seconds=90)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValidationError("must be a duration", entity="duration", field=field, value=value)
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        sign = 1
        if text.startswith("-"):
            sign, text = -1, text[1:]
        match = _DURATION.match(text)
        if match:
            amount = float(match.group(1))
            return sign * amount * _UNITS[match.group(2).lower()]
    raise ValidationError(
        "must be a duration such as '90m', '1h', '7d' or '2w'",
        entity="duration",
        field=field,
        value=value,
    )


def format_duration(value: timedelta) -> str:
    """The shortest exact text form of a duration, the inverse of :func:`parse_duration`.

    Example:
        >>> format_duration(timedelta(hours=36)), format_duration(timedelta(days=14))
        ('36h', '2w')
    """
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if micros % (size * 1_000_000) == 0:
            return f"{sign}{micros // (size * 1_000_000)}{unit}"
    if micros % 1000 == 0:
        return f"{sign}{micros // 1000}ms"
    return f"{sign}{micros / 1_000_000}s"


def parse_time_of_day(value: time | str, *, field: str = "at") -> time:
    """A wall-clock time from ``"HH:MM"`` (or ``"HH:MM:SS"``) or a :class:`datetime.time`.

    Example:
        >>> parse_time_of_day("09:30")
        datetime.time(9, 30)
    """
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        match = _TIME.match(value)
        if match:
            hour, minute, second = (
                int(match.group(1)),
                int(match.group(2)),
                int(match.group(3) or 0),
            )
            if hour < 24 and minute < 60 and second < 60:
                return time(hour, minute, second)
    raise ValidationError(
        "must be a time of day 'HH:MM' (00:00 to 23:59)", entity="time", field=field, value=value
    )


def format_time_of_day(value: time) -> str:
    """``"HH:MM"`` (with seconds when they are not zero).

    Example:
        >>> format_time_of_day(time(8, 5))
        '08:05'
    """
    if value.second:
        return value.strftime("%H:%M:%S")
    return value.strftime("%H:%M")


def parse_weekdays(values: Iterable[str | int], *, field: str = "weekdays") -> frozenset[int]:
    """Weekday numbers (Monday 0) from names such as ``"mon"`` or numbers 0-6.

    Example:
        >>> sorted(parse_weekdays(["sat", "Sunday"]))
        [5, 6]
    """
    days: set[int] = set()
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
            days.add(value)
        elif isinstance(value, str) and value.strip().lower()[:3] in WEEKDAYS:
            days.add(WEEKDAYS.index(value.strip().lower()[:3]))
        else:
            raise ValidationError(
                "must be a weekday name (mon..sun) or number 0-6 (Monday is 0)",
                entity="weekdays",
                field=field,
                value=value,
            )
    return frozenset(days)


@lru_cache(maxsize=1024)
def zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The :class:`zoneinfo.ZoneInfo` for an IANA name (UTC for None).

    Example:
        >>> zone("Europe/Paris").key
        'Europe/Paris'
    """
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "unknown IANA time zone", entity="time zone", field="timezone", value=name
        ) from None


def localize(day: date, at: time, tz: str | None) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``tz``.

    A wall time inside a spring-forward gap moves forward by the gap; an ambiguous one
    (autumn) is its first occurrence.

    Example:
        >>> localize(date(2024, 3, 10), time(2, 30), "America/New_York").isoformat()
        '2024-03-10T07:30:00+00:00'
        >>> localize(date(2024, 11, 3), time(1, 30), "America/New_York").isoformat()
        '2024-11-03T05:30:00+00:00'
    """
    tzinfo = zone(tz)
    local = datetime.combine(day, at, tzinfo=tzinfo).replace(fold=0)
    return local.astimezone(UTC)


def local_now(now: datetime, tz: str | None) -> datetime:
    """``now`` as wall time in ``tz``.

    Example:
        >>> local_now(datetime(2024, 7, 1, 12, tzinfo=UTC), "Europe/Paris").hour
        14
    """
    return now.astimezone(zone(tz))


def next_local_time(
    after: datetime,
    at: time,
    tz: str | None,
    *,
    weekdays: frozenset[int] | None = None,
    inclusive: bool = True,
) -> datetime:
    """The first instant at or after ``after`` whose wall time in ``tz`` is ``at``.

    With ``weekdays`` only those days (Monday 0) qualify. With ``inclusive=False`` the
    result is strictly after ``after``.

    Example:
        >>> start = datetime(2024, 5, 6, 10, tzinfo=UTC)  # a Monday, 12:00 in Paris
        >>> next_local_time(start, time(9), "Europe/Paris").isoformat()
        '2024-05-07T07:00:00+00:00'
        >>> next_local_time(start, time(9), "Europe/Paris", weekdays=frozenset({5})).isoformat()
        '2024-05-11T07:00:00+00:00'
    """
    local_day = local_now(after, tz).date()
    for offset in range(-1, 9):
        day = local_day + timedelta(days=offset)
        if weekdays is not None and day.weekday() not in weekdays:
            continue
        candidate = localize(day, at, tz)
        if candidate > after or (inclusive and candidate == after):
            return candidate
    raise AssertionError("unreachable: a week always contains the weekday")  # pragma: no cover


def in_window(instant: datetime, start: time, end: time, tz: str | None) -> bool:
    """True when the wall time of ``instant`` in ``tz`` lies in ``[start, end)``.

    A window whose end is not after its start wraps midnight (``21:00``-``08:00``).

    Example:
        >>> in_window(datetime(2024, 1, 1, 22, tzinfo=UTC), time(21), time(8), "UTC")
        True
    """
    wall = local_now(instant, tz).time().replace(tzinfo=None)
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def next_allowed(instant: datetime, quiet_start: time, quiet_end: time, tz: str | None) -> datetime:
    """``instant`` itself when outside the quiet window, else the window's local end.

    Example:
        >>> late = datetime(2024, 1, 1, 22, tzinfo=UTC)
        >>> next_allowed(late, time(21), time(8), "UTC").isoformat()
        '2024-01-02T08:00:00+00:00'
    """
    if not in_window(instant, quiet_start, quiet_end, tz):
        return instant
    end = next_local_time(instant, quiet_end, tz, inclusive=False)
    # a DST gap can put the computed end inside the window again; step past it
    while in_window(end, quiet_start, quiet_end, tz):  # pragma: no cover - defensive
        end = next_local_time(end + timedelta(minutes=1), quiet_end, tz, inclusive=False)
    return end


def next_anniversary(
    month: int,
    day: int,
    after: datetime,
    at: time,
    tz: str | None,
    *,
    days_before: int = 0,
    feb29: str = "feb28",
) -> datetime:
    """The next yearly occurrence of ``month``/``day`` at local time ``at``, strictly after ``after``.

    Occurrences are those of a :class:`dateutil.rrule.rrule` (``YEARLY``), computed
    directly (:func:`_yearly`; the tests compare it with the rule). For 29 February,
    ``feb29="feb28"`` celebrates on 28 February in common years, ``"mar1"`` on 1 March,
    and ``"skip"`` only in leap years. ``days_before`` moves the instant earlier.

    Example:
        >>> t = datetime(2025, 1, 1, tzinfo=UTC)
        >>> next_anniversary(2, 29, t, time(9), "UTC").date().isoformat()
        '2025-02-28'
        >>> next_anniversary(2, 29, t, time(9), "UTC", feb29="mar1").date().isoformat()
        '2025-03-01'
        >>> next_anniversary(2, 29, t, time(9), "UTC", feb29="skip").date().isoformat()
        '2028-02-29'
    """
    if feb29 not in ("feb28", "mar1", "skip"):
        raise ValidationError(
            "must be 'feb28', 'mar1' or 'skip'", entity="anniversary", field="feb29", value=feb29
        )
    start_local = local_now(after, tz).date() - timedelta(days=370)
    occurrences: Iterable[date] = _yearly(month, day, feb29, start_local.year)
    for occurrence in occurrences:
        instant = localize(occurrence - timedelta(days=days_before), at, tz)
        if instant > after:
            return instant
    raise AssertionError("unreachable: yearly rule is infinite")  # pragma: no cover


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _yearly(month: int, day: int, feb29: str, first_year: int) -> Iterator[date]:
    """The dates of ``month``/``day`` from ``first_year`` on, as ``dateutil.rrule`` gives them.

    The rules (``YEARLY`` from 1 January of ``first_year``): 29 February with ``"feb28"``
    is the last day of February (``bymonthday=-1``), with ``"mar1"`` the 60th day of the
    year (``byyearday=60``), with ``"skip"`` 29 February of leap years only; any other
    date every year. A day that exists in no year is left to :mod:`dateutil` itself.
    """
    try:
        date(2000, month, day)
    except ValueError:
        rule = rrule.rrule(
            rrule.YEARLY, dtstart=datetime(first_year, 1, 1), bymonth=month, bymonthday=day
        )
        yield from (occurrence.date() for occurrence in rule)
        return
    year = first_year
    if (month, day) != (2, 29):
        while True:
            yield date(year, month, day)
            year += 1
    while True:
        leap = _is_leap(year)
        if leap:
            yield date(year, 2, 29)
        elif feb29 == "feb28":
            yield date(year, 2, 28)
        elif feb29 == "mar1":
            yield date(year, 3, 1)
        year += 1


def require_aware(value: datetime, field: str) -> datetime:
    """``value`` in UTC; ValidationError for a naive datetime.

    Example:
        >>> require_aware(datetime(2024, 1, 1, tzinfo=UTC), "now").tzinfo is UTC
        True
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            "must be a timezone-aware datetime", entity="Engine", field=field, value=value
        )
    return value.astimezone(UTC)
