"""Performance reports: what each flow, step, variant and channel did and earned.

The bridge between the engine's state and :mod:`ecomcrm.metrics`: actions and
enrollments are read as columns (``rules._attribution``), orders with the store's
``order_facts`` (one currency, converted with rates), goal events with ``event_facts``;
then attribution (:func:`~ecomcrm.metrics.last_touch`), conversions
(:func:`~ecomcrm.metrics.first_conversion`) and revenue per entrant
(:func:`~ecomcrm.metrics.window_totals`) run vectorized over every row at once, and the
figures are summed per flow, step, variant and channel with masks (a loop per group,
never per customer or message).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.metrics import (
    first_conversion,
    last_touch,
    newcombe_interval,
    prob_best,
    welch_interval,
    window_totals,
)
from ecomcrm.rules._attribution import (
    ActionColumns,
    Attribution,
    read_actions,
    read_enrollments,
)
from ecomcrm.rules._flow import Flow
from ecomcrm.rules._goal import Goal
from ecomcrm.rules._keys import FLOWDEF
from ecomcrm.rules._report import PerformanceReport, PerformanceRow
from ecomcrm.rules._schedule import to_micros
from ecomcrm.rules._steps import ActionStep, SplitStep
from ecomcrm.storage import StateRepository, Store

_NEVER = np.iinfo(np.int64).max


class _Orders:
    """The store's counted orders (not cancelled) as columns, in one currency."""

    def __init__(self, store: Store, currency: str | None, rates: Mapping[str, float] | None):
        facts = store.order_facts(currency=currency, rates=rates)
        keep = ~facts.cancelled
        self.currency = facts.currency
        self.customer = facts.customer_ids[facts.customer_index[keep]]
        self.time = facts.placed_at[keep].astype("M8[us]").view(np.int64)
        self.amount = facts.amount[keep]


def _goal_occurrences(
    store: Store, orders: _Orders, goal: Goal
) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Who reached the goal and when: its events, and for ``Order Completed`` every order."""
    events = store.event_facts(names=[goal.event])
    known = events.customer_index >= 0
    customer = events.customer_ids[events.customer_index[known]]
    time = events.at[known].astype("M8[us]").view(np.int64)
    if goal.counts_orders:
        customer = np.concatenate([orders.customer, customer])
        time = np.concatenate([orders.time, time])
    return customer, time


def _m8(us: NDArray[np.int64]) -> NDArray[np.datetime64]:
    return us.view("M8[us]")


def _us(length: timedelta) -> int:
    return length // timedelta(microseconds=1)


def _credit(
    acts: ActionColumns, orders: _Orders, attribution: Attribution, *, assume_sent: bool
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per action, the revenue and the number of orders credited to it (last touch)."""
    touch_rows: list[NDArray[np.int64]] = []
    touch_time: list[NDArray[np.int64]] = []
    touch_window: list[NDArray[np.int64]] = []
    for window in attribution.windows:
        on = np.flatnonzero(acts.channel == window.channel.value)
        if not len(on):
            continue
        when = acts.touch_times(window.outcome.value, assume_sent=assume_sent)[on]
        reached = when >= 0
        touch_rows.append(on[reached])
        touch_time.append(when[reached])
        touch_window.append(np.full(int(reached.sum()), _us(window.within), dtype=np.int64))
    revenue = np.zeros(len(acts), dtype=np.float64)
    count = np.zeros(len(acts), dtype=np.int64)
    if not touch_rows or not len(orders.time):
        return revenue, count
    rows = np.concatenate(touch_rows)
    credited = last_touch(
        orders.customer, _m8(orders.time), acts.customer[rows], _m8(np.concatenate(touch_time)),
        window=np.concatenate(touch_window).view("m8[us]"),
    )  # fmt: skip
    hit = credited >= 0
    target = rows[credited[hit]]
    revenue += np.bincount(target, weights=orders.amount[hit], minlength=len(acts))
    count += np.bincount(target, minlength=len(acts))
    return revenue, count


