from __future__ import annotations

from typing import Any, Literal

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

import ecomcrm.metrics._periods as _periods
from ecomcrm.errors import ValidationError
from ecomcrm.metrics._groups import distinct_count, wsum
from ecomcrm.metrics._nan_policy import NanPolicy, nan_policy
from ecomcrm.metrics._validate import (
    as_amounts,
    as_ids,
    as_timestamp_scalar,
    as_timestamps,
    check_choice,
    encode_ids,
    first_true,
)

SummaryFreq = Literal["h", "D", "W", "M"]
AfterEnd = Literal["raise", "drop"]
Refunds = Literal["net", "raise"]

_SUMMARY_FREQS = ("h", "D", "W", "M")
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min


def _as_array_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in attrs.fields(type(obj))}


@attrs.frozen(eq=False)
class CustomerSummary:
    """Per-customer RFM/BTYD sufficient statistics, one entry per customer.

    All arrays have one entry per customer, sorted by ``customer_id``. ``frequency``,
    ``recency``, ``T`` and ``monetary_value`` follow lifetimes'
    ``summary_data_from_transaction_data`` exactly; the other arrays are extras.

    Attributes:
        customer_id: The distinct customer ids, ascending.
        frequency: Number of repeat purchase periods (distinct periods with a purchase, minus
            one for the first).
        recency: Periods from the first to the last purchase period.
        T: Periods from the first purchase period to the period of ``observation_end``.
        monetary_value: Mean spend per repeat purchase period (0 without repeats).
        first_purchase: Timestamp (``datetime64[us]``, UTC) of the first purchase.
        last_purchase: Timestamp of the last purchase.
        n_orders: Number of purchase rows (refund rows excluded).
        total_spent: Sum of all amounts, net of refunds.
        observation_end: The observation end that was passed (UTC).
        freq: The period code.
        freq_multiplier: The divisor applied to ``recency`` and ``T``.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import customer_summary
        >>> s = customer_summary([1, 1], np.array(["2024-01-01", "2024-01-11"], "M8[us]"),
        ...                      [10.0, 30.0], observation_end=np.datetime64("2024-01-31"))
        >>> len(s), s.frequency.tolist(), s.recency.tolist(), s.T.tolist()
        (1, [1.0], [10.0], [30.0])
    """

    customer_id: NDArray[Any]
    frequency: NDArray[np.float64]
    recency: NDArray[np.float64]
    T: NDArray[np.float64]
    monetary_value: NDArray[np.float64]
    first_purchase: NDArray[np.datetime64]
    last_purchase: NDArray[np.datetime64]
    n_orders: NDArray[np.int64]
    total_spent: NDArray[np.float64]
    observation_end: np.datetime64
    freq: str
    freq_multiplier: float

    def __len__(self) -> int:
        """Number of customers."""
        return len(self.customer_id)

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """The per-customer arrays by name (ready for ``pandas.DataFrame``).

        Example:
            >>> import numpy as np
            >>> from ecomcrm.metrics import customer_summary
            >>> s = customer_summary([7], np.array(["2024-01-01"], "M8[us]"), [5.0],
            ...                      observation_end=np.datetime64("2024-01-03"))
            >>> sorted(s.to_dict())[:3]
            ['T', 'customer_id', 'first_purchase']
        """
        return {k: v for k, v in _as_array_dict(self).items() if isinstance(v, np.ndarray)}


