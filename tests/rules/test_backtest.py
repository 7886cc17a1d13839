from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

import ecomcrm
import ecomcrm.rules
from ecomcrm.domain import Event
from ecomcrm.errors import ValidationError
from ecomcrm.io import SyntheticShop
from ecomcrm.rules import Policies, backtest, builtin_flow, builtin_flows, warmup_horizon
from ecomcrm.storage import Store

from .conftest import T0, add_customer, add_order, ev
from .engine_hooks import Engine

H = timedelta(hours=1)


def log() -> list:
    events = []
    for i in range(40):
        c = f"c{i}"
        at = T0 + i * H
        events.append(ev("Checkout Started", c, at))
        if i % 4 == 0:
            events.append(ev("Order Completed", c, at + H / 2))
    return events


def test_backtest_reports_and_leaves_live_state_alone(mem: Store) -> None:
    for i in range(40):
        add_customer(mem, f"c{i}", consent=("email",) if i % 5 else ())
    live_before = mem.state.scan("")
    report = backtest(mem, [builtin_flow("abandoned_cart")], log(), end=T0 + 3 * 24 * H)
    assert mem.state.scan("") == live_before
    flow = report.flows["abandoned_cart"]
    assert flow.enrollments == 40
    # 10 bought within the hour (exit), 8 of the rest lack consent (exit before acting)
    assert flow.exited["exit"] == 10
    assert flow.actions["reminder_1"] == 40 - 10 - 8 + 2  # two buyers also lack consent
    assert report.caps_hit == 0
    assert len(report.actions) == sum(flow.actions.values())
    assert "abandoned_cart: 40 entered" in report.summary()


def test_backtest_is_deterministic_and_counts_caps(mem: Store) -> None:
    for i in range(40):
        add_customer(mem, f"c{i}")
    flows = [builtin_flow("abandoned_cart"), builtin_flow("post_purchase")]
    events = [*log(), ev("Signed Up", "c1", T0)]
    a = backtest(mem, flows, events, policies=Policies.default())
    b = backtest(mem, flows, list(reversed(events)), policies=Policies.default())
    assert a.to_dict() == b.to_dict()


def test_backtest_holdout_uplift(mem: Store) -> None:
    for i in range(300):
        add_customer(mem, f"c{i}", at=T0 - 300 * 24 * H)
        add_order(mem, f"c{i}", f"o{i}", T0 - 200 * 24 * H)
    flow = builtin_flow("win_back")
    events = [ev("Order Completed", f"c{i}", T0 - 200 * 24 * H) for i in range(300)]
    events += [ev("Order Completed", f"c{i}", T0 - 100 * 24 * H + i * H) for i in range(0, 300, 3)]
    report = backtest(mem, [flow], events, end=T0)
    r = report.flows["win_back"]
    # everyone once, and the 100 who came back once more (re-entry "always")
    assert 300 < r.enrollments + r.holdout_enrollments <= 400
    assert 20 <= r.holdout_enrollments <= 80
    assert r.exited.get("exit", 0) > 0  # the returning buyers left the flow
    assert r.uplift is not None and -1.0 <= r.uplift <= 1.0


def test_exported_names_are_sorted_and_public() -> None:
    names = ecomcrm.rules.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n[0].islower(), n))
    assert all(hasattr(ecomcrm.rules, n) for n in names)
    assert Engine.__doc__ and "Example" in Engine.__doc__


def test_log_observer_sees_every_decision_the_observer_sees(mem: Store) -> None:
    from ecomcrm.rules._actions import Decision

    for i in range(40):
        add_customer(mem, f"c{i}", consent=("email",) if i % 5 else ())
    seen: list[tuple[str, str, str | None, Decision]] = []
    logged: list[tuple[str, str, str | None, Decision]] = []
    engine = Engine(
        mem,
        [builtin_flow("abandoned_cart")],
        observer=lambda f, c, e, d: seen.append((f, c, e, d)),
        _log_observer=lambda f, c, e, entry: logged.append((f, c, e, Decision.from_log(entry))),
    )
    for event in log():
        engine.handle(event)
    engine.advance(T0 + 3 * 24 * H)
    assert len(seen) > 80
    assert logged == seen


# --- warm starts (issue 13, item 8) ------------------------------------------------------

D = 24 * H


def _synthetic(customers: int) -> tuple[Store, datetime]:
    shop = SyntheticShop(customers=customers, seed=7)
    store = ecomcrm.open_store("memory://")
    shop.to_store(store)
    return store, shop.end


