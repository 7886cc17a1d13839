from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

import ecomcrm
from ecomcrm.domain import Consent, Identity
from ecomcrm.errors import ConfigurationError, NotFoundError
from ecomcrm.rules import (
    ActionStep,
    BranchStep,
    Engine,
    Exit,
    Flow,
    FrequencyCap,
    Policies,
    QuietHours,
    ReentryPolicy,
    SplitStep,
    Trigger,
    Variant,
    WaitStep,
    WaitUntilStep,
    builtin_flow,
)
from ecomcrm.storage import Store

from .conftest import T0, add_customer, add_order, ev

H = timedelta(hours=1)


def cart_flow(version: int = 1, wait: str = "1h") -> Flow:
    return Flow(
        id="cart",
        version=version,
        trigger=Trigger.on_event("Checkout Started"),
        steps=[
            WaitStep(id="wait", duration=wait),
            ActionStep(id="remind", channel="email", template=f"cart_v{version}"),
        ],
        exits=[Exit(event="Order Completed")],
        reentry=ReentryPolicy.always(),
    )


def test_wait_then_act_and_idempotency_key(store: Store) -> None:
    add_customer(store, "c1")
    engine = Engine(store, [cart_flow()])
    assert engine.handle(ev("Checkout Started", "c1", T0)) == []
    assert engine.advance(T0 + H - timedelta(seconds=1)) == []
    assert engine.next_due() == T0 + H
    (action,) = engine.advance(T0 + H)
    assert action.customer_id == "c1"
    assert action.template == "cart_v1"
    assert action.due_at == T0 + H
    assert action.idempotency_key == f"cart:v1:{action.enrollment_id}:remind:0"
    assert (action.flow_id, action.flow_version, action.step_id) == ("cart", 1, "remind")
    assert engine.advance(T0 + 10 * H) == []
    assert [a.id for a in engine.pending()] == [action.id]
    engine.ack(action.id, "delivered", at=T0 + H)
    assert engine.pending() == []
    (msg,) = store.messages.for_customer("c1")
    assert msg.id == action.id and msg.outcome.value == "delivered" and msg.flow_id == "cart"


def test_same_event_twice_and_advance_twice(store: Store) -> None:
    add_customer(store, "c1")
    engine = Engine(store, [cart_flow()])
    event = ev("Checkout Started", "c1", T0)
    engine.handle(event)
    engine.handle(event)
    actions = engine.advance(T0 + H) + engine.advance(T0 + H) + engine.advance(T0 + 2 * H)
    assert len(actions) == 1


def test_two_engines_on_one_store_never_duplicate(store: Store) -> None:
    for i in range(20):
        add_customer(store, f"c{i}")
    a, b = Engine(store, [cart_flow()]), Engine(store, [cart_flow()])
    for i in range(20):
        (a if i % 2 else b).handle(ev("Checkout Started", f"c{i}", T0 + timedelta(minutes=i)))
        (b if i % 2 else a).handle(ev("Checkout Started", f"c{i}", T0 + timedelta(minutes=i)))
    out = a.advance(T0 + H + timedelta(minutes=5)) + b.advance(T0 + 2 * H) + a.advance(T0 + 2 * H)
    keys = [x.idempotency_key for x in out]
    assert len(keys) == len(set(keys)) == 20


def test_concurrent_claim_conflict_is_resolved() -> None:
    """Interleave two engines inside one unit: the second commit conflicts and redoes."""
    store = ecomcrm.open_store("memory://")
    add_customer(store, "c1")
    a, b = Engine(store, [cart_flow()]), Engine(store, [cart_flow()])
    a.handle(ev("Checkout Started", "c1", T0))
    original = a._fire
    out_b: list = []

    def racing_fire(work, key, now):  # b fires the same timer while a is computing
        if not out_b:
            out_b.extend(b.advance(now))
        original(work, key, now)

    a._fire = racing_fire  # type: ignore[method-assign]
    out_a = a.advance(T0 + H)
    assert len(out_b) == 1 and out_a == []


