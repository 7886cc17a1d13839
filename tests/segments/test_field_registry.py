"""One meaning per customer field: flows, the feature table, Engine.refresh and the 360 view agree.

Every field of ``CUSTOMER_FIELD_REGISTRY`` that both a flow condition and the feature
table can read must have the same value for every customer, whatever the orders,
refunds, cancellations, currencies and merges.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import (
    Address,
    Consent,
    Customer,
    Identity,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
)
from ecomcrm.errors import ValidationError
from ecomcrm.rules import CUSTOMER_FIELDS, Engine
from ecomcrm.rules._context import CustomerData, FeatureRows, Record
from ecomcrm.rules._triggers import _Columns
from ecomcrm.segments import (
    CUSTOMER_FEATURES_SCHEMA,
    CUSTOMER_FIELD_REGISTRY,
    build_customer_features,
)
from ecomcrm.service import customer_view

NOW = datetime(2024, 6, 1, tzinfo=UTC)
RATES = {"USD": 0.9, "JPY": 0.0062}
SHARED = sorted(set(CUSTOMER_FIELDS) & set(CUSTOMER_FEATURES_SCHEMA))
PER_CUSTOMER = [n for n in SHARED if CUSTOMER_FIELD_REGISTRY[n].source in ("profile", "orders")]


def test_the_registry_is_the_one_list_of_fields() -> None:
    assert set(CUSTOMER_FEATURES_SCHEMA) == {
        n for n, f in CUSTOMER_FIELD_REGISTRY.items() if f.in_table
    }
    assert set(CUSTOMER_FIELDS) == {n for n, f in CUSTOMER_FIELD_REGISTRY.items() if f.in_flows}
    for name, kind in CUSTOMER_FIELDS.items():
        assert CUSTOMER_FIELD_REGISTRY[name].type.value == kind
    # money says whether it is net or gross
    for field in CUSTOMER_FIELD_REGISTRY.values():
        assert (field.unit == "shop currency") == (field.basis in ("net", "gross"))
    assert {"total_spent", "aov", "orders_count", "city", "email_domain"} <= set(PER_CUSTOMER)
    assert {"p_alive", "next_purchase_at", "p_purchase_30d"} <= set(SHARED)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return bool(a == b)


def _values(store: ecomcrm.storage.Store, currency: str | None, rates: Any) -> None:
    table = build_customer_features(store, now=NOW, currency=currency, rates=rates)
    cols = _Columns(store, "UTC", currency, rates)
    vector = cols.order_columns(NOW, None)
    rows = FeatureRows(table)
    for row, cid in enumerate(table.ids.tolist()):
        expected = table.to_record(row)
        # computed per customer (no table given): the profile and order fields
        alone = Record(CustomerData(store, cid, currency=currency, rates=rates), {}, NOW)
        # with the engine's feature table: every shared field
        flow = Record(
            CustomerData(store, cid, currency=currency, rates=rates, features=rows), {}, NOW
        )
        view = customer_view(store, cid, now=NOW, currency=currency, rates=rates).fields
        for name in PER_CUSTOMER:
            assert _same(alone[name], expected[name]), (cid, name, alone[name], expected[name])
            assert _same(view[name], expected[name]), (cid, name, view[name], expected[name])
        for name in SHARED:
            assert _same(flow[name], expected[name]), (cid, name, flow[name], expected[name])
        # Engine.refresh's arrays: the same definition over every customer
        r = cols.row_of[cid]
        for name, column in vector.items():
            value = column[r]
            want = expected[name]
            if isinstance(value, np.datetime64):
                assert (np.isnat(value) and want is None) or value == np.datetime64(
                    want.replace(tzinfo=None), "us"
                ), (cid, name)
            else:
                assert _same(float(value), float("nan") if want is None else float(want)), (
                    cid,
                    name,
                )


_order = st.tuples(
    st.integers(0, 3),  # customer
    st.integers(1, 400),  # days ago
    st.integers(1, 50_000),  # cents
    st.sampled_from(["EUR", "USD", "JPY"]),
    st.booleans(),  # cancelled
    st.integers(0, 100),  # percent refunded
    st.booleans(),  # discounted
)


@settings(max_examples=40, deadline=None)
@given(
    orders=st.lists(_order, max_size=14),
    merge=st.booleans(),
    multi_currency=st.booleans(),
)
def test_every_shared_field_is_equal_in_flows_table_refresh_and_360(
    orders: list[tuple[int, int, int, str, bool, int, bool]], merge: bool, multi_currency: bool
) -> None:
    store = ecomcrm.open_store("memory://")
    created = NOW - timedelta(days=500)
    for i in range(4):
        store.customers.put(
            Customer(
                id=f"c{i}",
                created_at=created + timedelta(days=i),
                identities=[Identity.email(f"p{i}@Shop{i % 2}.example")],
                addresses=[Address(line1="1 Main St", city=f"City{i}")] if i % 2 else [],
                country="FR" if i < 2 else None,
                timezone="Europe/Paris" if i == 0 else None,
                tags={"vip"} if i == 1 else set(),
            )
        )
    store.consents.record(
        Consent(customer_id="c0", channel="email", purpose="marketing", granted=True, at=created)
    )
    for n, (who, days, cents, cur, cancelled, pct, discounted) in enumerate(orders):
        cur = cur if multi_currency else "EUR"
        price = Decimal(cents) / 100 if cur != "JPY" else Decimal(cents)
        order = Order(
            id=f"o{n}",
            customer_id=f"c{who}",
            placed_at=NOW - timedelta(days=days, minutes=n),
            currency=cur,
            lines=[OrderLine(sku="A", quantity=2, unit_price=price)],
            discount=price / 4 if discounted else Decimal(0),
            status=OrderStatus.CANCELLED if cancelled else OrderStatus.PAID,
            cancelled_at=NOW - timedelta(days=days) if cancelled else None,
        )
        store.orders.upsert(order)
        if pct and not cancelled:
            store.orders.add_refund(
                Refund(
                    id=f"r{n}",
                    order_id=order.id,
                    customer_id=order.customer_id,
                    at=order.placed_at + timedelta(days=1),
                    amount=(order.total * pct / 100).quantize(Decimal("0.01")),
                    currency=cur,
                )
            )
    if merge:
        store.merge("c0", "c1", at=NOW - timedelta(days=1))
    _values(store, "EUR", RATES)
    if not multi_currency:
        _values(store, None, None)


def test_refunds_count_the_same_in_a_flow_and_in_the_table() -> None:
    # the example: EUR 100 with EUR 60 refunded was 100 in a flow, 40 in the table
    store = ecomcrm.open_store("memory://")
    store.customers.put(Customer(id="a", created_at=NOW - timedelta(days=9)))
    store.orders.upsert(
        Order(id="o", customer_id="a", placed_at=NOW - timedelta(days=5), currency="EUR",
              subtotal="100", total="100")
    )  # fmt: skip
    store.orders.add_refund(
        Refund(id="r", order_id="o", customer_id="a", at=NOW - timedelta(days=4),
               amount="60", currency="EUR")
    )  # fmt: skip
    flow = Record(CustomerData(store, "a"), {}, NOW)
    row = build_customer_features(store, now=NOW).record_for("a")
    assert flow["total_spent"] == row["total_spent"] == 40.0
    assert flow["aov"] == row["aov"] == 40.0


def _two_currencies() -> ecomcrm.storage.Store:
    store = ecomcrm.open_store("memory://")
    store.customers.put(Customer(id="a", created_at=NOW - timedelta(days=9)))
    for oid, cur, total in (("o1", "EUR", "300"), ("o2", "JPY", "30000")):
        store.orders.upsert(
            Order(id=oid, customer_id="a", placed_at=NOW - timedelta(days=5), currency=cur,
                  subtotal=total, total=total)
        )  # fmt: skip
    return store


def test_money_of_two_currencies_is_never_added_raw() -> None:
    # 300 EUR + 30,000 JPY used to read 30300 in a flow condition
    store = _two_currencies()
    plain = Record(CustomerData(store, "a"), {}, NOW)
    assert plain["orders_count"] == 2  # fields without money still read
    with pytest.raises(ValidationError, match="several currencies"):
        plain["total_spent"]
    with pytest.raises(ValidationError, match="several currencies"):
        build_customer_features(store, now=NOW)
    engine = Engine(store, [], currency="EUR", rates={"JPY": 0.0062})
    data = CustomerData(store, "a", currency=engine.currency, rates=engine.rates)
    converted = Record(data, {}, NOW)
    table = build_customer_features(store, now=NOW, currency="EUR", rates={"JPY": 0.0062})
    assert converted["total_spent"] == pytest.approx(300 + 30_000 * 0.0062)
    assert converted["total_spent"] == table.record_for("a")["total_spent"]
    with pytest.raises(ValidationError, match="no exchange rate"):
        Record(CustomerData(store, "a", currency="EUR"), {}, NOW)["total_spent"]


def test_engine_flows_read_money_in_the_engines_currency() -> None:
    from ecomcrm.rules import ActionStep, Flow, Trigger

    store = _two_currencies()
    flow = Flow(
        id="big",
        trigger=Trigger.threshold("total_spent >= 400"),
        steps=[ActionStep(id="send", channel="email", template="t")],
    )
    # 300 EUR + 30,000 JPY is 486 EUR at 0.0062: over the threshold (a raw 30300 would be
    # too, so the rate is chosen to tell: at 0.001 it is 330 EUR, under it)
    for rate, enrolled in ((0.0062, True), (0.001, False)):
        scratch = ecomcrm.open_store("memory://")
        engine = Engine(store, [flow], state_store=scratch, currency="EUR", rates={"JPY": rate})
        engine.refresh(NOW)
        keys = [r.key for r in scratch.state.scan("enr:big:")]
        assert bool(keys) is enrolled, rate
    with pytest.raises(ValidationError, match="several currencies"):
        Engine(store, [flow], state_store=ecomcrm.open_store("memory://")).refresh(NOW)


def test_docs_list_every_field() -> None:
    import pathlib

    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "segments.md").read_text()
    for name, field in CUSTOMER_FIELD_REGISTRY.items():
        assert f"| `{name}` | {field.type.value} |" in text, name


def test_flows_read_model_fields_from_the_engines_feature_table() -> None:
    from ecomcrm.io import SyntheticShop
    from ecomcrm.rules import ActionStep, Flow, Trigger
    from ecomcrm.segments import compile_expression, fit_value_models

    store = ecomcrm.open_store("memory://")
    SyntheticShop(customers=300, seed=4, end=NOW).to_store(store)
    models = fit_value_models(store.order_facts(), now=NOW)
    table = build_customer_features(store, now=NOW, models=models)
    condition = "next_purchase_at <= now + 120d and p_purchase_30d >= 0.05"
    flow = Flow(
        id="due",
        trigger=Trigger.segment_entry(condition),
        steps=[ActionStep(id="send", channel="email", template="t")],
    )
    expected = compile_expression(condition, CUSTOMER_FEATURES_SCHEMA).mask(table, now=NOW)
    assert 0 < int(expected.sum()) < len(table)
    scratch = ecomcrm.open_store("memory://")
    engine = Engine(store, [flow], state_store=scratch, features=table)
    engine.refresh(NOW)
    entered = {r.key.split(":", 2)[2] for r in scratch.state.scan("seg:due:") if r.value["in"]}
    assert entered == set(table.ids[expected].tolist())
    # without a table the model fields are null: nobody matches
    engine.features = None
    assert engine.features is None
    bare = ecomcrm.open_store("memory://")
    Engine(store, [flow], state_store=bare).refresh(NOW)
    assert not [r for r in bare.state.scan("seg:due:") if r.value["in"]]
