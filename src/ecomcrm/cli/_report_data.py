"""Everything the HTML report shows, as one value computed from an analysis and its store.

The store is read only through its public Protocol (``order_facts``, ``line_facts``,
``customers.find``) and the figures come from ``_report_figures``; the HTML module formats
this value and computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.cli._report_figures import (
    MONTHLY_MIN_DAYS,
    Cohorts,
    Counted,
    Headline,
    Ranked,
    Returns,
    Trend,
    cohorts,
    from_us,
    headline,
    returns,
    to_us,
    top_products,
    trend,
)
from ecomcrm.cli._report_support import Support, support_figures
from ecomcrm.segments import FeatureTable, LifecycleStage
from ecomcrm.storage import OrderFacts, Store
from ecomcrm.storage.toolkit import read_ticket_facts

if TYPE_CHECKING:
    from ecomcrm.rules import BacktestReport

#: below this many buyers the cohort table and RFM grid say so instead of drawing
MIN_BUYERS = 10


@attrs.frozen(kw_only=True)
class GroupRow:
    """One segment or lifecycle stage: customers, their net revenue to date, its share."""

    name: str
    customers: int
    revenue: float
    share: float | None


@attrs.frozen(kw_only=True)
class RfmGrid:
    """Customers by recency (columns) and frequency (rows) score, 1-5, with cell names."""

    counts: NDArray[np.int64]
    names: tuple[tuple[str, ...], ...]
    segments: tuple[tuple[str, int], ...]


@attrs.frozen(kw_only=True)
class AtRiskRow:
    """A valuable customer whose P(alive) is under one half, with how to reach them."""

    customer_id: str
    name: str
    total_spent: float
    orders: int
    last_order: datetime | None
    days_idle: float
    p_alive: float
    predicted_clv: float
    email: str | None
    phone: str | None

    @property
    def action(self) -> str:
        """What a shop owner can do: a personal win-back where consent allows."""
        if self.email:
            return "personal win-back email"
        if self.phone:
            return "win-back SMS"
        return "no consent: no campaign"


@attrs.frozen(kw_only=True)
class FlowRow:
    """What one built-in flow would have done in the replayed window."""

    flow_id: str
    entered: int
    actions: int
    conversions: int
    conversion_rate: float | None
    uplift: float | None
    skipped: int


@attrs.frozen(kw_only=True)
class Flows:
    """The flows' backtest: the window, events replayed, and one row per flow that acted."""

    start: datetime | None
    end: datetime | None
    events: int
    rows: tuple[FlowRow, ...]


@attrs.frozen(kw_only=True)
class ReportData:
    """The whole report: every figure, table and chart series, in the shop's one currency."""

    now: datetime
    currency: str
    customers: int
    span_days: float
    headline: Headline
    trend: Trend
    cohorts: Cohorts | None
    cohort_note: str
    rfm: RfmGrid | None
    rfm_note: str
    segments: tuple[GroupRow, ...]
    stages: tuple[GroupRow, ...]
    at_risk: tuple[AtRiskRow, ...]
    at_risk_note: str
    flows: Flows | None
    products: Ranked
    categories: Ranked
    returns: Returns
    support: Support | None
    model_note: str


def _numbers(table: FeatureTable, name: str) -> NDArray[np.float64]:
    return np.asarray(table.column(name), dtype=np.float64)


def _group_rows(
    masks: Mapping[str, NDArray[np.bool_]], spent: NDArray[np.float64]
) -> tuple[GroupRow, ...]:
    total = float(np.nansum(spent))
    rows = []
    for name, mask in masks.items():
        revenue = float(np.nansum(spent[mask]))
        rows.append(
            GroupRow(
                name=name,
                customers=int(mask.sum()),
                revenue=revenue,
                share=revenue / total if total > 0 else None,
            )
        )
    return tuple(sorted(rows, key=lambda r: (-r.customers, r.name)))