def test_restart_continues(store: Store) -> None:
    add_customer(store, "c1")
    Engine(store, [cart_flow()]).handle(ev("Checkout Started", "c1", T0))
    (action,) = Engine(store, [cart_flow()]).advance(T0 + H)
    assert action.template == "cart_v1"


def test_exit_event_ends_enrollment(store: Store) -> None:
    add_customer(store, "c1")
    engine = Engine(store, [cart_flow()])
    engine.handle(ev("Checkout Started", "c1", T0))
    engine.handle(ev("Order Completed", "c1", T0 + timedelta(minutes=30)))
    assert engine.advance(T0 + 5 * H) == []
    explanation = engine.explain("c1", "cart")
    assert explanation.status == "exited"
    assert "exit on event 'Order Completed'" in explanation.text
    assert explanation.decisions[-1].reason == "exit"


def test_versions_running_enrollments_finish_on_their_version(store: Store) -> None:
    add_customer(store, "c1")
    add_customer(store, "c2")
    Engine(store, [cart_flow(1)]).handle(ev("Checkout Started", "c1", T0))
    v2 = Engine(store, [cart_flow(2, wait="2h")])
    v2.handle(ev("Checkout Started", "c2", T0))
    first = v2.advance(T0 + H)
    assert [(a.customer_id, a.template, a.flow_version) for a in first] == [("c1", "cart_v1", 1)]
    second = v2.advance(T0 + 2 * H)
    assert [(a.customer_id, a.template) for a in second] == [("c2", "cart_v2")]


def test_changed_definition_same_version_is_rejected(mem: Store) -> None:
    first = Engine(mem, [cart_flow(1)])
    add_customer(mem, "c1")
    first.handle(ev("Checkout Started", "c1", T0))  # its first write stores v1's definition
    with pytest.raises(ConfigurationError, match="bump the version"):
        Engine(mem, [cart_flow(1, wait="3h")])


def test_consent_required_and_withdrawal_ends_flow(store: Store) -> None:
    add_customer(store, "c1", consent=())
    add_customer(store, "c2")
    engine = Engine(store, [cart_flow()])
    engine.handle(ev("Checkout Started", "c1", T0))
    engine.handle(ev("Checkout Started", "c2", T0))
    store.consents.record(
        Consent(
            customer_id="c2", channel="email", purpose="marketing", granted=False, at=T0 + H / 2
        )
    )
    assert engine.advance(T0 + H) == []
    for cid in ("c1", "c2"):
        e = engine.explain(cid, "cart")
        assert e.status == "exited" and e.decisions[-1].reason == "consent"
        assert "no current email marketing consent" in e.text


def test_transactional_is_exempt_from_consent_caps_quiet_hours(mem: Store) -> None:
    add_customer(mem, "c1", consent=(), phone=True, tz="Europe/Paris")
    flow = Flow(
        id="ship",
        trigger=Trigger.on_event("Order Shipped"),
        steps=[ActionStep(id="s", channel="sms", purpose="transactional", template="t")],
        reentry="always",
    )
    engine = Engine(mem, [flow])
    night = datetime(2024, 5, 6, 23, tzinfo=UTC)
    assert len(engine.handle(ev("Order Shipped", "c1", night))) == 1
    assert len(engine.handle(ev("Order Shipped", "c1", night + timedelta(minutes=1)))) == 1


