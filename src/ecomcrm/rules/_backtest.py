"""Backtesting: replay a historical event log through flows, deterministically, sending nothing.

The replay runs a real :class:`Engine` whose state lives in a fresh in-memory store, so
the live state area is never read or written; customers, orders, loyalty points and
consents are read from the given store *as of* each replayed instant (orders placed and
consents given later do not count). Events are replayed in time order; before each
event the clock is advanced to its time, so every wait, cap and quiet hour plays out as
it would have.

A backtest of ``[start, end]`` starts warm: first the engine's state is brought to
``start`` from the history before it, reporting nothing. At ``start - warmup`` every
customer-based trigger is judged once without enrolling anyone (a customer inactive for
long, or already in a segment, is where a live engine would have left them: their
trigger fired long ago); then the ``warmup`` period is replayed like the window
(daily refreshes, every due timer, the given events before ``start``), its actions and
decisions left out of the report. Only then does the reported window begin.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from ecomcrm.domain import Event
from ecomcrm.errors import ValidationError
from ecomcrm.rules._actions import Action
from ecomcrm.rules._attribution import Attribution
from ecomcrm.rules._engine import Replay
from ecomcrm.rules._flow import Flow
from ecomcrm.rules._performance import performance_report
from ecomcrm.rules._policies import Policies
from ecomcrm.rules._report import PerformanceReport
from ecomcrm.rules._schedule import parse_duration, require_aware, to_micros
from ecomcrm.rules._steps import WaitStep, WaitUntilStep
from ecomcrm.segments import FeatureTable
from ecomcrm.storage import Store


def _frozen(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class FlowReport:
    """What one flow would have done during the replay.

    ``actions`` counts actions per step; ``skipped``/``deferred``/``exited`` count the
    decisions per reason (``frequency_cap``, ``quiet_hours``, ``consent``, ``exit``, ...).
    Conversion is the flow's goal event within its window after entering
    (:attr:`Flow.conversion_goal`; counted on the replayed events); ``uplift`` is the
    treated rate minus the holdout rate (None without a holdout group). The report's
    ``performance`` has the full figures, with intervals.

    Example:
        >>> FlowReport(flow_id="f", enrollments=0, holdout_enrollments=0, actions={},
        ...            skipped={}, deferred={}, exited={}, treated_conversions=0,
        ...            holdout_conversions=0).uplift is None
        True
    """

    flow_id: str
    enrollments: int
    holdout_enrollments: int
    actions: Mapping[str, int] = attrs.field(converter=_frozen)
    skipped: Mapping[str, int] = attrs.field(converter=_frozen)
    deferred: Mapping[str, int] = attrs.field(converter=_frozen)
    exited: Mapping[str, int] = attrs.field(converter=_frozen)
    treated_conversions: int
    holdout_conversions: int

    @property
    def treated_rate(self) -> float | None:
        """Share of treated entrants who converted."""
        return self.treated_conversions / self.enrollments if self.enrollments else None

    @property
    def holdout_rate(self) -> float | None:
        """Share of holdout entrants who converted."""
        if not self.holdout_enrollments:
            return None
        return self.holdout_conversions / self.holdout_enrollments

    @property
    def uplift(self) -> float | None:
        """Treated minus holdout conversion rate (None without both groups)."""
        if self.treated_rate is None or self.holdout_rate is None:
            return None
        return self.treated_rate - self.holdout_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "flow_id": self.flow_id,
            "enrollments": self.enrollments,
            "holdout_enrollments": self.holdout_enrollments,
            "actions": dict(self.actions),
            "skipped": dict(self.skipped),
            "deferred": dict(self.deferred),
            "exited": dict(self.exited),
            "treated_conversions": self.treated_conversions,
            "holdout_conversions": self.holdout_conversions,
            "treated_rate": self.treated_rate,
            "holdout_rate": self.holdout_rate,
            "uplift": self.uplift,
        }


def _frozen_reports(value: Mapping[str, FlowReport]) -> Mapping[str, FlowReport]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class BacktestReport:
    """The result of :func:`backtest`: every action that would have gone out, and per-flow figures.

    ``events`` counts the events replayed in the reported window ``[start, end]``;
    ``warmup_start`` is where the unreported warm-up began (None for a cold start) and
    ``warmup_events`` how many events it replayed. ``performance`` is the same report
    :meth:`Engine.performance` gives on live data, for the replayed window: every action
    counts as sent when it was due (nothing was sent, so no outcome was reported), and
    orders in the store are credited and counted as conversions as they happened.

    Example:
        >>> r = BacktestReport(events=0, start=None, end=None, actions=(), flows={})
        >>> r.caps_hit, r.quiet_hours_hit
        (0, 0)
    """

    events: int
    start: datetime | None
    end: datetime | None
    actions: tuple[Action, ...]
    flows: Mapping[str, FlowReport] = attrs.field(converter=_frozen_reports)
    warmup_start: datetime | None = None
    warmup_events: int = 0
    performance: PerformanceReport | None = None

    @property
    def caps_hit(self) -> int:
        """How many times a frequency cap skipped or deferred an action."""
        return sum(
            f.skipped.get("frequency_cap", 0) + f.deferred.get("frequency_cap", 0)
            for f in self.flows.values()
        )

    @property
    def quiet_hours_hit(self) -> int:
        """How many times quiet hours deferred an action."""
        return sum(f.deferred.get("quiet_hours", 0) for f in self.flows.values())

    def _repr_html_(self) -> str:
        """One row per flow (entered, actions, conversions, uplift) as an HTML table.

        Example:
            >>> r = BacktestReport(events=3, start=None, end=None, actions=(), flows={})
            >>> "3 events" in r._repr_html_()
            True
        """
        from ecomcrm._html import html_table

        rows = [
            [
                flow_id, f.enrollments, sum(f.actions.values()), f.treated_conversions,
                "" if f.treated_rate is None else f"{f.treated_rate:.1%}",
                "" if f.uplift is None else f"{f.uplift:+.1%}",
                sum(f.skipped.values()), sum(f.deferred.values()),
            ]
            for flow_id, f in sorted(self.flows.items())
        ]  # fmt: skip
        window = (
            f" {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"
            if self.start is not None and self.end is not None
            else ""
        )
        return html_table(
            f"BacktestReport{window}: {self.events:,} events, {len(self.actions):,} actions",
            ["flow", "entered", "actions", "conversions", "conversion rate", "uplift",
             "skipped", "deferred"],
            rows,
            note=f"{self.caps_hit} capped, {self.quiet_hours_hit} quiet-hours deferrals",
        )  # fmt: skip

    def summary(self) -> str:
        """A plain-text table: one line per flow."""
        lines = [
            f"{self.events} events, {len(self.actions)} actions, "
            f"{self.caps_hit} capped, {self.quiet_hours_hit} quiet-hours deferrals"
        ]
        for flow_id, f in sorted(self.flows.items()):
            sent = sum(f.actions.values())
            line = f"{flow_id}: {f.enrollments} entered, {sent} actions"
            if f.holdout_enrollments:
                assert f.uplift is not None
                line += (
                    f", holdout {f.holdout_enrollments}; conversion {f.treated_rate:.1%} vs "
                    f"{f.holdout_rate:.1%} (uplift {f.uplift:+.1%})"
                )
            lines.append(line)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "events": self.events,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "actions": [a.to_dict() for a in self.actions],
            "flows": {k: v.to_dict() for k, v in self.flows.items()},
            "warmup_start": None if self.warmup_start is None else self.warmup_start.isoformat(),
            "warmup_events": self.warmup_events,
            "caps_hit": self.caps_hit,
            "quiet_hours_hit": self.quiet_hours_hit,
        }


_WEEK = timedelta(days=7)


def warmup_horizon(flows: Iterable[Flow], policies: Policies | None = None) -> timedelta:
    """How much history a backtest replays before its window so the state there is warm.

    The longest of: the longest path through a flow's steps (fixed waits; a wait read
    from a field counts its fallback ``duration``; a wait until a time of day or weekday
    up to 7 days), so an enrollment begun earlier has ended by the window; a re-entry
    cool-down and a repeated trigger's ``within``, so they hold at the window's start;
    and the longest frequency cap of ``policies`` (default :meth:`Policies.default`), so
    recent sends count against it. Re-entry ``never`` reaches back without limit and is
    left out.

    Example:
        >>> from ecomcrm.rules import builtin_flow
        >>> warmup_horizon([builtin_flow("win_back")]).days
        60
        >>> warmup_horizon([builtin_flow("abandoned_cart")]).days  # its re-entry cool-down
        3
    """
    policies = policies if policies is not None else Policies.default()
    longest = policies.longest_cap
    for flow in flows:
        longest = max(longest, _longest_path(flow))
        if flow.reentry.cooldown_for is not None:
            longest = max(longest, flow.reentry.cooldown_for)
        if flow.trigger.within is not None:
            longest = max(longest, flow.trigger.within)
    return longest


def _longest_path(flow: Flow) -> timedelta:
    """The longest total wait along any path of the (acyclic) flow."""
    memo: dict[str, timedelta] = {}

    def length(step_id: str) -> timedelta:
        if step_id in memo:
            return memo[step_id]
        step = flow.step(step_id)
        own = timedelta(0)
        if isinstance(step, WaitStep):
            own = step.duration or timedelta(0)
        elif isinstance(step, WaitUntilStep):
            own = _WEEK
        after = timedelta(0)
        for target in step.targets():
            nxt = flow.successor(step_id, target)
            if nxt is not None:
                after = max(after, length(nxt))
        memo[step_id] = own + after
        return memo[step_id]

    first = flow.first_step
    return length(first) if first is not None else timedelta(0)


def backtest(
    store: Store,
    flows: Iterable[Flow],
    events: Iterable[Event],
    *,
    policies: Policies | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    refresh_every: timedelta | str | None = "1d",
    warmup: timedelta | str | None = "auto",
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    features: FeatureTable | None = None,
    attribution: Attribution | None = None,
    _exact_steps: bool = False,
) -> BacktestReport:
    """Replay ``events`` through ``flows`` and report what would have been sent.

    Args:
        store: Read-only source of customers, orders, loyalty and consents (as of each
            replayed instant). Its state area is not touched.
        flows: The flows to test.
        events: The historical event log (any order; replayed by time, then id). Events
            before ``start`` (back to ``start - warmup``) warm the state up unreported.
        policies: Contact policies (default :meth:`Policies.default`).
        start: Where the reported window begins (default: the first event's time).
        end: Advance the clock to here after the last event (default: its time).
        refresh_every: How often customer-based triggers (dates, segments,
            inactivity) are re-evaluated during the replay; None to never.
        warmup: How much history before ``start`` brings the state up to it: a
            duration, ``"auto"`` (:func:`warmup_horizon` of the flows and policies), or
            None for a cold start (every trigger judged afresh at ``start``, so, say,
            everyone long inactive enters a win-back flow on the first day).
        currency: The currency of the money fields conditions read (``total_spent``,
            ``aov``, ``refunded_amount``), as ``Engine(currency=...)``: net of refunds,
            as of each replayed instant. Without it, a customer whose orders are in
            several currencies makes a condition reading money raise ValidationError.
        rates: Units of ``currency`` per unit of each other currency.
        features: A customer feature table (``build_customer_features``) the
            conditions read model and whole-store fields from (``p_alive``,
            ``predicted_clv``, ``next_purchase_at``, ``rfm_segment``, ...), as
            ``Engine(features=...)``; without it those fields are null. The table is
            one snapshot (as of its ``now``), not rebuilt at each replayed instant.
        attribution: How ``performance`` credits orders to the replayed actions (default
            :class:`Attribution`; each window counts from the action's due time).

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.rules import builtin_flow
        >>> report = backtest(ecomcrm.open_store("memory://"), [builtin_flow("abandoned_cart")], [])
        >>> report.flows["abandoned_cart"].enrollments
        0

        Money in the report's currency, and model fields from a feature table:

        >>> from datetime import timezone
        >>> from ecomcrm.segments import build_customer_features
        >>> store = ecomcrm.open_store("memory://")
        >>> now = datetime(2024, 6, 1, tzinfo=timezone.utc)
        >>> table = build_customer_features(store, now=now, currency="EUR")
        >>> report = backtest(store, [builtin_flow("win_back")], [], currency="EUR",
        ...                   rates={"JPY": 0.0061}, features=table)
        >>> report.flows["win_back"].enrollments
        0
    """
    flows = list(flows)
    policies = policies if policies is not None else Policies.default()
    everything = sorted(events, key=lambda e: (e.at, e.id))
    begin = require_aware(start, "start") if start is not None else None
    if begin is None and everything:
        begin = everything[0].at
    horizon: timedelta | None = None
    if warmup == "auto":
        horizon = warmup_horizon(flows, policies)
    elif warmup is not None:
        horizon = parse_duration(warmup)
        if horizon < timedelta(0):
            raise ValidationError(
                "must not be negative", entity="backtest", field="warmup", value=warmup
            )
    warm_from = begin - horizon if begin is not None and horizon is not None else None
    first = bisect.bisect_left(everything, begin, key=lambda e: e.at) if begin is not None else 0
    ordered = everything[first:]
    warm_events = (
        everything[bisect.bisect_left(everything, warm_from, key=lambda e: e.at) : first]
        if warm_from is not None
        else []
    )
    # (flow, customer, log entry [micros, kind, step, reason, text, data]) of every decision
    decisions: list[tuple[str, str, Sequence[Any]]] = []
    reporting = [False]

    def observe(flow_id: str, cid: str, enrollment_id: str | None, entry: Sequence[Any]) -> None:
        if reporting[0]:
            decisions.append((flow_id, cid, entry))

    replay = Replay(
        store, flows, policies, currency=currency, rates=rates, features=features,
        log_observer=observe,
    )  # fmt: skip
    engine = replay.engine
    interval = parse_duration(refresh_every) if refresh_every is not None else None
    needs_refresh = replay.needs_refresh
    actions: list[Action] = []

    def advance_to(until: datetime) -> None:
        # step through every due time, as a live engine advanced often would
        if _exact_steps:
            while (due := engine.next_due()) is not None and due <= until:
                actions.extend(engine.advance(due))
        else:
            actions.extend(replay.advance_through(until))

    next_refresh: datetime | None = None
    if warm_from is not None and begin is not None:
        _warm_up(replay, warm_from, begin, warm_events, interval, needs_refresh, _exact_steps)
    reporting[0] = True
    for event in ordered:
        advance_to(event.at)
        if (
            needs_refresh
            and interval is not None
            and (next_refresh is None or event.at >= next_refresh)
        ):
            actions.extend(engine.refresh(event.at))
            next_refresh = event.at + interval
        actions.extend(engine.handle(event))
    last = ordered[-1].at if ordered else None
    finish = require_aware(end, "end") if end is not None else last
    if finish is not None:
        advance_to(finish)
    goals: dict[tuple[str, str], list[int]] = {}  # goal event times, µs
    goal_names = {f.conversion_goal.event for f in engine.flows.values()}
    for event in ordered:
        if event.name in goal_names:
            cid = replay.customer_key(event.customer_id, event.anonymous_id)
            goals.setdefault((event.name, cid), []).append(to_micros(event.at))
    by_flow: dict[str, list[tuple[str, Sequence[Any]]]] = {}
    for fid, cid, entry in decisions:
        by_flow.setdefault(fid, []).append((cid, entry))
    reports: dict[str, FlowReport] = {}
    for flow_id, flow in engine.flows.items():
        goal = flow.conversion_goal.event
        window = flow.conversion_goal.within
        window_us = window // timedelta(microseconds=1)
        counts = {k: Counter[str]() for k in ("actions", "skipped", "deferred", "exited")}
        entered = held = treated_conv = held_conv = 0
        for cid, (at_us, kind, step, reason, _, _) in by_flow.get(flow_id, ()):
            if kind in ("enrolled", "holdout"):
                times = goals.get((goal, cid), [])
                i = bisect.bisect_right(times, at_us)
                converted = i < len(times) and times[i] <= at_us + window_us
                if kind == "enrolled":
                    entered += 1
                    treated_conv += converted
                else:
                    held += 1
                    held_conv += converted
            elif kind == "action":
                counts["actions"][step or ""] += 1
            elif kind in ("skipped", "deferred", "exited"):
                counts[kind][reason] += 1
        reports[flow_id] = FlowReport(
            flow_id=flow_id,
            enrollments=entered,
            holdout_enrollments=held,
            actions=counts["actions"],
            skipped=counts["skipped"],
            deferred=counts["deferred"],
            exited=counts["exited"],
            treated_conversions=treated_conv,
            holdout_conversions=held_conv,
        )
    measured = performance_report(
        replay.state, store, engine.flows, since=begin,
        until=finish + timedelta(microseconds=1) if finish is not None else None,
        attribution=attribution, currency=currency, rates=rates, assume_sent=True,
    )  # fmt: skip
    replay.close()
    return BacktestReport(
        events=len(ordered),
        start=begin,
        end=finish,
        actions=tuple(actions),
        flows=reports,
        warmup_start=warm_from,
        warmup_events=len(warm_events),
        performance=measured,
    )


def _warm_up(
    replay: Replay,
    warm_from: datetime,
    begin: datetime,
    events: Sequence[Event],
    interval: timedelta | None,
    needs_refresh: bool,
    exact: bool,
) -> None:
    """Bring the engine's state from ``warm_from`` to just before ``begin``; nothing reported.

    Every step runs on the engine's batched paths:
    the seed and each refresh are one vectorized ``refresh`` over all customers, due
    timers fire in due order 256 per unit of work, and the events between two due timers
    (or refreshes) are handled in one unit of work each. ``exact`` takes the reference
    path instead (``advance`` per due time, ``handle`` per event), for tests.
    """
    engine = replay.engine
    if needs_refresh:
        # the seed: judge every customer-based trigger as of the horizon, enrolling nobody
        with replay.quiet():
            engine.refresh(warm_from)
            engine.advance(warm_from)
    # refreshes over all customers dominate a warm-up (90 daily ones took 70% of it on
    # 5,000 customers): it refreshes weekly at most, the last one ``interval`` before
    # ``begin``; the window refreshes at its first event, then every ``interval`` again
    step = max(interval, _WEEK) if interval is not None else None
    next_refresh = None
    if needs_refresh and interval is not None and step is not None:
        last = begin - interval
        next_refresh = last - step * ((last - warm_from) // step)
        if next_refresh <= warm_from:
            next_refresh += step
    i = 0
    while True:
        # the next stop: a refresh, the next event, or the window's start
        stop = begin
        if next_refresh is not None and next_refresh < stop:
            stop = next_refresh
        if i < len(events) and events[i].at < stop:
            stop = events[i].at
        if exact:
            while (due := engine.next_due()) is not None and due <= stop and due < begin:
                engine.advance(due)
        else:
            replay.advance_through(stop, inclusive=stop < begin)
        if stop >= begin:
            break
        if next_refresh is not None and stop == next_refresh:
            engine.refresh(stop)
            assert step is not None
            next_refresh = stop + step
            continue
        # the events before the next due timer, refresh or the window's start go in one
        # unit of work; it stops early at a timer one of them sets (that fires first)
        due = engine.next_due()
        limit = min(t for t in (due, next_refresh, begin) if t is not None)
        if exact:
            engine.handle(events[i])
            i += 1
        else:
            i += replay.handle_run(events, i, limit)
