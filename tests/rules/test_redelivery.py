"""The same event again changes nothing, even when its first delivery was rejected.

Before, only accepted triggers were remembered (the last five per enrollment): an event
first rejected (not eligible, already enrolled) or pushed out of that short memory
enrolled the customer when it came again once the situation had changed.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from ecomcrm.domain import Consent
from ecomcrm.rules import ActionStep, Engine, Flow, Policies, ReentryPolicy, Trigger, WaitStep
from ecomcrm.storage import Store

from .conftest import T0, add_customer, add_order, ev

H = timedelta(hours=1)


def _flow(**fields: object) -> Flow:
    base: dict[str, object] = {
        "id": "promo",
        "trigger": Trigger.on_event("Checkout Started"),
        "steps": [ActionStep(id="send", channel="email", template="promo")],
        "reentry": ReentryPolicy.always(),
    }
    base.update(fields)
    return Flow(**base)  # type: ignore[arg-type]


def test_redelivered_event_first_rejected_as_not_eligible(store: Store) -> None:
    add_customer(store, "c1")
    engine = Engine(store, [_flow(filter="orders_count >= 1")], Policies())
    event = ev("Checkout Started", "c1", T0)
    assert engine.handle(event) == []  # not eligible: no order yet
    add_order(store, "c1", "o1", T0 + H)
    assert engine.handle(event, now=T0 + 2 * H) == []  # the same event: still nothing
    assert engine.handle(ev("Checkout Started", "c1", T0 + 3 * H)) != []  # a new one acts


def test_redelivered_event_first_rejected_for_want_of_consent(store: Store) -> None:
    add_customer(store, "c1", consent=())
    engine = Engine(store, [_flow()], Policies())
    first = ev("Checkout Started", "c1", T0, n=0)
    assert engine.handle(first) == []  # entered, the action skipped: no consent
    for n in range(1, 8):  # more triggers than the enrollment's short memory holds
        assert engine.handle(ev("Checkout Started", "c1", T0 + n * H, n=n)) == []
    store.consents.record(
        Consent(customer_id="c1", channel="email", purpose="marketing", granted=True, at=T0)
    )
    assert engine.handle(first, now=T0 + 9 * H) == []
    assert engine.handle_many([first, ev("Checkout Started", "c1", T0 + H, n=1)]) == []


def test_redelivered_event_first_rejected_as_already_enrolled(store: Store) -> None:
    add_customer(store, "c1")
    flow = _flow(steps=[WaitStep(id="wait", duration="1h"),
                        ActionStep(id="send", channel="email", template="promo")])  # fmt: skip
    engine = Engine(store, [flow], Policies())
    engine.handle(ev("Checkout Started", "c1", T0))
    second = ev("Checkout Started", "c1", T0 + timedelta(minutes=5))
    assert engine.handle(second) == []  # already enrolled
    assert len(engine.advance(T0 + H)) == 1  # the first enrollment ends with its action
    assert engine.handle(second, now=T0 + 2 * H) == []
    assert engine.advance(T0 + 5 * H) == []  # nothing was scheduled by the second delivery


def test_redelivered_exit_event_after_a_new_enrollment_changes_nothing(store: Store) -> None:
    add_customer(store, "c1")
    flow = _flow(
        steps=[WaitStep(id="wait", duration="1h"),
               ActionStep(id="send", channel="email", template="promo")],
        exits=[{"event": "Order Completed"}],
    )  # fmt: skip
    engine = Engine(store, [flow], Policies())
    paid = ev("Order Completed", "c1", T0 + timedelta(minutes=1))
    engine.handle(paid)  # nobody enrolled: the exit does nothing
    engine.handle(ev("Checkout Started", "c1", T0 + timedelta(minutes=2)))
    engine.handle(paid, now=T0 + timedelta(minutes=3))  # redelivered: must not end it
    assert len(engine.advance(T0 + 2 * H)) == 1


def _counting_flow() -> Flow:
    return Flow.from_dict(
        {
            "id": "twice",
            "trigger": {"kind": "event", "event": "Product Added", "count": 2, "within": "1d"},
            "steps": [{"type": "action", "id": "send", "channel": "email", "template": "t"}],
            "reentry": {"mode": "always"},
        }
    )


def test_redelivery_within_one_batch_is_caught(store: Store) -> None:
    # the seen mark is written with the event's other changes: a second copy of the
    # event later in the same handle_many batch must already find it
    add_customer(store, "c1")
    engine = Engine(store, [_counting_flow()], Policies())
    first = ev("Product Added", "c1", T0)
    first_again = attrs.evolve(first, at=T0 + H)  # the same event id, delivered again
    assert first_again.id == first.id
    assert engine.handle_many([first, first_again]) == []  # one event: count 1 of 2
    assert len(engine.handle(ev("Product Added", "c1", T0 + 2 * H))) == 1  # the real second


def test_redelivery_across_batches_is_caught(store: Store) -> None:
    add_customer(store, "c1")
    engine = Engine(store, [_counting_flow()], Policies())
    events = [ev("Product Added", "c1", T0 + n * H) for n in range(2)]
    assert len(engine.handle_many(events[:1])) == 0
    assert engine.handle_many(events[:1]) == []  # the same batch again: nothing
    assert engine.handle_many([events[0], events[0]]) == []
    assert len(engine.handle_many(events)) == 1  # only the new event counts: 2 of 2
    assert engine.handle_many(events) == []
    assert engine.handle(events[1]) == []
    assert len(store.state.scan("seen:")) == 2


def test_seen_marks_belong_to_the_customer_and_erasure_removes_them(store: Store) -> None:
    add_customer(store, "c1")
    add_customer(store, "c2")
    engine = Engine(store, [_counting_flow()], Policies())
    engine.handle_many([ev("Product Added", c, T0 + n * H) for n in range(3) for c in ("c1", "c2")])
    marks = store.state.scan("seen:")
    assert sorted(r.owner or "" for r in marks) == ["c1"] * 3 + ["c2"] * 3
    assert all(set(r.value) == {"at", "cust"} for r in marks)
    store.erase("c1")
    assert sorted(r.owner or "" for r in store.state.scan("seen:")) == ["c2"] * 3


def test_redelivered_exit_event_later_in_the_same_batch_changes_nothing(store: Store) -> None:
    add_customer(store, "c1")
    flow = _flow(
        steps=[WaitStep(id="wait", duration="1h"),
               ActionStep(id="send", channel="email", template="promo")],
        exits=[{"event": "Order Completed"}],
    )  # fmt: skip
    engine = Engine(store, [flow], Policies())
    paid = ev("Order Completed", "c1", T0 + timedelta(minutes=1))
    checkout = ev("Checkout Started", "c1", T0 + timedelta(minutes=2))
    assert engine.handle_many([paid, checkout, paid]) == []  # the copy must not end it
    assert len(engine.advance(T0 + 2 * H)) == 1