def test_frequency_cap_skip_and_defer(store: Store) -> None:
    add_customer(store, "c1")
    flows = [
        Flow(id=f"f{i}", trigger=Trigger.on_event(f"E{i}"),
             steps=[ActionStep(id="a", channel="email", template=f"t{i}", on_cap=on_cap)])
        for i, on_cap in ((1, "skip"), (2, "skip"), (3, "defer"))
    ]  # fmt: skip
    engine = Engine(store, flows, Policies(caps=[FrequencyCap(limit=1, per="16h")]))
    assert len(engine.handle(ev("E1", "c1", T0))) == 1
    assert engine.handle(ev("E2", "c1", T0 + H)) == []
    assert engine.handle(ev("E3", "c1", T0 + H)) == []
    assert engine.explain("c1", "f2").decisions[-2].reason == "frequency_cap"
    deferred = engine.explain("c1", "f3")
    assert deferred.status == "active" and deferred.next_due == T0 + timedelta(hours=16)
    assert engine.advance(T0 + 15 * H) == []
    (late,) = engine.advance(T0 + 16 * H)
    assert late.template == "t3" and late.due_at == T0 + 16 * H


def test_quiet_hours_defer_in_local_time_across_dst(mem: Store) -> None:
    add_customer(mem, "c1", phone=True, consent=("sms",), tz="America/New_York")
    flow = Flow(id="sms", trigger=Trigger.on_event("Ping"),
                steps=[ActionStep(id="a", channel="sms", template="t")], reentry="always")  # fmt: skip
    engine = Engine(mem, [flow], Policies(quiet_hours=[QuietHours(start="21:00", end="08:00")]))
    # 2024-03-10 02:30 local does not exist; 05:00 UTC is 00:00 EST: quiet until 08:00 EDT
    at = datetime(2024, 3, 10, 5, tzinfo=UTC)
    assert engine.handle(ev("Ping", "c1", at)) == []
    e = engine.explain("c1", "sms")
    assert e.next_due == datetime(2024, 3, 10, 12, tzinfo=UTC)  # 08:00 EDT (UTC-4)
    assert engine.advance(datetime(2024, 3, 10, 11, 59, tzinfo=UTC)) == []
    assert len(engine.advance(datetime(2024, 3, 10, 12, tzinfo=UTC))) == 1


def test_branch_split_and_filter_rechecked_before_action(mem: Store) -> None:
    add_customer(mem, "c1")
    add_customer(mem, "c2")
    flow = Flow(
        id="f",
        trigger=Trigger.on_event("Go", properties={"tier": "string"}),
        filter="'vip' not in tags",
        steps=[
            BranchStep(id="b", condition="tier == 'gold'", then="ab", otherwise="end"),
            SplitStep(id="ab", variants=[Variant(name="A", weight=1, next="wait"),
                                         Variant(name="B", weight=1, next="wait")]),
            WaitStep(id="wait", duration="1d"),
            ActionStep(id="a", channel="email", template="t"),
        ],
    )  # fmt: skip
    engine = Engine(mem, [flow])
    engine.handle(ev("Go", "c1", T0, tier="gold"))
    engine.handle(ev("Go", "c2", T0, tier="silver"))
    assert engine.explain("c2", "f").status == "done"
    c1 = mem.customers.get("c1")
    import attrs

    mem.customers.upsert(attrs.evolve(c1, tags={"vip"}))
    assert engine.advance(T0 + timedelta(days=2)) == []
    e = engine.explain("c1", "f")
    assert e.status == "exited" and e.decisions[-1].reason == "filter"
    assert any(d.kind == "split" for d in e.decisions)


def test_split_is_stable_per_customer(mem: Store) -> None:
    for i in range(40):
        add_customer(mem, f"c{i}")
    flow = Flow(
        id="ab", trigger=Trigger.on_event("Go"), reentry="always",
        steps=[SplitStep(id="s", variants=[Variant(name="A", weight=1, next="a"),
                                           Variant(name="B", weight=1, next="b")]),
               ActionStep(id="a", channel="email", template="A", next="end"),
               ActionStep(id="b", channel="email", template="B")],
    )  # fmt: skip
    engine = Engine(mem, [flow], Policies())
    first = {
        a.customer_id: a.template for i in range(40) for a in engine.handle(ev("Go", f"c{i}", T0))
    }
    again = {
        a.customer_id: a.template
        for i in range(40)
        for a in engine.handle(ev("Go", f"c{i}", T0 + H))
    }
    assert first == again and set(first.values()) == {"A", "B"}


