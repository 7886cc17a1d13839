"""Calendar arithmetic (months, years) for scalars and numpy arrays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
from dateutil.relativedelta import relativedelta
from numpy.typing import NDArray

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=512)
def add_months(value: dt.datetime, months: int) -> dt.datetime:
    """``value`` plus a number of calendar months, the day clipped to the month's end.

    Uses :class:`dateutil.relativedelta.relativedelta`, so 31 Jan + 1 month is 28/29 Feb.
    """
    return value + relativedelta(months=months)


def add_months_array(values: NDArray[np.datetime64], months: int) -> NDArray[np.datetime64]:
    """Vectorized :func:`add_months` over ``datetime64[us]`` values (NaT stays NaT)."""
    values = values.astype("datetime64[us]", copy=False)
    month_start = values.astype("datetime64[M]")
    day_start = values.astype("datetime64[D]")
    time_of_day = values - day_start.astype("datetime64[us]")
    day_index = day_start - month_start.astype("datetime64[D]")  # 0-based day of month
    target = month_start + np.timedelta64(months, "M")
    days_in_target = (target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype(
        "datetime64[D]"
    )
    clipped = np.minimum(day_index, days_in_target - np.timedelta64(1, "D"))
    out = (target.astype("datetime64[D]") + clipped).astype("datetime64[us]") + time_of_day
    result: NDArray[np.datetime64] = out
    return result


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
    return _EPOCH + dt.timedelta(microseconds=micros)


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
