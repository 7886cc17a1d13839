"""The shop owner's figures, computed from the store's columnar facts (arrays in, records out).

Every figure the HTML report prints is computed here, vectorized, from :class:`OrderFacts`,
:class:`LineFacts` and the customer feature table; ``_report_html`` only formats them.
The definitions (docs/cli.md, "The HTML report"):

- an order counts unless cancelled; revenue is the order total less its refunds (a refund
  counts against the day of its order);
- the headline period is the last 30 days against the 30 before (on a history shorter than
  60 days, the last half of the history against the half before, in whole days);
- a customer is *active* at a moment when they placed an order in the 365 days up to it, and
  *lost* in a period when their last order turned 365 days old in it;
- the repeat-purchase rate of a period is the share of its buyers with 2 or more orders up to
  the period's end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.metrics import cohort_retention
from ecomcrm.storage import LineFacts, OrderFacts

_DAY_US = 86_400_000_000
ACTIVE_DAYS = 365
#: a history shorter than this many days gets no cohort table and daily (not monthly) buckets
MONTHLY_MIN_DAYS = 62


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (the facts' time base)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(naive.isoformat(), "us").astype(np.int64))


def from_us(value: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch."""
    moment: datetime = np.datetime64(int(value), "us").item()
    return moment.replace(tzinfo=UTC)


@attrs.frozen(kw_only=True)
class Counted:
    """The counted (non-cancelled) orders as plain arrays, sorted by time."""

    customer: NDArray[np.int64]
    at: NDArray[np.int64]
    net: NDArray[np.float64]
    gross: NDArray[np.float64]
    refunded: NDArray[np.float64]
    units: NDArray[np.int64]
    returned: NDArray[np.int64]
    first: NDArray[np.bool_]
    customers: int

    @classmethod
    def of(cls, facts: OrderFacts) -> Counted:
        keep = ~np.asarray(facts.cancelled, dtype=bool)
        at = np.asarray(facts.placed_at, dtype="datetime64[us]")[keep].astype(np.int64)
        customer = np.asarray(facts.customer_index, dtype=np.int64)[keep]
        order = np.lexsort((at, customer))
        first = np.zeros(len(at), dtype=bool)
        if len(order):
            starts = np.r_[True, customer[order][1:] != customer[order][:-1]]
            first[order[starts]] = True
        by_time = np.argsort(at, kind="stable")
        amount = np.asarray(facts.amount, dtype=np.float64)[keep]
        refunded = np.asarray(facts.refunded, dtype=np.float64)[keep]
        return cls(
            customer=customer[by_time],
            at=at[by_time],
            net=(amount - refunded)[by_time],
            gross=amount[by_time],
            refunded=refunded[by_time],
            units=np.asarray(facts.units, dtype=np.int64)[keep][by_time],
            returned=np.asarray(facts.returned_units, dtype=np.int64)[keep][by_time],
            first=first[by_time],
            customers=len(facts.customer_ids),
        )

    def __len__(self) -> int:
        return len(self.at)

    def span_days(self, now_us: int) -> float:
        """Days from the first counted order to ``now`` (0 without orders)."""
        return 0.0 if not len(self) else max(0.0, (now_us - int(self.at[0])) / _DAY_US)


@attrs.frozen(kw_only=True)
class PeriodFigures:
    """The headline figures of one period ``(start, end]``."""

    start: datetime
    end: datetime
    revenue: float
    orders: int
    aov: float | None
    repeat_rate: float | None
    buyers: int
    active: int
    lost: int


def period_figures(counted: Counted, start_us: int, end_us: int) -> PeriodFigures:
    """The figures of the orders placed in ``(start_us, end_us]``."""
    inside = (counted.at > start_us) & (counted.at <= end_us)
    revenue = float(counted.net[inside].sum())
    orders = int(inside.sum())
    n = max(counted.customers, 1)
    upto = counted.at <= end_us
    orders_upto = np.bincount(counted.customer[upto], minlength=n)
    buyers = np.unique(counted.customer[inside])
    repeat = float((orders_upto[buyers] >= 2).mean()) if len(buyers) else None
    year = ACTIVE_DAYS * _DAY_US
    active = len(np.unique(counted.customer[upto & (counted.at > end_us - year)]))
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, counted.customer[upto], counted.at[upto])
    lost = int(((last > start_us - year) & (last <= end_us - year)).sum())
    return PeriodFigures(
        start=from_us(start_us),
        end=from_us(end_us),
        revenue=revenue,
        orders=orders,
        aov=revenue / orders if orders else None,
        repeat_rate=repeat,
        buyers=len(buyers),
        active=active,
        lost=lost,
    )