def test_reentry_never_and_cooldown(mem: Store) -> None:
    add_customer(mem, "c1")
    never = Flow(
        id="n",
        trigger=Trigger.on_event("Go"),
        steps=[ActionStep(id="a", channel="email", template="t")],
    )
    cool = Flow(id="c", trigger=Trigger.on_event("Go"), reentry=ReentryPolicy.cooldown("3d"),
                steps=[ActionStep(id="a", channel="email", template="t")])  # fmt: skip
    engine = Engine(mem, [never, cool], Policies())
    assert len(engine.handle(ev("Go", "c1", T0))) == 2
    assert engine.handle(ev("Go", "c1", T0 + H)) == []
    assert "re-entry is never allowed" in engine.explain("c1", "n").text
    assert "cool-down" in engine.explain("c1", "c").text
    assert [a.flow_id for a in engine.handle(ev("Go", "c1", T0 + timedelta(days=3)))] == ["c"]


def test_holdout_gets_no_actions(mem: Store) -> None:
    for i in range(200):
        add_customer(mem, f"c{i}")
    flow = Flow(id="h", trigger=Trigger.on_event("Go"), holdout=20,
                steps=[ActionStep(id="a", channel="email", template="t")])  # fmt: skip
    engine = Engine(mem, [flow], Policies())
    sent = sum(len(engine.handle(ev("Go", f"c{i}", T0))) for i in range(200))
    held = [i for i in range(200) if engine.explain(f"c{i}", "h").status == "holdout"]
    assert sent + len(held) == 200 and 20 <= len(held) <= 60


def test_anonymous_visitor_tracked_then_identified(mem: Store) -> None:
    flow = Flow(id="f", trigger=Trigger.on_event("Checkout Started"),
                steps=[WaitStep(id="w", duration="1h"),
                       ActionStep(id="a", channel="email", template="t")])  # fmt: skip
    engine = Engine(mem, [flow])
    engine.handle(ev("Checkout Started", None, T0))
    assert engine.explain("anonymous:anon-1", "f").status == "active"
    add_customer(mem, "c9")
    mem.link_identity("c9", Identity(kind="anonymous", value="anon-1"))
    (action,) = engine.advance(T0 + H)
    assert action.customer_id == "c9"


def test_anonymous_never_identified_is_not_contacted(mem: Store) -> None:
    flow = Flow(id="f", trigger=Trigger.on_event("Checkout Started"),
                steps=[ActionStep(id="a", channel="email", template="t")])  # fmt: skip
    engine = Engine(mem, [flow])
    assert engine.handle(ev("Checkout Started", None, T0)) == []
    assert engine.explain("anonymous:anon-1", "f").decisions[-2].reason == "unknown_customer"


def test_unknown_and_erased_customers_never_contacted(mem: Store) -> None:
    add_customer(mem, "c1")
    engine = Engine(mem, [cart_flow()])
    engine.handle(ev("Checkout Started", "ghost", T0))
    engine.handle(ev("Checkout Started", "c1", T0))
    mem.erase("c1")
    assert engine.advance(T0 + H) == []
    assert engine.explain("ghost", "cart").decisions[-1].reason == "unknown_customer"


def test_wait_until_local_time_and_weekday(mem: Store) -> None:
    add_customer(mem, "c1", tz="Asia/Tokyo")
    flow = Flow(id="w", trigger=Trigger.on_event("Go"),
                steps=[WaitUntilStep(id="sat", at="10:00", weekdays=["sat"]),
                       ActionStep(id="a", channel="email", template="t")])  # fmt: skip
    engine = Engine(mem, [flow])
    engine.handle(ev("Go", "c1", T0))
    assert engine.explain("c1", "w").next_due == datetime(2024, 5, 11, 1, tzinfo=UTC)