def _events_since(store: Store, since: datetime) -> list[Event]:
    out: list[Event] = []
    for customer in store.customers.iterate():
        out.extend(store.events.for_customer(customer.id, since=since))
    return out


def events_start(events: list[Event]) -> datetime:
    return min(e.at for e in events)


def test_a_one_day_backtest_does_not_enroll_everyone_inactive_on_its_first_day() -> None:
    store, now = _synthetic(400)
    events = _events_since(store, now - D)
    flows = builtin_flows()
    warm = backtest(store, flows, events, end=now)  # the default: a warm start
    cold = backtest(store, flows, events, end=now, warmup=None)
    # cold, every customer idle for 90 days enters win-back on day one
    assert cold.flows["win_back"].enrollments + cold.flows["win_back"].holdout_enrollments > 200
    wb = warm.flows["win_back"]
    assert wb.enrollments + wb.holdout_enrollments <= 5  # those whose 90 days end that day
    assert sum(wb.actions.values()) <= 10  # plus follow-ups of earlier entrants
    assert warm.flows["loyalty_tier_nudge"].enrollments <= 2
    assert warm.start == events_start(events) and warm.warmup_start is not None
    assert warm.warmup_start == warm.start - warmup_horizon(flows)
    assert all(a.due_at >= warm.start for a in warm.actions)


def test_the_warm_up_brings_running_enrollments_to_the_window_and_reports_none(
    mem: Store,
) -> None:
    add_customer(mem, "idle", at=T0 - 400 * D)
    add_order(mem, "idle", "o1", T0 - 130 * D)  # 90 days later: win-back from T0 - 40 d
    add_customer(mem, "cart", at=T0 - 400 * D)
    flows = [attrs.evolve(builtin_flow("win_back"), holdout=None), builtin_flow("abandoned_cart")]
    history = [
        ev("Checkout Started", "cart", T0 - 2 * H),  # reminder 1 before the window
        ev("Checkout Started", "cart", T0 + H),  # within the 3-day re-entry cool-down
    ]
    report = backtest(mem, flows, history, start=T0, end=T0 + 30 * D)
    assert report.warmup_events == 1 and report.events == 1
    win_back = report.flows["win_back"]
    # offer 1 (T0 - 40 d) and offer 2 (T0 - 10 d) went out in the warm-up, unreported
    assert win_back.enrollments == 0 and dict(win_back.actions) == {"last_chance": 1}
    cart = report.flows["abandoned_cart"]
    assert cart.enrollments == 0 and dict(cart.actions) == {"reminder_2_discount": 1}
    assert [(a.step_id, a.due_at) for a in report.actions] == [
        ("reminder_2_discount", T0 + 23 * H),
        ("last_chance", T0 + 20 * D),
    ]
    cold = backtest(mem, flows, history, start=T0, end=T0 + 30 * D, warmup=None)
    assert cold.flows["win_back"].enrollments == 1  # enters on the window's first day
    assert cold.flows["abandoned_cart"].enrollments == 1


def test_the_batched_warm_up_replays_exactly_as_stepping_every_due_time() -> None:
    store, now = _synthetic(150)
    start = now - 10 * D
    flows = builtin_flows()
    events = _events_since(store, start - warmup_horizon(flows))
    batched = backtest(store, flows, events, start=start, end=now)
    stepped = backtest(store, flows, events, start=start, end=now, _exact_steps=True)
    assert batched.warmup_events > 100 and batched.to_dict() == stepped.to_dict()


def test_a_negative_warm_up_is_refused(mem: Store) -> None:
    with pytest.raises(ValidationError, match=r"backtest\.warmup: must not be negative"):
        backtest(mem, [builtin_flow("win_back")], [], start=T0, warmup="-1d")
    report = backtest(mem, [builtin_flow("win_back")], [], start=T0, warmup="0d")
    assert report.warmup_start == T0 and report.start == T0


def test_a_backtest_ends_a_cart_on_an_order_the_log_never_announced(mem: Store) -> None:
    for cid in ("bought", "left"):
        add_customer(mem, cid)
    add_order(mem, "bought", "o1", T0 + H / 2)  # in the store only: no Order Completed event
    history = [ev("Checkout Started", c, T0) for c in ("bought", "left")]
    report = backtest(mem, [builtin_flow("abandoned_cart")], history, end=T0 + 3 * D)
    assert {a.customer_id for a in report.actions} == {"left"}
    assert report.flows["abandoned_cart"].exited == {"exit": 1}