@attrs.frozen(eq=False)
class CalibrationHoldout:
    """Per-customer statistics over a calibration period and the holdout period after it.

    Same columns and numbers as lifetimes' ``calibration_and_holdout_data``; one entry per
    customer with a purchase in the calibration period, sorted by ``customer_id``.

    Attributes:
        customer_id: The customers, ascending.
        frequency_cal: Repeat purchase periods in the calibration period.
        recency_cal: First to last purchase period in the calibration period.
        T_cal: First purchase period to the period of ``calibration_end``.
        monetary_value_cal: Mean spend per repeat period in the calibration period.
        frequency_holdout: Distinct purchase periods in the holdout period.
        monetary_value_holdout: Mean amount of the holdout purchase *rows* (as lifetimes),
            0 when there are none.
        duration_holdout: Periods from ``calibration_end`` to ``observation_end``
            (calendar periods, divided by ``freq_multiplier``).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import calibration_and_holdout
        >>> ts = np.array(["2024-01-01", "2024-01-05", "2024-02-03"], "M8[us]")
        >>> ch = calibration_and_holdout([1, 1, 1], ts, [1.0, 2.0, 3.0],
        ...     calibration_end=np.datetime64("2024-01-31"),
        ...     observation_end=np.datetime64("2024-02-29"))
        >>> ch.frequency_cal.tolist(), ch.frequency_holdout.tolist(), ch.duration_holdout
        ([1.0], [1.0], 29.0)
    """

    customer_id: NDArray[Any]
    frequency_cal: NDArray[np.float64]
    recency_cal: NDArray[np.float64]
    T_cal: NDArray[np.float64]
    monetary_value_cal: NDArray[np.float64]
    frequency_holdout: NDArray[np.float64]
    monetary_value_holdout: NDArray[np.float64]
    duration_holdout: float

    def __len__(self) -> int:
        """Number of customers."""
        return len(self.customer_id)

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """The per-customer arrays by name (``duration_holdout`` broadcast to an array).

        Example:
            >>> import numpy as np
            >>> from ecomcrm.metrics import calibration_and_holdout
            >>> ch = calibration_and_holdout([1], np.array(["2024-01-01"], "M8[us]"), [1.0],
            ...     calibration_end=np.datetime64("2024-01-02"),
            ...     observation_end=np.datetime64("2024-01-05"))
            >>> ch.to_dict()["duration_holdout"].tolist()
            [3.0]
        """
        out = {k: v for k, v in _as_array_dict(self).items() if isinstance(v, np.ndarray)}
        out["duration_holdout"] = np.full(len(self), self.duration_holdout)
        return out


@attrs.frozen
class _PerCode:
    """Per-code statistics (length = number of codes) plus the codes present."""

    present: NDArray[np.int64]
    periods: NDArray[np.int64]
    minp: NDArray[np.int64]
    maxp: NDArray[np.int64]
    first_ts: NDArray[np.int64]
    last_ts: NDArray[np.int64]
    n_orders: NDArray[np.int64]
    total: NDArray[np.float64]
    repeat: NDArray[np.float64]


def _per_code(
    codes: NDArray[np.int64],
    n_codes: int,
    ts: NDArray[np.int64],
    periods: NDArray[np.int64],
    amount: NDArray[np.float64] | None,
) -> _PerCode:
    """The vectorized kernel: no sort except one of a combined int64 (code, period) key."""
    n_orders = np.bincount(codes, minlength=n_codes).astype(np.int64, copy=False)
    present = np.flatnonzero(n_orders)
    minp = np.full(n_codes, _I64_MAX, dtype=np.int64)
    np.minimum.at(minp, codes, periods)
    maxp = np.full(n_codes, _I64_MIN, dtype=np.int64)
    np.maximum.at(maxp, codes, periods)
    first_ts = np.full(n_codes, _I64_MAX, dtype=np.int64)
    np.minimum.at(first_ts, codes, ts)
    last_ts = np.full(n_codes, _I64_MIN, dtype=np.int64)
    np.maximum.at(last_ts, codes, ts)
    n_periods = distinct_count(codes, periods, n_codes, n_orders)
    if amount is None:
        total = np.zeros(n_codes)
        repeat = np.zeros(n_codes)
    else:
        total = wsum(codes, amount, n_codes)
        in_first = minp[codes] == periods
        repeat_amounts = np.where(in_first, 0.0, amount)
        del in_first
        repeat = wsum(codes, repeat_amounts, n_codes)
    return _PerCode(present, n_periods, minp, maxp, first_ts, last_ts, n_orders, total, repeat)


