"""Backtesting: replay a historical event log through flows, deterministically, sending nothing.

The replay runs a real :class:`Engine` whose state lives in a fresh in-memory store, so
the live state area is never read or written; customers, orders, loyalty points and
consents are read from the given store *as of* each replayed instant (orders placed and
consents given later do not count). Events are replayed in time order; before each
event the clock is advanced to its time, so every wait, cap and quiet hour plays out as
it would have.
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
from ecomcrm.rules._actions import Action
from ecomcrm.rules._engine import Engine
from ecomcrm.rules._flow import Flow
from ecomcrm.rules._policies import Policies
from ecomcrm.rules._schedule import parse_duration, require_aware, to_micros
from ecomcrm.storage import Store


def _frozen(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class FlowReport:
    """What one flow would have done during the replay.

    ``actions`` counts actions per step; ``skipped``/``deferred``/``exited`` count the
    decisions per reason (``frequency_cap``, ``quiet_hours``, ``consent``, ``exit``, ...).
    Conversion is the flow's goal event within its window after entering (holdout
    settings; ``Order Completed`` within 7 days without one); ``uplift`` is the treated
    rate minus the holdout rate (None without a holdout group).

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
            "caps_hit": self.caps_hit,
            "quiet_hours_hit": self.quiet_hours_hit,
        }


def backtest(
    store: Store,
    flows: Iterable[Flow],
    events: Iterable[Event],
    *,
    policies: Policies | None = None,
    end: datetime | None = None,
    refresh_every: timedelta | str | None = "1d",
) -> BacktestReport:
    """Replay ``events`` through ``flows`` and report what would have been sent.

    Args:
        store: Read-only source of customers, orders, loyalty and consents (as of each
            replayed instant). Its state area is not touched.
        flows: The flows to test.
        events: The historical event log (any order; replayed by time, then id).
        policies: Contact policies (default :meth:`Policies.default`).
        end: Advance the clock to here after the last event (default: its time).
        refresh_every: How often customer-based triggers (dates, segments,
            inactivity) are re-evaluated during the replay; None to never.

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.rules import builtin_flow
        >>> report = backtest(ecomcrm.open_store("memory://"), [builtin_flow("abandoned_cart")], [])
        >>> report.flows["abandoned_cart"].enrollments
        0
    """
    import ecomcrm

    flows = list(flows)
    ordered = sorted(events, key=lambda e: (e.at, e.id))
    scratch = ecomcrm.open_store("memory://")
    # (flow, customer, log entry [micros, kind, step, reason, text, data]) of every decision
    decisions: list[tuple[str, str, Sequence[Any]]] = []

    def observe(flow_id: str, cid: str, enrollment_id: str | None, entry: Sequence[Any]) -> None:
        decisions.append((flow_id, cid, entry))

    engine = Engine(
        store,
        flows,
        policies,
        state_store=scratch,
        decision_log=5,
        record_messages=False,
        _as_of_events=True,
        _log_observer=observe,
    )
    interval = parse_duration(refresh_every) if refresh_every is not None else None
    needs_refresh = any(f.trigger.kind.value != "event" for f in engine.flows.values())
    actions: list[Action] = []

    def advance_to(until: datetime) -> None:
        # step through every due time, as a live engine advanced often would
        while (due := engine.next_due()) is not None and due <= until:
            actions.extend(engine.advance(due))

    next_refresh: datetime | None = None
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
    goal_names = {
        (f.holdout.goal if f.holdout is not None else "Order Completed")
        for f in engine.flows.values()
    }
    for event in ordered:
        if event.name in goal_names:
            cid = engine._customer_key(event.customer_id, event.anonymous_id)
            goals.setdefault((event.name, cid), []).append(to_micros(event.at))
    by_flow: dict[str, list[tuple[str, Sequence[Any]]]] = {}
    for fid, cid, entry in decisions:
        by_flow.setdefault(fid, []).append((cid, entry))
    reports: dict[str, FlowReport] = {}
    for flow_id, flow in engine.flows.items():
        goal = flow.holdout.goal if flow.holdout is not None else "Order Completed"
        window = flow.holdout.within if flow.holdout is not None else timedelta(days=7)
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
    scratch.close()
    return BacktestReport(
        events=len(ordered),
        start=ordered[0].at if ordered else None,
        end=finish,
        actions=tuple(actions),
        flows=reports,
    )
