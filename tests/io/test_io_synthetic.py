"""The synthetic shop: determinism, realism checks, streaming, and its files round-tripping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import Identity
from ecomcrm.errors import ValidationError
from ecomcrm.io import (
    SyntheticShop,
    generate_shop,
    import_segment_events,
    import_shopify_customers,
    import_shopify_orders,
)
from ecomcrm.io._shop_model import _group_cumsum
from ecomcrm.storage import Store


def test_group_cumsum_hand_example() -> None:
    got = _group_cumsum(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([2, 0, 3], dtype=np.int64))
    assert got.tolist() == [1.0, 3.0, 3.0, 7.0, 12.0]
    assert _group_cumsum(np.zeros(0), np.array([0, 0], dtype=np.int64)).tolist() == []


def test_same_seed_same_shop() -> None:
    a, b, c = (ecomcrm.open_store("memory://") for _ in range(3))
    sa = SyntheticShop(customers=300, seed=7, chunk_size=100).to_store(a)
    sb = SyntheticShop(customers=300, seed=7, chunk_size=100).to_store(b)
    sc = SyntheticShop(customers=300, seed=8, chunk_size=100).to_store(c)
    assert sa == sb and sa != sc
    fa, fb = a.order_facts(), b.order_facts()
    assert np.array_equal(fa.amount, fb.amount) and np.array_equal(fa.placed_at, fb.placed_at)
    assert a.export("s7-c00000042") == b.export("s7-c00000042")


def test_store_contents_are_consistent(memory_store: Store) -> None:
    shop = SyntheticShop(customers=400, seed=3, chunk_size=150)
    s = shop.to_store(memory_store)
    assert memory_store.customers.count() == s.customers == 400
    assert memory_store.orders.count() == s.orders
    assert memory_store.events.count() == s.events
    facts = memory_store.order_facts()
    assert (facts.refunded <= facts.amount + 1e-9).all()
    table = memory_store.customer_table()
    assert len(set(table.timezone)) >= 20  # many IANA time zones
    events = memory_store.event_facts()
    assert {"Product Viewed", "Product Added", "Checkout Started", "Order Completed"} <= set(
        events.names
    )
    # anonymous browsing before sign-up is tied to the customer afterwards
    assert (events.customer_index >= 0).all()
    end = np.datetime64(shop.end.replace(tzinfo=None), "us")
    assert (facts.placed_at < end).all() and (events.at < end).all()
    cid = shop.customer_id(0)
    c = memory_store.customers.get(cid)
    assert c.timezone is not None and c.email is not None and c.locale is not None
    assert ZoneInfo(c.timezone)


def test_realistic_shape() -> None:
    store = ecomcrm.open_store("memory://")
    shop = SyntheticShop(customers=3000, seed=11, events=False)
    s = shop.to_store(store)
    facts = store.order_facts()
    per_customer = np.bincount(facts.customer_index, minlength=3000)
    never = (per_customer == 0).mean()
    assert 0.1 < never < 0.2  # about 15% signed up without buying
    repeaters = (per_customer >= 2).mean()
    assert 0.2 < repeaters < 0.6  # a minority buy again; BG/NBD dropout
    assert per_customer.max() >= 8  # Gamma heterogeneity: some heavy buyers
    assert 50 < facts.amount.mean() < 120  # Gamma-Gamma spend around 80
    assert 0.05 < (facts.refunded > 0).mean() < 0.12
    assert 0.005 < facts.cancelled.mean() < 0.03
    assert s.tickets > 0 and s.consents > 0 and s.loyalty_entries > s.orders * 0.9
    assert store.loyalty.balance(shop.customer_id(int(np.argmax(per_customer)))) > 0
    tickets = [
        t for c in list(store.customers.iterate())[:600] for t in store.tickets.for_customer(c.id)
    ]
    scored = [t.satisfaction for t in tickets if t.satisfaction is not None]
    assert scored and all(1 <= x <= 5 for x in scored)


def test_files_round_trip_into_the_same_facts(tmp_path: Path) -> None:
    shop = SyntheticShop(customers=250, seed=5, chunk_size=100)
    paths = shop.to_files(tmp_path)
    direct = ecomcrm.open_store("memory://")
    shop.to_store(direct)
    imported = ecomcrm.open_store("memory://")
    r1 = import_shopify_orders(imported, paths["orders"])
    r2 = import_shopify_customers(imported, paths["customers"], exported_at=shop.end)
    r3 = import_segment_events(imported, paths["events"])
    assert r1.ok and r2.ok and r3.ok
    assert r2.imported == 250 - len({o.customer_id for o in _orders(imported)})
    a, b = direct.order_facts(), imported.order_facts()
    assert np.allclose(np.sort(a.amount), np.sort(b.amount))
    assert np.isclose(a.refunded.sum(), b.refunded.sum())
    assert np.array_equal(np.sort(a.placed_at), np.sort(b.placed_at))
    assert r3.imported == direct.events.count()
    header = paths["orders"].read_text().splitlines()[0]
    assert header.startswith("Name,Email,Financial Status,Paid at,Fulfillment Status")
    first = json.loads(paths["events"].read_text().splitlines()[0])
    assert first["type"] == "track" and first["timestamp"].endswith("Z")


def _orders(store: Store) -> list[ecomcrm.domain.Order]:
    return [o for c in store.customers.iterate() for o in store.orders.for_customer(c.id)]


def test_max_orders_and_streaming_chunks(tmp_path: Path) -> None:
    shop = SyntheticShop(customers=5000, seed=2, chunk_size=500, events=False)
    seen: list[int] = []
    paths = shop.to_files(tmp_path, max_orders=700, progress=lambda done, total: seen.append(done))
    names = {line.split(",", 1)[0] for line in paths["orders"].read_text().splitlines()[1:]}
    assert len(names) == 700
    assert seen and seen[-1] < 5000  # stopped early: not every chunk was generated
    assert "events" not in paths


def test_to_store_twice_duplicates_nothing(memory_store: Store) -> None:
    shop = SyntheticShop(customers=60, seed=9)
    first = shop.to_store(memory_store)
    counts = (memory_store.orders.count(), memory_store.events.count())
    shop.to_store(memory_store)
    assert (memory_store.orders.count(), memory_store.events.count()) == counts
    assert counts == (first.orders, first.events)


def test_sqlite_store(store: Store) -> None:
    s = generate_shop(store, customers=120, seed=4)
    assert store.orders.count() == s.orders and store.customers.count() == 120


@pytest.mark.parametrize(
    ("field", "value"),
    [("customers", 0), ("customers", 10_000_001), ("r", 0.0), ("never_bought", 1.0),
     ("chunk_size", 0), ("end", datetime(2022, 1, 2, tzinfo=UTC))],
)  # fmt: skip
def test_bad_configuration(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        SyntheticShop(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field


def test_products() -> None:
    products = SyntheticShop(seed=1).products()
    assert len({p.sku for p in products}) == len(products) > 100
    assert any(p.consumable for p in products)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), customers=st.integers(1, 60), chunk=st.integers(1, 40))
def test_any_small_shop_is_valid(seed: int, customers: int, chunk: int) -> None:
    store = ecomcrm.open_store("memory://")
    s = SyntheticShop(customers=customers, seed=seed, chunk_size=chunk).to_store(store)
    assert store.customers.count() == customers and store.orders.count() == s.orders
    facts = store.order_facts()
    if len(facts):
        assert (facts.amount > 0).all() and (facts.refunded <= facts.amount).all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), customers=st.integers(1, 80), chunk=st.integers(1, 50))
def test_trusted_events_equal_validated_events(seed: int, customers: int, chunk: int) -> None:
    from ecomcrm.domain import Event
    from ecomcrm.io import _shop_store as _synthetic

    shop = SyntheticShop(customers=customers, seed=seed, chunk_size=chunk)
    cat = shop._catalog()
    for k, i0, i1 in shop.chunk_bounds():
        ch = shop._generate(k, i0, i1, cat)
        ids = [shop.customer_id(i) for i in range(i0, i1)]
        orders = shop._orders(ch, ids, cat)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(_synthetic, "_TRUSTED_EVENTS", False)
            checked, links = shop._event_objects(ch, ids, orders, cat)
        fast, fast_links = shop._event_objects(ch, ids, orders, cat)
        assert fast == checked and fast_links == links
        for a, b in zip(fast, checked, strict=True):
            assert type(a) is Event and a.at.tzinfo is b.at.tzinfo is UTC
            assert [type(v) for v in a.properties.values()] == [
                type(v) for v in b.properties.values()
            ]
            assert dict(a.properties) == dict(b.properties) and a.id == b.id


def test_trusted_event_refuses_nothing_the_validated_one_would_accept() -> None:
    from ecomcrm.domain import Event
    from ecomcrm.domain._activity import _trusted_event

    parts = dict(
        name="Order Completed", at=datetime(2024, 5, 1, tzinfo=UTC), customer_id=None,
        anonymous_id="anon-1", source="synthetic", id="e1",
    )  # fmt: skip
    trusted = _trusted_event(properties={"order_id": "o1", "total": 12.5}, **parts)  # type: ignore[arg-type]
    assert trusted == Event(properties={"order_id": "o1", "total": 12.5}, **parts)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        trusted.properties["total"] = 1  # type: ignore[index]


@pytest.mark.parametrize("order", ["customers-orders-events", "events-orders-customers"])
def test_files_yield_the_same_people_as_to_store(tmp_path: Path, order: str) -> None:
    shop = SyntheticShop(customers=240, seed=7, chunk_size=100)
    paths = shop.to_files(tmp_path)
    direct = ecomcrm.open_store("memory://")
    shop.to_store(direct)
    imported = ecomcrm.open_store("memory://")
    importers = {
        "customers": import_shopify_customers,
        "orders": import_shopify_orders,
        "events": import_segment_events,
    }
    for kind in order.split("-"):
        assert importers[kind](imported, paths[kind]).ok
    assert imported.customers.count() == direct.customers.count() == 240
    for person in direct.customers.iterate():
        assert person.email is not None
        twin = imported.customers.find_by_identity(Identity.email(person.email))
        assert twin is not None, person.email
        assert {o.id for o in imported.orders.for_customer(twin.id)} == {
            o.id for o in direct.orders.for_customer(person.id)
        }
        events = direct.events.for_customer(person.id)
        assert sorted((e.name, e.at) for e in imported.events.for_customer(twin.id)) == sorted(
            (e.name, e.at) for e in events
        )
        # the earliest date the files tell of the person: the signup, or an event sent with
        # their user id before it (visits made before they were identified do not count)
        known = [e.at for e in events if e.anonymous_id is None]
        assert twin.created_at == min([person.created_at, *known])
