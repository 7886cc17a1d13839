from __future__ import annotations

from typing import Any, Literal

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

import ecomcrm.metrics._periods as _periods
from ecomcrm.errors import ValidationError
from ecomcrm.metrics._groups import distinct_count, distinct_pairs
from ecomcrm.metrics._nan_policy import NanPolicy, nan_policy
from ecomcrm.metrics._validate import as_amounts, as_ids, as_timestamps, check_choice, encode_ids

PeriodFreq = Literal["D", "W", "M", "Q", "Y"]
GapUnit = Literal["s", "m", "h", "D", "W"]

_PERIOD_FREQS = ("D", "W", "M", "Q", "Y")
_GAP_UNITS_US = {
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "D": 86_400_000_000,
    "W": 604_800_000_000,
}
_MAX_COHORT_PERIODS = 4096
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min


@attrs.frozen(eq=False)
class RetentionTable:
    """Customer counts and rates per calendar period, from the first to the last period seen.

    Attributes:
        period_start: Start of each period (``datetime64[us]``, wall clock in ``tz``).
        customers_start: S, customers active at the start of the period (= end of the
            previous one).
        customers_end: E, customers active at the end of the period.
        new_customers: N, customers whose first purchase falls in the period.
        lost_customers: Customers active at the start and not at the end.
        retention_rate: ``(E - N) / S`` (NaN when S = 0).
        churn_rate: ``lost / S`` (NaN when S = 0).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import retention_table
        >>> ts = np.array(["2024-01-05", "2024-01-09", "2024-02-01"], "M8[us]")
        >>> t = retention_table([1, 2, 1], ts)
        >>> t.customers_end.tolist(), t.retention_rate.tolist()
        ([2, 1], [nan, 0.5])
    """

    period_start: NDArray[np.datetime64]
    customers_start: NDArray[np.int64]
    customers_end: NDArray[np.int64]
    new_customers: NDArray[np.int64]
    lost_customers: NDArray[np.int64]
    retention_rate: NDArray[np.float64]
    churn_rate: NDArray[np.float64]

    def __len__(self) -> int:
        """Number of periods."""
        return len(self.period_start)


@attrs.frozen(eq=False)
class CohortTable:
    """Cohort retention: acquisition period x periods since acquisition.

    Attributes:
        cohort: Start of each acquisition period (every period from the first to the last
            seen, so some cohorts may be empty).
        size: Customers acquired in each cohort.
        active: ``active[i, j]``: customers of cohort ``i`` with a purchase in period ``i + j``
            (0 where that period is after the data).
        retention: ``active / size``; NaN for empty cohorts and for periods after the data.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import cohort_retention
        >>> ts = np.array(["2024-01-03", "2024-01-20", "2024-02-11"], "M8[us]")
        >>> c = cohort_retention([1, 2, 1], ts)
        >>> c.size.tolist(), c.active.tolist()
        ([2, 0], [[2, 1], [0, 0]])
    """

    cohort: NDArray[np.datetime64]
    size: NDArray[np.int64]
    active: NDArray[np.int64]
    retention: NDArray[np.float64]

    @property
    def periods_since(self) -> NDArray[np.int64]:
        """Column labels: periods since acquisition, ``0 .. n - 1``.

        Example:
            >>> import numpy as np
            >>> from ecomcrm.metrics import cohort_retention
            >>> ts = np.array(["2024-01-03", "2024-03-01"], "M8[us]")
            >>> cohort_retention([1, 1], ts).periods_since.tolist()
            [0, 1, 2]
        """
        return np.arange(self.active.shape[1], dtype=np.int64)


@attrs.frozen(eq=False)
class InterPurchaseTimes:
    """Gaps between consecutive distinct purchase times of the same customer.

    Attributes:
        customer_id: The customer of each gap (sorted by customer, then time).
        gap: Each gap in the requested unit (always > 0: identical timestamps are one
            purchase).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import inter_purchase_times
        >>> ts = np.array(["2024-01-01", "2024-01-04", "2024-01-10"], "M8[us]")
        >>> inter_purchase_times([1, 1, 1], ts).gap.tolist()
        [3.0, 6.0]
    """

    customer_id: NDArray[Any]
    gap: NDArray[np.float64]

    def __len__(self) -> int:
        """Number of gaps."""
        return len(self.gap)


