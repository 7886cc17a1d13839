"""Build the customer feature table from a store, with the metrics and predict functions.

Everything is computed from the store's columnar reads in array operations: no Python loop
per customer or per order. The refresh path reads only the changed customers' records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import ConvergenceError, ValidationError
from ecomcrm.metrics import customer_summary, expected_next_purchase, rfm_scores, rfm_segments
from ecomcrm.predict import (
    BetaGeo,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    period_days,
)
from ecomcrm.segments._features import FeatureTable, TagsColumn
from ecomcrm.segments._fields import CUSTOMER_FEATURES_SCHEMA, order_fields, profile_fields
from ecomcrm.segments._ticket_fields import ticket_fields
from ecomcrm.storage import CustomerTable, EventFacts, LineFacts, OrderFacts, Store, TicketFacts
from ecomcrm.storage.toolkit import read_ticket_facts

__all__ = [
    "ModelCoverage",
    "ValueModels",
    "build_customer_features",
    "fit_value_models",
    "refresh_customer_features",
]

_DAY_US = 86_400_000_000
CART_EVENTS = ("Product Added", "Checkout Started")
VIEW_EVENTS = ("Product Viewed",)
ORDER_EVENTS = ("Order Completed",)
_FEATURE_EVENTS = (*CART_EVENTS, *VIEW_EVENTS, *ORDER_EVENTS)


@attrs.frozen(kw_only=True)
class ValueModels:
    """Fitted purchase and spend models plus the time units that go with them.

    ``freq`` is the period the models were fitted in ("D", "W" or "M"); predictions of
    purchases and CLV are over ``horizon_months`` with a monthly ``discount_rate``.

    Example:
        >>> from ecomcrm.predict import BetaGeo
        >>> m = ValueModels(purchase=BetaGeo({"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}), freq="W")
        >>> m.horizon_months
        12
    """

    purchase: Any
    spend: GammaGamma | None = None
    freq: Literal["D", "W", "M"] = "W"
    horizon_months: int = 12
    discount_rate: float = 0.01
    spend_excluded: int = 0
    """Repeat buyers left out of the spend model's fit: their repeat orders average <= 0."""


@attrs.frozen(kw_only=True)
class ModelCoverage:
    """How many customers of a feature table each model scored, and how many it left out.

    :func:`build_customer_features` puts one in ``table.metadata["model_coverage"]`` so a
    report can say how far the predictions reach. Customers are never dropped from the
    table and one customer never aborts the build: rows a model cannot describe get a
    null value by the rules of docs/predict.md, and are counted here.

    Attributes:
        customers: Rows of the table.
        buyers: Customers with at least one counted (not cancelled) order.
        rfm_scored: Buyers with RFM scores (every buyer).
        purchase_scored: Buyers with ``p_alive`` and ``predicted_purchases`` (0 without
            a purchase model).
        clv_scored: Buyers with a ``predicted_clv`` (0 without a spend model).
        spend_excluded: Repeat buyers whose repeat orders average $0 or less: outside
            the Gamma-Gamma spend model, so their ``predicted_clv`` is null (unknown).
        next_purchase_model: Buyers whose ``next_purchase_at`` comes from the purchase
            model (deemed alive, P(alive) >= 0.5).
        next_purchase_fallback: Buyers whose ``next_purchase_at`` is the mean-gap
            estimate (no purchase model; two or more orders).

    Example:
        >>> ModelCoverage(customers=3, buyers=2).spend_excluded
        0
    """

    customers: int
    buyers: int
    rfm_scored: int = 0
    purchase_scored: int = 0
    clv_scored: int = 0
    spend_excluded: int = 0
    next_purchase_model: int = 0
    next_purchase_fallback: int = 0


def _purchase_facts(
    orders: OrderFacts,
) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.float64]]:
    keep = ~orders.cancelled
    return orders.customer_index[keep], orders.placed_at[keep], orders.amount[keep]


def fit_value_models(
    orders: OrderFacts, *, now: datetime | np.datetime64, freq: Literal["D", "W", "M"] = "W"
) -> ValueModels:
    """Fit BG/NBD and (when there are repeat buyers) Gamma-Gamma on a store's order facts.

    The purchase model is BG/NBD; when its fit does not converge (for example when the
    data put the dropout parameters on the boundary), MBG/NBD and then Pareto/NBD are
    tried, and ConvergenceError is raised only when none converges. Gamma-Gamma is fitted when at
    least 10 customers made repeat purchases; when their spend does not identify it (the
    fit does not converge) ``spend`` is None and predicted CLV stays null.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.io import SyntheticShop
        >>> store = ecomcrm.open_store("memory://")
        >>> end = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> _ = SyntheticShop(customers=300, seed=1, end=end).to_store(store)
        >>> models = fit_value_models(store.order_facts(), now=datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> sorted(models.purchase.params)
        ['a', 'alpha', 'b', 'r']
    """
    cust, when, amount = _purchase_facts(orders)
    if len(cust) == 0:
        raise ValidationError(
            "no orders to fit value models on", entity="OrderFacts", field="amount"
        )
    end = _as_datetime64(now)
    summary = customer_summary(cust, when, amount, observation_end=end, freq=freq, after_end="drop")
    purchase: Any = None
    failures: list[str] = []
    for model in (BetaGeo, ModifiedBetaGeo, ParetoNBD):
        try:
            purchase = model().fit(summary.frequency, summary.recency, summary.T)
            break
        except ConvergenceError as exc:
            failures.append(str(exc))
    if purchase is None:
        raise ConvergenceError(
            "no purchase model converged: " + "; ".join(failures), entity="fit_value_models"
        )
    # repeat buyers whose repeat orders average $0 are outside Gamma-Gamma: left out, counted
    excluded = GammaGamma.outside_support(summary.frequency, summary.monetary_value)
    repeat = (summary.frequency > 0) & ~excluded
    spend = None
    if int(repeat.sum()) >= 10:
        try:
            spend = GammaGamma().fit(
                summary.frequency[repeat | excluded],
                summary.monetary_value[repeat | excluded],
                zero_spend="exclude",
            )
        except ConvergenceError:
            spend = None  # the data do not identify the spend model; CLV stays null
    return ValueModels(
        purchase=purchase, spend=spend, freq=freq, spend_excluded=int(excluded.sum())
    )


def _as_datetime64(now: datetime | np.datetime64) -> np.datetime64:
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValidationError(
                "must be timezone-aware", entity="features", field="now", value=now
            )
        naive = now.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(naive.isoformat(), "us")
    converted: np.datetime64 = now.astype("datetime64[us]")
    return converted


def _next_after(
    group_a: NDArray[np.int64],
    t_a: NDArray[np.int64],
    group_b: NDArray[np.int64],
    t_b: NDArray[np.int64],
) -> NDArray[np.int64]:
    """For each (group_a, t_a) the first t_b of the same group with t_b >= t_a, else -1.

    Times are ranked densely so that (group, rank) packs into one sortable int64.
    """
    if len(group_a) == 0:
        return np.empty(0, dtype=np.int64)
    if len(group_b) == 0:
        return np.full(len(group_a), -1, dtype=np.int64)
    times, inverse = np.unique(np.concatenate([t_a, t_b]), return_inverse=True)
    rank_a = inverse[: len(t_a)].astype(np.int64)
    rank_b = inverse[len(t_a) :].astype(np.int64)
    key_b = (group_b << 32) | rank_b
    key_b.sort()
    key_a = (group_a << 32) | rank_a
    pos = np.searchsorted(key_b, key_a, side="left")
    found = pos < len(key_b)
    out = np.full(len(group_a), -1, dtype=np.int64)
    hit = np.flatnonzero(found)
    same = (key_b[pos[hit]] >> 32) == group_a[hit]
    hit = hit[same]
    out[hit] = times[key_b[pos[hit]] & 0xFFFFFFFF]
    return out


def _abandoned(
    events: EventFacts,
    starts: tuple[str, ...],
    follow_ups: tuple[str, ...],
    orders_cust: NDArray[np.int64],
    orders_us: NDArray[np.int64],
    window_us: int,
    n: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Per customer: days with a ``starts`` event not followed within the window, and the latest."""
    codes = {name: i for i, name in enumerate(events.names)}
    known = events.customer_index >= 0
    at_us = events.at.astype("datetime64[us]").astype(np.int64)

    def rows(names: Iterable[str]) -> NDArray[np.bool_]:
        wanted = [codes[x] for x in names if x in codes]
        return known & np.isin(events.name_code, wanted)

    start = rows(starts)
    if not start.any():
        return np.zeros(n, dtype=np.int64), np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    s_cust = events.customer_index[start]
    s_us = at_us[start]
    # one signal per customer and calendar day (several adds in a session are one cart)
    day = s_us // _DAY_US
    _, first = np.unique((s_cust << 20) + (day - day.min()), return_index=True)
    s_cust, s_us = s_cust[first], s_us[first]
    follow = rows(follow_ups)
    f_cust = np.concatenate([events.customer_index[follow], orders_cust])
    f_us = np.concatenate([at_us[follow], orders_us])
    nxt = _next_after(s_cust, s_us + 1, f_cust, f_us)
    lost = (nxt < 0) | (nxt - s_us > window_us)
    counts = np.bincount(s_cust[lost], minlength=n).astype(np.int64)
    latest = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, s_cust[lost], s_us[lost])
    return counts, latest


def _next_purchase(
    models: ValueModels | None,
    summary_rows: tuple[Any, NDArray[np.int64]] | None,
    cust: NDArray[np.int64],
    when: NDArray[Any],
    amount: NDArray[np.float64],
    *,
    now: np.datetime64,
    n: int,
) -> tuple[NDArray[np.datetime64], NDArray[np.float64], int, int]:
    """``next_purchase_at`` and ``p_purchase_30d`` per customer, and how many came from where.

    With a purchase model: now + the model's median waiting time to the next purchase
    (null when P(alive) <= 1/2, i.e. more likely never to buy again) and P(a purchase in
    the next 30 days). Without one: the mean-gap estimate (last order + mean gap between
    distinct order times, two or more of them), which may lie in the past ("overdue").
    """
    next_at = np.full(n, np.datetime64("NaT", "us"))
    p_30d = np.full(n, np.nan)
    if models is not None and summary_rows is not None:
        summary, rows = summary_rows
        unit_us = period_days(models.freq) * _DAY_US
        wait = models.purchase.conditional_time_to_purchase(
            summary.frequency, summary.recency, summary.T
        )
        finite = np.isfinite(wait)
        # at least one microsecond ahead: "due now" would read as already past
        wait_us = np.maximum(np.ceil(np.where(finite, wait, 0.0) * unit_us), 1).astype(np.int64)
        due = now.astype("datetime64[us]").astype(np.int64) + wait_us
        next_at[rows[finite]] = due[finite].astype("datetime64[us]")
        p_30d[rows] = models.purchase.conditional_probability_purchase_within(
            30.0 / period_days(models.freq), summary.frequency, summary.recency, summary.T
        )
        return next_at, p_30d, int(finite.sum()), 0
    if models is None and len(cust):
        estimate = expected_next_purchase(cust, when.astype("datetime64[us]"))
        rows = np.asarray(estimate.customer_id, dtype=np.int64)
        known = ~np.isnat(estimate.expected)
        next_at[rows[known]] = estimate.expected[known].astype("datetime64[us]")
        return next_at, p_30d, 0, int(known.sum())
    return next_at, p_30d, 0, 0


def _datetime_or_nat(us: NDArray[np.int64], valid: NDArray[np.bool_]) -> NDArray[np.datetime64]:
    out = us.astype("datetime64[us]")
    out[~valid] = np.datetime64("NaT", "us")
    return out


def _categories(lines: LineFacts, n: int) -> TagsColumn:
    """Per customer, the distinct top-level categories of their non-cancelled lines (CSR)."""
    top, names = lines.top_categories()
    keep = ~lines.cancelled & (lines.quantity > 0) & (top >= 0) & (lines.customer_index >= 0)
    width = max(len(names), 1)
    pairs = np.unique(lines.customer_index[keep] * width + top[keep].astype(np.int64))
    customer = pairs // width
    used, codes = np.unique(pairs % width, return_inverse=True)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(customer, minlength=n), out=indptr[1:])
    return TagsColumn(
        indptr, codes.reshape(-1).astype(np.int32), tuple(names[int(i)] for i in used)
    )


def _features(
    customers: CustomerTable,
    orders: OrderFacts,
    events: EventFacts,
    lines: LineFacts,
    tickets: TicketFacts,
    *,
    now: np.datetime64,
    models: ValueModels | None,
    cart_window: timedelta,
    population: FeatureTable | None = None,
) -> FeatureTable:
    n = len(customers)
    cust, when, amount = _purchase_facts(orders)
    when_us = when.astype("datetime64[us]").astype(np.int64)
    # the registry's one definition of the profile and order fields
    columns: dict[str, Any] = {
        **profile_fields(customers),
        **order_fields(orders, n, now),
        "categories": _categories(lines, n),
        **ticket_fields(tickets, customers.ids, now),
    }
    count = np.asarray(columns["orders_count"])
    total = np.asarray(columns["total_spent"])
    days_since_last = np.asarray(columns["days_since_last_order"])
    has = count > 0

    # RFM scores over buyers; the population (for a refresh) sets the quantiles
    r_score = np.full(n, np.nan)
    f_score = np.full(n, np.nan)
    m_score = np.full(n, np.nan)
    segment = np.full(n, None, dtype=object)
    buyers = np.flatnonzero(has)
    if len(buyers):
        rec, frq, mon = days_since_last[buyers], count[buyers].astype(float), total[buyers]
        k = len(buyers)
        if population is not None and len(population):
            pop_has = np.asarray(population.column("orders_count")) > 0
            rec = np.concatenate(
                [rec, np.asarray(population.column("days_since_last_order"))[pop_has]]
            )
            frq = np.concatenate(
                [frq, np.asarray(population.column("orders_count"))[pop_has].astype(float)]
            )
            mon = np.concatenate([mon, np.asarray(population.column("total_spent"))[pop_has]])
        scores = rfm_scores(rec, frq, mon)
        r_score[buyers] = scores.recency[:k]
        f_score[buyers] = scores.frequency[:k]
        m_score[buyers] = scores.monetary[:k]
        segment[buyers] = rfm_segments(
            scores.recency[:k], scores.frequency[:k], scores.monetary[:k]
        )
    columns.update(r_score=r_score, f_score=f_score, m_score=m_score, rfm_segment=segment)

    coverage: dict[str, int] = {
        "customers": n,
        "buyers": int(has.sum()),
        "rfm_scored": int(np.isfinite(r_score).sum()),
    }
    p_alive = np.full(n, np.nan)
    purchases = np.full(n, np.nan)
    clv = np.full(n, np.nan)
    summary_rows: tuple[Any, NDArray[np.int64]] | None = None
    if models is not None and len(cust):
        summary = customer_summary(
            cust, when, amount, observation_end=now, freq=models.freq, after_end="drop"
        )
        rows = np.asarray(summary.customer_id, dtype=np.int64)
        summary_rows = (summary, rows)
        p_alive[rows] = models.purchase.conditional_probability_alive(
            summary.frequency, summary.recency, summary.T
        )
        horizon = models.horizon_months * 30.4375 / period_days(models.freq)
        purchases[rows] = models.purchase.conditional_expected_purchases(
            horizon, summary.frequency, summary.recency, summary.T
        )
        if models.spend is not None:
            # outside Gamma-Gamma (repeat orders averaging <= 0): CLV unknown, counted
            clv[rows] = models.spend.customer_lifetime_value(
                models.purchase,
                summary.frequency,
                summary.recency,
                summary.T,
                np.where(summary.frequency > 0, summary.monetary_value, 0.0),
                model_period=models.freq,
                horizon=models.horizon_months,
                horizon_period="month",
                discount_rate=models.discount_rate,
                zero_spend="nan",
            )
            coverage["spend_excluded"] = int(
                GammaGamma.outside_support(summary.frequency, summary.monetary_value).sum()
            )
    columns.update(p_alive=p_alive, predicted_purchases=purchases, predicted_clv=clv)
    next_at, p_30d, from_model, fallback = _next_purchase(
        models, summary_rows, cust, when, amount, now=now, n=n
    )
    columns.update(next_purchase_at=next_at, p_purchase_30d=p_30d)
    coverage.update(next_purchase_model=from_model, next_purchase_fallback=fallback)
    coverage["purchase_scored"] = int(np.isfinite(p_alive).sum())
    coverage["clv_scored"] = int(np.isfinite(clv).sum())

    window_us = int(cart_window / timedelta(microseconds=1))
    cart_count, cart_last = _abandoned(
        events, CART_EVENTS, ORDER_EVENTS, cust, when_us, window_us, n
    )
    browse_count, _ = _abandoned(
        events, VIEW_EVENTS, (*CART_EVENTS, *ORDER_EVENTS), cust, when_us, window_us, n
    )
    columns["cart_abandon_count"] = cart_count
    columns["browse_abandon_count"] = browse_count
    columns["last_cart_abandon_at"] = _datetime_or_nat(cart_last, cart_count > 0)
    seen = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    known = events.customer_index >= 0
    np.maximum.at(
        seen,
        events.customer_index[known],
        events.at[known].astype("datetime64[us]").astype(np.int64),
    )
    np.maximum.at(seen, cust, when_us)
    columns["last_seen_at"] = _datetime_or_nat(seen, seen > np.iinfo(np.int64).min)
    table = FeatureTable(
        customers.ids,
        columns,
        CUSTOMER_FEATURES_SCHEMA,
        metadata={"model_coverage": ModelCoverage(**coverage)},
    )
    return table.with_null_columns(CUSTOMER_FEATURES_SCHEMA)


def build_customer_features(
    store: Store,
    *,
    now: datetime,
    models: ValueModels | None = None,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    cart_window: timedelta = timedelta(hours=24),
    event_facts: EventFacts | None = None,
) -> FeatureTable:
    """The customer feature table (``CUSTOMER_FEATURES_SCHEMA``) of every live customer.

    Order features count non-cancelled orders; ``total_spent`` is net of refunds. Cart
    abandonment counts the days with a "Product Added" or "Checkout Started" event that no
    order followed within ``cart_window``; browse abandonment the days with a "Product
    Viewed" event that no cart or order followed. ``p_alive``, ``predicted_purchases``
    and ``predicted_clv`` are filled when ``models`` is given (see :func:`fit_value_models`).
    ``categories`` holds the distinct top-level categories (the first element of the
    category path, from :meth:`~ecomcrm.storage.Store.line_facts`) of the customer's
    non-cancelled order lines. ``city`` is the city of the customer's first address and
    ``email_domain`` the domain of their first email address (null when absent, or
    when the store's ``customer_table`` does not fill them). ``event_facts`` saves a read when the caller has
    already read ``store.event_facts()`` (all names, or any that include the cart, view
    and order events); only those events are used.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.io import SyntheticShop
        >>> store = ecomcrm.open_store("memory://")
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> _ = SyntheticShop(customers=200, seed=3, end=now).to_store(store)
        >>> table = build_customer_features(store, now=now)
        >>> len(table) == store.customers.count()
        True
    """
    end = _as_datetime64(now)
    return _features(
        store.customer_table(),
        store.order_facts(currency=currency, rates=rates),
        store.event_facts(names=_FEATURE_EVENTS)
        if event_facts is None
        else _only_names(event_facts, _FEATURE_EVENTS),
        store.line_facts(currency=currency, rates=rates),
        read_ticket_facts(store),
        now=end,
        models=models,
        cart_window=cart_window,
    )


def _only_names(facts: EventFacts, names: Iterable[str]) -> EventFacts:
    """The rows of ``facts`` with one of ``names``, as ``store.event_facts(names=...)`` gives them.

    Row order is kept; the vocabulary is the sorted names that remain (codes renumbered).
    """
    wanted = set(names)
    keep_codes = [i for i, name in enumerate(facts.names) if name in wanted]
    if len(keep_codes) == len(facts.names):
        return facts
    remap = np.full(max(len(facts.names), 1), -1, dtype=np.int32)
    remap[keep_codes] = np.arange(len(keep_codes), dtype=np.int32)
    rows = np.flatnonzero(np.isin(facts.name_code, keep_codes))
    return EventFacts(
        customer_ids=facts.customer_ids,
        customer_index=facts.customer_index[rows],
        name_code=remap[facts.name_code[rows]],
        names=tuple(facts.names[i] for i in keep_codes),
        at=facts.at[rows],
        product=facts.product[rows],
    )


def refresh_customer_features(
    table: FeatureTable,
    store: Store,
    customer_ids: Iterable[str],
    *,
    now: datetime,
    models: ValueModels | None = None,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    cart_window: timedelta = timedelta(hours=24),
) -> FeatureTable:
    """Recompute the rows of ``customer_ids`` and return the updated table.

    Only those customers' rows change; their RFM scores are ranked against the rest of
    ``table`` (so a refresh equals a full rebuild for them). Customers not yet in the
    table are appended.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.io import SyntheticShop
        >>> store = ecomcrm.open_store("memory://")
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> _ = SyntheticShop(customers=100, seed=3, end=now).to_store(store)
        >>> table = build_customer_features(store, now=now)
        >>> first = str(table.ids[0])
        >>> refreshed = refresh_customer_features(table, store, [first], now=now)
        >>> refreshed.record_for(first) == table.record_for(first)
        True
    """
    wanted = sorted({store.resolve(c) for c in customer_ids})
    full_customers = store.customer_table()
    rows = np.flatnonzero(np.isin(full_customers.ids.astype(str), np.asarray(wanted, dtype=str)))
    subset = _take_customers(full_customers, rows)
    orders = _take_facts(store.order_facts(currency=currency, rates=rates), rows)
    events = _take_facts(store.event_facts(names=(*CART_EVENTS, *VIEW_EVENTS, *ORDER_EVENTS)), rows)
    lines = _take_facts(store.line_facts(currency=currency, rates=rates), rows)
    tickets = read_ticket_facts(store)
    tickets = _take_tickets(
        tickets, np.isin(tickets.customer_id.astype(str), subset.ids.astype(str))
    )
    others = table.filter(~np.isin(table.ids.astype(str), np.asarray(wanted, dtype=str)))
    changed = _features(
        subset,
        orders,
        events,
        lines,
        tickets,
        now=_as_datetime64(now),
        models=models,
        cart_window=cart_window,
        population=others,
    )
    return table.update(changed)


def _remap(
    index: NDArray[np.int64], rows: NDArray[np.intp], n: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    lut = np.full(n + 1, -1, dtype=np.int64)
    lut[rows] = np.arange(len(rows), dtype=np.int64)
    new = lut[np.where(index >= 0, index, n)]
    return new >= 0, new


def _take_customers(table: CustomerTable, rows: NDArray[np.intp]) -> CustomerTable:
    lengths = np.diff(table.tag_indptr)[rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    gather = np.repeat(table.tag_indptr[:-1][rows], lengths) + (
        np.arange(int(indptr[-1]), dtype=np.int64) - np.repeat(indptr[:-1], lengths)
    )
    return attrs.evolve(
        table,
        ids=table.ids[rows],
        created_at=table.created_at[rows],
        country=table.country[rows],
        timezone=table.timezone[rows],
        birthday=table.birthday[rows],
        acquisition_channel=table.acquisition_channel[rows],
        tag_indptr=indptr,
        tag_codes=table.tag_codes[gather],
        consents={k: v[rows] for k, v in table.consents.items()},
        city=None if table.city is None else table.city[rows],
        email_domain=None if table.email_domain is None else table.email_domain[rows],
    )


FactsT = TypeVar("FactsT", OrderFacts, EventFacts, LineFacts)


def _take_facts(facts: FactsT, rows: NDArray[np.intp]) -> FactsT:
    """Keep the fact rows of the customers at ``rows`` (re-indexed into that subset).

    Every row-aligned array field (same length as ``customer_index``) is filtered; the
    vocabularies and scalars are kept.
    """
    keep, new = _remap(facts.customer_index, rows, len(facts.customer_ids))
    n = len(facts.customer_index)
    changes: dict[str, Any] = {
        "customer_ids": facts.customer_ids[rows],
        "customer_index": new[keep],
    }
    for field in attrs.fields(type(facts)):
        value = getattr(facts, field.name)
        if field.name not in changes and isinstance(value, np.ndarray) and value.shape[:1] == (n,):
            changes[field.name] = value[keep]
    return attrs.evolve(facts, **changes)


def _take_tickets(facts: TicketFacts, keep: NDArray[np.bool_]) -> TicketFacts:
    """The ticket rows where ``keep`` is true (every column filtered alike)."""
    return attrs.evolve(
        facts, **{f.name: getattr(facts, f.name)[keep] for f in attrs.fields(TicketFacts)}
    )
