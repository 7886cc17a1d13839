"""The rules engine's public face: ``handle``, ``advance``, ``ack`` and friends, and a backtest's replay.

The engine is split by responsibility (see ``rules._runtime``): the state layout in
``rules._keys``, one unit of work and its compare-and-set commit in ``rules._work``,
enrollments and the policy gate in ``rules._enrollments``, triggers in
``rules._triggers``. This module routes events and timers to them and holds the public
API; :class:`Replay` is a backtest's way to drive an engine through history.

Exactly-once intent: each unit of work (one event, one batch, one due timer) reads what
it needs, computes, then writes everything in one store transaction with compare-and-set
on every record it read (new records must not exist yet). A second process that did the
same work first makes the commit fail with ConflictError; the unit is then recomputed
from the fresh state, where the work is visibly done. Actions are returned only after
their records are committed; an action's id derives from its idempotency key, and an
``act:`` record that already exists is never emitted again. Every handled event leaves
a ``seen:<event id>`` mark in the same commit, so the same event delivered again changes
nothing, even when its first delivery was rejected.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ecomcrm.domain import Event, Message, MessageOutcome
from ecomcrm.errors import ConflictError, NotFoundError
from ecomcrm.rules._actions import Action, Decision, Explanation
from ecomcrm.rules._attribution import Attribution
from ecomcrm.rules._enrollments import ACTIVE, Enrollments
from ecomcrm.rules._flow import Flow, TriggerKind
from ecomcrm.rules._keys import (
    ACT,
    SEEN,
    TIMER,
    TIMER_END,
    TRG,
    act_key,
    enr_key,
    timer_due,
    timer_key,
    trg_key,
)
from ecomcrm.rules._performance import performance_report
from ecomcrm.rules._policies import Policies
from ecomcrm.rules._report import PerformanceReport
from ecomcrm.rules._retry import Retry
from ecomcrm.rules._runtime import LogObserver, Observer, Runtime
from ecomcrm.rules._schedule import format_duration, from_micros, require_aware, to_micros
from ecomcrm.rules._triggers import Plan, Triggers
from ecomcrm.rules._winners import Winners
from ecomcrm.rules._work import LOST_RACE, Work, gave_up
from ecomcrm.segments import FeatureTable
from ecomcrm.storage import StateRecord, StateRepository, Store, open_store

_PLAIN_MAPPINGS = frozenset({dict, MappingProxyType})  # checked before the slower ABC test
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _json_safe(value: Any) -> Any:
    if type(value) in _PLAIN_MAPPINGS or isinstance(value, Mapping):
        return {
            k if type(k) is str else str(k): v if type(v) in _JSON_SCALARS else _json_safe(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [v if type(v) in _JSON_SCALARS else _json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class Engine:
    """Runs flows for an embedding app: ``handle(event)``, ``advance(now)``, ``ack(action_id, outcome)``.

    The engine keeps no state of its own between calls: enrollments, timers, caps and
    the action log live in ``state_store.state`` (by default the store's), so a new
    engine on the same store continues where another stopped, and several processes
    may run engines on one store at once without handing out an action twice.

    Args:
        store: Where customers, orders, consents and messages are read (and messages
            written by :meth:`ack`).
        flows: The flows to run; several versions of one flow id may be given (the
            highest is the current one; enrollments finish on the version they started).
        policies: Consent, frequency caps and quiet hours (default
            :meth:`Policies.default`).
        state_store: The store whose state area and transactions hold the engine's
            state (default ``store``); a backtest uses a separate in-memory one.
        decision_log: How many recent decisions each enrollment record keeps for
            :meth:`explain`.
        record_messages: Write acknowledged messages to ``store.messages``.
        observer: Called as ``observer(flow_id, customer_id, enrollment_id, decision)``
            for every decision once it is committed.
        retry: How a unit of work that lost a race (another process committed first, or
            the database stayed locked) is tried again (default :class:`Retry`: 8 tries,
            jittered pauses from 2 ms up to 250 ms). After the last try the
            ConflictError or StorageBusyError is raised; nothing is lost silently.
        currency: The currency of the money fields conditions read (``total_spent``,
            ``aov``, ``refunded_amount``), as ``build_customer_features(currency=...)``.
            Without it, a customer whose orders are in several currencies makes a
            condition reading money raise ValidationError (never a raw sum).
        rates: Units of ``currency`` per unit of each other currency.
        features: A customer feature table (``build_customer_features``): conditions
            read the fields only a whole-store build gives (``p_alive``,
            ``next_purchase_at``, ``p_purchase_30d``, RFM, abandonment counts,
            ``categories``, ...) from its rows; without it they are null. Replace it with
            :attr:`features` after a rebuild.

    Unknown customers: an event whose ``customer_id`` the store does not hold is still
    tracked under that id; an event with only an ``anonymous_id`` is tracked under
    ``"anonymous:<id>"``. Merged ids are followed (``store.resolve``). When an action
    comes due, the engine looks the person up again (an anonymous id may have been
    linked to a customer by then): unknown or erased people are never contacted; the
    action is recorded as skipped.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timedelta, timezone
        >>> from ecomcrm.domain import Customer, Consent, Event, Identity
        >>> from ecomcrm.rules import ActionStep, Engine, Flow, Trigger, WaitStep
        >>> store = ecomcrm.open_store("memory://")
        >>> t0 = datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
        >>> store.customers.put(Customer(id="c1", created_at=t0, identities=[Identity.email("a@b.co")]))
        >>> store.consents.record(Consent(customer_id="c1", channel="email", purpose="marketing",
        ...                               granted=True, at=t0))
        >>> flow = Flow(id="hello", trigger=Trigger.on_event("Signed Up"),
        ...             steps=[WaitStep(id="wait", duration="1h"),
        ...                    ActionStep(id="welcome", channel="email", template="welcome")])
        >>> engine = Engine(store, [flow])
        >>> engine.handle(Event(name="Signed Up", customer_id="c1", at=t0))
        []
        >>> [a.template for a in engine.advance(t0 + timedelta(hours=1))]
        ['welcome']
    """

    def __init__(
        self,
        store: Store,
        flows: Iterable[Flow],
        policies: Policies | None = None,
        *,
        state_store: Store | None = None,
        decision_log: int = 20,
        record_messages: bool = True,
        observer: Observer | None = None,
        retry: Retry | None = None,
        currency: str | None = None,
        rates: Mapping[str, float] | None = None,
        features: FeatureTable | None = None,
    ) -> None:
        # construction only reads (flow definitions are stored with the first write)
        self._rt = rt = Runtime(
            store, flows, policies, state_store=state_store, decision_log=decision_log,
            record_messages=record_messages, observer=observer, retry=retry,
            currency=currency, rates=rates, features=features,
        )  # fmt: skip
        self._enrollments = Enrollments(rt)
        self._triggers = Triggers(rt, self._enrollments)
        self._plans = self._triggers.plans

    @property
    def store(self) -> Store:
        """The store customers, orders, consents and messages are read from.

        Example:
            >>> import ecomcrm
            >>> store = ecomcrm.open_store("memory://")
            >>> Engine(store, []).store is store
            True
        """
        return self._rt.store

    @property
    def policies(self) -> Policies:
        """The contact policies (consent, caps, quiet hours) every action passes.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).policies == Policies.default()
            True
        """
        return self._rt.policies

    @property
    def flows(self) -> dict[str, Flow]:
        """The current version of each flow, by id.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).flows
            {}
        """
        return self._rt.flows

    @property
    def currency(self) -> str | None:
        """The currency money fields are read in (None: the store's single currency).

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), [], currency="EUR").currency
            'EUR'
        """
        return self._rt.currency

    @property
    def rates(self) -> dict[str, float] | None:
        """Units of :attr:`currency` per unit of each other currency.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), [], currency="EUR", rates={"USD": 0.9}).rates
            {'USD': 0.9}
        """
        return self._rt.rates

    @property
    def features(self) -> FeatureTable | None:
        """The feature table conditions read model and whole-store fields from (or None).

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).features is None
            True
        """
        found = self._rt.features
        return None if found is None else found.table

    @features.setter
    def features(self, table: FeatureTable | None) -> None:
        from ecomcrm.rules._context import FeatureRows

        self._rt.features = FeatureRows(table) if table is not None else None

    # --- public API -----------------------------------------------------------------------

    def handle(self, event: Event, *, now: datetime | None = None) -> list[Action]:
        """Feed one event; returns the actions due now because of it.

        ``now`` defaults to the event's time. Delivering the same event again (same id)
        changes nothing and returns no action twice.

        Example:
            >>> import ecomcrm
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.domain import Event
            >>> e = Engine(ecomcrm.open_store("memory://"), [])
            >>> e.handle(Event(name="Product Viewed", anonymous_id="a1",
            ...                at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
            []
        """
        plan = self._plans.get(event.name)
        if plan is None:
            return []
        when = require_aware(now, "now") if now is not None else event.at
        return self._rt.run(self._handle_event, event, when, plan)

    def handle_many(self, events: Iterable[Event], *, now: datetime | None = None) -> list[Action]:
        """Feed many events in one store transaction (much faster on SQLite).

        Equivalent to calling :meth:`handle` for each event in order; if another
        process interferes, the batch is redone event by event.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).handle_many([])
            []
        """
        plans = self._plans
        batch = [(e, plans[e.name]) for e in events if e.name in plans]
        if not batch:
            return []
        fixed = require_aware(now, "now") if now is not None else None

        def unit(work: Work) -> None:
            self._prefetch_events(work, batch)
            for event, plan in batch:
                self._handle_event(work, event, fixed if fixed is not None else event.at, plan)

        try:
            return self._rt.run(unit, retries=1, hold=True)
        except LOST_RACE:
            out: list[Action] = []
            for event, _ in batch:
                out.extend(self.handle(event, now=fixed))
            return out

    def advance(self, now: datetime, *, limit: int | None = None) -> list[Action]:
        """Move the clock to ``now``: run every timer due at or before it; returns the actions.

        Each timer runs once even when several processes advance at once: its commit is
        compare-and-set, and on a store whose state claims records (``SupportsClaims``,
        PostgresStore) each batch of due timers is claimed first, so the processes run
        disjoint timers side by side instead of racing for the same ones. ``limit``
        bounds how many timers one call runs (the rest stay due for the next call).

        Example:
            >>> import ecomcrm
            >>> from datetime import datetime, timezone
            >>> Engine(ecomcrm.open_store("memory://"), []).advance(datetime(2024, 1, 1, tzinfo=timezone.utc))
            []
        """
        now = require_aware(now, "now")
        rt = self._rt
        stop = timer_key(to_micros(now) + 1, "")
        due = rt.state.scan(TIMER, stop=stop, limit=limit)
        claims = rt.claims
        out: list[Action] = []
        batch_size = 256
        for start in range(0, len(due), batch_size):
            chunk = due[start : start + batch_size]

            def unit(work: Work, chunk: Sequence[StateRecord] = chunk) -> None:
                if claims is not None:
                    # the timers of the chunk that still exist and no other process holds,
                    # locked until this unit commits (a skipped one is another's to run)
                    chunk = claims.claim([record.key for record in chunk])
                rt.prefetch_timers(work, chunk)
                for record in chunk:
                    self._fire(work, record.key, now)

            try:
                out.extend(rt.run(unit, retries=1, hold=True))
            except LOST_RACE:
                for record in chunk:
                    if claims is not None:
                        one: Sequence[StateRecord] = (record,)
                        out.extend(rt.run(functools.partial(unit, chunk=one), hold=True))
                    else:
                        out.extend(rt.run(self._fire, record.key, now))
        return out

    def refresh(self, now: datetime, customer_ids: Iterable[str] | None = None) -> list[Action]:
        """Re-evaluate the customer-based triggers (dates, inactivity, segments, thresholds).

        Call it after importing or changing profiles (for all customers when
        ``customer_ids`` is None, e.g. once a day). Schedules the next birthday or
        anniversary, starts inactivity clocks from the last order, and enrolls
        customers who entered or left a segment or crossed a threshold.

        Example:
            >>> import ecomcrm
            >>> from datetime import datetime, timezone
            >>> Engine(ecomcrm.open_store("memory://"), []).refresh(datetime(2024, 1, 1, tzinfo=timezone.utc))
            []
        """
        now = require_aware(now, "now")
        if not self._triggers.customer_based:
            return []
        return self._triggers.refresh(now, customer_ids)

    def ack(
        self,
        action_id: str,
        outcome: MessageOutcome | str = MessageOutcome.SENT,
        *,
        at: datetime | None = None,
    ) -> None:
        """Report what became of an action (sent, delivered, failed, ...).

        The outcome is stored with the action; messages are also written to
        ``store.messages`` (unless ``record_messages=False``). Acknowledging again
        updates the outcome; the action also keeps when each outcome was first reported
        (sent, delivered, opened, clicked, ...), which attribution windows count from
        (:meth:`performance`).

        Raises:
            NotFoundError: No action with this id was handed out.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).ack("act_missing")
            Traceback (most recent call last):
            ...
            ecomcrm.errors.NotFoundError: action.id: was never handed out (got 'act_missing')
        """
        outcome = MessageOutcome(outcome)
        key = act_key(action_id)
        retry = self._rt.retry
        for n in range(1, retry.attempts + 1):
            record = self._rt.state.get(key)
            if record is None:
                raise NotFoundError(
                    "was never handed out", entity="action", field="id", value=action_id
                )
            action = Action.from_dict(record.value)
            when = require_aware(at, "at") if at is not None else action.due_at
            value = dict(record.value)
            value["status"] = "acked"
            value["outcome"] = outcome.value
            value["acked_at"] = to_micros(when)
            times = value.get("times") or {}
            if outcome.value not in times:  # the first report of each outcome is kept
                value["times"] = {**times, outcome.value: to_micros(when)}
            try:
                with self._rt.state_store.transaction():
                    self._rt.state.put(
                        key, value, expected_version=record.version, owner=record.owner
                    )
                    if self._rt.record_messages and action.channel is not None:
                        self.store.messages.upsert(
                            Message(
                                id=action.id,
                                customer_id=action.customer_id,
                                channel=action.channel,
                                at=when,
                                template=action.template,
                                purpose=action.purpose,
                                outcome=outcome,
                                flow_id=action.flow_id,
                                action_id=action.id,
                                params=_json_safe(action.params),
                            )
                        )
                return
            except LOST_RACE as exc:
                if n == retry.attempts:
                    raise gave_up(exc, f"kept losing the race acknowledging {action_id!r}",
                                  n) from exc  # fmt: skip
                retry.pause(n)
        raise AssertionError("unreachable")  # pragma: no cover

    def performance(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        attribution: Attribution | None = None,
    ) -> PerformanceReport:
        """What each flow, step, split variant and channel did and earned in ``[since, until)``.

        Enrollments that started and actions handed out in the period are counted;
        conversions are those enrollments reaching their flow's goal
        (:attr:`Flow.conversion_goal`) within its window; revenue is the orders credited to
        those actions by ``attribution`` (default :class:`Attribution`: last touch within
        per-channel windows counted from the reported outcome, each order credited once
        across all flows), in the engine's :attr:`currency` (converted with its
        :attr:`rates`). Flows with a holdout get its lift with 95 % intervals. Everything
        is read in bulk: one scan of the action and enrollment records, the store's order
        and goal-event columns.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), [], currency="EUR").performance().rows
            ()
        """
        return performance_report(
            self._rt.state, self.store, self.flows, since=since, until=until,
            attribution=attribution, currency=self.currency, rates=self.rates,
        )  # fmt: skip

    @property
    def winners(self) -> Winners:
        """A/B split winners: ``decide(now)`` (automatic), ``set``, ``revert``, ``get``.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).winners.get("f", "ab") is None
            True
        """
        return Winners(self._rt.state, lambda: self.flows, lambda now: self.performance(until=now))

    def pending(self) -> list[Action]:
        """Actions handed out but not acknowledged yet (for recovery after a crash).

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).pending()
            []
        """
        return [
            Action.from_dict(r.value)
            for r in self._rt.state.scan(ACT)
            if r.value.get("status") == "pending"
        ]

    def forget(self, customer_id: str) -> int:
        """Delete every record the engine keeps about a customer; returns how many went.

        Every record the engine writes names the person it is about
        (``StateRecord.owner``): the customer's enrollments and their decision logs,
        trigger, segment, count and cap records, the timers that would wake them, and the
        records of the actions handed out for them. :meth:`~ecomcrm.storage.Store.erase`
        already deletes them by that owner in its own transaction, so an erasure needs no
        call here; ``forget`` is for a separate ``state_store`` or for forgetting the
        engine's history of a person the store keeps. Records are matched by their whole
        owner, never by a part of a key, so other customers' records are untouched
        whatever characters the ids contain.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).forget("c1")
            0
        """
        return self._rt.forget(customer_id)

    def next_due(self) -> datetime | None:
        """When the earliest timer is due (None when nothing waits): when to call ``advance``.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).next_due() is None
            True
        """
        first = self._rt.state.scan(TIMER, limit=1)
        if not first:
            return None
        return from_micros(timer_due(first[0].key))

    def explain(self, customer_id: str, flow_id: str) -> Explanation:
        """Why the customer got (or did not get) actions from a flow, in words and as data.

        Example:
            >>> import ecomcrm
            >>> from ecomcrm.rules import Flow, Trigger
            >>> e = Engine(ecomcrm.open_store("memory://"), [Flow(id="f", trigger=Trigger.on_event("X"), steps=[])])
            >>> print(e.explain("c1", "f"))
            c1 never entered flow 'f' (trigger: event 'X'): no trigger matched yet.
        """
        flow = self.flows.get(flow_id)
        if flow is None:
            raise NotFoundError("no such flow in this engine", entity="flow", value=flow_id)
        cid = self._rt.customer_key(customer_id, None)
        record = self._rt.state.get(enr_key(flow_id, cid))
        value: Mapping[str, Any] = record.value if record is not None else {}
        decisions = tuple(Decision.from_log(e) for e in value.get("log", []))
        status = value.get("status", "never entered")
        trigger = _describe_trigger(flow)
        lines: list[str] = []
        if not value or status == "none":
            lines.append(f"{cid} never entered flow {flow_id!r} ({trigger}): ")
            if decisions:
                last = decisions[-1]
                lines[-1] += f"last attempt {last.at.isoformat()} was {last.kind}: {last.text}."
            else:
                lines[-1] += "no trigger matched yet."
            trg = self._rt.state.get(trg_key(flow_id, cid))
            if trg is not None and trg.value.get("due") is not None:
                lines.append(f" Next trigger check at {from_micros(trg.value['due']).isoformat()}.")
            status = "never entered"
        else:
            started = from_micros(value["started"]).isoformat()
            lines.append(
                f"{cid} entered flow {flow_id!r} v{value['v']} at {started} ({trigger}); "
                f"status {status}."
            )
            if status == ACTIVE and value.get("step") is not None:
                when = value.get("due")
                lines.append(
                    f" Next step {value['step']!r}"
                    + (f" at {from_micros(when).isoformat()}." if when else " now.")
                )
            for d in decisions:
                where = f" [{d.step}]" if d.step else ""
                lines.append(f"\n- {d.at.isoformat()} {d.kind}{where}: {d.text}")
        due = value.get("due") if status == ACTIVE else None
        return Explanation(
            customer_id=cid,
            flow_id=flow_id,
            status=status,
            enrollment_id=value.get("id"),
            flow_version=value.get("v"),
            current_step=value.get("step") if status == ACTIVE else None,
            next_due=from_micros(due) if due is not None else None,
            decisions=decisions,
            text="".join(lines),
        )

    # --- routing ----------------------------------------------------------------------------

    def _handle_event(self, work: Work, event: Event, now: datetime, plan: Plan) -> None:
        ids = (event.customer_id, event.anonymous_id)
        resolved = work.resolved
        cid = resolved.get(ids)
        if cid is None:
            cid = resolved[ids] = self._rt.customer_key(*ids)
        if self._rt.remember_events and not work.mark_seen(
            SEEN + event.id, cid, to_micros(event.at)
        ):
            return  # delivered before: what it did (or was refused) then stands
        props = _json_safe(event.properties) if event.properties else {}
        exits, triggers, activity, recheck = plan
        if exits:
            exit_on_event = self._enrollments.exit_on_event
            for flow_id in exits:
                exit_on_event(work, flow_id, cid, event.name, props, now)
        for flow in triggers:
            self._event_trigger(work, flow, cid, event, props, now)
        if activity:
            at_us = to_micros(event.at)
            set_timer = self._triggers.set_timer
            for flow, length in activity:
                set_timer(work, flow, cid, at_us + length, "inactive")
        for flow in recheck:
            self._triggers.check_segment(work, flow, cid, now)

    def _event_trigger(
        self, work: Work, flow: Flow, cid: str, event: Event, props: dict[str, Any], now: datetime
    ) -> None:
        """Judge ``flow``'s event trigger on ``event`` (and enroll when it fires)."""
        self._triggers.event_trigger(work, flow, cid, event, props, now)

    def _prefetch_events(self, work: Work, batch: Sequence[tuple[Event, Plan]]) -> None:
        """Read ahead the records a batch of events will read (enrollments, counters, ...)."""
        rt = self._rt
        if not rt.can_prefetch():
            return
        keys: list[str] = []
        resolved = work.resolved
        for event, plan in batch:
            ids = (event.customer_id, event.anonymous_id)
            cid = resolved.get(ids)
            if cid is None:
                cid = resolved[ids] = rt.customer_key(*ids)
            if rt.remember_events:
                keys.append(SEEN + event.id)
            keys.extend(self._triggers.prefetch_keys(cid, plan))
        values = rt.prefetch(work, keys)
        # the timers those records point at (an exit or a new clock deletes them)
        rt.prefetch(work, [v["timer"] for v in values if v.get("timer")])

    def _fire(self, work: Work, key: str, now: datetime) -> None:
        """Run the due timer ``key``: wake its enrollment or fire its trigger."""
        timer = work.get(key)
        if timer is None:
            return  # already run by another process
        target_key = timer["k"]
        target = work.get(target_key)
        work.delete(key)
        if target is None or target.get("timer") != key:
            return  # stale
        if target_key.startswith(TRG):
            self._triggers.fire(work, target_key, target, now)
        else:
            self._enrollments.wake(work, target_key, target, now)