def period_days(span_days: float) -> int:
    """The headline period's length: 30 days, or half a history shorter than 60 days."""
    return 30 if span_days >= 60 else round(span_days) // 2


@attrs.frozen(kw_only=True)
class Headline:
    """The current period's figures, the previous period's (None without room for one)."""

    days: int
    current: PeriodFigures
    previous: PeriodFigures | None
    predicted_revenue: float | None
    predicted_customers: int
    year_covered: bool
    """The history reaches a year before the previous period: active and lost mean something."""


def headline(counted: Counted, now: datetime, predicted_clv: NDArray[np.float64]) -> Headline:
    """The headline figures at ``now`` (see the module docstring for the definitions)."""
    now_us = to_us(now)
    days = period_days(counted.span_days(now_us))
    length = max(days, 1) * _DAY_US
    current = period_figures(counted, now_us - length, now_us)
    previous = period_figures(counted, now_us - 2 * length, now_us - length) if days else None
    clv = np.asarray(predicted_clv, dtype=np.float64)
    scored = np.isfinite(clv)
    return Headline(
        days=max(days, 1),
        current=current,
        previous=previous,
        predicted_revenue=float(clv[scored].sum()) if scored.any() else None,
        predicted_customers=int(scored.sum()),
        year_covered=counted.span_days(now_us) >= ACTIVE_DAYS + 2 * max(days, 1),
    )


@attrs.frozen(kw_only=True)
class Trend:
    """Revenue and orders per month (or per day on a short history), new vs returning."""

    unit: str
    labels: tuple[str, ...]
    revenue_new: NDArray[np.float64]
    revenue_returning: NDArray[np.float64]
    orders_new: NDArray[np.int64]
    orders_returning: NDArray[np.int64]


def trend(counted: Counted, now: datetime, *, last: int = 24) -> Trend:
    """Counted orders bucketed by calendar month (UTC), or by day below 62 days of history.

    An order is *new* when it is its customer's first counted order, else *returning*;
    revenue is net of refunds. At most the ``last`` buckets, every bucket in between kept.
    """
    monthly = counted.span_days(to_us(now)) >= MONTHLY_MIN_DAYS
    unit = "M" if monthly else "D"
    if not len(counted):
        empty = np.empty(0)
        return Trend(
            unit=unit, labels=(), revenue_new=empty, revenue_returning=empty,
            orders_new=empty.astype(np.int64), orders_returning=empty.astype(np.int64),
        )  # fmt: skip
    bucket = counted.at.astype("datetime64[us]").astype(f"datetime64[{unit}]").astype(np.int64)
    low = max(int(bucket.min()), int(bucket.max()) - last + 1)
    keep = bucket >= low
    index = bucket[keep] - low
    size = int(bucket.max()) - low + 1
    new = counted.first[keep]
    net = counted.net[keep]

    def total(mask: NDArray[np.bool_], weights: NDArray[np.float64] | None) -> NDArray[Any]:
        w = None if weights is None else weights[mask]
        return np.bincount(index[mask], weights=w, minlength=size)

    labels = np.arange(low, low + size).astype(f"datetime64[{unit}]")
    fmt = "%b %Y" if monthly else "%d %b"
    return Trend(
        unit="month" if monthly else "day",
        labels=tuple(d.item().strftime(fmt) for d in labels.astype("datetime64[D]")),
        revenue_new=total(new, net).astype(np.float64),
        revenue_returning=total(~new, net).astype(np.float64),
        orders_new=total(new, None).astype(np.int64),
        orders_returning=total(~new, None).astype(np.int64),
    )


