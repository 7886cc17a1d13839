"""One scenario per built-in flow, with an explicit clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs
import pytest

import ecomcrm
from ecomcrm.domain import LoyaltyEntry
from ecomcrm.errors import ConfigurationError
from ecomcrm.io import import_shopify_orders
from ecomcrm.rules import BUILTIN_FLOWS, Action, Exit, Flow, Policies, builtin_flow
from ecomcrm.rules._builtin_flows import back_in_stock_events
from ecomcrm.storage import Store

from .conftest import T0, add_customer, add_order, ev
from .engine_hooks import Engine

H = timedelta(hours=1)
D = timedelta(days=1)
NO_CAP = Policies()


def engine(store: Store, name: str, policies: Policies | None = NO_CAP) -> Engine:
    return Engine(store, [builtin_flow(name)], policies)


def templates(actions: list[Action]) -> list[str]:
    return [a.template for a in actions]


def test_every_builtin_has_a_scenario() -> None:
    tested = {n[len("test_") :] for n in globals() if n.startswith("test_")}
    assert set(BUILTIN_FLOWS) <= tested


def test_welcome_series(mem: Store) -> None:
    add_customer(mem, "c1")
    e = engine(mem, "welcome_series")
    assert templates(e.handle(ev("Signed Up", "c1", T0))) == ["welcome_1"]
    assert templates(e.advance(T0 + 2 * D)) == ["welcome_2_offer"]
    assert templates(e.advance(T0 + 5 * D)) == ["welcome_3_story"]


def test_abandoned_cart(mem: Store) -> None:
    add_customer(mem, "new")
    add_customer(mem, "old")
    add_order(mem, "old", "o1", T0 - 10 * D)
    add_customer(mem, "buyer")
    e = engine(mem, "abandoned_cart")
    for c in ("new", "old", "buyer"):
        e.handle(ev("Checkout Started", c, T0))
    e.handle(ev("Order Completed", "buyer", T0 + H / 2))
    assert sorted(templates(e.advance(T0 + H))) == ["cart_reminder_1"] * 2
    second = {a.customer_id: a for a in e.advance(T0 + 25 * H)}
    assert second["new"].params["discount_percent"] == 10
    assert "discount_percent" not in second["old"].params
    assert "buyer" not in second


def test_browse_abandonment(mem: Store) -> None:
    add_customer(mem, "c1")
    e = engine(mem, "browse_abandonment")
    for i in range(2):
        e.handle(ev("Product Viewed", "c1", T0 + i * D, sku="A"))
    e.handle(ev("Product Viewed", "c1", T0 + 2 * D, sku="B"))
    assert e.advance(T0 + 3 * D) == []
    e.handle(ev("Product Viewed", "c1", T0 + 3 * D, sku="A"))
    (a,) = e.advance(T0 + 3 * D + 2 * H)
    assert a.template == "browse_reminder" and a.params["event"]["sku"] == "A"


def test_post_purchase(mem: Store) -> None:
    add_customer(mem, "c1", consent=())
    e = engine(mem, "post_purchase")
    (confirmation,) = e.handle(ev("Order Completed", "c1", T0, order_id="o1"))
    assert confirmation.purpose.value == "transactional"
    assert e.advance(T0 + 7 * D) == []  # the cross-sell is marketing: no consent
    assert e.explain("c1", "post_purchase").decisions[-1].reason == "consent"


def test_shipping_update(mem: Store) -> None:
    add_customer(mem, "c1", consent=())
    assert templates(engine(mem, "shipping_update").handle(ev("Order Shipped", "c1", T0))) == [
        "order_shipped"
    ]


def test_review_request(mem: Store) -> None:
    add_customer(mem, "c1", tz="Europe/Paris")
    e = engine(mem, "review_request")
    e.handle(ev("Order Delivered", "c1", T0))
    assert e.advance(T0 + 7 * D) == []  # then waits for 10:00 Paris (08:00 UTC)
    (a,) = e.advance(datetime(2024, 5, 14, 8, tzinfo=UTC))
    assert a.template == "review_request"


def test_win_back(mem: Store) -> None:
    for i in range(30):
        add_customer(mem, f"c{i}")
        add_order(mem, f"c{i}", f"o{i}", T0, amount="600.00" if i % 2 else "20.00")
    e = engine(mem, "win_back")
    e.refresh(T0 + H)
    first = e.advance(T0 + 90 * D)
    held = [i for i in range(30) if e.explain(f"c{i}", "win_back").status == "holdout"]
    assert len(first) + len(held) == 30
    by_customer = {a.customer_id: a.template for a in first}
    assert by_customer.get("c1", "winback_vip") == "winback_vip"
    assert by_customer.get("c2", "winback_1") == "winback_1"
    assert set(templates(e.advance(T0 + 120 * D))) == {"winback_2"}
    e.handle(ev("Order Completed", "c1", T0 + 121 * D))
    last = e.advance(T0 + 150 * D)
    assert "c1" not in {a.customer_id for a in last}
    assert set(templates(last)) == {"winback_last"}


def test_birthday(mem: Store) -> None:
    add_customer(mem, "c1", birthday=date(1990, 5, 8), tz="America/Los_Angeles")
    e = engine(mem, "birthday")
    e.refresh(T0)
    (a,) = e.advance(datetime(2024, 5, 8, 16, tzinfo=UTC))  # 09:00 PDT
    assert a.template == "birthday"


def test_signup_anniversary(mem: Store) -> None:
    add_customer(mem, "c1", created_at=datetime(2023, 5, 10, 15, tzinfo=UTC))
    e = engine(mem, "signup_anniversary")
    e.refresh(T0)
    assert e.next_due() == datetime(2024, 5, 10, 10, tzinfo=UTC)
    assert templates(e.advance(datetime(2024, 5, 10, 10, tzinfo=UTC))) == ["anniversary"]


def test_loyalty_tier_nudge(mem: Store) -> None:
    add_customer(mem, "c1")
    e = engine(mem, "loyalty_tier_nudge")
    mem.loyalty.append(LoyaltyEntry(id="l1", customer_id="c1", kind="earn", points=420, at=T0))
    assert templates(e.refresh(T0)) == ["tier_nudge"]
    assert e.handle(ev("Order Completed", "c1", T0 + H)) == []


def test_unredeemed_points(mem: Store) -> None:
    add_customer(mem, "c1")
    add_order(mem, "c1", "o1", T0 - 40 * D)
    mem.loyalty.append(
        LoyaltyEntry(id="l1", customer_id="c1", kind="earn", points=1500, at=T0 - 40 * D)
    )
    e = engine(mem, "unredeemed_points")
    assert e.refresh(T0) == []  # Monday: waits for Saturday 10:00
    (a,) = e.advance(datetime(2024, 5, 11, 10, tzinfo=UTC))
    assert a.template == "points_reminder"


def test_back_in_stock(mem: Store) -> None:
    add_customer(mem, "c1")
    add_customer(mem, "c2")
    mem.events.append(ev("Product Viewed", "c1", T0 - D, sku="TEE"))
    mem.events.append(ev("Product Added to Wishlist", "c2", T0 - 40 * D, sku="TEE"))
    events = back_in_stock_events(mem, "TEE", T0)
    assert [x.customer_id for x in events] == ["c1"]
    assert templates(engine(mem, "back_in_stock").handle_many(events)) == ["back_in_stock"]


def test_shipping_delay(mem: Store) -> None:
    add_customer(mem, "vip")
    add_order(mem, "vip", "o1", T0 - 30 * D, amount="800.00")
    add_customer(mem, "c2")
    e = engine(mem, "shipping_delay")
    (a,) = e.handle(ev("Shipment Delayed", "vip", T0, order_id="o2", total=50))
    (b,) = e.handle(ev("Shipment Delayed", "c2", T0, order_id="o3", total=50))
    (c,) = e.handle(ev("Shipment Delayed", "c2", T0 + H, order_id="o4", total=250))
    assert a.params["discount_percent"] == 15 and "discount_percent" not in b.params
    assert c.step_id == "apology_discount"


def test_nps_survey(mem: Store) -> None:
    add_customer(mem, "c1")
    e = engine(mem, "nps_survey")
    e.handle(ev("Order Delivered", "c1", T0))
    assert templates(e.advance(T0 + 7 * D)) == ["nps_survey"]


def test_nps_detractor_followup(mem: Store) -> None:
    add_customer(mem, "c1", consent=())
    e = engine(mem, "nps_detractor_followup")
    assert e.handle(ev("NPS Submitted", "c1", T0, score=9)) == []
    (task,) = e.handle(ev("NPS Submitted", "c1", T0 + H, score=3))
    assert task.kind == "task" and task.channel is None


def test_replenishment(mem: Store) -> None:
    add_customer(mem, "c1")
    add_order(mem, "c1", "o1", T0 - 20 * D)
    add_order(mem, "c1", "o2", T0)
    e = engine(mem, "replenishment")
    e.handle(ev("Order Completed", "c1", T0))
    assert e.advance(T0 + 19 * D) == []
    (a,) = e.advance(T0 + 20 * D)
    assert a.template == "replenishment_reminder"


# --- orders however they arrive (issue 13, item 7) ---------------------------------------

_SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Currency,Subtotal,Shipping,Taxes,Total,Created at,"
    "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku\n"
)


def _shopify_order(path: Path, name: str, email: str, at: datetime) -> Path:
    path.write_text(
        _SHOPIFY_HEADER
        + f"{name},{email},paid,EUR,30.00,0.00,0.00,30.00,{at:%Y-%m-%d %H:%M:%S} +0000,"
        "1,Tee,30.00,TEE-1\n"
    )
    return path


def test_abandoned_cart_ends_on_an_order_imported_from_shopify(
    store: Store, tmp_path: Path
) -> None:
    add_customer(store, "ada")
    add_customer(store, "grace")
    e = engine(store, "abandoned_cart")
    e.handle_many([ev("Checkout Started", c, T0) for c in ("ada", "grace")])
    # ada's order reaches the store by the Shopify import only: no event is handled
    csv = _shopify_order(tmp_path / "orders_export.csv", "#2001", "ada@example.com", T0 + H / 2)
    report = import_shopify_orders(store, csv)
    assert report.imported == 1 and store.orders.get("#2001").customer_id == "ada"
    first = e.advance(T0 + H)
    assert [(a.customer_id, a.template) for a in first] == [("grace", "cart_reminder_1")]
    assert [a.customer_id for a in e.advance(T0 + 30 * H)] == ["grace"]
    why = e.explain("ada", "abandoned_cart")
    assert why.status == "exited" and why.decisions[-1].reason == "exit"
    assert "order in the store" in why.decisions[-1].text


def test_abandoned_cart_ends_on_an_upserted_order_in_a_batched_advance(store: Store) -> None:
    # 300 customers: advance() runs its timers in batches (256 per unit of work)
    ids = [f"c{i:03d}" for i in range(300)]
    for cid in ids:
        add_customer(store, cid)
    e = engine(store, "abandoned_cart")
    e.handle_many([ev("Checkout Started", c, T0) for c in ids])
    bought = set(ids[::3])
    for n, cid in enumerate(sorted(bought)):
        add_order(store, cid, f"o{n}", T0 + H / 4)  # written directly, no event
    add_order(store, ids[1], "old", T0 - D)  # placed before entering: not a purchase since
    first = e.advance(T0 + H)
    assert sorted(a.customer_id for a in first) == sorted(set(ids) - bought)
    # an order after the first reminder ends the flow before the second
    add_order(store, ids[1], "late", T0 + 2 * H)
    second = {a.customer_id for a in e.advance(T0 + 30 * H)}
    assert second == set(ids) - bought - {ids[1]}


def test_win_back_reacts_to_orders_written_to_the_store(store: Store) -> None:
    for cid in ("idle", "came_back", "mid_flow"):
        add_customer(store, cid, at=T0 - 400 * D)
        add_order(store, cid, f"{cid}-1", T0 - 200 * D)
    flow = builtin_flow("win_back")
    e = Engine(store, [attrs.evolve(flow, holdout=None)], NO_CAP)
    e.refresh(T0 - 150 * D)  # clocks from the last order: due 110 days ago
    add_order(store, "came_back", "came_back-2", T0 - 120 * D)  # imported, no event
    first = e.advance(T0 - 100 * D)
    assert sorted(a.customer_id for a in first) == ["idle", "mid_flow"]
    # came_back's clock restarted from the imported order: due 90 days after it
    assert e.explain("came_back", "win_back").status == "never entered"
    assert e.next_due() is not None
    add_order(store, "mid_flow", "mid_flow-2", T0 - 95 * D)
    later = e.advance(T0 - 25 * D)
    assert sorted((a.customer_id, a.template) for a in later) == [
        ("came_back", "winback_1"),
        ("idle", "winback_2"),
        ("idle", "winback_last"),
    ]
    assert e.explain("mid_flow", "win_back").status == "exited"


def test_an_ordered_exit_is_json_and_validated() -> None:
    d = dict(BUILTIN_FLOWS["abandoned_cart"])
    assert d["exits"] == [{"ordered": True}]
    flow = builtin_flow("abandoned_cart")
    assert flow.version == 2 and flow.exits == (Exit.on_order(),)
    assert Flow.from_dict(flow.to_dict()) == flow
    bad = {**d, "exits": [{"ordered": True, "event": "Order Completed"}]}
    with pytest.raises(ConfigurationError, match="exit #0: an 'ordered' exit takes no event"):
        Flow.from_dict(bad)
    purchase_ends = {n for n, f in BUILTIN_FLOWS.items() if {"ordered": True} in f.get("exits", [])}
    assert purchase_ends == {
        "abandoned_cart", "browse_abandonment", "win_back", "unredeemed_points",
        "back_in_stock", "replenishment",
    }  # fmt: skip


def test_a_purchase_seen_in_the_store_ends_a_running_enrollment_before_a_new_entry(
    mem: Store,
) -> None:
    add_customer(mem, "c1")
    flow = attrs.evolve(builtin_flow("abandoned_cart"), reentry={"mode": "always"})
    e = Engine(mem, [flow], NO_CAP)
    e.handle(ev("Checkout Started", "c1", T0))
    add_order(mem, "c1", "o1", T0 + H / 4)  # no event
    e.handle(ev("Checkout Started", "c1", T0 + H / 2))  # a new cart: enters again
    kinds = [d.kind for d in e.explain("c1", "abandoned_cart").decisions]
    assert kinds[-3:] == ["exited", "enrolled", "waiting"]
    (a,) = e.advance(T0 + 2 * H)
    assert a.due_at == T0 + 3 * H / 2


def test_win_back_clock_restarts_on_refresh_after_a_stored_order(store: Store) -> None:
    flow = attrs.evolve(builtin_flow("win_back"), holdout=None)
    for vector in (True, False):  # the array refresh and the per-customer reference
        cid = f"c-{vector}"
        add_customer(store, cid, at=T0 - 400 * D)
        add_order(store, cid, f"{cid}-1", T0 - 200 * D)
        e = Engine(store, [flow], NO_CAP, state_store=ecomcrm.open_store("memory://"))
        e._vector_refresh = vector

        def sent(now: datetime, e: Engine = e, cid: str = cid) -> list[str]:
            return [a.template for a in e.advance(now) if a.customer_id == cid]

        e.refresh(T0 - 150 * D)
        assert sent(T0 - 100 * D) == ["winback_1"]  # the trigger fired: no clock is left
        assert sent(T0 - 40 * D) == ["winback_2", "winback_last"]
        add_order(store, cid, f"{cid}-2", T0 - 30 * D)  # imported: no event
        e.refresh(T0 - 20 * D)
        assert sent(T0 + 59 * D) == []
        assert sent(T0 + 60 * D) == ["winback_1"]  # 90 days after the imported order