class Replay:
    """A backtest's engine: history replayed against a read-only store, state in memory.

    Builds an :class:`Engine` whose state lives in a fresh in-memory store, that reads
    the given store as of each replayed instant (orders placed and consents given later
    do not count) and writes no ``seen:`` marks (each stored event is replayed once), and
    offers what a replay needs beyond the public API: a quiet seed, stepping the clock
    through due timers in batches, and handling runs of events in one unit of work.

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.rules import builtin_flow
        >>> replay = Replay(ecomcrm.open_store("memory://"), [builtin_flow("win_back")])
        >>> replay.engine.next_due() is None
        True
        >>> replay.close()
    """

    def __init__(
        self,
        store: Store,
        flows: Iterable[Flow],
        policies: Policies | None = None,
        *,
        currency: str | None = None,
        rates: Mapping[str, float] | None = None,
        features: FeatureTable | None = None,
        log_observer: LogObserver | None = None,
    ) -> None:
        self._scratch = open_store("memory://")
        self.engine = Engine(
            store, flows, policies, state_store=self._scratch, decision_log=5,
            record_messages=False, currency=currency, rates=rates, features=features,
        )  # fmt: skip
        self._engine_rt = self.engine._rt
        self._engine_rt.replay(log_observer)

    def close(self) -> None:
        """Drop the replay's state."""
        self._scratch.close()

    @property
    def state(self) -> StateRepository:
        """The replay's state area (the engine's records of what it would have done)."""
        return self._scratch.state

    @property
    def needs_refresh(self) -> bool:
        """Whether a flow has a customer-based trigger (refreshes matter).

        Example:
            >>> import ecomcrm
            >>> Replay(ecomcrm.open_store("memory://"), []).needs_refresh
            False
        """
        return any(f.trigger.kind is not TriggerKind.EVENT for f in self.engine.flows.values())

    def customer_key(self, customer_id: str | None, anonymous_id: str | None) -> str:
        """The id the engine tracks a person under (merges followed, anonymous prefixed)."""
        return self._engine_rt.customer_key(customer_id, anonymous_id)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Triggers are judged and their records kept, but nobody is enrolled (a seed)."""
        rt = self._engine_rt
        rt.quiet = True
        try:
            yield
        finally:
            rt.quiet = False

    def advance_through(self, until: datetime, *, inclusive: bool = True) -> list[Action]:
        """Run every timer due by ``until``, each at its own due time, in batches.

        The same as calling ``advance(due)`` for each successive ``next_due()`` up to
        ``until`` (at or before it, or only before it without ``inclusive``), as a
        backtest steps its clock: timers fire in due order, each with ``now`` its due
        time, and a unit of work stops early when it set a timer due before the next one
        it would fire (that one runs first, in the next unit).
        """
        engine = self.engine
        rt = self._engine_rt
        stop = timer_key(to_micros(until) + (1 if inclusive else 0), "")
        out: list[Action] = []
        fired = [0]
        while due := rt.state.scan(TIMER, stop=stop, limit=256):

            def unit(work: Work, due: Sequence[StateRecord] = due) -> None:
                fired[0] = 0
                rt.prefetch_timers(work, due)
                for record in due:
                    due_us = timer_due(record.key)
                    first = work.first_timer
                    if first != TIMER_END and timer_due(first) < due_us:
                        return
                    engine._fire(work, record.key, from_micros(due_us))
                    fired[0] += 1

            try:
                out.extend(rt.run(unit, retries=1, hold=True))
            except ConflictError:  # another process: the reference steps
                while (when := engine.next_due()) is not None and (
                    when <= until if inclusive else when < until
                ):
                    out.extend(engine.advance(when))
                return out
            assert fired[0] > 0  # the first due timer always fires
        return out

    def handle_run(self, events: Sequence[Event], first: int, before: datetime) -> int:
        """Handle ``events[first:]`` in order in one unit of work, as ``handle`` would each.

        Stops before the first event at or after ``before`` or after a timer that the run
        itself set (that timer must fire first); returns how many events it handled. A
        backtest's warm-up feeds its history this way, in batches that replay exactly.
        """
        engine = self.engine
        plans = engine._plans
        stop_us = to_micros(before)
        done = [0]

        def unit(work: Work) -> None:
            done[0] = 0
            bound = stop_us
            for k in range(first, len(events)):
                event = events[k]
                if work.first_timer != TIMER_END:
                    bound = min(bound, timer_due(work.first_timer))
                if to_micros(event.at) >= bound:
                    return
                plan = plans.get(event.name)
                if plan is not None:
                    engine._handle_event(work, event, event.at, plan)
                done[0] += 1

        self._engine_rt.run(unit, retries=1, hold=True)
        return done[0]


def _describe_trigger(flow: Flow) -> str:
    t = flow.trigger
    if t.kind is TriggerKind.EVENT:
        text = f"trigger: event {t.event!r}"
        if t.condition:
            text += f" where {t.condition!r}"
        if t.count > 1 and t.within is not None:
            text += f", {t.count} times within {format_duration(t.within)}"
        return text
    if t.kind is TriggerKind.DATE:
        return f"trigger: yearly on {t.field} at {t.at.isoformat('minutes')} local"
    if t.kind is TriggerKind.INACTIVITY:
        assert t.inactive_for is not None
        return f"trigger: no {t.activity_event!r} for {format_duration(t.inactive_for)}"
    return f"trigger: {t.kind.value} {t.condition!r}"