@attrs.frozen(eq=False)
class NextPurchase:
    """Each customer's expected next purchase from their own cadence.

    Attributes:
        customer_id: The customers, ascending.
        n_purchases: Distinct purchase timestamps.
        last_purchase: Last purchase (``datetime64[us]``).
        mean_gap: Mean gap between consecutive distinct purchases, ``(last - first) /
            (n_purchases - 1)`` (``timedelta64[us]``, rounded down; NaT with one purchase).
        expected: ``last_purchase + mean_gap`` (NaT with one purchase).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import expected_next_purchase
        >>> ts = np.array(["2024-01-01", "2024-01-11", "2024-01-21"], "M8[us]")
        >>> str(expected_next_purchase([1, 1, 1], ts).expected[0])
        '2024-01-31T00:00:00.000000'
    """

    customer_id: NDArray[Any]
    n_purchases: NDArray[np.int64]
    last_purchase: NDArray[np.datetime64]
    mean_gap: NDArray[np.timedelta64]
    expected: NDArray[np.datetime64]

    def __len__(self) -> int:
        """Number of customers."""
        return len(self.customer_id)


def _prepare_periods(
    entity: str, customer_id: ArrayLike, timestamp: ArrayLike, freq: Any, tz: str | None
) -> tuple[NDArray[np.int64], int, NDArray[np.int64]]:
    _periods.check_freq(freq, _PERIOD_FREQS, entity=entity)
    ids = as_ids(customer_id, entity=entity)
    ts = as_timestamps(timestamp, entity=entity)
    z = _periods.zone(tz, entity=entity)
    codes, uniques = encode_ids(ids)
    periods = _periods.period_index(_periods.to_local(ts, z), str(freq))
    return codes, len(uniques), periods