class _Flows:
    """Everything a report needs, computed once over all rows; rows are then summed by mask."""

    def __init__(
        self, state: StateRepository, store: Store, *, since: int, until: int,
        attribution: Attribution, currency: str | None, rates: Mapping[str, float] | None,
        assume_sent: bool,
    ) -> None:  # fmt: skip
        self.store = store
        self.acts = read_actions(state)
        self.enr = read_enrollments(state)
        self.orders = _Orders(store, currency, rates)
        self.revenue, self.credited = _credit(
            self.acts, self.orders, attribution, assume_sent=assume_sent
        )
        self.act_in = (self.acts.due >= since) & (self.acts.due < until)
        self.enr_in = (self.enr.started >= since) & (self.enr.started < until)
        # each action's enrollment row (ids are unique across flows: they hash the flow id)
        ids = self.enr.enrollment.astype(str)
        order = np.argsort(ids, kind="stable")
        wanted = self.acts.enrollment.astype(str)
        pos = np.searchsorted(ids[order], wanted) if len(ids) else np.zeros(0, dtype=np.int64)
        pos = np.minimum(pos, max(len(ids) - 1, 0))
        found = (ids[order][pos] == wanted) if len(ids) else np.zeros(len(wanted), dtype=bool)
        self.act_enr = np.where(found, order[pos] if len(ids) else 0, -1)
        self.converted = np.zeros(len(self.enr), dtype=bool)
        self.entrant_revenue = np.zeros(len(self.enr), dtype=np.float64)
        self._goals: dict[str, tuple[NDArray[np.object_], NDArray[np.int64]]] = {}

    def measure_goal(self, flow_id: str, goal: Goal) -> None:
        """Conversions and revenue per entrant of one flow's enrollments."""
        rows = np.flatnonzero(self.enr.flow == flow_id)
        if not len(rows):
            return
        if goal.event not in self._goals:
            self._goals[goal.event] = _goal_occurrences(self.store, self.orders, goal)
        g_cust, g_time = self._goals[goal.event]
        cust = self.enr.customer[rows]
        start = _m8(self.enr.started[rows])
        window = np.timedelta64(_us(goal.within), "us")
        if len(g_time):
            hit = first_conversion(cust, start, g_cust, _m8(g_time), window=window)
            self.converted[rows] = hit >= 0
        if len(self.orders.time):
            self.entrant_revenue[rows] = window_totals(
                cust, start, self.orders.customer, _m8(self.orders.time), self.orders.amount,
                window=window,
            )  # fmt: skip

    def skipped(self, rows: NDArray[np.bool_], step: str | None = None) -> dict[str, int]:
        """Skipped actions by reason, of the enrollments in ``rows`` (and one step)."""
        e = self.enr
        mask = rows[e.skip_row] if len(e.skip_row) else np.zeros(0, dtype=bool)
        if step is not None:
            mask &= e.skip_step == step
        out: dict[str, int] = {}
        for reason in np.unique(e.skip_reason[mask]).tolist():
            out[str(reason)] = int(e.skip_count[mask & (e.skip_reason == reason)].sum())
        return out

    def row(
        self, flow: str, acts: NDArray[np.bool_], entrants: NDArray[np.bool_],
        held: NDArray[np.bool_] | None, *, step: str | None = None, variant: str | None = None,
        channel: str | None = None, skip_step: str | None = None,
    ) -> PerformanceRow:  # fmt: skip
        """One row: the actions ``acts`` and the enrollments ``entrants`` (and a holdout)."""
        n = int(entrants.sum())
        extra: dict[str, Any] = {}
        if held is not None and held.any():
            m = int(held.sum())
            conv_t, conv_h = int(self.converted[entrants].sum()), int(self.converted[held].sum())
            rev_t, rev_h = self.entrant_revenue[entrants], self.entrant_revenue[held]
            var_t = float(rev_t.var(ddof=1)) if n > 1 else 0.0
            var_h = float(rev_h.var(ddof=1)) if m > 1 else 0.0
            extra = {
                "holdout_enrollments": m,
                "holdout_conversions": conv_h,
                "conversion_lift": newcombe_interval(conv_t, n, conv_h, m),
                "revenue_lift": welch_interval(
                    float(rev_t.mean()) if n else 0.0, var_t, n,
                    float(rev_h.mean()) if m else 0.0, var_h, m,
                ),
            }  # fmt: skip
        return PerformanceRow(
            flow_id=flow, step_id=step, variant=variant, channel=channel,
            enrollments=n, sends=int(acts.sum()),
            recipients=len(np.unique(self.acts.customer[acts].astype(str))),
            skipped=self.skipped(entrants, skip_step),
            conversions=int(self.converted[entrants].sum()),
            attributed_orders=int(self.credited[acts].sum()),
            attributed_revenue=float(self.revenue[acts].sum()),
            **extra,
        )  # fmt: skip

    def reached(self, acts: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """The enrollments that got one of ``acts``."""
        out = np.zeros(len(self.enr), dtype=bool)
        rows = self.act_enr[acts]
        out[rows[rows >= 0]] = True
        return out


def performance_report(
    state: StateRepository,
    store: Store,
    flows: Mapping[str, Flow],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    attribution: Attribution | None = None,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    assume_sent: bool = False,
) -> PerformanceReport:
    """The performance report of ``flows`` over ``[since, until)`` (see :class:`PerformanceReport`)."""
    attribution = attribution if attribution is not None else Attribution()
    lo = to_micros(since) if since is not None else -_NEVER
    hi = to_micros(until) if until is not None else _NEVER
    data = _Flows(
        state, store, since=lo, until=hi, attribution=attribution, currency=currency,
        rates=rates, assume_sent=assume_sent,
    )  # fmt: skip
    rows: list[PerformanceRow] = []
    for flow_id in sorted(flows):
        flow = flows[flow_id]
        data.measure_goal(flow_id, flow.conversion_goal)
        mine = data.enr.flow == flow_id
        entrants = mine & data.enr_in
        treated = entrants & ~data.enr.holdout
        held = entrants & data.enr.holdout
        acts = (data.acts.flow == flow_id) & data.act_in
        if not entrants.any() and not acts.any():
            continue
        rows.append(data.row(flow_id, acts, treated, held))
        for step in flow.steps:
            if isinstance(step, ActionStep):
                on = acts & (data.acts.step == step.id)
                rows.append(
                    data.row(flow_id, on, data.reached(on) & treated, None, step=step.id,
                             skip_step=step.id)
                )  # fmt: skip
        for step in flow.steps:
            if not isinstance(step, SplitStep):
                continue
            column = data.enr.variants.get(flow_id, {}).get(step.id)
            if column is None:
                continue
            names = [v.name for v in step.variants]
            masks = [treated & (column == name) for name in names]
            n = [int(m.sum()) for m in masks]
            best = prob_best([int(data.converted[m].sum()) for m in masks], n) if all(n) else None
            for k, (name, mask) in enumerate(zip(names, masks, strict=True)):
                on = acts & (data.act_enr >= 0) & mask[np.maximum(data.act_enr, 0)]
                row = data.row(flow_id, on, mask, held, step=step.id, variant=name)
                if best is not None:
                    row = _with_prob(row, float(best[k]))
                rows.append(row)
        for channel in np.unique(data.acts.channel[acts].astype(str)).tolist():
            if not channel:
                continue  # internal tasks
            on = acts & (data.acts.channel == channel)
            rows.append(data.row(flow_id, on, data.reached(on) & treated, None, channel=channel))
    return PerformanceReport(
        since=since, until=until, currency=data.orders.currency, rows=tuple(rows),
        attribution=attribution.to_dict(),
    )  # fmt: skip


def _with_prob(row: PerformanceRow, p: float) -> PerformanceRow:
    return attrs.evolve(row, prob_best=p)


def stored_flows(state: StateRepository) -> list[Flow]:
    """The latest version of every flow an engine ever ran on this state (its definitions).

    An engine stores each flow version it runs (``flowdef:`` records), so a report can
    be made without the app's code, as the ``ecomcrm flows performance`` command does.

    Example:
        >>> import ecomcrm
        >>> stored_flows(ecomcrm.open_store("memory://").state)
        []
    """
    latest: dict[str, Flow] = {}
    for record in state.scan(FLOWDEF):  # keys sort by flow, then version
        flow = Flow.from_dict(record.value)
        latest[flow.id] = flow
    return [latest[k] for k in sorted(latest)]