def _rfm_grid(table: FeatureTable) -> RfmGrid | None:
    r = _numbers(table, "r_score")
    f = _numbers(table, "f_score")
    ok = np.isfinite(r) & np.isfinite(f)
    if int(ok.sum()) < MIN_BUYERS:
        return None
    cell = (f[ok].astype(np.int64) - 1) * 5 + (r[ok].astype(np.int64) - 1)
    counts = np.bincount(cell, minlength=25).reshape(5, 5)
    column = table.column("rfm_segment")
    vocabulary = tuple(str(v) for v in getattr(column, "vocabulary", ()))
    codes = np.asarray(getattr(column, "codes", np.full(len(table), -1)), dtype=np.int64)[ok]
    named = codes >= 0
    width = max(len(vocabulary), 1)
    pairs, pair_counts = np.unique(cell[named] * width + codes[named], return_counts=True)
    # the most common segment name of each cell (ties: the first name in the vocabulary)
    best = np.full(25, -1, dtype=np.int64)
    best_count = np.zeros(25, dtype=np.int64)
    for pair, count in zip(pairs.tolist(), pair_counts.tolist(), strict=True):  # <= 25 x names
        if count > best_count[pair // width]:
            best[pair // width], best_count[pair // width] = pair % width, count
    names = tuple(
        tuple(
            vocabulary[best[row * 5 + col]] if best[row * 5 + col] >= 0 else "" for col in range(5)
        )
        for row in range(5)
    )
    per_name = np.bincount(codes[named], minlength=len(vocabulary))
    segments = tuple(
        sorted(
            ((vocabulary[i], int(c)) for i, c in enumerate(per_name.tolist()) if c),
            key=lambda kv: (-kv[1], kv[0]),
        )
    )
    return RfmGrid(counts=counts.astype(np.int64), names=names, segments=segments)


def _consented(table: FeatureTable, name: str, row: int) -> bool:
    if name not in table:
        return False
    return bool(np.asarray(table.column(name))[row] == 1)  # int8: 1 granted, 0 no, -1 unknown


def _at_risk(store: Store, table: FeatureTable, limit: int) -> tuple[AtRiskRow, ...]:
    p_alive = _numbers(table, "p_alive")
    clv = _numbers(table, "predicted_clv")
    spent = _numbers(table, "total_spent")
    risky = np.flatnonzero((p_alive < 0.5) & np.isfinite(spent))
    order = risky[np.lexsort((risky, -np.nan_to_num(clv[risky]), -spent[risky]))][:limit]
    orders = _numbers(table, "orders_count")
    idle = _numbers(table, "days_since_last_order")
    last = np.asarray(table.column("last_order_at"), dtype="datetime64[us]")
    rows = []
    for i in order.tolist():  # at most ``limit`` rows: one profile read each
        customer_id = str(table.ids[i])
        customer = store.customers.find(customer_id)
        email = customer.email if customer is not None else None
        phone = customer.phone if customer is not None else None
        name = (
            " ".join(p for p in (customer.first_name, customer.last_name) if p)
            if customer is not None
            else ""
        )
        moment = last[i]
        rows.append(
            AtRiskRow(
                customer_id=customer_id,
                name=name,
                total_spent=float(spent[i]),
                orders=int(orders[i]),
                last_order=None if np.isnat(moment) else _aware(moment),
                days_idle=float(idle[i]),
                p_alive=float(p_alive[i]),
                predicted_clv=float(clv[i]),
                email=email if _consented(table, "consent_email", i) else None,
                phone=phone if _consented(table, "consent_sms", i) else None,
            )
        )
    return tuple(rows)


def _aware(moment: np.datetime64) -> datetime:
    return from_us(int(moment.astype("datetime64[us]").astype(np.int64)))


def _flows(report: BacktestReport | None) -> Flows | None:
    if report is None:
        return None
    rows = []
    for flow_id, flow in sorted(report.flows.items()):
        sent = sum(flow.actions.values())
        if not (sent or flow.enrollments):
            continue
        rows.append(
            FlowRow(
                flow_id=flow_id,
                entered=flow.enrollments,
                actions=sent,
                conversions=flow.treated_conversions,
                conversion_rate=flow.treated_rate,
                uplift=flow.uplift,
                skipped=sum(flow.skipped.values()),
            )
        )
    return Flows(start=report.start, end=report.end, events=report.events, rows=tuple(rows))


def build_report(
    store: Store,
    *,
    now: datetime,
    facts: OrderFacts,
    table: FeatureTable,
    segments: Mapping[str, NDArray[np.bool_]],
    stage_codes: NDArray[np.int8],
    flows: BacktestReport | None,
    model_note: str,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    at_risk_limit: int = 15,
) -> ReportData:
    """The report's figures from the analysis' facts, feature table and segments."""
    counted = Counted.of(facts)
    span = counted.span_days(to_us(now))
    head = headline(counted, now, _numbers(table, "predicted_clv"))
    buyers = len(np.unique(counted.customer))
    cohort_table: Cohorts | None = None
    if span < MONTHLY_MIN_DAYS:
        cohort_note = (
            f"{_days(span)} of orders: too short for cohorts (they need two months or more)."
        )
    elif buyers < MIN_BUYERS:
        cohort_note = f"{buyers} buying customers: too few for cohorts."
    else:
        cohort_table = cohorts(counted)
        cohort_note = ""
        if not len(cohort_table.size):
            cohort_table, cohort_note = None, "No cohort has a month after its first yet."
    rfm = _rfm_grid(table) if span >= MONTHLY_MIN_DAYS else None
    if span < MONTHLY_MIN_DAYS:
        rfm_note = (
            f"{_days(span)} of orders: too short for RFM scores (recency and frequency need "
            "two months or more to tell customers apart)."
        )
    else:
        rfm_note = "" if rfm is not None else f"{buyers} buying customers: too few for RFM scores."
    spent = _numbers(table, "total_spent")
    labels = [s.label for s in LifecycleStage]
    codes = np.asarray(stage_codes, dtype=np.int64)
    stage_masks = {labels[k]: codes == k for k in range(len(labels)) if (codes == k).any()}
    at_risk = _at_risk(store, table, at_risk_limit) if "p_alive" in table else ()
    p_alive = _numbers(table, "p_alive") if "p_alive" in table else np.empty(0)
    if not np.isfinite(p_alive).any():
        at_risk_note = f"No purchase model, so no P(alive): {model_note}."
    elif not at_risk:
        at_risk_note = "No customer with P(alive) under 50%."
    else:
        at_risk_note = ""
    lines = store.line_facts(currency=currency, rates=rates)
    products, categories = top_products(lines)
    return ReportData(
        now=now,
        currency=facts.currency,
        customers=len(table),
        span_days=span,
        headline=head,
        trend=trend(counted, now),
        cohorts=cohort_table,
        cohort_note=cohort_note,
        rfm=rfm,
        rfm_note=rfm_note,
        segments=_group_rows(segments, spent),
        stages=_group_rows(stage_masks, spent),
        at_risk=at_risk,
        at_risk_note=at_risk_note,
        flows=_flows(flows),
        products=products,
        categories=categories,
        returns=returns(counted, head.current.start, head.current.end),
        support=support_figures(
            read_ticket_facts(store),
            np.asarray(table.column("open_tickets"), dtype=np.int64)
            if "open_tickets" in table
            else np.zeros(0, dtype=np.int64),
            start=head.current.start,
            end=head.current.end,
            previous_start=None if head.previous is None else head.previous.start,
        ),
        model_note=model_note,
    )


def _days(span: float) -> str:
    days = max(1, int(np.ceil(span)))
    return f"{days} day" if days == 1 else f"{days} days"


def report_figures(data: ReportData) -> dict[str, Any]:
    """The headline figures as a flat JSON-compatible mapping (for ``--json``)."""
    cur = data.headline.current
    prev = data.headline.previous
    keys = ("revenue", "orders", "aov", "repeat_rate", "buyers", "active", "lost")
    return {
        "period_days": data.headline.days,
        "current": {k: getattr(cur, k) for k in keys},
        "previous": None if prev is None else {k: getattr(prev, k) for k in keys},
        "predicted_revenue_12m": data.headline.predicted_revenue,
    }