def _select(arr: NDArray[Any], present: NDArray[np.int64], n_codes: int) -> NDArray[Any]:
    return arr if len(present) == n_codes else arr[present]


def _scaled(diff_us: NDArray[np.int64], freq: str, freq_multiplier: float) -> NDArray[np.float64]:
    out = diff_us / float(_periods.UNIT_US[freq])
    if freq_multiplier != 1:
        out /= freq_multiplier
    return out


def _check_options(
    entity: str, freq: Any, freq_multiplier: Any, after_end: Any, refunds: Any
) -> float:
    _periods.check_freq(freq, _SUMMARY_FREQS, entity=entity)
    check_choice(after_end, ("raise", "drop"), entity=entity, field="after_end")
    check_choice(refunds, ("net", "raise"), entity=entity, field="refunds")
    try:
        fm = float(freq_multiplier)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            "must be a positive number",
            entity=entity,
            field="freq_multiplier",
            value=freq_multiplier,
        ) from exc
    if not fm > 0 or not np.isfinite(fm):
        raise ValidationError(
            "must be a positive number",
            entity=entity,
            field="freq_multiplier",
            value=freq_multiplier,
        )
    return fm


def _refund_mask(
    entity: str, amount: NDArray[np.float64] | None, refunds: str
) -> NDArray[np.bool_] | None:
    if amount is None or len(amount) == 0 or float(amount.min()) >= 0:
        return None
    neg = amount < 0
    if refunds == "raise":
        row = first_true(neg)
        raise ValidationError(
            "is negative (a refund); pass refunds='net' to net refunds",
            entity=entity,
            field="amount",
            value=float(amount[row]),
            row=row,
        )
    return neg


def _late_rows(
    entity: str, late: NDArray[np.bool_], ts: NDArray[np.int64], after_end: str, what: str
) -> NDArray[np.bool_] | None:
    if not late.any():
        return None
    if after_end == "raise":
        row = first_true(late)
        raise ValidationError(
            f"is after {what}; pass after_end='drop' to ignore such rows",
            entity=entity,
            field="timestamp",
            value=str(ts[row : row + 1].view("M8[us]")[0]),
            row=row,
        )
    return late


