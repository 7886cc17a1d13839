"""Attribution and conversion windows: orders to the messages before them, goals after entries.

Three vectorized as-of joins (arrays in, arrays out; see ``metrics._asof`` for how):

- :func:`last_touch`: each order to the latest touch (a message send, open or click) of
  the same customer strictly before it whose own window still covers it;
- :func:`first_conversion`: each entry (an enrolment) to the first goal of the same
  customer strictly after it and within the window;
- :func:`window_totals`: per entry, the sum of amounts of the same customer strictly
  after it and within the window (revenue per recipient, holdout or not).

Customers may be any ids (integer codes are the fast path); instants are datetime64
(any unit), ISO strings or datetimes, as elsewhere in :mod:`ecomcrm.metrics`. A missing
id or instant raises ValidationError naming the argument and row.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.metrics._asof import AsofIndex
from ecomcrm.metrics._validate import (
    as_1d,
    as_amounts,
    as_ids,
    as_timestamps,
    check_same_length,
    encode_ids,
    first_true,
    missing_mask,
)

_US = np.timedelta64(1, "us")


def _codes(
    entity: str, left: ArrayLike, right: ArrayLike, names: tuple[str, str]
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """One integer code space for two id arrays."""
    a = as_ids(left, entity=entity, field=names[0])
    b = as_ids(right, entity=entity, field=names[1])
    for name, arr in zip(names, (a, b), strict=True):
        mask = missing_mask(arr)
        if mask is not None and mask.any():
            row = first_true(mask)
            raise ValidationError("is missing", entity=entity, field=name, value=None, row=row)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        joined = np.concatenate([a.astype(np.int64, copy=False), b.astype(np.int64, copy=False)])
    else:
        joined = np.concatenate([a.astype(object), b.astype(object)])
    codes, uniques = encode_ids(joined)
    return codes[: len(a)], codes[len(a) :], len(uniques)


def _window_us(value: Any, n: int, *, entity: str) -> NDArray[np.int64]:
    """A window (scalar or one per row) as int64 microseconds, checked non-negative."""
    if isinstance(value, _dt.timedelta):
        arr = np.full(n, value // _dt.timedelta(microseconds=1), dtype=np.int64)
    else:
        raw = np.asarray(value)
        if raw.dtype.kind != "m":
            raise ValidationError(
                "must be a timedelta or timedelta64 values",
                entity=entity, field="window", value=str(raw.dtype),
            )  # fmt: skip
        if raw.ndim == 0:
            raw = np.full(n, raw)
        raw = as_1d(raw, entity=entity, field="window")
        if len(raw) != n:
            raise ValidationError(
                f"has {len(raw)} rows but needs one per touch ({n}) or a single value",
                entity=entity, field="window", value=len(raw),
            )  # fmt: skip
        nat = np.isnat(raw)
        if nat.any():
            row = first_true(nat)
            raise ValidationError("is missing (NaT)", entity=entity, field="window", row=row)
        arr = raw.astype("m8[us]", copy=False).view(np.int64)
    if len(arr) and int(arr.min()) < 0:
        row = first_true(arr < 0)
        raise ValidationError(
            "must not be negative", entity=entity, field="window", value=int(arr[row]), row=row
        )
    return arr


def last_touch(
    order_customer: ArrayLike,
    order_time: ArrayLike,
    touch_customer: ArrayLike,
    touch_time: ArrayLike,
    *,
    window: Any,
) -> NDArray[np.int64]:
    """Credit each order to the last touch of its customer whose window covers it.

    A touch ``j`` covers order ``i`` when both are the same customer's and
    ``touch_time[j] < order_time[i] <= touch_time[j] + window[j]`` (strictly before: a
    message reported at the order's very instant did not cause it). Of the touches that
    cover an order, the latest wins; of touches at the same instant, the later row. So
    a short window never hides a longer one: an email opened on day 0 (5-day window)
    still gets an order of day 3 after an SMS clicked on day 1 (1-day window). Each
    order is credited at most once, whatever the number of flows behind the touches.

    Args:
        order_customer: Row-aligned: who ordered and when.
        order_time: As ``order_customer`` (row-aligned with it).
        touch_customer: Row-aligned: who was touched and when (the instant the configured outcome happened: sent, delivered, opened or clicked).
        touch_time: As ``touch_customer`` (row-aligned with it).
        window: A ``timedelta`` (or ``timedelta64``) for every touch, or an array of ``timedelta64``, one per touch (for per-channel windows). Touches are grouped by window length: one pass each.

    Returns:
        int64, one per order: the row of the credited touch, or -1.

    Raises:
        ValidationError: Arrays of different lengths, a missing id or instant, a negative window.

    Example:
        >>> import numpy as np
        >>> t = lambda *d: np.array(d, dtype="datetime64[D]")
        >>> last_touch(["a", "a", "b"], t("2024-01-04", "2024-01-09", "2024-01-02"),
        ...            ["a", "a", "b"], t("2024-01-01", "2024-01-02", "2024-01-02"),
        ...            window=np.array([5, 1, 5], dtype="timedelta64[D]")).tolist()
        [0, -1, -1]
    """
    entity = "last_touch"
    o_time = as_timestamps(order_time, entity=entity, field="order_time")
    t_time = as_timestamps(touch_time, entity=entity, field="touch_time")
    o_code, t_code, n_keys = _codes(
        entity, order_customer, touch_customer, ("order_customer", "touch_customer")
    )
    check_same_length(entity, {"order_customer": o_code, "order_time": o_time})
    check_same_length(entity, {"touch_customer": t_code, "touch_time": t_time})
    win = _window_us(window, len(t_code), entity=entity)
    if len(o_code) == 0 or len(t_code) == 0:
        return np.full(len(o_code), -1, dtype=np.int64)
    index = AsofIndex(t_code, t_time, n_keys)
    query = index.query(o_code, o_time, direction="backward", inclusive=False)
    best = np.full(len(o_code), -1, dtype=np.int64)
    win_sorted = win[index.rows]
    for length, among in _window_groups(win_sorted):
        pos = query.positions(among)
        found = pos >= 0
        found &= query.times - index.times[np.maximum(pos, 0)] <= length
        np.maximum(best, np.where(found, pos, -1), out=best)
    credited = np.where(best >= 0, index.rows[np.maximum(best, 0)], -1)
    return query.scatter(credited, -1)


#: Beyond this many distinct window lengths, groups come from one sort (``np.unique``).
_FEW_WINDOWS = 16


def _window_groups(
    win: NDArray[np.int64],
) -> list[tuple[int, NDArray[np.bool_] | None]]:
    """The distinct window lengths with the mask of their touches (None: every touch).

    A few lengths (one per channel) are found by masking, cheaper than sorting all
    touches' windows; many fall back to ``np.unique``.
    """
    if len(win) == 0:
        return []
    first = int(win[0])
    same = win == first
    if same.all():
        return [(first, None)]
    groups: list[tuple[int, NDArray[np.bool_] | None]] = [(first, same)]
    left = ~same
    while left.any():
        if len(groups) >= _FEW_WINDOWS:
            for length in np.unique(win[left]).tolist():
                groups.append((int(length), left & (win == length)))
            break
        length = int(win[int(np.argmax(left))])
        mask = win == length
        groups.append((length, mask))
        left &= ~mask
    return groups


def first_conversion(
    start_customer: ArrayLike,
    start_time: ArrayLike,
    goal_customer: ArrayLike,
    goal_time: ArrayLike,
    *,
    window: Any,
) -> NDArray[np.int64]:
    """The first goal of each entry's customer after it and within ``window``.

    Goal ``j`` converts entry ``i`` when both are the same customer's and
    ``start_time[i] < goal_time[j] <= start_time[i] + window``; of several, the first
    (the earlier row at the same instant). An entry converts at most once; a goal may
    convert several entries of its customer (say two flows they were in).

    Args:
        start_customer: Row-aligned: who entered and when.
        start_time: As ``start_customer`` (row-aligned with it).
        goal_customer: Row-aligned: the goal occurrences (orders or events).
        goal_time: As ``goal_customer`` (row-aligned with it).
        window: A ``timedelta`` or ``timedelta64``: how long after entering a goal counts.

    Returns:
        int64, one per entry: the row of the converting goal, or -1.

    Example:
        >>> import numpy as np
        >>> t = lambda *d: np.array(d, dtype="datetime64[D]")
        >>> first_conversion([1, 1, 2], t("2024-01-01", "2024-01-10", "2024-01-01"),
        ...                  [1, 1, 2], t("2024-01-01", "2024-01-05", "2024-01-09"),
        ...                  window=np.timedelta64(7, "D")).tolist()
        [1, -1, -1]
    """
    entity = "first_conversion"
    s_time = as_timestamps(start_time, entity=entity, field="start_time")
    g_time = as_timestamps(goal_time, entity=entity, field="goal_time")
    s_code, g_code, n_keys = _codes(
        entity, start_customer, goal_customer, ("start_customer", "goal_customer")
    )
    check_same_length(entity, {"start_customer": s_code, "start_time": s_time})
    check_same_length(entity, {"goal_customer": g_code, "goal_time": g_time})
    length = int(_window_us(window, 1, entity=entity)[0])
    if len(s_code) == 0 or len(g_code) == 0:
        return np.full(len(s_code), -1, dtype=np.int64)
    index = AsofIndex(g_code, g_time, n_keys)
    query = index.query(s_code, s_time, direction="forward", inclusive=False)
    pos = query.positions()
    found = pos >= 0
    safe = np.maximum(pos, 0)
    found &= index.times[safe] - query.times <= length
    return query.scatter(np.where(found, index.rows[safe], -1), -1)


def window_totals(
    start_customer: ArrayLike,
    start_time: ArrayLike,
    customer: ArrayLike,
    time: ArrayLike,
    amount: ArrayLike,
    *,
    window: Any,
) -> NDArray[np.float64]:
    """Per entry, the sum of its customer's amounts after it and within ``window``.

    Row ``j`` counts for entry ``i`` when both are the same customer's and
    ``start_time[i] < time[j] <= start_time[i] + window`` (as :func:`first_conversion`).

    Args:
        start_customer: Row-aligned: who entered and when.
        start_time: As ``start_customer`` (row-aligned with it).
        customer: Row-aligned: the amounts (order revenue, say) and when they happened.
        time: As ``customer`` (row-aligned with it).
        amount: As ``customer`` (row-aligned with it).
        window: A ``timedelta`` or ``timedelta64``.

    Returns:
        float64, one per entry (0.0 when nothing falls in its window).

    Example:
        >>> import numpy as np
        >>> t = lambda *d: np.array(d, dtype="datetime64[D]")
        >>> window_totals(["a", "b"], t("2024-01-01", "2024-01-01"),
        ...               ["a", "a", "a", "b"], t("2024-01-01", "2024-01-03", "2024-01-08", "2024-01-20"),
        ...               [5.0, 10.0, 20.0, 7.0], window=np.timedelta64(7, "D")).tolist()
        [30.0, 0.0]
    """
    entity = "window_totals"
    s_time = as_timestamps(start_time, entity=entity, field="start_time")
    r_time = as_timestamps(time, entity=entity, field="time")
    values = as_amounts(amount, entity=entity)
    nan = np.isnan(values)
    if nan.any():
        raise ValidationError(
            "is missing (NaN)", entity=entity, field="amount", value=None, row=first_true(nan)
        )
    s_code, r_code, n_keys = _codes(
        entity, start_customer, customer, ("start_customer", "customer")
    )
    check_same_length(entity, {"start_customer": s_code, "start_time": s_time})
    check_same_length(entity, {"customer": r_code, "time": r_time, "amount": values})
    length = int(_window_us(window, 1, entity=entity)[0])
    if len(s_code) == 0 or len(r_code) == 0:
        return np.zeros(len(s_code), dtype=np.float64)
    index = AsofIndex(r_code, r_time, n_keys)
    # both queries order the entries alike (shifting every instant by the window keeps
    # their time order), so their results line up row for row
    after = index.query(s_code, s_time, direction="forward", inclusive=False)
    until = index.query(s_code, s_time + np.int64(length), direction="backward", inclusive=True)
    first = after.positions()
    last = until.positions()
    running = np.concatenate([[0.0], np.cumsum(values[index.rows])])
    ok = (first >= 0) & (last >= first)
    sums = np.zeros(len(first), dtype=np.float64)
    sums[ok] = running[last[ok] + 1] - running[first[ok]]
    return after.scatter(sums, 0.0)
