"""Engine.performance: attribution windows, goals, skips, holdout lift, hand-computed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecomcrm.domain import Event, Order, OrderLine
from ecomcrm.metrics import newcombe_interval
from ecomcrm.rules import (
    ActionStep,
    Attribution,
    AttributionWindow,
    Engine,
    Flow,
    Goal,
    Holdout,
    Trigger,
    WaitStep,
)
from ecomcrm.rules._steps import stable_fraction
from ecomcrm.storage import Store

from .conftest import T0, add_customer, add_order

H = timedelta(hours=1)
D = timedelta(days=1)


def mail_flow(flow_id: str, event: str, **kw: object) -> Flow:
    return Flow(
        id=flow_id,
        trigger=Trigger.on_event(event),
        steps=[ActionStep(id="mail", channel="email", template=flow_id)],
        reentry="always",
        **kw,  # type: ignore[arg-type]
    )


def order(store: Store, cid: str, oid: str, at: object, amount: str, currency: str) -> None:
    store.orders.upsert(
        Order(id=oid, customer_id=cid, placed_at=at, currency=currency,
              lines=[OrderLine(sku="S", quantity=1, unit_price=amount)])
    )  # fmt: skip


def cart_scenario(store: Store) -> Engine:
    for cid in ("c1", "c2", "c3"):
        add_customer(store, cid)
    engine = Engine(store, [mail_flow("cart", "Checkout Started")], currency="EUR",
                    rates={"USD": 0.5})  # fmt: skip
    acts = {}
    for cid in ("c1", "c2", "c3"):
        (acts[cid],) = engine.handle(Event(name="Checkout Started", customer_id=cid, at=T0))
    engine.ack(acts["c1"].id, "sent", at=T0)
    engine.ack(acts["c1"].id, "opened", at=T0 + H)
    engine.ack(acts["c1"].id, "delivered", at=T0 + 2 * H)  # late report: the open stands
    engine.ack(acts["c2"].id, "sent", at=T0)
    engine.ack(acts["c3"].id, "sent", at=T0)
    engine.ack(acts["c3"].id, "bounced", at=T0 + H)
    order(store, "c1", "o1", T0 + 2 * D, "200.00", "USD")  # 100 EUR, 2 days after the open
    order(store, "c1", "o2", T0 + 6 * D + 2 * H, "50.00", "EUR")  # open + 5d = T0 + 5d 1h: out
    order(store, "c2", "o3", T0 + D, "80.00", "EUR")  # c2 never opened
    order(store, "c3", "o4", T0 + 8 * D, "30.00", "EUR")  # bounced, and after the goal window
    return engine


def test_last_touch_from_the_open_within_five_days(store: Store) -> None:
    engine = cart_scenario(store)
    report = engine.performance()
    row = report.flow("cart")
    assert report.currency == "EUR"
    assert (row.enrollments, row.sends, row.recipients) == (3, 3, 3)
    assert (row.attributed_orders, row.attributed_revenue) == (1, pytest.approx(100.0))
    assert row.revenue_per_recipient == pytest.approx(100.0 / 3)
    # goal: any order within 7 days of entering at T0: c1 (day 2), c2 (day 1); c3 (day 8) not
    assert row.conversions == 2 and row.conversion_rate == pytest.approx(2 / 3)
    assert row.holdout_enrollments is None and row.conversion_lift is None
    (step,) = report.rows_of("cart", "step")
    assert (step.step_id, step.sends, step.attributed_revenue) == ("mail", 3, pytest.approx(100.0))
    (channel,) = report.rows_of("cart", "channel")
    assert (channel.channel, channel.enrollments, channel.conversions) == ("email", 3, 2)


def test_counted_from_the_send_credits_unopened_mail(store: Store) -> None:
    engine = cart_scenario(store)
    row = engine.performance(attribution=Attribution.counted_from("sent")).flow("cart")
    # o1 (100) and o3 (80) are within 5 days of their sends at T0; o2 (day 6) is not; c3 bounced
    assert (row.attributed_orders, row.attributed_revenue) == (2, pytest.approx(180.0))
    short = Attribution(windows=[AttributionWindow(channel="email", outcome="sent", within="1d")])
    row = engine.performance(attribution=short).flow("cart")
    assert row.attributed_revenue == pytest.approx(80.0)  # o3 at exactly T0 + 1 day: in


def test_period_bounds_count_enrollments_and_sends_in_it(store: Store) -> None:
    engine = cart_scenario(store)
    assert engine.performance(since=T0 + H).rows == ()
    assert engine.performance(until=T0 + H).flow("cart").sends == 3


def test_one_order_is_credited_once_across_flows(store: Store) -> None:
    add_customer(store, "c1")
    engine = Engine(store, [mail_flow("cart", "Checkout Started"),
                            mail_flow("browse", "Product Viewed")])  # fmt: skip
    (a,) = engine.handle(Event(name="Checkout Started", customer_id="c1", at=T0))
    (b,) = engine.handle(Event(name="Product Viewed", customer_id="c1", at=T0 + D))
    engine.ack(a.id, "opened", at=T0 + H)
    engine.ack(b.id, "opened", at=T0 + D + H)
    add_order(store, "c1", "o1", T0 + 2 * D, "60.00")
    report = engine.performance()
    assert report.flow("browse").attributed_revenue == pytest.approx(60.0)  # the last touch
    assert report.flow("cart").attributed_revenue == 0.0
    # but both enrollments converted: a goal is per enrollment, attribution per order
    assert report.flow("cart").conversions == report.flow("browse").conversions == 1


def test_skips_by_reason_and_exit_on_goal(store: Store) -> None:
    add_customer(store, "c1", consent=())
    add_customer(store, "c2")
    flow = Flow(
        id="welcome", trigger=Trigger.on_event("Signed Up"),
        steps=[ActionStep(id="hello", channel="email", template="w")],
        exit_on_consent_withdrawn=False, goal=Goal(event="Review Written", within="2d"),
    )  # fmt: skip
    engine = Engine(store, [flow])
    engine.handle(Event(name="Signed Up", customer_id="c1", at=T0))
    engine.handle(Event(name="Signed Up", customer_id="c2", at=T0))
    store.events.append(Event(name="Review Written", customer_id="c2", at=T0 + D))
    row = engine.performance().flow("welcome")
    assert row.skipped == {"consent": 1}
    assert (row.enrollments, row.sends, row.conversions) == (2, 1, 1)


def test_exit_on_goal_ends_the_enrollment(store: Store) -> None:
    add_customer(store, "c1")
    flow = Flow(
        id="f", trigger=Trigger.on_event("Signed Up"),
        steps=[WaitStep(id="w", duration="2d"),
               ActionStep(id="hello", channel="email", template="w")],
        goal=Goal(event="Review Written", exit=True),
    )  # fmt: skip
    engine = Engine(store, [flow])
    engine.handle(Event(name="Signed Up", customer_id="c1", at=T0))
    engine.handle(Event(name="Review Written", customer_id="c1", at=T0 + D))
    assert engine.advance(T0 + 3 * D) == []
    assert "goal 'Review Written' reached" in engine.explain("c1", "f").text


def test_holdout_lift_hand_counted(store: Store) -> None:
    flow = mail_flow("lift", "Checkout Started", holdout=Holdout(percent=50))
    ids = [f"h{i}" for i in range(24)]
    held = [c for c in ids if stable_fraction(f"holdout:lift:{c}") * 100 < 50]
    treated = [c for c in ids if c not in held]
    assert held and treated
    for cid in ids:
        add_customer(store, cid)
    engine = Engine(store, [flow])
    for cid in ids:
        engine.handle(Event(name="Checkout Started", customer_id=cid, at=T0))
    # every second treated customer orders 40 within the week; one holdout customer orders 10
    buyers = treated[::2]
    for cid in buyers:
        add_order(store, cid, f"o-{cid}", T0 + 3 * D, "40.00")
    add_order(store, held[0], "o-held", T0 + 2 * D, "10.00")
    row = engine.performance().flow("lift")
    assert (row.enrollments, row.holdout_enrollments) == (len(treated), len(held))
    assert (row.conversions, row.holdout_conversions) == (len(buyers), 1)
    expected = newcombe_interval(len(buyers), len(treated), 1, len(held))
    assert row.conversion_lift == expected
    assert row.revenue_lift is not None
    assert row.revenue_lift.difference == pytest.approx(
        40.0 * len(buyers) / len(treated) - 10.0 / len(held)
    )


def test_the_same_report_for_backtests(mem: Store) -> None:
    from ecomcrm.rules import backtest

    for cid in ("c1", "c2"):
        add_customer(mem, cid)
    add_order(mem, "c1", "o1", T0 + 2 * D, "70.00")
    events = [Event(name="Checkout Started", customer_id=c, at=T0) for c in ("c1", "c2")]
    report = backtest(mem, [mail_flow("cart", "Checkout Started")], events, warmup=None)
    assert report.performance is not None
    row = report.performance.flow("cart")
    # nothing was sent in a replay: each action counts as sent at its due time (T0), so the
    # order two days later is within the email's 5 days
    assert (row.enrollments, row.sends, row.conversions) == (2, 2, 1)
    assert row.attributed_revenue == pytest.approx(70.0)
    assert report.flows["cart"].treated_conversions == 0  # the replay's goal counts events only


def test_goal_and_auto_winner_round_trip_and_validation() -> None:
    from ecomcrm.errors import ConfigurationError
    from ecomcrm.rules import AutoWinner, SplitStep, Variant

    flow = Flow(
        id="f", trigger=Trigger.on_event("X"),
        steps=[SplitStep(id="ab", variants=[Variant(name="A", weight=1, next="a"),
                                            Variant(name="B", weight=1, next="a")],
                         auto_winner=AutoWinner(min_recipients=100)),
               ActionStep(id="a", channel="email", template="t")],
        goal=Goal(event="Review Written", within="3d", exit=True),
    )  # fmt: skip
    again = Flow.from_dict(flow.to_dict())
    assert again == flow and again.all_exits[-1].event == "Review Written"
    assert flow.conversion_goal.within == timedelta(days=3)
    with pytest.raises(ConfigurationError, match="goal"):
        Flow.from_dict({**flow.to_dict(), "goal": {"event": "X", "within": "-1d"}})
    assert Flow(id="g", trigger=Trigger.on_event("X"), steps=[],
                holdout=Holdout(percent=5, goal="Y", within="2d")).conversion_goal == Goal(
        event="Y", within="2d")  # fmt: skip