@nan_policy("customer_id", "timestamp", "amount")
def customer_summary(
    customer_id: ArrayLike,
    timestamp: ArrayLike,
    amount: ArrayLike | None = None,
    *,
    observation_end: Any,
    freq: SummaryFreq = "D",
    freq_multiplier: float = 1.0,
    include_first_transaction: bool = False,
    tz: str | None = None,
    after_end: AfterEnd = "raise",
    refunds: Refunds = "net",
    nan_policy: NanPolicy = "raise",
) -> CustomerSummary:
    """Per-customer frequency, recency, T and monetary value from a transaction log.

    The same conventions and numbers as lifetimes' ``summary_data_from_transaction_data``:
    each timestamp is mapped to its period (``freq``), several purchases of a customer in
    one period count once (their amounts are added), and ``observation_end`` is floored to
    the start of its period.

    * ``frequency`` = distinct purchase periods - 1 (or without the ``- 1`` when
      ``include_first_transaction``);
    * ``recency`` = (start of last purchase period - start of first) / one ``freq`` /
      ``freq_multiplier``;
    * ``T`` = (start of the ``observation_end`` period - start of first purchase period) /
      one ``freq`` / ``freq_multiplier``;
    * ``monetary_value`` = mean over the repeat purchase periods of the amount spent in the
      period (all periods with ``include_first_transaction``), 0 without repeats.

    One ``freq`` is an hour, a day, 7 days or, for ``"M"``, 30.436875 days (numpy's and
    lifetimes' mean month), so monthly recency and T are fractional like lifetimes'.

    Args:
        customer_id: One id per transaction: integer codes (fast path) or any values whose
            distinct values identify customers.
        timestamp: Transaction times, ``datetime64[us]`` in UTC (other units are converted).
        amount: Transaction amounts (float); ``None`` gives zero monetary values. Negative
            amounts are refunds: they are not purchases (they create no purchase period and
            are not counted in ``n_orders``, first/last purchase or ``monetary_value``) but are
            netted into ``total_spent``.
        observation_end: End of the observation (a ``datetime64``, ISO string or
            ``datetime``; naive values are UTC). Its whole period is observed.
        freq: ``"h"``, ``"D"`` (default), ``"W"`` (weeks starting Monday) or ``"M"``.
        freq_multiplier: Divides ``recency`` and ``T`` (``freq="h"``, ``freq_multiplier=24``
            gives days at hourly resolution), as in lifetimes.
        include_first_transaction: Count the first period in ``frequency`` and
            ``monetary_value`` (lifetimes' option; keep False for BTYD models).
        tz: IANA time zone in which period boundaries are taken (default UTC).
        after_end: ``"raise"`` (default) for a ValidationError naming the first row whose
            period is after the period of ``observation_end``; ``"drop"`` to ignore such rows
            (lifetimes' truncation).
        refunds: ``"net"`` (default) applies the refund rule above; ``"raise"`` rejects
            negative amounts.
        nan_policy: {nan_policy}

    Returns:
        A :class:`CustomerSummary` with one entry per customer that has a purchase, sorted by
        id. Empty input gives an empty summary.

    Raises:
        ValidationError: Arrays of different lengths, missing values (with
            ``nan_policy="raise"``), infinite amounts, late rows, bad options.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import customer_summary
        >>> ts = np.array(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-03"], "M8[us]")
        >>> s = customer_summary([1, 1, 1, 2], ts, [5.0, 5.0, 20.0, 8.0],
        ...                      observation_end=np.datetime64("2024-01-31"))
        >>> s.customer_id.tolist(), s.frequency.tolist(), s.monetary_value.tolist()
        ([1, 2], [1.0, 0.0], [20.0, 0.0])
        >>> s.recency.tolist(), s.T.tolist(), s.n_orders.tolist(), s.total_spent.tolist()
        ([7.0, 0.0], [30.0, 28.0], [3, 1], [30.0, 8.0])
    """
    entity = "customer_summary"
    fm = _check_options(entity, freq, freq_multiplier, after_end, refunds)
    ids = as_ids(customer_id, entity=entity)
    ts = as_timestamps(timestamp, entity=entity)
    amt = None if amount is None else as_amounts(amount, entity=entity)
    z = _periods.zone(tz, entity=entity)
    obs_us = as_timestamp_scalar(observation_end, entity=entity, field="observation_end")
    obs_p = _periods.period_index_scalar(_periods.to_local_scalar(obs_us, z), freq)

    codes, uniques = encode_ids(ids)
    n_codes = len(uniques)
    local = _periods.to_local(ts, z)
    periods = _periods.period_index(local, freq)
    del local
    late = _late_rows(entity, periods > obs_p, ts, after_end, "the observation_end period")
    neg = _refund_mask(entity, amt, refunds)

    refund_total: NDArray[np.float64] | None = None
    if late is not None or neg is not None:
        drop = late if neg is None else (neg if late is None else late | neg)
        if neg is not None and amt is not None:
            refund_rows = neg if late is None else neg & ~late
            refund_total = wsum(codes[refund_rows], amt[refund_rows], n_codes)
        assert drop is not None
        keep = ~drop
        codes, ts, periods = codes[keep], ts[keep], periods[keep]
        if amt is not None:
            amt = amt[keep]

    pc = _per_code(codes, n_codes, ts, periods, amt)
    present = pc.present

    def sel(a: NDArray[Any]) -> NDArray[Any]:
        return _select(a, present, n_codes)

    n_periods = sel(pc.periods)
    minp = sel(pc.minp)
    start_min = _periods.period_start(minp, freq)
    start_max = _periods.period_start(sel(pc.maxp), freq)
    start_obs = int(_periods.period_start(np.array([obs_p]), freq)[0])
    if include_first_transaction:
        frequency = n_periods.astype(np.float64)
        monetary = np.divide(
            sel(pc.total), n_periods, out=np.zeros(len(present)), where=n_periods > 0
        )
    else:
        frequency = (n_periods - 1).astype(np.float64)
        monetary = np.divide(
            sel(pc.repeat), frequency, out=np.zeros(len(present)), where=frequency > 0
        )
    total_spent = sel(pc.total)
    if refund_total is not None:
        total_spent = total_spent + sel(refund_total)
    return CustomerSummary(
        customer_id=sel(uniques),
        frequency=frequency,
        recency=_scaled(start_max - start_min, freq, fm),
        T=_scaled(start_obs - start_min, freq, fm),
        monetary_value=monetary,
        first_purchase=sel(pc.first_ts).view("M8[us]"),
        last_purchase=sel(pc.last_ts).view("M8[us]"),
        n_orders=sel(pc.n_orders),
        total_spent=total_spent,
        observation_end=np.datetime64(obs_us, "us"),
        freq=freq,
        freq_multiplier=fm,
    )