@nan_policy("customer_id", "timestamp")
def retention_table(
    customer_id: ArrayLike,
    timestamp: ArrayLike,
    *,
    freq: PeriodFreq = "M",
    active_periods: int = 1,
    tz: str | None = None,
    nan_policy: NanPolicy = "raise",
) -> RetentionTable:
    """Customers at start/end, new and lost customers, retention and churn per period.

    A customer is *active* at the end of period ``k`` when they purchased in one of the
    ``active_periods`` periods ending with ``k`` (default 1: in ``k`` itself). With
    ``S_k`` = active at the end of ``k - 1``, ``E_k`` = active at the end of ``k`` and
    ``N_k`` = customers whose first purchase is in ``k``:

    * ``retention_rate_k = (E_k - N_k) / S_k`` (the customer retention rate formula);
    * ``churn_rate_k = lost_k / S_k`` where ``lost_k`` is the number of customers active at
      the end of ``k - 1`` and not at the end of ``k``.

    The two need not add up to 1: a customer who comes back after a lapse counts in
    ``E - N`` without having been in ``S``. The first period has ``S = 0`` and NaN rates.

    Args:
        customer_id: One id per purchase row.
        timestamp: Purchase times, ``datetime64[us]`` UTC.
        freq: ``"D"``, ``"W"`` (Monday weeks), ``"M"`` (default), ``"Q"`` or ``"Y"``.
        active_periods: How many periods a purchase keeps a customer active (>= 1).
        tz: IANA time zone for period boundaries.
        nan_policy: {nan_policy}

    Returns:
        A :class:`RetentionTable` (empty for empty input).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import retention_table
        >>> ts = np.array(["2024-01-02", "2024-01-03", "2024-02-05", "2024-02-06"], "M8[us]")
        >>> t = retention_table([1, 2, 1, 3], ts)
        >>> t.customers_start.tolist(), t.customers_end.tolist(), t.new_customers.tolist()
        ([0, 2], [2, 2], [2, 1])
        >>> t.retention_rate.tolist(), t.churn_rate.tolist()
        ([nan, 0.5], [nan, 0.5])
    """
    entity = "retention_table"
    if (
        isinstance(active_periods, bool)
        or not isinstance(active_periods, int | np.integer)
        or active_periods < 1
    ):
        raise ValidationError(
            "must be an integer >= 1", entity=entity, field="active_periods", value=active_periods
        )
    w = int(active_periods)
    codes, n_codes, periods = _prepare_periods(entity, customer_id, timestamp, freq, tz)
    if len(codes) == 0:
        empty_i = np.empty(0, dtype=np.int64)
        empty_f = np.empty(0, dtype=np.float64)
        return RetentionTable(
            np.empty(0, dtype="M8[us]"), empty_i, empty_i, empty_i, empty_i, empty_f, empty_f
        )
    ucodes, up = distinct_pairs(codes, periods, n_codes)
    pmin = int(up.min())
    k = int(up.max()) - pmin + 1
    q = up - pmin
    m = len(q)
    same_next = np.zeros(m, dtype=bool)
    same_next[:-1] = ucodes[1:] == ucodes[:-1]
    is_first = np.ones(m, dtype=bool)
    is_first[1:] = ~same_next[:-1]
    q_next = np.full(m, _I64_MAX, dtype=np.int64)
    q_next[:-1] = np.where(same_next[:-1], q[1:], _I64_MAX)
    end = np.minimum(q + (w - 1), q_next - 1)  # last period of this activity spell piece
    size = k + w + 1
    diff = np.bincount(q, minlength=size) - np.bincount(end + 1, minlength=size)
    active = np.cumsum(diff)[:k]
    new = np.bincount(q[is_first], minlength=k)[:k]
    # a spell piece that is not continued by the next purchase ends a spell: the customer is
    # lost in the period after its end
    lost_at = end[q_next != end + 1] + 1
    lost = np.bincount(lost_at, minlength=size)[:k]
    start = np.zeros(k, dtype=np.int64)
    start[1:] = active[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        retention = np.where(start > 0, (active - new) / np.maximum(start, 1), np.nan)
        churn = np.where(start > 0, lost / np.maximum(start, 1), np.nan)
    labels = _periods.labels(_periods.period_start(np.arange(pmin, pmin + k), str(freq)))
    return RetentionTable(
        period_start=labels,
        customers_start=start,
        customers_end=active.astype(np.int64),
        new_customers=new.astype(np.int64),
        lost_customers=lost.astype(np.int64),
        retention_rate=retention.astype(np.float64),
        churn_rate=churn.astype(np.float64),
    )


@nan_policy("customer_id", "timestamp")
def retention_rate(
    customer_id: ArrayLike,
    timestamp: ArrayLike,
    *,
    freq: PeriodFreq = "M",
    active_periods: int = 1,
    tz: str | None = None,
    nan_policy: NanPolicy = "raise",
) -> NDArray[np.float64]:
    """Customer retention rate per period, ``(E - N) / S``; see :func:`retention_table`.

    Args:
        customer_id: One id per purchase row.
        timestamp: Purchase times.
        freq: Period code, as :func:`retention_table`.
        active_periods: Periods a purchase keeps a customer active.
        tz: IANA time zone for period boundaries.
        nan_policy: {nan_policy}

    Returns:
        One rate per period from the first to the last period seen (NaN for the first).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import retention_rate
        >>> ts = np.array(["2024-01-02", "2024-01-03", "2024-02-05"], "M8[us]")
        >>> retention_rate([1, 2, 1], ts).tolist()
        [nan, 0.5]
    """
    return retention_table(
        customer_id, timestamp, freq=freq, active_periods=active_periods, tz=tz
    ).retention_rate


@nan_policy("customer_id", "timestamp")
def churn_rate(
    customer_id: ArrayLike,
    timestamp: ArrayLike,
    *,
    freq: PeriodFreq = "M",
    active_periods: int = 1,
    tz: str | None = None,
    nan_policy: NanPolicy = "raise",
) -> NDArray[np.float64]:
    """Churn rate per period: customers active at the start and not at the end, over ``S``.

    See :func:`retention_table` for the definitions.

    Args:
        customer_id: One id per purchase row.
        timestamp: Purchase times.
        freq: Period code, as :func:`retention_table`.
        active_periods: Periods a purchase keeps a customer active.
        tz: IANA time zone for period boundaries.
        nan_policy: {nan_policy}

    Returns:
        One rate per period (NaN for the first).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import churn_rate
        >>> ts = np.array(["2024-01-02", "2024-01-03", "2024-02-05", "2024-03-01"], "M8[us]")
        >>> churn_rate([1, 2, 1, 1], ts).tolist()
        [nan, 0.5, 0.0]
    """
    return retention_table(
        customer_id, timestamp, freq=freq, active_periods=active_periods, tz=tz
    ).churn_rate


@nan_policy("customer_id", "amount")
def repeat_purchase_rate(
    customer_id: ArrayLike, amount: ArrayLike | None = None, *, nan_policy: NanPolicy = "raise"
) -> float:
    """Share of customers with two or more orders among customers with at least one.

    Every row is an order unless ``amount`` is given, in which case rows with a negative
    amount (refunds) are not. No orders gives NaN.

    Args:
        customer_id: One id per order row.
        amount: Optional amounts, to leave refunds out.
        nan_policy: {nan_policy}

    Returns:
        The rate in [0, 1].

    Example:
        >>> from ecomcrm.metrics import repeat_purchase_rate
        >>> repeat_purchase_rate([1, 1, 2, 3, 3, 3, 4])
        0.5
    """
    entity = "repeat_purchase_rate"
    ids = as_ids(customer_id, entity=entity)
    if amount is not None:
        ids = ids[as_amounts(amount, entity=entity) >= 0]
    if len(ids) == 0:
        return float("nan")
    codes, uniques = encode_ids(ids)
    orders = np.bincount(codes, minlength=len(uniques))
    return int(np.count_nonzero(orders >= 2)) / int(np.count_nonzero(orders))


@nan_policy("customer_id", "timestamp")
def cohort_retention(
    customer_id: ArrayLike,
    timestamp: ArrayLike,
    *,
    freq: PeriodFreq = "M",
    tz: str | None = None,
    nan_policy: NanPolicy = "raise",
) -> CohortTable:
    """Cohort retention matrix: acquisition period x periods since acquisition.

    A customer's cohort is the period of their first purchase; ``active[i, j]`` counts
    customers of cohort ``i`` who purchased in period ``i + j`` (so column 0 is the cohort
    size) and ``retention = active / size``. Periods after the last one in the data are not
    observed: 0 in ``active``, NaN in ``retention``.

    Args:
        customer_id: One id per purchase row.
        timestamp: Purchase times.
        freq: ``"D"``, ``"W"``, ``"M"`` (default), ``"Q"`` or ``"Y"``.
        tz: IANA time zone for period boundaries.
        nan_policy: {nan_policy}

    Returns:
        A :class:`CohortTable` (at most 4096 periods; use a coarser ``freq`` beyond).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import cohort_retention
        >>> ts = np.array(["2024-01-03", "2024-01-09", "2024-02-11", "2024-02-12"], "M8[us]")
        >>> c = cohort_retention([1, 2, 1, 3], ts)
        >>> c.retention.tolist()
        [[1.0, 0.5], [1.0, nan]]
    """
    entity = "cohort_retention"
    codes, n_codes, periods = _prepare_periods(entity, customer_id, timestamp, freq, tz)
    if len(codes) == 0:
        return CohortTable(
            np.empty(0, dtype="M8[us]"),
            np.empty(0, dtype=np.int64),
            np.empty((0, 0), dtype=np.int64),
            np.empty((0, 0), dtype=np.float64),
        )
    ucodes, up = distinct_pairs(codes, periods, n_codes)
    pmin = int(up.min())
    k = int(up.max()) - pmin + 1
    if k > _MAX_COHORT_PERIODS:
        raise ValidationError(
            f"spans {k} periods (more than {_MAX_COHORT_PERIODS}); use a coarser freq",
            entity=entity,
            field="freq",
            value=freq,
        )
    q = up - pmin
    first = np.ones(len(q), dtype=bool)
    first[1:] = ucodes[1:] != ucodes[:-1]
    cohort_of = np.empty(n_codes, dtype=np.int64)
    cohort_of[ucodes[first]] = q[first]
    cohort = cohort_of[ucodes]
    offset = q - cohort
    active = np.bincount(cohort * k + offset, minlength=k * k).reshape(k, k).astype(np.int64)
    size = active[:, 0].copy()
    observed = (np.arange(k)[:, None] + np.arange(k)[None, :]) < k
    with np.errstate(invalid="ignore", divide="ignore"):
        retention = np.where(
            observed & (size[:, None] > 0), active / np.maximum(size, 1)[:, None], np.nan
        )
    labels = _periods.labels(_periods.period_start(np.arange(pmin, pmin + k), str(freq)))
    return CohortTable(
        cohort=labels, size=size, active=active, retention=retention.astype(np.float64)
    )


def _sorted_by_customer_time(
    entity: str, customer_id: ArrayLike, timestamp: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[Any]]:
    ids = as_ids(customer_id, entity=entity)
    ts = as_timestamps(timestamp, entity=entity)
    codes, uniques = encode_ids(ids)
    order = np.lexsort((ts, codes))
    return codes[order], ts[order], uniques


@nan_policy("customer_id", "timestamp")
def inter_purchase_times(
    customer_id: ArrayLike,
    timestamp: ArrayLike,
    *,
    unit: GapUnit = "D",
    nan_policy: NanPolicy = "raise",
) -> InterPurchaseTimes:
    """The inter-purchase time distribution: every gap between a customer's purchases.

    Purchases of one customer are ordered by time; rows with the same customer and the same
    timestamp are one purchase (so gaps are never 0). Use ``np.histogram(result.gap)`` or
    ``np.quantile`` for the distribution.

    Args:
        customer_id: One id per purchase row.
        timestamp: Purchase times.
        unit: ``"s"``, ``"m"``, ``"h"``, ``"D"`` (default) or ``"W"``.
        nan_policy: {nan_policy}

    Returns:
        :class:`InterPurchaseTimes`, one entry per gap.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import inter_purchase_times
        >>> ts = np.array(["2024-01-01", "2024-01-01", "2024-01-03", "2024-01-02"], "M8[us]")
        >>> g = inter_purchase_times([1, 1, 1, 2], ts)
        >>> g.customer_id.tolist(), g.gap.tolist()
        ([1], [2.0])
    """
    entity = "inter_purchase_times"
    check_choice(unit, tuple(_GAP_UNITS_US), entity=entity, field="unit")
    codes, ts, uniques = _sorted_by_customer_time(entity, customer_id, timestamp)
    if len(codes) < 2:
        return InterPurchaseTimes(uniques[:0], np.empty(0, dtype=np.float64))
    gaps = np.diff(ts)
    keep = (codes[1:] == codes[:-1]) & (gaps > 0)
    return InterPurchaseTimes(
        customer_id=uniques[codes[1:][keep]],
        gap=gaps[keep] / float(_GAP_UNITS_US[unit]),
    )


@nan_policy("customer_id", "timestamp")
def expected_next_purchase(
    customer_id: ArrayLike, timestamp: ArrayLike, *, nan_policy: NanPolicy = "raise"
) -> NextPurchase:
    """Each customer's expected next purchase: last purchase + their mean inter-purchase gap.

    ``mean_gap = (last - first) / (n - 1)`` over the customer's ``n`` distinct purchase
    timestamps (identical timestamps are one purchase), which is the mean of their
    consecutive gaps. Customers with one purchase have no cadence: NaT.

    Args:
        customer_id: One id per purchase row.
        timestamp: Purchase times.
        nan_policy: {nan_policy}

    Returns:
        :class:`NextPurchase`, one entry per customer, sorted by id.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import expected_next_purchase
        >>> ts = np.array(["2024-01-01", "2024-01-05", "2024-01-02"], "M8[us]")
        >>> r = expected_next_purchase([1, 1, 2], ts)
        >>> [str(x) for x in r.expected]
        ['2024-01-09T00:00:00.000000', 'NaT']
    """
    entity = "expected_next_purchase"
    ids = as_ids(customer_id, entity=entity)
    ts = as_timestamps(timestamp, entity=entity)
    codes, uniques = encode_ids(ids)
    n_codes = len(uniques)
    rows = np.bincount(codes, minlength=n_codes)
    present = np.flatnonzero(rows)
    first = np.full(n_codes, _I64_MAX, dtype=np.int64)
    np.minimum.at(first, codes, ts)
    last = np.full(n_codes, _I64_MIN, dtype=np.int64)
    np.maximum.at(last, codes, ts)
    n = distinct_count(codes, ts, n_codes, rows)[present]
    first, last = first[present], last[present]
    nat = np.iinfo(np.int64).min
    gap = np.where(n > 1, (last - first) // np.maximum(n - 1, 1), nat)
    expected = np.where(n > 1, last + np.where(n > 1, gap, 0), nat)
    return NextPurchase(
        customer_id=uniques[present],
        n_purchases=n.astype(np.int64),
        last_purchase=last.view("M8[us]"),
        mean_gap=gap.astype(np.int64).view("m8[us]"),
        expected=expected.astype(np.int64).view("M8[us]"),
    )
