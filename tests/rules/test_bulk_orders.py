"""Backtests read order times in bulk and keep per-customer reads: the result equals reading each time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import Channel, Consent, Customer, Order, OrderStatus
from ecomcrm.io import SyntheticShop
from ecomcrm.rules import ActionStep, Flow, Trigger, backtest, builtin_flows
from ecomcrm.rules._context import CustomerData, OrderTimes, StoreReads
from ecomcrm.storage import Store, SupportsBulkFacts

from .engine_hooks import Engine

END = datetime(2025, 1, 1, tzinfo=UTC)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _flows() -> list[Flow]:
    act = [ActionStep(id="send", channel="email", template="t")]
    return [
        *builtin_flows(),
        Flow(id="quiet_20", trigger=Trigger.inactivity("20d"), steps=act),
        Flow(id="lapsed", trigger=Trigger.segment_exit("days_since_last_order < 15"), steps=act),
        Flow(id="repeat", trigger=Trigger.segment_entry("orders_count >= 3"), steps=act),
        Flow(id="big", trigger=Trigger.threshold("total_spent >= 300"), steps=act),
        Flow(
            id="gap",
            trigger=Trigger.inactivity("10d"),
            filter="days_between_last_two_orders >= 1 and aov > 20",
            steps=act,
        ),
    ]


@pytest.fixture(scope="module", params=["memory", pytest.param("sqlite", marks=pytest.mark.slow)])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    if request.param == "memory":
        store = ecomcrm.open_store("memory://")
    else:
        path: Path = tmp_path_factory.mktemp("bulk") / "shop.db"
        store = ecomcrm.open_store(f"sqlite:///{path}")
    SyntheticShop(customers=400, seed=5).to_store(store)
    yield store
    store.close()


def _report(store: Store, events: list[Any], bulk: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    original = Engine.__init__

    def init(self: Engine, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._bulk_orders = bulk
        self._keep_reads = bulk

    with monkeypatch.context() as m:
        m.setattr(Engine, "__init__", init)
        return backtest(store, _flows(), events, end=END).to_dict()


def test_backtest_equal_with_bulk_and_per_customer_orders(
    shop: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [
        e
        for c in list(shop.customers.iterate())[:120]
        for e in shop.events.for_customer(c.id, since=END - timedelta(days=45))
    ]
    fast = _report(shop, events, True, monkeypatch)
    ref = _report(shop, events, False, monkeypatch)
    assert fast["events"] > 50 and len(fast["actions"]) > 20
    # the timers fired for order-reading flows cover real work
    assert fast["flows"]["quiet_20"]["enrollments"] > 10
    assert fast == ref


def _state(engine: Engine) -> list[tuple[str, Any]]:
    return [(r.key, r.value) for r in engine._state.scan("") if not r.key.startswith("flowdef:")]


def _advance_run(store: Store, bulk: bool) -> tuple[list[Any], list[Any]]:
    scratch = ecomcrm.open_store("memory://")
    engine = Engine(store, _flows(), state_store=scratch, _as_of_events=True)
    engine._bulk_orders = bulk
    engine._keep_reads = bulk
    actions: list[Any] = []
    for days in (90, 60, 30, 0):
        now = END - timedelta(days=days, hours=5)
        actions.extend(a.to_dict() for a in engine.advance(now))
        actions.extend(a.to_dict() for a in engine.refresh(now))
    state = _state(engine)
    scratch.close()
    return actions, state


def test_advance_batches_equal_with_bulk_and_per_customer_orders(shop: Store) -> None:
    fast_actions, fast_state = _advance_run(shop, True)
    ref_actions, ref_state = _advance_run(shop, False)
    assert any(k.startswith("enr:quiet_20:") for k, _ in ref_state)
    assert len(ref_actions) > 20
    assert fast_state == ref_state
    assert fast_actions == ref_actions


_FIELDS = (
    "orders_count", "total_spent", "aov", "first_order_at", "last_order_at",
    "days_since_last_order", "days_since_first_order", "days_between_last_two_orders",
    "reorder_interval_days",
)  # fmt: skip


def _fields(store: Store, times: OrderTimes | None, cid: str, at: datetime) -> list[Any]:
    data = CustomerData(store, cid, as_of=at, order_times=times)
    return [data.field(name, at) for name in _FIELDS]


def test_every_customer_field_equal_at_several_instants(shop: Store) -> None:
    times = OrderTimes.read(shop)
    assert times is not None
    ids = [*[c.id for c in shop.customers.iterate()][:300], "nobody", "anonymous:x"]
    for at in (END - timedelta(days=400), END - timedelta(days=30), END):
        for cid in ids:
            assert _fields(shop, times, cid, at) == _fields(shop, None, cid, at), (cid, at)


def _order(oid: str, cid: str, at: datetime, total: str, **kw: Any) -> Order:
    return Order(
        id=oid, customer_id=cid, placed_at=at, currency=kw.pop("currency", "EUR"),
        subtotal=Decimal(total), total=Decimal(total), **kw,
    )  # fmt: skip


def test_hand_computed_merges_cancellations_and_same_instant_orders() -> None:
    store = ecomcrm.open_store("memory://")
    for cid in ("a", "b", "c"):
        store.customers.put(Customer(id=cid, created_at=T0))
    day = timedelta(days=1)
    store.orders.upsert(_order("o1", "a", T0 + 3 * day, "10.00"))
    store.orders.upsert(_order("o2", "a", T0 + 1 * day, "5.00"))
    store.orders.upsert(_order("o3", "a", T0 + 3 * day, "7.50"))  # same instant as o1
    store.orders.upsert(_order("o4", "b", T0 + 2 * day, "99.00"))
    store.orders.upsert(_order("o5", "a", T0 + 4 * day, "50.00", status=OrderStatus.CANCELLED))
    store.merge("a", "b", at=T0 + 5 * day)  # b's order now counts for a
    times = OrderTimes.read(store)
    assert times is not None
    assert times.upto("a", None) == [T0 + day, T0 + 2 * day, T0 + 3 * day, T0 + 3 * day]
    assert times.upto("a", T0 + 2 * day) == [T0 + day, T0 + 2 * day]
    assert times.upto("c", None) == []
    assert times.upto("b", None) is None  # merged away: the per-customer read decides
    full = times.facts_upto("a", None)
    assert full is not None and float(full.amount.sum()) == 121.5
    upto = times.facts_upto("a", T0 + 2 * day)
    assert upto is not None and float(upto.amount.sum()) == 104.0
    none = times.facts_upto("c", None)
    assert none is not None and len(none.amount) == 0
    assert times.facts_upto("b", None) is None
    at = T0 + 10 * day
    fast = _fields(store, times, "a", at)
    assert fast == _fields(store, None, "a", at)
    assert fast[:2] == [4, 121.5]
    assert _fields(store, times, "b", at) == _fields(store, None, "b", at)


def test_mixed_currencies_fall_back_to_per_customer_reads() -> None:
    store = ecomcrm.open_store("memory://")
    store.customers.put(Customer(id="a", created_at=T0))
    store.orders.upsert(_order("o1", "a", T0, "10.00"))
    store.orders.upsert(_order("o2", "a", T0 + timedelta(hours=1), "8.00", currency="USD"))
    assert OrderTimes.read(store) is None
    engine = Engine(store, [], _as_of_events=True)
    assert engine._order_times() is None


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 20),
            st.integers(1, 500),
            st.booleans(),
        ),
        max_size=25,
    ),
    st.integers(-1, 22),
)
def test_snapshot_fields_equal_per_customer_fields(
    orders: list[tuple[str, int, int, bool]], cut: int
) -> None:
    store = ecomcrm.open_store("memory://")
    for cid in ("a", "b", "c"):
        store.customers.put(Customer(id=cid, created_at=T0))
    for i, (cid, hours, cents, cancelled) in enumerate(orders):
        status = OrderStatus.CANCELLED if cancelled else OrderStatus.PAID
        total = f"{cents / 100:.2f}"
        store.orders.upsert(
            _order(f"o{i:03d}", cid, T0 + timedelta(hours=hours), total, status=status)
        )
    times = OrderTimes.read(store)
    assert times is not None
    at = T0 + timedelta(hours=cut)
    for cid in ("a", "b", "c", "zz"):
        assert _fields(store, times, cid, at) == _fields(store, None, cid, at)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_kept_reads_follow_erasure_merges_and_revoked_consent(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'shop.db'}"
    store = ecomcrm.open_store(url)
    SyntheticShop(customers=150, seed=9).to_store(store)
    people = list(store.customers.iterate())
    since = END - timedelta(days=45)
    # the erased person's events were recorded before the erasure: replayed, never contacted
    events = [e for c in people[:60] for e in store.events.for_customer(c.id, since=since)]
    store.erase(people[0].id)
    store.merge(people[1].id, people[2].id, at=END - timedelta(days=60))
    store.consents.record(
        Consent(customer_id=people[3].id, channel="email", purpose="marketing", granted=False,
                at=END - timedelta(days=20))
    )  # fmt: skip
    fast = _report(store, events, True, monkeypatch)
    ref = _report(store, events, False, monkeypatch)
    assert fast == ref
    assert len(fast["actions"]) > 10
    assert not any(a["customer_id"] == people[0].id for a in fast["actions"])


def test_store_reads_read_each_customer_once() -> None:
    store = ecomcrm.open_store("memory://")
    store.customers.put(Customer(id="a", created_at=T0))
    reads = StoreReads()
    calls: list[str] = []
    find = store.customers.find

    def counting(cid: str) -> Customer | None:
        calls.append(cid)
        return find(cid)

    store.customers.find = counting  # type: ignore[method-assign]
    for day in range(3):
        at = T0 + timedelta(days=day)
        data = CustomerData(store, "a", as_of=at, reads=reads)
        assert data.customer is not None and data.field("known", at) is True
        assert CustomerData(store, "nobody", as_of=at, reads=reads).customer is None
    assert calls == ["a", "nobody"]
    assert reads.is_suppressed(store, find("a")) is False  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["email", "sms"]),
            st.booleans(),
            st.integers(0, 6),
        ),
        max_size=20,
    ),
    st.sampled_from([None, ("a", "b"), ("c", "b")]),
    st.integers(-1, 7),
)
def test_bulk_consents_equal_per_customer_history(
    decisions: list[tuple[str, str, bool, int]], merge: tuple[str, str] | None, cut: int
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = ecomcrm.open_store(f"sqlite:///{tmp}/c.db")
        for cid in ("a", "b", "c"):
            store.customers.put(Customer(id=cid, created_at=T0))
        for cid, channel, granted, hours in decisions:  # equal instants keep their order
            store.consents.record(
                Consent(customer_id=cid, channel=channel, purpose="marketing",
                        granted=granted, at=T0 + timedelta(hours=hours))
            )  # fmt: skip
        if merge is not None:
            store.merge(*merge, at=T0 + timedelta(days=1))
        reads = StoreReads()
        assert reads.consent_rows(store) is not None
        at = T0 + timedelta(hours=cut)
        for cid in ("a", "b", "c", "zz"):
            for channel in (Channel.EMAIL, Channel.SMS):
                fast = CustomerData(store, store.resolve(cid), as_of=at, reads=reads)
                ref = CustomerData(store, store.resolve(cid), as_of=at)
                assert fast.consent(channel) == ref.consent(channel), (cid, channel)
        store.close()


def test_bulk_consents_only_for_stores_with_bulk_facts() -> None:
    memory = ecomcrm.open_store("memory://")
    assert isinstance(memory, SupportsBulkFacts)
    assert StoreReads().consent_rows(memory) == {}
    without = SimpleNamespace(consents=memory.consents)  # no consent_facts(): read per customer
    assert StoreReads().consent_rows(without) is None  # type: ignore[arg-type]
