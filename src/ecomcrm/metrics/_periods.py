"""Calendar periods on int64 microsecond timestamps, optionally in an IANA time zone.

Periods are numbered from the Unix epoch in local wall-clock time:

* ``"h"`` hours, ``"D"`` days;
* ``"W"`` weeks starting on Monday (pandas' ``W``/``W-SUN`` periods, as lifetimes uses);
* ``"M"`` calendar months, ``"Q"`` quarters, ``"Y"`` years.

Everything is vectorized; months come from a day -> month lookup table built over the
range of days present, so no per-row calendar arithmetic is needed.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import ValidationError

Freq = Literal["h", "D", "W", "M", "Q", "Y"]

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 86_400_000_000

#: Length of one period in microseconds for scaling recency and T, as lifetimes does with
#: ``np.timedelta64(1, freq)`` (a month is 30.436875 days, the mean Gregorian month).
UNIT_US: dict[str, int] = {
    "h": US_PER_HOUR,
    "D": US_PER_DAY,
    "W": 7 * US_PER_DAY,
    "M": 2_629_746_000_000,
}


def check_freq(freq: Any, allowed: tuple[str, ...], *, entity: str) -> str:
    """Validate a period code."""
    if freq not in allowed:
        raise ValidationError(
            f"must be one of {', '.join(repr(f) for f in allowed)}",
            entity=entity,
            field="freq",
            value=freq,
        )
    return str(freq)


def _floor_div(a: NDArray[np.int64], b: int) -> NDArray[np.int64]:
    return np.floor_divide(a, b)


def civil_from_days(days: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Proleptic Gregorian (year, month) of days since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719468
    era = _floor_div(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month


def days_from_civil(year: NDArray[np.int64], month: NDArray[np.int64]) -> NDArray[np.int64]:
    """Days since 1970-01-01 of the first day of (year, month)."""
    y = year - (month <= 2)
    era = _floor_div(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)


def _month_index_of_days(days: NDArray[np.int64]) -> NDArray[np.int64]:
    year, month = civil_from_days(days)
    return (year - 1970) * 12 + (month - 1)


def period_index(local_us: NDArray[np.int64], freq: str) -> NDArray[np.int64]:
    """Period number of each local timestamp (int64 microseconds)."""
    if freq == "h":
        return _floor_div(local_us, US_PER_HOUR)
    days = _floor_div(local_us, US_PER_DAY)
    if freq == "D":
        return days
    if freq == "W":
        days += 3  # 1970-01-01 was a Thursday; weeks start on Monday
        return _floor_div(days, 7)
    if len(days) == 0:
        return days
    lo = int(days.min())
    hi = int(days.max())
    if hi - lo <= 4 * len(days) + 1024:
        table = _month_index_of_days(np.arange(lo, hi + 1, dtype=np.int64))
        days -= lo
        months = table[days]
    else:  # sparse: compute directly
        months = _month_index_of_days(days)
    if freq == "M":
        return months
    if freq == "Q":
        return _floor_div(months, 3)
    return _floor_div(months, 12)  # "Y"


def period_index_scalar(local_us: int, freq: str) -> int:
    """Period number of one local timestamp."""
    return int(period_index(np.array([local_us], dtype=np.int64), freq)[0])


def period_start(index: NDArray[np.int64], freq: str) -> NDArray[np.int64]:
    """Local start (int64 microseconds) of each period number."""
    index = np.asarray(index, dtype=np.int64)
    if freq == "h":
        return index * US_PER_HOUR
    if freq == "D":
        return index * US_PER_DAY
    if freq == "W":
        return (index * 7 - 3) * US_PER_DAY
    months = index if freq == "M" else index * (3 if freq == "Q" else 12)
    year = 1970 + _floor_div(months, 12)
    month = months - (year - 1970) * 12 + 1
    return days_from_civil(year, month) * US_PER_DAY


def zone(tz: str | None, *, entity: str) -> zoneinfo.ZoneInfo | None:
    """Resolve an IANA time zone name."""
    if tz is None:
        return None
    try:
        return zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            "is not a known IANA time zone", entity=entity, field="tz", value=tz
        ) from exc


def _offset_s(z: zoneinfo.ZoneInfo, t_s: int) -> int:
    when = _dt.datetime.fromtimestamp(t_s, _dt.UTC).astimezone(z)
    off = when.utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def utc_offsets(
    z: zoneinfo.ZoneInfo, lo_us: int, hi_us: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """UTC offset changes of ``z`` between two instants.

    Returns ``(starts, offsets)``: from ``starts[i]`` (UTC microseconds) on, local time is
    UTC plus ``offsets[i]`` microseconds. Samples the zone once a day and bisects each
    change to the second (a loop over days, never over rows).
    """
    day = 86_400
    lo_s = (lo_us // 1_000_000) // day * day - day
    hi_s = (hi_us // 1_000_000) // day * day + 2 * day
    samples = list(range(lo_s, hi_s + 1, day))
    offs = [_offset_s(z, s) for s in samples]
    starts = [int(np.iinfo(np.int64).min)]
    values = [offs[0]]
    for i in range(1, len(samples)):
        if offs[i] == offs[i - 1]:
            continue
        a, b = samples[i - 1], samples[i]  # offset(a) != offset(b): find the first second
        while b - a > 1:
            mid = (a + b) // 2
            if _offset_s(z, mid) == offs[i - 1]:
                a = mid
            else:
                b = mid
        starts.append(b * 1_000_000)
        values.append(offs[i])
    return np.array(starts, dtype=np.int64), np.array(values, dtype=np.int64) * 1_000_000


def to_local(ts_us: NDArray[np.int64], z: zoneinfo.ZoneInfo | None) -> NDArray[np.int64]:
    """Wall-clock time in ``z`` of UTC timestamps (``ts_us`` itself when ``z`` is None)."""
    if z is None or len(ts_us) == 0:
        return ts_us
    starts, offsets = utc_offsets(z, int(ts_us.min()), int(ts_us.max()))
    if len(offsets) == 1:
        return np.asarray(ts_us + offsets[0], dtype=np.int64)
    idx = np.searchsorted(starts, ts_us, side="right")
    idx -= 1
    return np.asarray(ts_us + offsets[idx], dtype=np.int64)


def to_local_scalar(t_us: int, z: zoneinfo.ZoneInfo | None) -> int:
    """Wall-clock time in ``z`` of one UTC timestamp."""
    return int(to_local(np.array([t_us], dtype=np.int64), z)[0])


def labels(start_us: NDArray[np.int64]) -> NDArray[np.datetime64]:
    """Period starts as ``datetime64[us]`` wall-clock labels."""
    return np.asarray(start_us, dtype=np.int64).view("M8[us]")