@nan_policy("customer_id", "timestamp", "amount")
def calibration_and_holdout(
    customer_id: ArrayLike,
    timestamp: ArrayLike,
    amount: ArrayLike | None = None,
    *,
    calibration_end: Any,
    observation_end: Any,
    freq: SummaryFreq = "D",
    freq_multiplier: float = 1.0,
    include_first_transaction: bool = False,
    tz: str | None = None,
    after_end: AfterEnd = "raise",
    refunds: Refunds = "net",
    nan_policy: NanPolicy = "raise",
) -> CalibrationHoldout:
    """Split a transaction log into calibration statistics and holdout outcomes.

    Follows lifetimes' ``calibration_and_holdout_data``: the calibration summary is
    :func:`customer_summary` of the rows with ``timestamp <= calibration_end`` observed to
    ``calibration_end``; the holdout rows are those with
    ``calibration_end < timestamp <= observation_end`` (compared as instants, not periods).
    ``frequency_holdout`` counts their distinct periods per customer and
    ``monetary_value_holdout`` is the mean amount of the holdout rows (not periods, as in
    lifetimes). ``duration_holdout`` is the number of calendar periods from the period of
    ``calibration_end`` to that of ``observation_end`` (months for ``"M"``, not 30.44-day
    units), divided by ``freq_multiplier``. Customers without a calibration purchase are
    left out; an empty holdout gives zeros (lifetimes raises instead).

    Args:
        customer_id: One id per transaction.
        timestamp: Transaction times, ``datetime64[us]`` UTC.
        amount: Transaction amounts or ``None``; negative amounts (refunds) are ignored.
        calibration_end: Last instant of the calibration period.
        observation_end: Last instant of the holdout period (not before ``calibration_end``).
        freq: ``"h"``, ``"D"``, ``"W"`` or ``"M"``, as in :func:`customer_summary`.
        freq_multiplier: Divides recency, T and the holdout duration.
        include_first_transaction: As in :func:`customer_summary`.
        tz: IANA time zone in which period boundaries are taken.
        after_end: ``"raise"`` (default) on rows after ``observation_end``; ``"drop"``
            ignores them (lifetimes).
        refunds: ``"net"`` (default: refund rows are ignored) or ``"raise"``.
        nan_policy: {nan_policy}

    Returns:
        A :class:`CalibrationHoldout`.

    Raises:
        ValidationError: As :func:`customer_summary`, or ``calibration_end`` after
            ``observation_end``.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import calibration_and_holdout
        >>> ts = np.array(["2024-01-01", "2024-01-10", "2024-02-02", "2024-02-02"], "M8[us]")
        >>> ch = calibration_and_holdout([1, 1, 1, 1], ts, [10.0, 20.0, 5.0, 7.0],
        ...     calibration_end="2024-01-31", observation_end="2024-02-29", freq="W")
        >>> ch.frequency_cal.tolist(), ch.T_cal.tolist(), ch.frequency_holdout.tolist()
        ([1.0], [4.0], [1.0])
        >>> ch.monetary_value_holdout.tolist(), ch.duration_holdout
        ([6.0], 4.0)
    """
    entity = "calibration_and_holdout"
    fm = _check_options(entity, freq, freq_multiplier, after_end, refunds)
    ids = as_ids(customer_id, entity=entity)
    ts = as_timestamps(timestamp, entity=entity)
    amt = None if amount is None else as_amounts(amount, entity=entity)
    z = _periods.zone(tz, entity=entity)
    cal_us = as_timestamp_scalar(calibration_end, entity=entity, field="calibration_end")
    obs_us = as_timestamp_scalar(observation_end, entity=entity, field="observation_end")
    if cal_us > obs_us:
        raise ValidationError(
            "must not be after observation_end",
            entity=entity,
            field="calibration_end",
            value=str(np.datetime64(cal_us, "us")),
        )
    cal_p = _periods.period_index_scalar(_periods.to_local_scalar(cal_us, z), freq)
    obs_p = _periods.period_index_scalar(_periods.to_local_scalar(obs_us, z), freq)

    codes, uniques = encode_ids(ids)
    n_codes = len(uniques)
    late = _late_rows(entity, ts > obs_us, ts, after_end, "observation_end")
    neg = _refund_mask(entity, amt, refunds)
    if late is not None or neg is not None:
        drop = late if neg is None else (neg if late is None else late | neg)
        assert drop is not None
        keep = ~drop
        codes, ts = codes[keep], ts[keep]
        if amt is not None:
            amt = amt[keep]
    periods = _periods.period_index(_periods.to_local(ts, z), freq)

    is_cal = ts <= cal_us
    all_cal = bool(is_cal.all())
    if all_cal:
        cal_codes, cal_ts, cal_periods, cal_amt = codes, ts, periods, amt
    else:
        cal_codes, cal_ts, cal_periods = codes[is_cal], ts[is_cal], periods[is_cal]
        cal_amt = None if amt is None else amt[is_cal]
    pc = _per_code(cal_codes, n_codes, cal_ts, cal_periods, cal_amt)
    del cal_codes, cal_ts, cal_periods, cal_amt
    present = pc.present

    def sel(a: NDArray[Any]) -> NDArray[Any]:
        return _select(a, present, n_codes)

    n_periods = sel(pc.periods)
    start_min = _periods.period_start(sel(pc.minp), freq)
    start_max = _periods.period_start(sel(pc.maxp), freq)
    start_cal = int(_periods.period_start(np.array([cal_p]), freq)[0])
    if include_first_transaction:
        frequency = n_periods.astype(np.float64)
        monetary = np.divide(
            sel(pc.total), n_periods, out=np.zeros(len(present)), where=n_periods > 0
        )
    else:
        frequency = (n_periods - 1).astype(np.float64)
        monetary = np.divide(
            sel(pc.repeat), frequency, out=np.zeros(len(present)), where=frequency > 0
        )

    if all_cal:
        freq_h = np.zeros(len(present))
        mv_h = np.zeros(len(present))
    else:
        hold = ~is_cal
        h_codes = codes[hold]
        h_rows = np.bincount(h_codes, minlength=n_codes)
        freq_h = sel(distinct_count(h_codes, periods[hold], n_codes, h_rows)).astype(np.float64)
        if amt is None:
            mv_h = np.zeros(len(present))
        else:
            h_sum = wsum(h_codes, amt[hold], n_codes)
            h_rows_sel = sel(h_rows)
            mv_h = np.divide(
                sel(h_sum), h_rows_sel, out=np.zeros(len(present)), where=h_rows_sel > 0
            )
    return CalibrationHoldout(
        customer_id=sel(uniques),
        frequency_cal=frequency,
        recency_cal=_scaled(start_max - start_min, freq, fm),
        T_cal=_scaled(start_cal - start_min, freq, fm),
        monetary_value_cal=monetary,
        frequency_holdout=freq_h,
        monetary_value_holdout=mv_h,
        duration_holdout=float((obs_p - cal_p) / fm),
    )
