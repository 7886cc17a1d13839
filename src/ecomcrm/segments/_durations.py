"""Calendar arithmetic (months, years) for scalars and numpy arrays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import numpy as np
from dateutil.relativedelta import relativedelta
from numpy.typing import NDArray

from ecomcrm.storage.toolkit import from_micros

UTC = dt.UTC

#: The longest duration a value can have: what ``timedelta64[us]`` holds (its smallest
#: value is NaT), about 292,000 years. Longer results of arithmetic are null.
MAX_DURATION_US = 2**63 - 1
MAX_DURATION = dt.timedelta(microseconds=MAX_DURATION_US)
#: Datetimes are those of Python (years 1 to 9999, in UTC), as microseconds since 1970.
DATETIME_MIN_US = -62_135_596_800_000_000
DATETIME_MAX_US = 253_402_300_799_999_999
_NAT = np.iinfo(np.int64).min
#: Months since 1970-01 of the first and the last month of the datetime range.
_MONTH_MIN = (1 - 1970) * 12
_MONTH_MAX = (9999 - 1970) * 12 + 11


@lru_cache(maxsize=512)
def add_months(value: dt.datetime, months: int) -> dt.datetime:
    """``value`` plus a number of calendar months, the day clipped to the month's end.

    Uses :class:`dateutil.relativedelta.relativedelta`, so 31 Jan + 1 month is 28/29 Feb.
    """
    return value + relativedelta(months=months)


def add_months_or_null(value: dt.datetime, months: int) -> dt.datetime | None:
    """:func:`add_months`, or ``None`` when the result is not in years 1 to 9999."""
    try:
        return add_months(value, months)
    except (ValueError, OverflowError):  # "year 10000 is out of range"
        return None


def add_months_array(values: NDArray[np.datetime64], months: int) -> NDArray[np.datetime64]:
    """Vectorized :func:`add_months_or_null` over ``datetime64[us]`` values.

    NaT stays NaT, and a result outside years 1 to 9999 is NaT (the scalar backend's
    null), never a wrapped-around value.
    """
    values = values.astype("datetime64[us]", copy=False)
    month_start = values.astype("datetime64[M]")
    target = month_start + np.timedelta64(months, "M")
    month = target.view(np.int64)
    invalid = ((month < _MONTH_MIN) & (month != _NAT)) | (month > _MONTH_MAX)
    if invalid.any():
        values = np.where(invalid, np.datetime64("NaT", "us"), values)
        month_start = values.astype("datetime64[M]")
        target = month_start + np.timedelta64(months, "M")
    day_start = values.astype("datetime64[D]")
    time_of_day = values - day_start.astype("datetime64[us]")
    day_index = day_start - month_start.astype("datetime64[D]")  # 0-based day of month
    days_in_target = (target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype(
        "datetime64[D]"
    )
    clipped = np.minimum(day_index, days_in_target - np.timedelta64(1, "D"))
    out = (target.astype("datetime64[D]") + clipped).astype("datetime64[us]") + time_of_day
    result: NDArray[np.datetime64] = out
    return result


def checked_add_array(a: object, b: object, *, subtract: bool, kind: str) -> NDArray[Any]:
    """``a + b`` (or ``a - b``) of ``datetime64`` / ``timedelta64`` values, in microseconds.

    The result has ``kind`` ``"M"`` (datetime) or ``"m"`` (duration). Where numpy would
    wrap around (int64 overflow) or the result leaves the range of its kind (years 1 to
    9999; :data:`MAX_DURATION`), the result is NaT, as the scalar backend gives null.
    """
    ai, bi = _micros(a), _micros(b)
    with np.errstate(over="ignore"):
        r = np.subtract(ai, bi) if subtract else np.add(ai, bi)
    # two's complement overflow: the result's sign differs from what the operands allow
    wrapped = (((ai ^ bi) & (ai ^ r)) if subtract else ((ai ^ r) & (bi ^ r))) < 0
    lo, hi = (
        (DATETIME_MIN_US, DATETIME_MAX_US) if kind == "M" else (-MAX_DURATION_US, MAX_DURATION_US)
    )
    bad = wrapped | (r < lo) | (r > hi) | (ai == _NAT) | (bi == _NAT)
    out = np.where(bad, _NAT, r)
    result: NDArray[Any] = out.view("datetime64[us]" if kind == "M" else "timedelta64[us]")
    return result


def _micros(value: object) -> NDArray[np.int64]:
    """A ``datetime64`` / ``timedelta64`` value or array as int64 microseconds (NaT: int64 min)."""
    arr = np.asarray(value)
    unit = "datetime64[us]" if arr.dtype.kind == "M" else "timedelta64[us]"
    micros: NDArray[np.int64] = arr.astype(unit, copy=False).view(np.int64)
    return micros


def to_datetime64(value: dt.datetime | None) -> np.datetime64:
    """An aware datetime as ``datetime64[us]`` in UTC (``None`` becomes NaT)."""
    if value is None:
        return np.datetime64("NaT", "us")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return np.datetime64(value.astimezone(UTC).replace(tzinfo=None), "us")


def from_datetime64(value: np.datetime64) -> dt.datetime | None:
    """A ``datetime64`` as an aware UTC datetime (NaT becomes ``None``)."""
    if np.isnat(value):
        return None
    micros = int(value.astype("datetime64[us]").astype(np.int64))
    return from_micros(micros)


def to_timedelta64(value: dt.timedelta | None) -> np.timedelta64:
    """A timedelta as ``timedelta64[us]`` (``None`` becomes NaT)."""
    if value is None:
        return np.timedelta64("NaT", "us")
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    return np.timedelta64(micros, "us")


def from_timedelta64(value: np.timedelta64) -> dt.timedelta | None:
    """A ``timedelta64`` as a timedelta (NaT becomes ``None``)."""
    if np.isnat(value):
        return None
    return dt.timedelta(microseconds=int(value.astype("timedelta64[us]").astype(np.int64)))
