"""Deliberately naive pure-Python reference implementations (loops, datetime, dicts).

They follow the documented rules directly, one row at a time, so the vectorized code can be
checked against them on random data.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

UNIT_S = {"h": 3600, "D": 86400, "W": 7 * 86400, "M": 2629746}


def to_datetime(x: np.datetime64) -> dt.datetime:
    value = x.astype("M8[us]").item()
    assert isinstance(value, dt.datetime)
    return value


def local(t: dt.datetime, tz: str | None) -> dt.datetime:
    if tz is None:
        return t
    return t.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def period_start(t: dt.datetime, freq: str) -> dt.datetime:
    if freq == "h":
        return t.replace(minute=0, second=0, microsecond=0)
    d = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if freq == "D":
        return d
    if freq == "W":
        return d - dt.timedelta(days=d.weekday())
    if freq == "M":
        return d.replace(day=1)
    if freq == "Q":
        return d.replace(month=3 * ((d.month - 1) // 3) + 1, day=1)
    return d.replace(month=1, day=1)


def summary(
    ids: list[Any],
    times: list[dt.datetime],
    amounts: list[float],
    obs_end: dt.datetime,
    freq: str,
    fm: float = 1.0,
    include_first: bool = False,
    tz: str | None = None,
) -> dict[Any, dict[str, float]]:
    obs_p = period_start(local(obs_end, tz), freq)
    spend: dict[Any, dict[dt.datetime, float]] = defaultdict(lambda: defaultdict(float))
    orders: dict[Any, int] = defaultdict(int)
    total: dict[Any, float] = defaultdict(float)
    firsts: dict[Any, dt.datetime] = {}
    lasts: dict[Any, dt.datetime] = {}
    for cid, t, a in zip(ids, times, amounts, strict=True):
        p = period_start(local(t, tz), freq)
        if p > obs_p:
            continue
        total[cid] += a
        if a < 0:
            continue
        spend[cid][p] += a
        orders[cid] += 1
        firsts[cid] = min(firsts.get(cid, t), t)
        lasts[cid] = max(lasts.get(cid, t), t)
    out = {}
    for cid, by_period in spend.items():
        periods = sorted(by_period)
        first, last = periods[0], periods[-1]
        repeat = [by_period[p] for p in periods[1:]]
        if include_first:
            frequency = len(periods)
            monetary = sum(by_period[p] for p in periods) / len(periods)
        else:
            frequency = len(periods) - 1
            monetary = sum(repeat) / len(repeat) if repeat else 0.0
        out[cid] = {
            "frequency": float(frequency),
            "recency": (last - first).total_seconds() / UNIT_S[freq] / fm,
            "T": (obs_p - first).total_seconds() / UNIT_S[freq] / fm,
            "monetary_value": monetary,
            "n_orders": orders[cid],
            "total_spent": total[cid],
            "first_purchase": firsts[cid],
            "last_purchase": lasts[cid],
        }
    return out


def holdout(
    ids: list[Any],
    times: list[dt.datetime],
    amounts: list[float],
    cal_end: dt.datetime,
    obs_end: dt.datetime,
    freq: str,
) -> tuple[dict[Any, dict[str, float]], float]:
    cal = [(i, t, a) for i, t, a in zip(ids, times, amounts, strict=True) if t <= cal_end]
    base = summary([c[0] for c in cal], [c[1] for c in cal], [c[2] for c in cal], cal_end, freq)
    periods: dict[Any, set[dt.datetime]] = defaultdict(set)
    values: dict[Any, list[float]] = defaultdict(list)
    for cid, t, a in zip(ids, times, amounts, strict=True):
        if cal_end < t <= obs_end and a >= 0:
            periods[cid].add(period_start(t, freq))
            values[cid].append(a)
    out = {}
    for cid, row in base.items():
        out[cid] = {
            "frequency_cal": row["frequency"],
            "recency_cal": row["recency"],
            "T_cal": row["T"],
            "monetary_value_cal": row["monetary_value"],
            "frequency_holdout": float(len(periods[cid])),
            "monetary_value_holdout": sum(values[cid]) / len(values[cid]) if values[cid] else 0.0,
        }
    a, b = period_start(cal_end, freq), period_start(obs_end, freq)
    if freq == "M":
        duration = (b.year - a.year) * 12 + b.month - a.month
    else:
        duration = round((b - a).total_seconds() / UNIT_S[freq])
    return out, float(duration)