@attrs.frozen(kw_only=True)
class Cohorts:
    """Monthly acquisition cohorts: their first month, size and retention by month since."""

    labels: tuple[str, ...]
    size: NDArray[np.int64]
    retention: NDArray[np.float64]


def cohorts(counted: Counted, *, last: int = 12, months: int = 12) -> Cohorts:
    """The retention of the ``last`` monthly cohorts over their first ``months`` months.

    ``retention[i, j]`` is the share of cohort ``i``'s customers who ordered in its month
    ``j`` (month 0 is 100% by definition); NaN for months after the data.
    """
    table = cohort_retention(counted.customer, counted.at.astype("datetime64[us]"), freq="M")
    # the newest cohort has no month after its first yet: nothing to show
    later = np.isfinite(table.retention[:, 1:]).any(axis=1)
    seen = int(np.flatnonzero(later)[-1]) + 1 if later.any() else 0
    keep = slice(max(0, seen - last), seen)
    return Cohorts(
        labels=tuple(
            d.item().strftime("%b %Y") for d in table.cohort[keep].astype("datetime64[D]")
        ),
        size=np.asarray(table.size[keep], dtype=np.int64),
        retention=np.asarray(table.retention[keep, :months], dtype=np.float64),
    )


@attrs.frozen(kw_only=True)
class Returns:
    """Refunds and returned units of the counted orders (all time, and in the headline period)."""

    gross: float
    refunded: float
    refunded_orders: int
    orders: int
    units: int
    returned_units: int
    period_refunded: float
    period_gross: float

    @property
    def refund_share(self) -> float | None:
        """Refunds as a share of gross revenue."""
        return self.refunded / self.gross if self.gross > 0 else None

    @property
    def return_rate(self) -> float | None:
        """Units returned as a share of units sold."""
        return self.returned_units / self.units if self.units else None


def returns(counted: Counted, start: datetime, end: datetime) -> Returns:
    """Refund and return figures; the period ones over ``(start, end]``."""
    inside = (counted.at > to_us(start)) & (counted.at <= to_us(end))
    return Returns(
        gross=float(counted.gross.sum()),
        refunded=float(counted.refunded.sum()),
        refunded_orders=int((counted.refunded > 0).sum()),
        orders=len(counted),
        units=int(counted.units.sum()),
        returned_units=int(counted.returned.sum()),
        period_refunded=float(counted.refunded[inside].sum()),
        period_gross=float(counted.gross[inside].sum()),
    )


@attrs.frozen(kw_only=True)
class Ranked:
    """Top items by line revenue: name, revenue, units sold, units returned."""

    names: tuple[str, ...]
    revenue: NDArray[np.float64]
    units: NDArray[np.int64]
    returned: NDArray[np.int64]


def _rank(
    codes: NDArray[Any], names: tuple[str, ...], lines: LineFacts, keep: NDArray[np.bool_], top: int
) -> Ranked:
    ok = keep & (codes >= 0)
    n = len(names)
    revenue = np.bincount(codes[ok], weights=lines.amount[ok], minlength=n)
    units = np.bincount(codes[ok], weights=lines.quantity[ok], minlength=n).astype(np.int64)
    back = np.bincount(codes[ok], weights=lines.returned_units[ok], minlength=n).astype(np.int64)
    order = np.lexsort((np.arange(n), -units, -revenue))
    order = order[units[order] > 0][:top]
    return Ranked(
        names=tuple(names[i] for i in order),
        revenue=revenue[order].astype(np.float64),
        units=units[order],
        returned=back[order],
    )


def top_products(lines: LineFacts, *, top: int = 10) -> tuple[Ranked, Ranked]:
    """The top SKUs and top-level categories by line revenue of counted orders."""
    keep = ~np.asarray(lines.cancelled, dtype=bool)
    products = _rank(np.asarray(lines.sku_code, dtype=np.int64), lines.skus, lines, keep, top)
    codes, names = lines.top_categories()
    categories = _rank(np.asarray(codes, dtype=np.int64), names, lines, keep, top)
    return products, categories


def days_between(a: datetime, b: datetime) -> float:
    """Days from ``a`` to ``b``."""
    return (b - a) / timedelta(days=1)
