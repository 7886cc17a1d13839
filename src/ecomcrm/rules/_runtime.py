"""What every part of the engine shares: its configuration, its flows, and how a unit of work runs.

The engine is split by responsibility: this runtime (configuration, flow versions and
their definitions, customer data, running a unit of work with its retries), the
enrollments (``rules._enrollments``: entering, stepping, the contact-policy gate), the
triggers (``rules._triggers``: event, date, inactivity and segment triggers, per
customer and vectorized) and the public facade (``rules._engine.Engine``). Each part
receives the runtime; none reaches into another's private attributes.

Throughput: the runtime uses the ``SupportsStateBatches`` capability of a state repository
when it claims it (MemoryStore and SqliteStore do). ``apply(changes)`` commits a unit's
writes as one all-or-nothing batch of compare-and-set changes ``(key, value or None to
delete, expected version)`` (without it each record is put or deleted in one
transaction); ``get_many(keys)`` reads many records at once, so batches read
ahead what they will need and compute inside one transaction of the state store, so a
batch costs a few statements instead of several per event. The compare-and-set checks
run at commit in every case. With ``SupportsClaims`` too (PostgresStore), ``advance``
claims each batch of due timers in that transaction, so processes advancing at once run
disjoint timers instead of racing for the same ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ecomcrm.domain import Identity
from ecomcrm.errors import ConfigurationError, ConflictError, ExpressionError
from ecomcrm.rules._actions import Action, Decision
from ecomcrm.rules._context import (
    ANONYMOUS_PREFIX,
    CustomerData,
    FeatureRows,
    OrderTimes,
    Record,
    StoreReads,
)
from ecomcrm.rules._flow import Exit, Flow
from ecomcrm.rules._keys import flowdef_key
from ecomcrm.rules._policies import Policies
from ecomcrm.rules._retry import Retry
from ecomcrm.rules._schedule import to_micros
from ecomcrm.rules._work import LOST_RACE, Work, gave_up
from ecomcrm.segments import FeatureTable
from ecomcrm.storage import (
    StateRecord,
    Store,
    SupportsClaims,
    SupportsEventMarks,
    SupportsStateBatches,
)

Observer = Callable[[str, str, str | None, Decision], None]
LogObserver = Callable[[str, str, str | None, Any], None]


class Runtime:
    """The engine's shared configuration and services (internal; see the module docstring).

    Attributes the parts read: ``store``, ``policies``, ``state`` (the state repository),
    ``flows`` (current version by id), ``log_limit``, ``record_messages``, ``currency``,
    ``rates``, ``features``. Replay switches (a backtest's): ``as_of`` (read the store as
    of each unit's instant), ``remember_events`` (write ``seen:`` marks), ``quiet``
    (judge triggers without enrolling), ``log_observer``; reference-path switches (for
    tests): ``vector_refresh``, ``bulk_orders``, ``keep_reads``.
    """

    def __init__(
        self,
        store: Store,
        flows: Iterable[Flow],
        policies: Policies | None,
        *,
        state_store: Store | None,
        decision_log: int,
        record_messages: bool,
        observer: Observer | None,
        retry: Retry | None,
        currency: str | None,
        rates: Mapping[str, float] | None,
        features: FeatureTable | None,
    ) -> None:
        self.store = store
        self.currency = currency
        self.rates = dict(rates) if rates is not None else None
        self.features = FeatureRows(features) if features is not None else None
        self.policies = policies if policies is not None else Policies.default()
        self.state_store = state_store if state_store is not None else store
        self.state = self.state_store.state
        # the batch capability (get_many + apply), checked once: isinstance on a Protocol
        # costs microseconds, too much for every unit of work
        state = self.state
        self.batch_state = state if isinstance(state, SupportsStateBatches) else None
        self.batches = self.batch_state is not None
        # the claim capability (SELECT ... FOR UPDATE SKIP LOCKED on a server database):
        # processes advancing at once take disjoint due timers; used with batches only
        # (a claim lasts for the held transaction of a batched unit of work)
        self.claims = state if self.batches and isinstance(state, SupportsClaims) else None
        # the marks capability (``seen:`` marks written compactly), checked once too
        self.marks = isinstance(state, SupportsEventMarks)
        self.log_limit = max(int(decision_log), 1)
        self.record_messages = record_messages
        self.observer = observer
        self.retry = retry if retry is not None else Retry()
        # a backtest's observer: the decision's compact log entry
        # ``[micros, kind, step, reason, text, data]`` (no Decision object built)
        self.log_observer: LogObserver | None = None
        self.as_of = False
        # ``seen:`` marks make a redelivered event a no-op; a backtest replays each stored
        # event once (ids are unique in a store) and keeps its state in memory: no marks
        self.remember_events = True
        # refresh over all customers picks candidates with arrays (rules._triggers); False
        # walks every customer (the reference the tests compare against)
        self.vector_refresh = True
        # a replay reads every customer's order times in one bulk read (rules._context);
        # False reads them one customer at a time (the reference the tests compare against)
        self.bulk_orders = True
        # a replay keeps what it read of each customer (profile, consents, loyalty,
        # suppression) for the whole replay; False reads them again in every unit of work
        self.keep_reads = True
        self.reads = StoreReads()
        # a backtest's warm-up seed: triggers are judged and their records kept, but nobody
        # is enrolled (what fired before the warm-up horizon is long over by the window)
        self.quiet = False
        self.refresh_cache: dict[str, Any] = {}
        self.versions: dict[tuple[str, int], Flow] = {}
        # whether a flow (by identity; flows are immutable and kept in versions) has an
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
            if (flow.id, flow.version) in self.versions:
                raise ConfigurationError(
                    "given twice", entity=f"flow {flow.id!r}", field="version", value=flow.version
                )
            self.versions[(flow.id, flow.version)] = flow
            current = self.flows.get(flow.id)
            if current is None or flow.version > current.version:
                self.flows[flow.id] = flow
        # definitions not stored yet: written with the first unit of work that writes
        # (constructing an engine only reads)
        self._unstored = self._check_definitions()

    def replay(self, log_observer: LogObserver | None) -> None:
        """Switch to a backtest's replay: the store as of each instant, no ``seen:`` marks."""
        self.as_of = True
        self.remember_events = False
        self.log_observer = log_observer

    # --- flow versions ---------------------------------------------------------------------

    def _check_definitions(self) -> dict[str, dict[str, Any]]:
        """The definitions to store; refuses a version stored with another definition."""
        unstored: dict[str, dict[str, Any]] = {}
        for (flow_id, version), flow in self.versions.items():
            key = flowdef_key(flow_id, version)
            definition = flow.to_dict()
            record = self.state.get(key)
            if record is None:
                unstored[key] = definition
            elif dict(record.value) != definition and Flow.from_dict(record.value) != flow:
                raise ConfigurationError(
                    "differs from the definition stored for this version; bump the version",
                    entity=f"flow {flow_id!r}",
                    field="version",
                    value=version,
                )
        return unstored

    def flow_version(self, flow_id: str, version: int) -> Flow | None:
        """A flow version by id: one of this engine's, else its stored definition."""
        flow = self.versions.get((flow_id, version))
        if flow is None:
            record = self.state.get(flowdef_key(flow_id, version))
            if record is None:
                return None
            flow = Flow.from_dict(record.value)
            self.versions[(flow_id, version)] = flow
        return flow

    def condition_exits(self, flow: Flow) -> tuple[tuple[str, Exit], ...]:
        """The flow's exits on a condition (not an event), with their condition keys."""
        found = self._cond_exits.get(id(flow))  # flows stay alive in self.versions
        if found is None:
            found = self._cond_exits[id(flow)] = tuple(
                (f"exit:{n}", ex)
                for n, ex in enumerate(flow.all_exits)
                if ex.event is None and not ex.ordered
            )
        return found

    def ordered_since(self, work: Work, flow: Flow, enr: Mapping[str, Any], at: datetime) -> Any:
        """The latest counted order placed after the enrollment started (None without one).

        Only flows with an ``Exit.on_order()`` ask; the order may have reached the store by
        any path (an import, ``store.orders.upsert``), with or without an event.
        """
        ends = self._ends_on_order.get(id(flow))
        if ends is None:
            ends = self._ends_on_order[id(flow)] = any(ex.ordered for ex in flow.all_exits)
        if not ends:
            return None
        last = self.data(work, enr["cust"], at).field("last_order_at", at)
        if last is None or to_micros(last) <= enr.get("started", 0):
            return None
        return last

    @staticmethod
    def matches(flow: Flow, key: str, record: Record, now: datetime) -> bool:
        """Whether the flow's condition ``key`` holds (False when it cannot be evaluated)."""
        try:
            return flow.condition(key).matches(record, now)
        except ExpressionError:
            return False

    # --- customers -------------------------------------------------------------------------

    def customer_key(self, customer_id: str | None, anonymous_id: str | None) -> str:
        """The id the engine tracks a person under (merges followed; anonymous ids prefixed)."""
        if customer_id is not None:
            if customer_id.startswith(ANONYMOUS_PREFIX):
                return customer_id
            return self.store.resolve(customer_id)
        assert anonymous_id is not None
        found = self.store.customers.find_by_identity(
            Identity(kind="anonymous", value=anonymous_id)
        )
        return found.id if found is not None else ANONYMOUS_PREFIX + anonymous_id

    def data(self, work: Work, cid: str, now: datetime) -> CustomerData:
        """What the store knows of a customer, read once per unit of work (as of ``now``)."""
        data = work.data.get(cid)
        if data is None or (self.as_of and data.as_of != now):
            if self.as_of:
                data = CustomerData(
                    self.store,
                    cid,
                    as_of=now,
                    order_times=self.order_times(),
                    reads=self.reads if self.keep_reads else None,
                    currency=self.currency,
                    rates=self.rates,
                    features=self.features,
                )
            else:
                data = CustomerData(
                    self.store,
                    cid,
                    currency=self.currency,
                    rates=self.rates,
                    features=self.features,
                )
            work.data[cid] = data
        return data

    def is_suppressed(self, data: CustomerData) -> bool:
        """Whether one of the customer's identities is suppressed (kept for a replay)."""
        customer = data.customer
        if customer is None:
            return False
        if self.as_of and self.keep_reads:
            return self.reads.is_suppressed(self.store, customer)
        return any(self.store.is_suppressed(i) for i in customer.identities)

    def order_times(self) -> OrderTimes | None:
        """A replay's bulk snapshot of order times (its store is read-only), read once.

        None when bulk reads are switched off or the store cannot give them; customers
        then read their orders one by one.
        """
        if not self.bulk_orders:
            return None
        cache = self.refresh_cache
        if "order_times" not in cache:
            cache["order_times"] = OrderTimes.read(
                self.store, currency=self.currency, rates=self.rates
            )
        found: OrderTimes | None = cache["order_times"]
        return found

    # --- units of work ---------------------------------------------------------------------

    def run(
        self,
        unit: Callable[..., None],
        *args: Any,
        retries: int | None = None,
        hold: bool = False,
    ) -> list[Action]:
        """Run ``unit(work, *args)`` and commit it; recompute it on a conflict or a busy store.

        A lost race (ConflictError at the compare-and-set commit, StorageBusyError when the
        database stayed locked) wrote nothing: the unit is computed again from the fresh
        state after the :class:`Retry` pause, up to ``retries`` tries (default the
        engine's ``retry.attempts``); then the last error is raised with the count.

        With ``hold`` (batches), on a store whose state area reads and commits in batches
        (the ``SupportsStateBatches`` capability), the unit reads and computes inside the
        state store's transaction too: every read joins one snapshot (one statement per
        read, or per batch read ahead, instead of a read transaction each) and no other
        writer can interleave. The compare-and-set checks run at commit either way.
        """
        retry = self.retry
        attempts = retry.attempts if retries is None else retries
        observer = self.observer
        log_observer = self.log_observer
        observed = observer is not None or log_observer is not None
        state = self.state
        transaction = self.state_store.transaction
        # A batched commit (``state.apply``) fails without writing anything, so a held
        # transaction may end normally after a conflict: whatever else happened inside
        # the block (another engine's unit nested in ours, on this thread) stays committed.
        batched = self.batches
        marked = self.marks
        hold = hold and batched
        for n in range(1, attempts + 1):
            work = Work(state, observed, hold, batched, marked)
            try:
                if hold:
                    conflict: ConflictError | None = None
                    with transaction():
                        unit(work, *args)
                        try:
                            self._commit(work)
                        except ConflictError as exc:
                            conflict = exc
                    if conflict is not None:
                        raise conflict
                else:
                    unit(work, *args)
                    self._commit(work)
            except LOST_RACE as exc:
                if n < attempts:
                    retry.pause(n)
                    continue
                if attempts == 1:
                    raise  # a batch's single try: the caller redoes it in smaller units
                raise gave_up(
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

    def _commit(self, work: Work) -> None:
        unstored = self._unstored
        if unstored and work.has_writes():
            # the first unit that writes stores the flow definitions too; one stored by
            # another engine meanwhile is left as it is (it was checked equal or is newer)
            for key, definition in unstored.items():
                stored = work.get(key)
                if stored is None:
                    work.put(key, definition)
                elif dict(stored) != definition:
                    flow = Flow.from_dict(definition)
                    if Flow.from_dict(stored) != flow:
                        raise ConfigurationError(
                            "differs from the definition stored for this version (by another "
                            "engine since this one started); bump the version",
                            entity=f"flow {flow.id!r}", field="version", value=flow.version,
                        )  # fmt: skip
        work.commit(self.state, self.state_store.transaction)
        if unstored and work.has_writes():
            self._unstored = {}

    def prefetch(self, work: Work, keys: Iterable[str]) -> list[Mapping[str, Any]]:
        """Read many keys with one ``state.get_many`` call, when the store offers it.

        Returns the values found. Without the capability nothing is read ahead (each
        key is then read when first needed).
        """
        if self.batch_state is None:
            return []
        get_many = self.batch_state.get_many
        reads = work.reads
        wanted = [k for k in dict.fromkeys(keys) if k not in reads]
        if not wanted:
            return []
        found: Mapping[str, StateRecord] = get_many(wanted)
        for key in wanted:
            reads[key] = found.get(key)
        return [r.value for r in found.values()]

    def can_prefetch(self) -> bool:
        """Whether the state repository reads many keys at once (``SupportsStateBatches``)."""
        return self.batches

    def prefetch_timers(self, work: Work, due: Iterable[StateRecord]) -> None:
        """Read ahead what due timers wake up: their targets (timers are as scanned)."""
        if not self.can_prefetch():
            return
        reads = work.reads
        due = list(due)
        for record in due:
            # as scanned: if it changed since, the compare-and-set at commit says so
            reads.setdefault(record.key, record)
        self.prefetch(work, [r.value["k"] for r in due if "k" in r.value])

    def forget(self, customer_id: str) -> int:
        """Delete every state record owned by ``customer_id`` (retried on a lost race)."""
        retry = self.retry
        for n in range(1, retry.attempts + 1):
            try:
                state = self.state
                doomed = [r for r in state.scan("") if r.owner == customer_id]
                if not doomed:
                    return 0
                with self.state_store.transaction():
                    for record in doomed:
                        state.delete(record.key, expected_version=record.version)
                return len(doomed)
            except LOST_RACE as exc:  # the engine wrote meanwhile: read again
                if n == retry.attempts:
                    raise gave_up(exc, f"kept changing while forgetting {customer_id!r}",
                                  n) from exc  # fmt: skip
                retry.pause(n)
        raise AssertionError("unreachable")  # pragma: no cover
