"""The rules engine: events and time in, actions out, all state in the store's state area.

State layout (keys of :class:`~ecomcrm.storage.StateRepository`, values JSON):

- ``enr:<flow>:<customer>``: the customer's current or last enrollment in a flow (status,
  step, due time, trigger context, recent decisions);
- ``timer:<due µs, 17 digits>:<target key>``: a wake-up; keys sort by due time so
  ``advance(now)`` reads exactly the due ones with one range scan;
- ``trg:<flow>:<customer>``: the next date or inactivity trigger of a customer;
- ``seg:<flow>:<customer>``: last segment/threshold membership (to see entries and exits);
- ``cnt:<flow>:<customer>``: recent matching events of a repeated-event trigger;
- ``cap:<customer>``: recent marketing sends, for frequency caps;
- ``act:<action id>``: every action handed out, with its acknowledgement;
- ``seen:<event id>``: every event the engine handled (whatever it decided), so the same
  event delivered again changes nothing, even when its first delivery was rejected;
- ``flowdef:<flow>:<version>``: every flow version ever run, so enrollments finish on theirs.

Exactly-once intent: each unit of work (one event, one batch, one due timer) reads what
it needs, computes, then writes everything in one store transaction with compare-and-set
on every record it read (new records must not exist yet). A second process that did the
same work first makes the commit fail with ConflictError; the unit is then recomputed
from the fresh state, where the work is visibly done. Actions are returned only after
their records are committed; an action's id derives from its idempotency key, and an
``act:`` record that already exists is never emitted again.

Throughput: the engine uses two optional capabilities of a state repository when it has
them. ``apply(changes)`` commits a unit's writes as one all-or-nothing batch of
compare-and-set changes ``(key, value or None to delete, expected version)`` (MemoryStore
and SqliteStore have it; without it each record is put or deleted in one transaction).
``get_many(keys)`` reads many records at once (SqliteStore); with both, batches
(``handle_many``, ``advance``) read ahead what they will need and compute inside one
transaction of the state store, so a batch costs a few statements instead of several
per event. The compare-and-set checks run at commit in every case.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from ecomcrm.domain import Channel, Event, Identity, Message, MessageOutcome
from ecomcrm.errors import (
    ConfigurationError,
    ConflictError,
    ExpressionError,
    NotFoundError,
    StorageBusyError,
)
from ecomcrm.rules._actions import (
    Action,
    Decision,
    Explanation,
    action_id_for,
    idempotency_key,
)
from ecomcrm.rules._context import (
    ANONYMOUS_PREFIX,
    CustomerData,
    FeatureRows,
    OrderTimes,
    Record,
    StoreReads,
)
from ecomcrm.rules._flow import (
    ORDER_EVENT,
    ActionStep,
    BranchStep,
    Exit,
    Flow,
    OnCap,
    ReentryMode,
    SplitStep,
    TriggerKind,
    WaitStep,
    WaitUntilStep,
    stable_fraction,
)
from ecomcrm.rules._policies import Policies
from ecomcrm.rules._retry import Retry
from ecomcrm.rules._schedule import (
    format_duration,
    from_micros,
    next_anniversary,
    next_local_time,
    require_aware,
    to_micros,
    zone,
)
from ecomcrm.segments import FeatureTable
from ecomcrm.storage import StateRecord, Store
from ecomcrm.storage.toolkit import FrozenDict, FrozenList, freeze_state_value

_US_PER_DAY = 86_400_000_000
_TIMER = "timer:"
_TIMER_END = "timer;"  # ';' follows ':' in code-point order: the end of the timer range
_ACTIVE = "active"
Observer = Callable[[str, str, str | None, Decision], None]
LogObserver = Callable[[str, str, str | None, Sequence[Any]], None]
_LOST_RACE = (ConflictError, StorageBusyError)  # nothing was written: compute again


def _timer_key(due_us: int, target: str) -> str:
    return f"{_TIMER}{due_us:017d}:{target}"


def _enr_key(flow_id: str, customer_id: str) -> str:
    return f"enr:{flow_id}:{customer_id}"


_PERSONAL = frozenset({"enr", "trg", "seg", "cnt"})  # <kind>:<flow>:<person> records
_SEEN = "seen:"


def _owner_of(key: str, value: Mapping[str, Any] | None) -> str | None:
    """The person a state record is about (its ``owner``, which erasure deletes by).

    Read from the engine's own key layouts (flow ids hold no ``:``, so whatever follows
    the flow id is the whole customer key, colons and all); an action record names its
    customer. Flow definitions are about nobody.
    """
    kind, _, rest = key.partition(":")
    if kind in _PERSONAL:
        return rest.partition(":")[2] or None
    if kind == "cap":
        return rest or None
    if kind == "timer":  # timer:<due, 17 digits>:<target key>
        return _owner_of(rest[18:], None)
    if kind in ("act", "seen") and value is not None:
        found = value.get("customer_id" if kind == "act" else "cust")
        return found if isinstance(found, str) and found else None
    return None


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


_FROZEN_EMPTY = freeze_state_value({})  # read-only: one shared empty mapping
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


class _Work:
    """One unit of work: read-through cache, buffered writes, CAS commit.

    ``decisions`` holds ``(flow, customer, enrollment, log entry)`` for the observer; it
    is None (nothing collected) when the engine has no observer. With ``drafts`` the
    values written are kept as given until the commit serialises them (a database store
    validates and encodes them there); otherwise each is frozen when written.
    """

    __slots__ = (
        "actions", "apply", "data", "decisions", "drafts", "first_timer", "owners", "reads",
        "resolved", "state", "writes",
    )  # fmt: skip

    def __init__(self, state: Any, observed: bool, drafts: bool = False) -> None:
        self.state = state
        self.apply: Callable[[list[tuple[str, Any, int | None, str | None]]], None] | None = (
            getattr(state, "apply", None)
        )
        self.drafts = drafts
        self.reads: dict[str, StateRecord | None] = {}
        self.writes: dict[str, Mapping[str, Any] | None] = {}
        # the owner of a written key, when the writer knew it (else derived at commit)
        self.owners: dict[str, str | None] = {}
        self.actions: list[Action] = []
        self.decisions: list[tuple[str, str, str | None, list[Any]]] | None = (
            [] if observed else None
        )
        self.data: dict[str, CustomerData] = {}
        self.resolved: dict[tuple[str | None, str | None], str] = {}
        self.first_timer = _TIMER_END  # the earliest timer key this unit wrote (keys sort by due)

    def get(self, key: str) -> Mapping[str, Any] | None:
        writes = self.writes
        if key in writes:
            return writes[key]
        reads = self.reads
        if key in reads:
            record = reads[key]
        else:
            record = reads[key] = self.state.get(key)
        return None if record is None else record.value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        if key not in self.reads:
            self.reads[key] = self.state.get(key)
        if key < self.first_timer and key.startswith(_TIMER):
            self.first_timer = key
        # frozen now (validated, read-only, sharing the unchanged parts of what was read):
        # the caller's draft is freed at once and an in-memory store keeps it as it is
        self.writes[key] = value if self.drafts else freeze_state_value(value)

    def put_owned(self, key: str, value: Mapping[str, Any], owner: str | None) -> None:
        """``put`` by a writer that built ``key`` from its owner (no key parsing at commit)."""
        self.put(key, value)
        self.owners[key] = owner

    def mark_seen(self, key: str, cid: str, at_us: int) -> bool:
        """Write the ``seen:`` mark ``key`` of an event; False when it was there already.

        The mark joins the unit's other writes (one commit); its read is the batch's
        read-ahead when there was one. The value is built frozen and its owner is known,
        so nothing is copied, checked or parsed again before the store keeps it.
        """
        writes = self.writes
        if key in writes:
            return False  # the same event earlier in this unit (marks are never deleted)
        reads = self.reads
        if key in reads:
            if reads[key] is not None:
                return False
        elif (reads.setdefault(key, self.state.get(key))) is not None:
            return False
        writes[key] = FrozenDict(at=at_us, cust=cid)
        self.owners[key] = cid
        return True

    def delete(self, key: str) -> None:
        if self.get(key) is not None:
            self.writes[key] = None

    def commit(self, state: Any, transaction: Callable[[], Any]) -> None:
        if not self.writes:
            return
        reads = self.reads
        owners = self.owners
        apply = self.apply
        if apply is not None:
            # the batch capability: every compare-and-set checked, then all applied, atomically
            changes: list[tuple[str, Mapping[str, Any] | None, int | None, str | None]] = []
            append = changes.append
            for key, value in self.writes.items():
                record = reads[key]
                if value is None:
                    if record is not None:
                        append((key, None, record.version, None))
                    continue
                owner = owners[key] if key in owners else _owner_of(key, value)
                append((key, value, None if record is None else record.version, owner))
            apply(changes)
            return
        with transaction():
            for key, value in self.writes.items():
                record = reads[key]
                if value is None:
                    if record is not None:
                        state.delete(key, expected_version=record.version)
                else:
                    version = None if record is None else record.version
                    owner = owners[key] if key in owners else _owner_of(key, value)
                    state.put(key, value, expected_version=version, owner=owner)


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
            state (default ``store``); backtests use a separate in-memory one.
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
        _as_of_events: bool = False,
        _log_observer: LogObserver | None = None,
    ) -> None:
        self.store = store
        self.currency = currency
        self.rates = dict(rates) if rates is not None else None
        self._features = FeatureRows(features) if features is not None else None
        self.policies = policies if policies is not None else Policies.default()
        self._state_store = state_store if state_store is not None else store
        self._state = self._state_store.state
        self._log_limit = max(int(decision_log), 1)
        self._record_messages = record_messages
        self._observer = observer
        self._retry = retry if retry is not None else Retry()
        # a backtest's observer: the decision's compact log entry
        # ``[micros, kind, step, reason, text, data]`` (no Decision object built)
        self._log_observer = _log_observer
        self._as_of = _as_of_events
        # ``seen:`` marks make a redelivered event a no-op; a backtest replays each stored
        # event once (ids are unique in a store) and keeps its state in memory: no marks
        self._remember_events = not _as_of_events
        # refresh over all customers picks candidates with arrays (rules._refresh); False
        # walks every customer (the reference the tests compare against)
        self._vector_refresh = True
        # a backtest reads every customer's order times in one bulk read (rules._context);
        # False reads them one customer at a time (the reference the tests compare against)
        self._bulk_orders = True
        # a backtest keeps what it read of each customer (profile, consents, loyalty,
        # suppression) for the whole replay; False reads them again in every unit of work
        self._keep_reads = True
        self._reads = StoreReads()
        # a backtest's warm-up seed: triggers are judged and their records kept, but nobody
        # is enrolled (what fired before the warm-up horizon is long over by the window)
        self._quiet = False
        self._refresh_cache: dict[str, Any] = {}
        self._versions: dict[tuple[str, int], Flow] = {}
        # whether a flow (by identity; flows are immutable and kept in _versions) has an
        # Exit.on_order(): only those read a customer's orders when an enrollment moves
        self._ends_on_order: dict[int, bool] = {}
        self._cond_exits: dict[int, tuple[tuple[str, Exit], ...]] = {}
        self.flows: dict[str, Flow] = {}
        for flow in flows:
            if not isinstance(flow, Flow):
                raise ConfigurationError(
                    "must be a Flow (load dicts with Flow.from_dict)", entity="Engine",
                    field="flows", value=flow,
                )  # fmt: skip
            if (flow.id, flow.version) in self._versions:
                raise ConfigurationError(
                    "given twice", entity=f"flow {flow.id!r}", field="version", value=flow.version
                )
            self._versions[(flow.id, flow.version)] = flow
            current = self.flows.get(flow.id)
            if current is None or flow.version > current.version:
                self.flows[flow.id] = flow
        self._register_definitions()
        self._index()

    # --- setup ----------------------------------------------------------------------------

    def _register_definitions(self) -> None:
        for (flow_id, version), flow in self._versions.items():
            key = f"flowdef:{flow_id}:{version:06d}"
            definition = flow.to_dict()
            record = self._state.get(key)
            if record is None:
                try:
                    self._state.put(key, definition, expected_version=None)
                except ConflictError:
                    record = self._state.get(key)
            if record is not None and dict(record.value) != definition:
                stored = Flow.from_dict(record.value)
                if stored != flow:
                    raise ConfigurationError(
                        "differs from the definition stored for this version; bump the version",
                        entity=f"flow {flow_id!r}",
                        field="version",
                        value=version,
                    )

    def _index(self) -> None:
        self._on_event: dict[str, list[Flow]] = {}
        self._exit_flows: dict[str, list[str]] = {}
        self._activity: dict[str, list[Flow]] = {}
        self._recheck: dict[str, list[Flow]] = {}
        self._date_flows: list[Flow] = []
        self._inactivity_flows: list[Flow] = []
        self._segment_flows: list[Flow] = []
        for flow in self.flows.values():
            kind = flow.trigger.kind
            if kind is TriggerKind.EVENT:
                assert flow.trigger.event is not None
                self._on_event.setdefault(flow.trigger.event, []).append(flow)
            elif kind is TriggerKind.DATE:
                self._date_flows.append(flow)
            elif kind is TriggerKind.INACTIVITY:
                self._inactivity_flows.append(flow)
                self._activity.setdefault(flow.trigger.activity_event, []).append(flow)
            else:
                self._segment_flows.append(flow)
                for name in flow.trigger.recheck_on:
                    self._recheck.setdefault(name, []).append(flow)
        for (flow_id, _), flow in self._versions.items():
            for ex in flow.exits:
                exit_event = ORDER_EVENT if ex.ordered else ex.event
                if exit_event is not None:
                    ids = self._exit_flows.setdefault(exit_event, [])
                    if flow_id not in ids:
                        ids.append(flow_id)
        self._names = (
            set(self._on_event) | set(self._exit_flows) | set(self._activity) | set(self._recheck)
        )
        # per event name, everything it touches: (exit flow ids, trigger flows, inactivity
        # flows whose clock it restarts with their lengths in µs, flows it rechecks)
        self._plans: dict[str, _Plan] = {
            name: (
                tuple(self._exit_flows.get(name, ())),
                tuple(self._on_event.get(name, ())),
                tuple((f, _micros_of(f.trigger.inactive_for)) for f in self._activity.get(name, ())),
                tuple(self._recheck.get(name, ())),
            )
            for name in self._names
        }  # fmt: skip

    def _condition_exits(self, flow: Flow) -> tuple[tuple[str, Exit], ...]:
        """The flow's exits on a condition (not an event), with their condition keys."""
        found = self._cond_exits.get(id(flow))  # flows stay alive in self._versions
        if found is None:
            found = self._cond_exits[id(flow)] = tuple(
                (f"exit:{n}", ex)
                for n, ex in enumerate(flow.exits)
                if ex.event is None and not ex.ordered
            )
        return found

    def _ordered_since(self, work: _Work, flow: Flow, enr: Mapping[str, Any], at: datetime) -> Any:
        """The latest counted order placed after the enrollment started (None without one).

        Only flows with an ``Exit.on_order()`` ask; the order may have reached the store by
        any path (an import, ``store.orders.upsert``), with or without an event.
        """
        ends = self._ends_on_order.get(id(flow))
        if ends is None:
            ends = self._ends_on_order[id(flow)] = any(ex.ordered for ex in flow.exits)
        if not ends:
            return None
        last = self._data(work, enr["cust"], at).field("last_order_at", at)
        if last is None or to_micros(last) <= enr.get("started", 0):
            return None
        return last

    def _flow_version(self, flow_id: str, version: int) -> Flow | None:
        flow = self._versions.get((flow_id, version))
        if flow is None:
            record = self._state.get(f"flowdef:{flow_id}:{version:06d}")
            if record is None:
                return None
            flow = Flow.from_dict(record.value)
            self._versions[(flow_id, version)] = flow
        return flow

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
        return self._run(lambda work: self._handle_event(work, event, when, plan))

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

        def unit(work: _Work) -> None:
            self._prefetch_events(work, batch)
            for event, plan in batch:
                self._handle_event(work, event, fixed if fixed is not None else event.at, plan)

        try:
            return self._run(unit, retries=1, hold=True)
        except _LOST_RACE:
            out: list[Action] = []
            for event, _ in batch:
                out.extend(self.handle(event, now=fixed))
            return out

    def _handle_run(self, events: Sequence[Event], first: int, before: datetime) -> int:
        """Handle ``events[first:]`` in order in one unit of work, as ``handle`` would each.

        Stops before the first event at or after ``before`` or after a timer that the run
        itself set (that timer must fire first); returns how many events it handled. A
        backtest's warm-up feeds its history this way, in batches that replay exactly.
        """
        plans = self._plans
        stop_us = to_micros(before)
        done = [0]

        def unit(work: _Work) -> None:
            done[0] = 0
            bound = stop_us
            for k in range(first, len(events)):
                event = events[k]
                if work.first_timer != _TIMER_END:
                    bound = min(bound, int(work.first_timer[len(_TIMER) : len(_TIMER) + 17]))
                if to_micros(event.at) >= bound:
                    return
                plan = plans.get(event.name)
                if plan is not None:
                    self._handle_event(work, event, event.at, plan)
                done[0] += 1

        self._run(unit, retries=1, hold=True)
        return done[0]

    def _advance_through(self, until: datetime, *, inclusive: bool = True) -> list[Action]:
        """Run every timer due by ``until``, each at its own due time, in batches.

        The same as calling ``advance(due)`` for each successive ``next_due()`` up to
        ``until`` (at or before it, or only before it without ``inclusive``), as a
        backtest steps its clock: timers fire in due order, each with ``now`` its due
        time, and a unit of work stops early when it set a timer due before the next one
        it would fire (that one runs first, in the next unit).
        """
        stop = _timer_key(to_micros(until) + (1 if inclusive else 0), "")
        cut = len(_TIMER)
        out: list[Action] = []
        fired = [0]
        while due := self._state.scan(_TIMER, stop=stop, limit=256):

            def unit(work: _Work, due: Sequence[StateRecord] = due) -> None:
                fired[0] = 0
                self._prefetch_timers(work, due)
                for record in due:
                    due_us = int(record.key[cut : cut + 17])
                    first = work.first_timer
                    if first != _TIMER_END and int(first[cut : cut + 17]) < due_us:
                        return
                    self._fire(work, record.key, from_micros(due_us))
                    fired[0] += 1

            try:
                out.extend(self._run(unit, retries=1, hold=True))
            except ConflictError:  # another process: the reference steps
                while (when := self.next_due()) is not None and (
                    when <= until if inclusive else when < until
                ):
                    out.extend(self.advance(when))
                return out
            assert fired[0] > 0  # the first due timer always fires
        return out

    def advance(self, now: datetime, *, limit: int | None = None) -> list[Action]:
        """Move the clock to ``now``: run every timer due at or before it; returns the actions.

        Timers are claimed with compare-and-set, so two processes advancing at once
        never both run one. ``limit`` bounds how many timers one call runs (the rest
        stay due for the next call).

        Example:
            >>> import ecomcrm
            >>> from datetime import datetime, timezone
            >>> Engine(ecomcrm.open_store("memory://"), []).advance(datetime(2024, 1, 1, tzinfo=timezone.utc))
            []
        """
        now = require_aware(now, "now")
        stop = _timer_key(to_micros(now) + 1, "")
        due = self._state.scan(_TIMER, stop=stop, limit=limit)
        out: list[Action] = []
        batch_size = 256
        for start in range(0, len(due), batch_size):
            chunk = due[start : start + batch_size]

            def unit(work: _Work, chunk: Sequence[Any] = chunk) -> None:
                self._prefetch_timers(work, chunk)
                for record in chunk:
                    self._fire(work, record.key, now)

            try:
                out.extend(self._run(unit, retries=1, hold=True))
            except _LOST_RACE:
                for record in chunk:
                    out.extend(self._run(functools.partial(self._fire_one, record.key, now)))
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
        if not (self._date_flows or self._inactivity_flows or self._segment_flows):
            return []
        if customer_ids is None and self._vector_refresh:
            from ecomcrm.rules._refresh import refresh_all

            return refresh_all(self, now)
        if customer_ids is None:
            ids = [c.id for c in self.store.customers.iterate()]
        else:
            ids = [self.store.resolve(c) for c in customer_ids]
        out: list[Action] = []
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]

            def unit(work: _Work, chunk: list[str] = chunk) -> None:
                for cid in chunk:
                    self._refresh_customer(work, cid, now, None)

            out.extend(self._run(unit, hold=True))
        return out

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
        updates the outcome.

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
        key = f"act:{action_id}"
        retry = self._retry
        for n in range(1, retry.attempts + 1):
            record = self._state.get(key)
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
            try:
                with self._state_store.transaction():
                    self._state.put(key, value, expected_version=record.version, owner=record.owner)
                    if self._record_messages and action.channel is not None:
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
            except _LOST_RACE as exc:
                if n == retry.attempts:
                    raise _gave_up(exc, f"kept losing the race acknowledging {action_id!r}",
                                   n) from exc  # fmt: skip
                retry.pause(n)
        raise AssertionError("unreachable")  # pragma: no cover

    def pending(self) -> list[Action]:
        """Actions handed out but not acknowledged yet (for recovery after a crash).

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).pending()
            []
        """
        return [
            Action.from_dict(r.value)
            for r in self._state.scan("act:")
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
        retry = self._retry
        for n in range(1, retry.attempts + 1):
            try:
                return self._forget(customer_id)
            except _LOST_RACE as exc:  # the engine wrote meanwhile: read again
                if n == retry.attempts:
                    raise _gave_up(exc, f"kept changing while forgetting {customer_id!r}",
                                   n) from exc  # fmt: skip
                retry.pause(n)
        raise AssertionError("unreachable")  # pragma: no cover

    def _forget(self, customer_id: str) -> int:
        state = self._state
        doomed = [r for r in state.scan("") if r.owner == customer_id]
        if not doomed:
            return 0
        with self._state_store.transaction():
            for record in doomed:
                state.delete(record.key, expected_version=record.version)
        return len(doomed)

    def next_due(self) -> datetime | None:
        """When the earliest timer is due (None when nothing waits): when to call ``advance``.

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).next_due() is None
            True
        """
        first = self._state.scan(_TIMER, limit=1)
        if not first:
            return None
        return from_micros(int(first[0].key[len(_TIMER) : len(_TIMER) + 17]))

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
        cid = self._customer_key(customer_id, None)
        record = self._state.get(_enr_key(flow_id, cid))
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
            trg = self._state.get(f"trg:{flow_id}:{cid}")
            if trg is not None and trg.value.get("due") is not None:
                lines.append(f" Next trigger check at {from_micros(trg.value['due']).isoformat()}.")
            status = "never entered"
        else:
            started = from_micros(value["started"]).isoformat()
            lines.append(
                f"{cid} entered flow {flow_id!r} v{value['v']} at {started} ({trigger}); "
                f"status {status}."
            )
            if status == _ACTIVE and value.get("step") is not None:
                when = value.get("due")
                lines.append(
                    f" Next step {value['step']!r}"
                    + (f" at {from_micros(when).isoformat()}." if when else " now.")
                )
            for d in decisions:
                where = f" [{d.step}]" if d.step else ""
                lines.append(f"\n- {d.at.isoformat()} {d.kind}{where}: {d.text}")
        due = value.get("due") if status == _ACTIVE else None
        return Explanation(
            customer_id=cid,
            flow_id=flow_id,
            status=status,
            enrollment_id=value.get("id"),
            flow_version=value.get("v"),
            current_step=value.get("step") if status == _ACTIVE else None,
            next_due=from_micros(due) if due is not None else None,
            decisions=decisions,
            text="".join(lines),
        )

    # --- units of work --------------------------------------------------------------------

    def _run(
        self, unit: Callable[[_Work], None], *, retries: int | None = None, hold: bool = False
    ) -> list[Action]:
        """Run a unit of work and commit it; recompute it on a conflict or a busy store.

        A lost race (ConflictError at the compare-and-set commit, StorageBusyError when the
        database stayed locked) wrote nothing: the unit is computed again from the fresh
        state after the :class:`Retry` pause, up to ``retries`` tries (default the
        engine's ``retry.attempts``); then the last error is raised with the count.

        With ``hold`` (batches), on a store whose state area reads and commits in batches
        (``state.get_many`` and ``state.apply``, a database), the unit reads and computes
        inside the state store's transaction too: every read joins one snapshot (one
        statement per read, or per batch read ahead, instead of a read transaction each)
        and no other writer can interleave. An in-memory store gains nothing from that
        (its reads cost nothing) and does without. The compare-and-set checks run at
        commit either way.
        """
        retry = self._retry
        attempts = retry.attempts if retries is None else retries
        observer = self._observer
        log_observer = self._log_observer
        observed = observer is not None or log_observer is not None
        state = self._state
        transaction = self._state_store.transaction
        # A batched commit (``state.apply``) fails without writing anything, so a held
        # transaction may end normally after a conflict: whatever else happened inside
        # the block (another engine's unit nested in ours, on this thread) stays committed.
        hold = hold and _batches(state)
        for n in range(1, attempts + 1):
            work = _Work(state, observed, drafts=hold)
            try:
                if hold:
                    conflict: ConflictError | None = None
                    with transaction():
                        unit(work)
                        try:
                            work.commit(state, transaction)
                        except ConflictError as exc:
                            conflict = exc
                    if conflict is not None:
                        raise conflict
                else:
                    unit(work)
                    work.commit(state, transaction)
            except _LOST_RACE as exc:
                if n < attempts:
                    retry.pause(n)
                    continue
                if attempts == 1:
                    raise  # a batch's single try: the caller redoes it in smaller units
                raise _gave_up(
                    exc, f"lost the race {n} times in a row (Retry.attempts); nothing of "
                    "this work was written, deliver it again"
                ) from exc  # fmt: skip
            if work.decisions is not None:
                if log_observer is not None:
                    for flow_id, cid, enr_id, entry in work.decisions:
                        log_observer(flow_id, cid, enr_id, entry)
                if observer is not None:
                    for flow_id, cid, enr_id, entry in work.decisions:
                        observer(flow_id, cid, enr_id, Decision.from_log(entry))
            return work.actions
        raise AssertionError("unreachable")  # pragma: no cover

    def _prefetch(self, work: _Work, keys: Iterable[str]) -> list[Mapping[str, Any]]:
        """Read many keys with one ``state.get_many`` call, when the store offers it.

        Returns the values found. Without the capability nothing is read ahead (each
        key is then read when first needed).
        """
        get_many = getattr(self._state, "get_many", None)
        if get_many is None:
            return []
        reads = work.reads
        wanted = [k for k in dict.fromkeys(keys) if k not in reads]
        if not wanted:
            return []
        found: Mapping[str, StateRecord] = get_many(wanted)
        for key in wanted:
            reads[key] = found.get(key)
        return [r.value for r in found.values()]

    def _prefetch_events(self, work: _Work, batch: Sequence[tuple[Event, _Plan]]) -> None:
        """Read ahead the records a batch of events will read (enrollments, counters, ...)."""
        if getattr(self._state, "get_many", None) is None:
            return
        keys: list[str] = []
        resolved = work.resolved
        for event, (exits, triggers, activity, recheck) in batch:
            ids = (event.customer_id, event.anonymous_id)
            cid = resolved.get(ids)
            if cid is None:
                cid = resolved[ids] = self._customer_key(*ids)
            if self._remember_events:
                keys.append(_SEEN + event.id)
            keys.extend(f"enr:{flow_id}:{cid}" for flow_id in exits)
            for flow in triggers:
                keys.append(f"enr:{flow.id}:{cid}")
                if flow.trigger.count > 1:
                    keys.append(f"cnt:{flow.id}:{cid}")
            keys.extend(f"trg:{flow.id}:{cid}" for flow, _ in activity)
            for flow in recheck:
                keys.append(f"seg:{flow.id}:{cid}")
                keys.append(f"enr:{flow.id}:{cid}")
        values = self._prefetch(work, keys)
        # the timers those records point at (an exit or a new clock deletes them)
        self._prefetch(work, [v["timer"] for v in values if v.get("timer")])

    def _prefetch_timers(self, work: _Work, due: Sequence[StateRecord]) -> None:
        """Read ahead what due timers wake up: their targets (timers are as scanned)."""
        if getattr(self._state, "get_many", None) is None:
            return
        reads = work.reads
        for record in due:
            # as scanned: if it changed since, the compare-and-set at commit says so
            reads.setdefault(record.key, record)
        self._prefetch(work, [r.value["k"] for r in due if "k" in r.value])

    def _data(self, work: _Work, cid: str, now: datetime) -> CustomerData:
        data = work.data.get(cid)
        if data is None or (self._as_of and data.as_of != now):
            if self._as_of:
                data = CustomerData(
                    self.store,
                    cid,
                    as_of=now,
                    order_times=self._order_times(),
                    reads=self._reads if self._keep_reads else None,
                    currency=self.currency,
                    rates=self.rates,
                    features=self._features,
                )
            else:
                data = CustomerData(
                    self.store,
                    cid,
                    currency=self.currency,
                    rates=self.rates,
                    features=self._features,
                )
            work.data[cid] = data
        return data

    @property
    def features(self) -> FeatureTable | None:
        """The feature table conditions read model and whole-store fields from (or None).

        Example:
            >>> import ecomcrm
            >>> Engine(ecomcrm.open_store("memory://"), []).features is None
            True
        """
        return None if self._features is None else self._features.table

    @features.setter
    def features(self, table: FeatureTable | None) -> None:
        self._features = FeatureRows(table) if table is not None else None

    def _order_times(self) -> OrderTimes | None:
        """A backtest's bulk snapshot of order times (its store is read-only), read once.

        None when bulk reads are switched off or the store cannot give them; customers
        then read their orders one by one.
        """
        if not self._bulk_orders:
            return None
        cache = self._refresh_cache
        if "order_times" not in cache:
            cache["order_times"] = OrderTimes.read(
                self.store, currency=self.currency, rates=self.rates
            )
        found: OrderTimes | None = cache["order_times"]
        return found

    def _customer_key(self, customer_id: str | None, anonymous_id: str | None) -> str:
        if customer_id is not None:
            if customer_id.startswith(ANONYMOUS_PREFIX):
                return customer_id
            return self.store.resolve(customer_id)
        assert anonymous_id is not None
        found = self.store.customers.find_by_identity(
            Identity(kind="anonymous", value=anonymous_id)
        )
        return found.id if found is not None else ANONYMOUS_PREFIX + anonymous_id

    def _handle_event(self, work: _Work, event: Event, now: datetime, plan: _Plan) -> None:
        ids = (event.customer_id, event.anonymous_id)
        resolved = work.resolved
        cid = resolved.get(ids)
        if cid is None:
            cid = resolved[ids] = self._customer_key(*ids)
        if self._remember_events and not work.mark_seen(_SEEN + event.id, cid, to_micros(event.at)):
            return  # delivered before: what it did (or was refused) then stands
        props = _json_safe(event.properties)
        exits, triggers, activity, recheck = plan
        for flow_id in exits:
            self._apply_exit_event(work, flow_id, cid, event, props, now)
        for flow in triggers:
            self._event_trigger(work, flow, cid, event, props, now)
        if activity:
            at_us = to_micros(event.at)
            for flow, length in activity:
                self._set_trigger_timer(work, flow, cid, at_us + length, "inactive")
        for flow in recheck:
            self._check_segment(work, flow, cid, now)

    # --- triggers -------------------------------------------------------------------------

    def _event_trigger(
        self, work: _Work, flow: Flow, cid: str, event: Event, props: dict[str, Any], now: datetime
    ) -> None:
        trigger = flow.trigger
        if flow.has_condition("trigger"):
            record = Record(self._data(work, cid, now), props, now)
            if not self._matches(flow, "trigger", record, now):
                return
        if trigger.count > 1:
            key = f"cnt:{flow.id}:{cid}"
            current = work.get(key)
            counts = dict(current) if current else {}
            ids = counts.get("_ids", ())
            if event.id in ids:
                return
            group = str(props.get(trigger.group_by)) if trigger.group_by else "*"
            now_us = to_micros(now)
            window_start = now_us - _micros_of(trigger.within)
            seen = [t for t in counts.get(group, ()) if t > window_start]
            seen.append(now_us)
            recent_ids = [*ids[-(trigger.count - 1) :], event.id]
            # read frozen (every part checked and immutable): the update is built frozen
            frozen = (current is None or type(current) is FrozenDict) and type(event.id) is str
            counts["_ids"] = FrozenList(recent_ids) if frozen else recent_ids
            if len(seen) < trigger.count:
                counts[group] = FrozenList(seen) if frozen else seen
            else:
                counts.pop(group, None)
            work.put_owned(key, FrozenDict(counts) if frozen else counts, cid)
            if len(seen) < trigger.count:
                return
        self._enter(work, flow, cid, f"event:{event.id}", props, now, f"event {event.name!r}")

    def _set_trigger_timer(self, work: _Work, flow: Flow, cid: str, due: int, kind: str) -> None:
        key = f"trg:{flow.id}:{cid}"
        current = work.get(key)
        if current is not None and current.get("due") == due:
            return
        if current is not None and current.get("timer"):
            work.delete(current["timer"])
        timer = _timer_key(due, key)
        # built frozen (str and int values only): stored as they are, no copy walk
        work.put_owned(timer, FrozenDict(k=key), cid)
        work.put_owned(
            key, FrozenDict(due=due, timer=timer, kind=kind, flow=flow.id, cust=cid), cid
        )

    def _refresh_customer(self, work: _Work, cid: str, now: datetime, only: Flow | None) -> None:
        data = self._data(work, cid, now)
        customer = data.customer
        if customer is None:
            return
        tz = data.timezone(self.policies.default_timezone)
        for flow in self._date_flows:
            if only is not None and flow is not only:
                continue
            trigger = flow.trigger
            if trigger.field == "birthday":
                day = customer.birthday
            else:
                day = customer.created_at.astimezone(zone(tz)).date()
            key = f"trg:{flow.id}:{cid}"
            if day is None:
                current = work.get(key)
                if current is not None:
                    if current.get("timer"):
                        work.delete(current["timer"])
                    work.delete(key)
                continue
            due = next_anniversary(
                day.month, day.day, now, trigger.at, tz,
                days_before=trigger.days_before, feb29=trigger.feb29,
            )  # fmt: skip
            self._set_trigger_timer(work, flow, cid, to_micros(due), "date")
        if only is None:
            for flow in self._inactivity_flows:
                inactive_for = flow.trigger.inactive_for
                assert inactive_for is not None
                last = data.field("last_order_at", now)
                current = work.get(f"trg:{flow.id}:{cid}")
                if current is not None and (
                    current.get("timer")
                    or last is None
                    or to_micros(last + inactive_for) <= current.get("due", 0)
                ):
                    continue  # a clock runs, or it fired and no order came since
                base = last if last is not None else customer.created_at
                due_us = to_micros(base + inactive_for)
                self._set_trigger_timer(work, flow, cid, max(due_us, to_micros(now)), "inactive")
            for flow in self._segment_flows:
                self._check_segment(work, flow, cid, now)

    def _check_segment(self, work: _Work, flow: Flow, cid: str, now: datetime) -> None:
        record = Record(self._data(work, cid, now), {}, now)
        member = self._matches(flow, "trigger", record, now)
        key = f"seg:{flow.id}:{cid}"
        current = work.get(key)
        before = current.get("in") if current is not None else None
        if before == member or (current is None and not member):
            return  # no change (never a member needs no record: absent means "not in")
        work.put_owned(key, {"in": member, "at": to_micros(now)}, cid)
        kind = flow.trigger.kind
        stamp = to_micros(now)
        if member and not before and kind in (TriggerKind.SEGMENT_ENTRY, TriggerKind.THRESHOLD):
            self._enter(work, flow, cid, f"seg:in:{stamp}", {}, now, f"{kind.value} matched")
        elif before and not member and kind is TriggerKind.SEGMENT_EXIT:
            self._enter(work, flow, cid, f"seg:out:{stamp}", {}, now, "segment exit")

    def _matches(self, flow: Flow, key: str, record: Record, now: datetime) -> bool:
        try:
            return flow.condition(key).matches(record, now)
        except ExpressionError:
            return False

    # --- enrollments ----------------------------------------------------------------------

    def _log(
        self,
        work: _Work,
        enr: dict[str, Any],
        now: datetime,
        kind: str,
        step: str | None,
        reason: str,
        text: str,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        # built frozen (scalars and a frozen mapping): stored as is, shared by later versions
        entry = FrozenList(
            (
                to_micros(now),
                kind,
                step,
                reason,
                text,
                _FROZEN_EMPTY if not data else freeze_state_value(data),
            )
        )
        log = enr.get("log") or ()
        kept = log if len(log) < self._log_limit else log[len(log) - self._log_limit + 1 :]
        # a frozen log holds frozen entries only, so the new one is frozen as built; a log
        # read from a database (plain lists) is left for the store to copy and check
        frozen = not log or type(log) is FrozenList
        enr["log"] = FrozenList((*kept, entry)) if frozen else [*kept, entry]
        if work.decisions is not None:
            work.decisions.append((enr["flow"], enr["cust"], enr.get("id"), entry))

    def _reject(
        self, work: _Work, key: str, enr: dict[str, Any], now: datetime, reason: str, text: str
    ) -> None:
        """Record a rejected trigger, once per run of identical rejections (saves writes)."""
        if _rejected_last(enr, reason):
            return
        self._log(work, enr, now, "rejected", None, reason, text)
        work.put(key, enr)

    def _enter(
        self,
        work: _Work,
        flow: Flow,
        cid: str,
        trigger_id: str,
        ctx: dict[str, Any],
        now: datetime,
        why: str,
    ) -> None:
        if self._quiet:
            return
        key = _enr_key(flow.id, cid)
        current = work.get(key)
        if current is None:
            enr: dict[str, Any] = {
                "flow": flow.id, "cust": cid, "status": "none", "count": 0, "log": [],
                "recent": [],
            }  # fmt: skip
        else:
            # judged on the record as read; copied only when something is written
            if trigger_id in current.get("recent", ()):
                return  # the same trigger delivered again
            if current.get("status") == _ACTIVE:
                running = self._flow_version(flow.id, current.get("v", flow.version)) or flow
                ordered = self._ordered_since(work, running, current, now)
                if ordered is None:
                    if not _rejected_last(current, "already_enrolled"):
                        self._reject(work, key, dict(current), now, "already_enrolled",
                                     f"{why}: already in the flow")  # fmt: skip
                    return
                # an order no event announced ended the running enrollment: it ends now
                enr = dict(current)
                self._finish(work, key, enr, now, "exited", "exit", _ordered_text(ordered))
            else:
                enr = dict(current)
        if enr.get("count", 0) > 0:
            mode = flow.reentry.mode
            if mode is ReentryMode.NEVER:
                self._reject(work, key, enr, now, "reentry", f"{why}: re-entry is never allowed")
                return
            if mode is ReentryMode.COOLDOWN:
                assert flow.reentry.cooldown_for is not None
                until = enr["started"] + int(flow.reentry.cooldown_for / timedelta(microseconds=1))
                if to_micros(now) < until:
                    self._reject(
                        work, key, enr, now, "reentry",
                        f"{why}: in re-entry cool-down until {from_micros(until).isoformat()}",
                    )  # fmt: skip
                    return
        if flow.has_condition("filter"):
            record = Record(self._data(work, cid, now), ctx, now)
            if not self._matches(flow, "filter", record, now):
                self._reject(
                    work,
                    key,
                    enr,
                    now,
                    "filter",
                    f"{why}: flow filter {flow.filter!r} does not match",
                )
                return
        recent = enr.get("recent") or ()
        kept = [*recent[-4:], trigger_id]
        enr["recent"] = FrozenList(kept) if not recent or type(recent) is FrozenList else kept
        enr_id = _short_hash(f"{flow.id}:{flow.version}:{cid}:{trigger_id}")
        enr.update(
            id=enr_id, v=flow.version, status=_ACTIVE, step=flow.first_step, due=None,
            timer=None, started=to_micros(now), ended=None, ctx=freeze_state_value(ctx), trig=trigger_id,
            visits=_FROZEN_EMPTY, variants=_FROZEN_EMPTY, holdout=False, count=enr.get("count", 0) + 1,
        )  # fmt: skip
        holdout = flow.holdout
        if (
            holdout is not None
            and holdout.percent > 0
            and stable_fraction(f"holdout:{flow.id}:{cid}") * 100.0 < holdout.percent
        ):
            enr.update(status="holdout", holdout=True, ended=to_micros(now), step=None)
            self._log(
                work, enr, now, "holdout", None, "holdout",
                f"{why}: in the {holdout.percent:g}% holdout group; no actions",
            )  # fmt: skip
            work.put(key, enr)
            return
        self._log(
            work, enr, now, "enrolled", None, "trigger", f"{why}: enrolled on v{flow.version}"
        )
        self._proceed(work, key, enr, flow, now)

    def _apply_exit_event(
        self,
        work: _Work,
        flow_id: str,
        cid: str,
        event: Event,
        props: dict[str, Any],
        now: datetime,
    ) -> None:
        key = _enr_key(flow_id, cid)
        current = work.get(key)
        if current is None or current.get("status") != _ACTIVE:
            return
        flow = self._flow_version(flow_id, current["v"])
        if flow is None:
            return
        for n, ex in enumerate(flow.exits):
            if not ex.ends_on(event.name):
                continue
            if ex.condition is not None:
                record = Record(self._data(work, cid, now), props, now)
                if not self._matches(flow, f"exit:{n}", record, now):
                    continue
            enr = dict(current)
            text = f"exit on event {event.name!r}" + (
                f" where {ex.condition!r}" if ex.condition else ""
            )
            self._finish(work, key, enr, now, "exited", "exit", text)
            return

    def _finish(
        self,
        work: _Work,
        key: str,
        enr: dict[str, Any],
        now: datetime,
        status: str,
        reason: str,
        text: str,
    ) -> None:
        if enr.get("timer"):
            work.delete(enr["timer"])
        enr.update(status=status, timer=None, due=None, ended=to_micros(now))
        kind = "completed" if status == "done" else "exited"
        self._log(work, enr, now, kind, enr.get("step"), reason, text)
        enr["step"] = None
        work.put(key, enr)

    def _schedule(self, work: _Work, key: str, enr: dict[str, Any], due: int) -> None:
        timer = _timer_key(due, key)
        if enr.get("timer") and enr["timer"] != timer:
            work.delete(enr["timer"])
        enr["timer"] = timer
        enr["due"] = due
        work.put(timer, {"k": key})
        work.put(key, enr)

    def _fire_one(self, timer_key: str, now: datetime, work: _Work) -> None:
        self._fire(work, timer_key, now)

    def _fire(self, work: _Work, timer_key: str, now: datetime) -> None:
        timer = work.get(timer_key)
        if timer is None:
            return  # already run by another process
        target_key = timer["k"]
        target = work.get(target_key)
        work.delete(timer_key)
        if target is None or target.get("timer") != timer_key:
            return  # stale
        if target_key.startswith("trg:"):
            self._fire_trigger(work, target_key, dict(target), now)
            return
        enr = dict(target)
        enr["timer"] = None
        if enr.get("status") != _ACTIVE:
            work.put(target_key, enr)
            return
        flow = self._flow_version(enr["flow"], enr["v"])
        if flow is None or enr["flow"] not in self.flows:
            self._finish(
                work, target_key, enr, now, "exited", "flow_removed", "flow is no longer configured"
            )
            return
        self._proceed(work, target_key, enr, flow, now)

    def _fire_trigger(self, work: _Work, key: str, trg: dict[str, Any], now: datetime) -> None:
        flow = self.flows.get(trg["flow"])
        cid = trg["cust"]
        due = trg["due"]
        trg["timer"] = None
        work.put(key, trg)
        if flow is None:
            return
        when = from_micros(due)
        if trg["kind"] == "date":
            self._enter(work, flow, cid, f"date:{due}", {}, now, f"{flow.trigger.field} date")
            self._refresh_customer(work, cid, max(now, when), flow)
        else:
            inactive_for = flow.trigger.inactive_for
            assert inactive_for is not None
            if flow.trigger.activity_event == ORDER_EVENT:
                # an order that reached the store without an event restarts the clock too
                last = self._data(work, cid, now).field("last_order_at", now)
                if last is not None and to_micros(last + inactive_for) > to_micros(now):
                    self._set_trigger_timer(
                        work, flow, cid, to_micros(last + inactive_for), "inactive"
                    )
                    return
            self._enter(
                work, flow, cid, f"inactive:{due}", {}, now,
                f"no {flow.trigger.activity_event!r} for {_days(inactive_for)}",
            )  # fmt: skip

    # --- running steps --------------------------------------------------------------------

    def _proceed(
        self, work: _Work, key: str, enr: dict[str, Any], flow: Flow, now: datetime
    ) -> None:
        now_us = to_micros(now)
        cid = enr["cust"]
        ctx = enr.get("ctx") or {}
        for _ in range(len(flow.steps) * 3 + 3):
            step_id = enr.get("step")
            if step_id is None:
                self._finish(work, key, enr, now, "done", "end", "reached the end of the flow")
                return
            due = enr.get("due")
            if due is not None and due > now_us:
                self._schedule(work, key, enr, due)
                return
            base = due if due is not None else now_us
            enr["due"] = None
            at = from_micros(base)
            if not flow.has_step(step_id):
                self._finish(work, key, enr, now, "exited", "invalid", f"step {step_id!r} missing")
                return
            step = flow.step(step_id)
            record = Record(self._data(work, cid, at), ctx, at)
            # condition exits are honoured whenever the enrollment moves, and so is an order
            # placed since entering that no event announced (an import, a direct upsert)
            ordered = self._ordered_since(work, flow, enr, at)
            if ordered is not None:
                self._finish(work, key, enr, now, "exited", "exit", _ordered_text(ordered))
                return
            for key_n, ex in self._condition_exits(flow):
                if self._matches(flow, key_n, record, at):
                    self._finish(
                        work,
                        key,
                        enr,
                        now,
                        "exited",
                        "exit",
                        f"exit condition {ex.condition!r} holds",
                    )
                    return
            if isinstance(step, WaitStep):
                length = step.duration
                if step.days_field is not None:
                    days = record[step.days_field]
                    if isinstance(days, int | float) and not isinstance(days, bool) and days >= 0:
                        length = timedelta(days=float(days))
                if length is None:
                    length = timedelta(0)
                target = base + int(length / timedelta(microseconds=1))
                enr["step"] = flow.successor(step.id, step.next)
                enr["due"] = target
                self._log(work, enr, now, "waiting", step.id, "wait",
                          f"wait {_days(length)} until {from_micros(target).isoformat()}")  # fmt: skip
            elif isinstance(step, WaitUntilStep):
                tz = self._data(work, cid, at).timezone(self.policies.default_timezone)
                when = next_local_time(at, step.at, tz, weekdays=step.weekdays)
                enr["step"] = flow.successor(step.id, step.next)
                enr["due"] = to_micros(when)
                self._log(work, enr, now, "waiting", step.id, "wait_until",
                          f"wait until {step.at.isoformat('minutes')} {tz}: {when.isoformat()}")  # fmt: skip
            elif isinstance(step, BranchStep):
                ok = self._matches(flow, f"step:{step.id}", record, at)
                enr["step"] = flow.successor(step.id, step.then if ok else step.otherwise)
                enr["due"] = base if base < now_us else None
                self._log(work, enr, now, "branch", step.id, "branch",
                          f"{step.condition!r} is {'true' if ok else 'false'}",
                          {"result": ok})  # fmt: skip
            elif isinstance(step, SplitStep):
                salted = attrs.evolve(step, salt=flow.id)
                name = salted.choose(cid)
                variant = next(v for v in step.variants if v.name == name)
                enr["variants"] = {**enr.get("variants", {}), step.id: name}
                enr["step"] = flow.successor(step.id, variant.next)
                enr["due"] = base if base < now_us else None
                self._log(
                    work,
                    enr,
                    now,
                    "split",
                    step.id,
                    "split",
                    f"variant {name!r}",
                    {"variant": name},
                )
            else:
                assert isinstance(step, ActionStep)
                if not self._act(work, key, enr, flow, step, record, base, now):
                    return
        raise AssertionError("a flow is acyclic; the step loop is bounded")  # pragma: no cover

    def _act(
        self,
        work: _Work,
        key: str,
        enr: dict[str, Any],
        flow: Flow,
        step: ActionStep,
        record: Record,
        base: int,
        now: datetime,
    ) -> bool:
        """Run an action step; False when the enrollment stopped (exited or deferred)."""
        at = from_micros(base)
        cid = enr["cust"]
        data = self._data(work, cid, now)

        def skip(reason: str, text: str) -> bool:
            self._log(work, enr, now, "skipped", step.id, reason, text)
            enr["step"] = flow.successor(step.id, step.next)
            enr["due"] = base if base < to_micros(now) else None
            return True

        def defer(reason: str, text: str, until: datetime) -> bool:
            self._log(
                work, enr, now, "deferred", step.id, reason, text, {"until": until.isoformat()}
            )
            enr["due"] = to_micros(until)
            self._schedule(work, key, enr, to_micros(until))
            return False

        if flow.has_condition("filter") and not self._matches(flow, "filter", record, at):
            self._finish(work, key, enr, now, "exited", "filter",
                         f"flow filter {flow.filter!r} no longer matches")  # fmt: skip
            return False
        customer = data.customer
        if customer is None:
            if cid.startswith(ANONYMOUS_PREFIX):
                return skip(
                    "unknown_customer", "anonymous visitor not identified yet; not contacted"
                )
            self._finish(work, key, enr, now, "exited", "unknown_customer",
                         "customer unknown or erased; never contacted")  # fmt: skip
            return False
        if (
            self._reads.is_suppressed(self.store, customer)
            if self._as_of and self._keep_reads
            else any(self.store.is_suppressed(i) for i in customer.identities)
        ):
            self._finish(work, key, enr, now, "exited", "suppressed", "an identity is suppressed")
            return False
        channel = step.channel
        if channel is not None:
            if channel is Channel.EMAIL and customer.email is None:
                return skip("no_address", "no email address")
            if channel in (Channel.SMS, Channel.WHATSAPP) and customer.phone is None:
                return skip("no_address", f"no phone number for {channel.value}")
        cap_key = f"cap:{customer.id}"
        sends: list[tuple[str, int]] = []
        if step.is_marketing:
            assert channel is not None
            if self.policies.require_consent and not data.consent(channel):
                if flow.exit_on_consent_withdrawn:
                    self._finish(work, key, enr, now, "exited", "consent",
                                 f"no current {channel.value} marketing consent")  # fmt: skip
                    return False
                return skip("consent", f"no current {channel.value} marketing consent")
            tz = data.timezone(self.policies.default_timezone)
            quiet = self.policies.quiet_until(channel, now, tz)
            if quiet is not None:
                rule, until = quiet
                return defer("quiet_hours", f"{rule.describe()} ({tz}); deferred", until)
            cap_record = work.get(cap_key)
            sends = [(str(s[0]), int(s[1])) for s in (cap_record or {}).get("sends", [])]
            blocked = self.policies.cap_until(channel, sends, now)
            if blocked is not None:
                cap, free = blocked
                if step.on_cap is OnCap.DEFER:
                    return defer("frequency_cap", f"{cap.describe()}; deferred", free)
                return skip("frequency_cap", f"{cap.describe()}; skipped")
        visits = dict(enr.get("visits", {}))
        occurrence = visits.get(step.id, 0)
        idem = idempotency_key(flow.id, flow.version, enr["id"], step.id, occurrence)
        action_id = action_id_for(idem)
        act_key = f"act:{action_id}"
        visits[step.id] = occurrence + 1
        enr["visits"] = visits
        enr["step"] = flow.successor(step.id, step.next)
        enr["due"] = base if base < to_micros(now) else None
        if work.get(act_key) is not None:
            self._log(
                work,
                enr,
                now,
                "skipped",
                step.id,
                "duplicate",
                f"action {action_id} was already handed out",
            )
            return True
        params = dict(step.params)
        if enr.get("ctx"):
            params["event"] = enr["ctx"]
        variants = enr.get("variants") or {}
        action = Action(
            id=action_id,
            idempotency_key=idem,
            customer_id=customer.id,
            channel=channel,
            purpose=step.purpose,
            kind=step.action,
            template=step.template,
            params=params,
            flow_id=flow.id,
            flow_version=flow.version,
            step_id=step.id,
            enrollment_id=enr["id"],
            due_at=at,
            variant=",".join(f"{k}={v}" for k, v in sorted(variants.items())) or None,
        )
        stored = action.to_dict()
        stored.update(status="pending", outcome=None, emitted_at=to_micros(now))
        work.put_owned(act_key, stored, customer.id)
        if step.is_marketing:
            assert channel is not None
            horizon = to_micros(now) - int(self.policies.longest_cap / timedelta(microseconds=1))
            kept = [list(s) for s in sends if s[1] > horizon]
            kept.append([channel.value, to_micros(now)])
            work.put_owned(cap_key, {"sends": kept}, customer.id)
        work.actions.append(action)
        what = f"{channel.value} " if channel else ""
        self._log(work, enr, now, "action", step.id, "sent",
                  f"{what}{step.purpose.value} {step.action} {step.template!r} as {action_id}",
                  {"action_id": action_id})  # fmt: skip
        return True


def _gave_up(exc: ConflictError | StorageBusyError, text: str, tries: int = 0) -> Exception:
    """The lost-race error the engine raises after its last try: same class and fields."""
    counted = f" ({tries} tries)" if tries else ""
    kwargs: dict[str, Any] = {"entity": exc.entity, "field": exc.field, "row": exc.row}
    if exc.has_value:
        kwargs["value"] = exc.value
    return type(exc)(f"{text}{counted}: {exc.message}", **kwargs)


def _batches(state: Any) -> bool:
    """True when a state repository reads (``get_many``) and writes (``apply``) in batches."""
    return (
        getattr(state, "get_many", None) is not None and getattr(state, "apply", None) is not None
    )


_Plan = tuple[tuple[str, ...], tuple[Flow, ...], tuple[tuple[Flow, int], ...], tuple[Flow, ...]]


@functools.lru_cache(maxsize=256)
def _micros_of(value: timedelta | None) -> int:
    """A duration in whole microseconds (0 for None)."""
    if value is None:
        return 0
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


def _rejected_last(enr: Mapping[str, Any], reason: str) -> bool:
    """True when an enrollment's latest decision is a rejection for ``reason``."""
    log: Sequence[Any] | None = enr.get("log")
    if not log:
        return False
    last = log[-1]
    return bool(last[1] == "rejected" and last[3] == reason)


def _ordered_text(placed_at: datetime) -> str:
    return f"ordered at {placed_at.isoformat()}, after entering (order in the store)"


def _days(value: timedelta) -> str:
    return format_duration(value)


def _describe_trigger(flow: Flow) -> str:
    t = flow.trigger
    if t.kind is TriggerKind.EVENT:
        text = f"trigger: event {t.event!r}"
        if t.condition:
            text += f" where {t.condition!r}"
        if t.count > 1 and t.within is not None:
            text += f", {t.count} times within {_days(t.within)}"
        return text
    if t.kind is TriggerKind.DATE:
        return f"trigger: yearly on {t.field} at {t.at.isoformat('minutes')} local"
    if t.kind is TriggerKind.INACTIVITY:
        assert t.inactive_for is not None
        return f"trigger: no {t.activity_event!r} for {_days(t.inactive_for)}"
    return f"trigger: {t.kind.value} {t.condition!r}"