def test_date_trigger_birthday_feb29(mem: Store) -> None:
    add_customer(mem, "c1", birthday=date(1992, 2, 29), tz="Europe/Berlin")
    engine = Engine(mem, [builtin_flow("birthday")])
    now = datetime(2025, 1, 10, tzinfo=UTC)
    assert engine.refresh(now) == []
    assert engine.next_due() == datetime(2025, 2, 28, 8, tzinfo=UTC)  # 09:00 CET
    (gift,) = engine.advance(datetime(2025, 2, 28, 8, tzinfo=UTC))
    assert gift.template == "birthday"
    assert engine.next_due() == datetime(2026, 2, 28, 8, tzinfo=UTC)
    assert engine.refresh(datetime(2025, 3, 1, tzinfo=UTC)) == []
    assert engine.next_due() == datetime(2026, 2, 28, 8, tzinfo=UTC)


def test_inactivity_trigger_resets_on_orders(mem: Store) -> None:
    add_customer(mem, "c1")
    add_order(mem, "c1", "o1", T0)
    flow = Flow(id="wb", trigger=Trigger.inactivity("30d"), reentry="always",
                steps=[ActionStep(id="a", channel="email", template="wb")])  # fmt: skip
    engine = Engine(mem, [flow])
    engine.refresh(T0 + H)
    assert engine.next_due() == T0 + timedelta(days=30)
    engine.handle(ev("Order Completed", "c1", T0 + timedelta(days=10)))
    assert engine.advance(T0 + timedelta(days=30)) == []
    (a,) = engine.advance(T0 + timedelta(days=40))
    assert a.template == "wb"


def test_threshold_trigger_on_recheck_event(mem: Store) -> None:
    from ecomcrm.domain import LoyaltyEntry

    add_customer(mem, "c1")
    engine = Engine(mem, [builtin_flow("loyalty_tier_nudge")])
    engine.handle(ev("Loyalty Points Earned", "c1", T0))
    mem.loyalty.append(LoyaltyEntry(id="e1", customer_id="c1", kind="earn", points=450, at=T0))
    (nudge,) = engine.handle(ev("Loyalty Points Earned", "c1", T0 + H))
    assert nudge.template == "tier_nudge"
    assert engine.handle(ev("Loyalty Points Earned", "c1", T0 + 2 * H)) == []


def test_handle_many_equals_handle(store: Store) -> None:
    for i in range(10):
        add_customer(store, f"c{i}")
    events = [ev("Checkout Started", f"c{i}", T0 + timedelta(minutes=i)) for i in range(10)]
    events += [ev("Order Completed", "c3", T0 + timedelta(minutes=30))]
    engine = Engine(store, [cart_flow()])
    assert engine.handle_many(events) == []
    assert sorted(a.customer_id for a in engine.advance(T0 + 2 * H)) == sorted(
        f"c{i}" for i in range(10) if i != 3
    )


def test_explain_data_and_errors(mem: Store) -> None:
    add_customer(mem, "c1")
    engine = Engine(mem, [cart_flow()])
    assert engine.explain("c1", "cart").status == "never entered"
    engine.handle(ev("Checkout Started", "c1", T0))
    data = engine.explain("c1", "cart").to_dict()
    assert data["status"] == "active" and data["current_step"] == "remind"
    assert [d["kind"] for d in data["decisions"]] == ["enrolled", "waiting"]
    with pytest.raises(NotFoundError):
        engine.explain("c1", "nope")
    with pytest.raises(NotFoundError):
        engine.ack("act_nope")


def test_naive_now_rejected(mem: Store) -> None:
    from ecomcrm.errors import ValidationError

    with pytest.raises(ValidationError, match="timezone-aware"):
        Engine(mem, []).advance(datetime(2024, 1, 1))
