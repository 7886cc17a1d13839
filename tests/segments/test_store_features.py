"""The feature table built from a store agrees with a per-customer computation from objects."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

import ecomcrm
from ecomcrm.domain import (
    Consent,
    Customer,
    Event,
    Order,
    OrderLine,
    Refund,
    ReturnLine,
    SupportTicket,
)
from ecomcrm.io import SyntheticShop
from ecomcrm.segments import (
    CUSTOMER_FEATURES_SCHEMA,
    build_customer_features,
    builtin_segments,
    evaluate_segments,
    fit_value_models,
    refresh_customer_features,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _order(oid: str, cid: str, days_ago: float, amount: str, **kw: object) -> Order:
    return Order(
        id=oid,
        customer_id=cid,
        placed_at=NOW - timedelta(days=days_ago),
        currency="EUR",
        lines=[OrderLine(sku="A", quantity=2, unit_price=Decimal(amount) / 2)],
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: object) -> ecomcrm.storage.Store:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/crm.db"
    s = ecomcrm.open_store(url)
    created = NOW - timedelta(days=400)
    s.customers.put_many(
        [
            Customer(id="a", created_at=created, tags={"vip"}, country="FR"),
            Customer(id="b", created_at=created),
            Customer(id="c", created_at=created),
        ]
    )
    s.orders.put_many(
        [
            _order("o1", "a", 100, "50.00", discount_codes=["X"], discount="5.00"),
            _order("o2", "a", 10, "150.00"),
            _order("o3", "b", 30, "20.00"),
            _order(
                "o4", "b", 5, "999.00", status="cancelled", cancelled_at=NOW - timedelta(days=4)
            ),
        ]
    )
    s.orders.add_refund(
        Refund(
            id="r1",
            order_id="o2",
            customer_id="a",
            at=NOW - timedelta(days=8),
            amount="30.00",
            currency="EUR",
            returned=True,
            lines=[ReturnLine(sku="A", quantity=1)],
        )
    )
    s.consents.record(
        Consent(customer_id="a", channel="email", purpose="marketing", granted=True, at=created)
    )
    s.events.append_many(
        [
            # c adds to cart twice on one day and never buys: one abandoned cart day
            Event(name="Product Added", customer_id="c", at=NOW - timedelta(days=3)),
            Event(name="Product Added", customer_id="c", at=NOW - timedelta(days=3, hours=-1)),
            Event(name="Product Viewed", customer_id="c", at=NOW - timedelta(days=20)),
            # b adds and buys within the window: not abandoned
            Event(name="Product Added", customer_id="b", at=NOW - timedelta(days=30, hours=1)),
        ]
    )
    yield s
    s.close()


def test_features_match_hand_computation(store: ecomcrm.storage.Store) -> None:
    table = build_customer_features(store, now=NOW)
    a, b, c = (table.record_for(x) for x in "abc")
    # o1: 50 - 5 discount = 45; o2: 150; refund 30 -> net 165
    assert a["orders_count"] == 2 and a["total_spent"] == pytest.approx(165.0)
    assert a["aov"] == pytest.approx(82.5)
    assert a["days_since_last_order"] == pytest.approx(10.0)
    assert a["days_between_last_two_orders"] == pytest.approx(90.0)
    assert a["return_rate"] == pytest.approx(1 / 4)
    assert a["discount_order_share"] == pytest.approx(0.5)
    assert a["consent_email"] is True and a["tags"] == ("vip",) and a["country"] == "FR"
    assert b["orders_count"] == 1  # the cancelled order does not count
    assert b["cart_abandon_count"] == 0
    assert c["orders_count"] == 0 and c["aov"] is None and c["r_score"] is None
    assert c["cart_abandon_count"] == 1 and c["browse_abandon_count"] == 1
    assert c["last_cart_abandon_at"] == NOW - timedelta(days=3)
    assert set(table.names) == set(CUSTOMER_FEATURES_SCHEMA)


def test_refresh_equals_rebuild(store: ecomcrm.storage.Store) -> None:
    before = build_customer_features(store, now=NOW)
    store.orders.upsert(_order("o9", "c", 1, "40.00"))
    refreshed = refresh_customer_features(before, store, ["c"], now=NOW)
    rebuilt = build_customer_features(store, now=NOW)
    assert refreshed.record_for("c") == rebuilt.record_for("c")
    assert refreshed.record_for("a") == before.record_for("a")


def test_synthetic_shop_with_models_and_segments() -> None:
    store = ecomcrm.open_store("memory://")
    SyntheticShop(customers=800, seed=5, end=NOW).to_store(store)
    models = fit_value_models(store.order_facts(), now=NOW)
    table = build_customer_features(store, now=NOW, models=models)
    buyers = np.asarray(table.column("orders_count")) > 0
    p_alive = np.asarray(table.column("p_alive"))
    assert np.all((p_alive[buyers] >= 0) & (p_alive[buyers] <= 1))
    assert np.all(np.isnan(p_alive[~buyers]))
    clv = np.asarray(table.column("predicted_clv"))
    assert np.all(clv[buyers] >= 0)
    membership = evaluate_segments(table, builtin_segments(), now=NOW)
    counts = membership.counts()
    assert len(counts) == 10 and sum(counts.values()) > 0


def _lines_order(oid: str, cid: str, days_ago: float, *categories: str, **kw: object) -> Order:
    return Order(
        id=oid,
        customer_id=cid,
        placed_at=NOW - timedelta(days=days_ago),
        currency="EUR",
        lines=[
            OrderLine(sku=f"{oid}-{i}", quantity=1, unit_price="1.00", category=c)
            for i, c in enumerate(categories)
        ],
        **kw,  # type: ignore[arg-type]
    )


def test_categories_bought(store: ecomcrm.storage.Store) -> None:
    store.orders.put_many(
        [
            # a: two top levels (Apparel twice), plus o1/o2's lines without a category
            _lines_order("k1", "a", 50, "Apparel > Tops", "Home > Kitchen", "Apparel > Shoes"),
            # b: the cancelled order's Beauty does not count
            _lines_order("k2", "b", 40, "Garden"),
            _lines_order("k3", "b", 3, "Beauty > Skin", status="cancelled"),
        ]
    )
    table = build_customer_features(store, now=NOW)
    assert table.record_for("a")["categories"] == ("Apparel", "Home")
    assert table.record_for("b")["categories"] == ("Garden",)
    assert table.record_for("c")["categories"] == ()
    store.orders.upsert(_lines_order("k4", "c", 1, "Toys > Lego", "Garden > Tools"))
    refreshed = refresh_customer_features(table, store, ["c"], now=NOW)
    assert refreshed.record_for("c")["categories"] == ("Garden", "Toys")
    assert refreshed.record_for("c") == build_customer_features(store, now=NOW).record_for("c")
    assert refreshed.record_for("a") == table.record_for("a")


def _same_facts(a: ecomcrm.storage.EventFacts, b: ecomcrm.storage.EventFacts) -> None:
    assert a.names == b.names
    for field in ("customer_ids", "customer_index", "name_code", "at", "product"):
        left, right = getattr(a, field), getattr(b, field)
        assert left.dtype == right.dtype, field
        assert left.tolist() == right.tolist(), field


@pytest.mark.parametrize(
    "names",
    [
        ("Product Added", "Checkout Started", "Product Viewed", "Order Completed"),
        ("Product Viewed",),
        ("Order Completed", "Nothing Like It"),
        (),
    ],
)
def test_event_rows_by_name_equal_the_stores_own_filter(
    store: ecomcrm.storage.Store, names: tuple[str, ...]
) -> None:
    from ecomcrm.segments._store_features import _only_names

    s = store
    s.events.append_many(
        [
            Event(name=name, customer_id=cid, at=NOW - timedelta(hours=h),
                  properties={"sku": f"P{h % 3}"})
            for h, (name, cid) in enumerate(
                [("Custom Thing", "a"), ("Product Viewed", "b"), ("Order Completed", "a"),
                 ("Product Added", "c"), ("Custom Thing", "c"), ("Checkout Started", "b")] * 3
            )
        ]
    )  # fmt: skip
    _same_facts(_only_names(s.event_facts(), names), s.event_facts(names=names))


def test_features_from_events_already_read_equal_a_fresh_read(
    store: ecomcrm.storage.Store,
) -> None:
    store.events.append(Event(name="Custom Thing", customer_id="a", at=NOW - timedelta(hours=3)))
    fresh = build_customer_features(store, now=NOW)
    shared = build_customer_features(store, now=NOW, event_facts=store.event_facts())
    assert fresh.ids.tolist() == shared.ids.tolist()
    for name in CUSTOMER_FEATURES_SCHEMA:
        a, b = fresh.column(name), shared.column(name)
        assert repr(a) == repr(b), name


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_every_schema_column_is_filled_for_a_customer_with_the_data(
    kind: str, tmp_path: object
) -> None:
    from ecomcrm.domain import Address, Identity
    from ecomcrm.predict import BetaGeo, GammaGamma
    from ecomcrm.segments import ValueModels

    s = ecomcrm.open_store("memory://" if kind == "memory" else f"sqlite:///{tmp_path}/f.db")
    created = NOW - timedelta(days=400)
    s.customers.put_many(
        [
            Customer(
                id="full",
                created_at=created,
                identities=[Identity.phone("+33612345678"), Identity.email("Ada@Example.COM")],
                addresses=[Address(line1="1 Rue de Rivoli", city="Paris", country="FR")],
                country="FR",
                timezone="Europe/Paris",
                acquisition_channel="ads",
                tags={"vip"},
            ),
            Customer(id="empty", created_at=created),
        ]
    )
    s.orders.put_many(
        [
            _lines_order("f1", "full", 200, "Apparel > Tops", discount="0.50"),
            _lines_order("f2", "full", 100, "Home > Kitchen", "Garden"),
            _lines_order("f3", "full", 10, "Apparel > Shoes"),
        ]
    )
    s.orders.add_refund(
        Refund(
            id="fr",
            order_id="f2",
            customer_id="full",
            at=NOW - timedelta(days=90),
            amount="1.00",
            currency="EUR",
            returned=True,
            lines=[ReturnLine(sku="f2-0", quantity=1)],
        )
    )
    for channel in ("email", "sms", "push", "whatsapp"):
        s.consents.record(
            Consent(
                customer_id="full", channel=channel, purpose="marketing", granted=True, at=created
            )
        )
    s.events.append_many(
        [
            Event(name="Product Added", customer_id="full", at=NOW - timedelta(days=3)),
            Event(name="Product Viewed", customer_id="full", at=NOW - timedelta(days=2)),
        ]
    )
    s.tickets.upsert(
        SupportTicket(
            id="tk1",
            customer_id="full",
            channel="email",
            opened_at=NOW - timedelta(days=5),
            satisfaction=4,
        )
    )
    models = ValueModels(
        purchase=BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        spend=GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44}),
    )
    table = build_customer_features(s, now=NOW, models=models)
    record = table.record_for("full")
    empty = [name for name in CUSTOMER_FEATURES_SCHEMA if record[name] in (None, ())]
    assert empty == []
    assert record["city"] == "Paris" and record["email_domain"] == "example.com"
    bare = table.record_for("empty")
    assert bare["city"] is None and bare["email_domain"] is None
    # a refresh keeps them
    refreshed = refresh_customer_features(table, s, ["full"], now=NOW, models=models)
    assert refreshed.record_for("full") == record
    s.close()


def test_next_purchase_columns_come_from_the_model_and_are_never_past_for_the_alive() -> None:
    from ecomcrm.metrics import expected_next_purchase
    from ecomcrm.segments import compile_expression

    store = ecomcrm.open_store("memory://")
    SyntheticShop(customers=600, seed=11, end=NOW).to_store(store)
    models = fit_value_models(store.order_facts(), now=NOW)
    table = build_customer_features(store, now=NOW, models=models)
    due = np.asarray(table.column("next_purchase_at"))
    p_alive = np.asarray(table.column("p_alive"))
    p_30 = np.asarray(table.column("p_purchase_30d"))
    alive = p_alive > 0.5
    assert alive.any() and (~alive & np.isfinite(p_alive)).any()
    now64 = np.datetime64(NOW.replace(tzinfo=None), "us")
    assert np.all(due[alive] > now64)  # never a date in the past for the alive
    assert np.all(np.isnat(due[~alive]))
    buyers = np.isfinite(p_alive)
    assert np.all((p_30[buyers] >= 0) & (p_30[buyers] <= p_alive[buyers]))
    coverage = table.metadata["model_coverage"]
    assert coverage.next_purchase_model == int(alive.sum())
    assert coverage.next_purchase_fallback == 0
    # usable in segments (and, through the one field registry, in flows)
    soon = compile_expression(
        "next_purchase_at <= now + 90d and p_purchase_30d >= 0.1", CUSTOMER_FEATURES_SCHEMA
    ).mask(table, now=NOW)
    by_hand = ~np.isnat(due) & (due <= now64 + np.timedelta64(90, "D")) & (p_30 >= 0.1)
    assert soon.sum() > 0 and np.array_equal(soon, by_hand)
    # without a model: the mean-gap estimate, the documented fallback
    plain = build_customer_features(store, now=NOW)
    facts = store.order_facts()
    keep = ~facts.cancelled
    gap = expected_next_purchase(facts.customer_index[keep], facts.placed_at[keep])
    expected = np.full(len(plain), np.datetime64("NaT", "us"))
    expected[gap.customer_id] = gap.expected
    assert np.array_equal(np.asarray(plain.column("next_purchase_at")), expected, equal_nan=True)
    assert np.all(np.isnan(np.asarray(plain.column("p_purchase_30d"))))
    assert plain.metadata["model_coverage"].next_purchase_fallback == int(
        (~np.isnat(expected)).sum()
    )
