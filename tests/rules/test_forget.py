"""Engine.forget: an erased customer's records leave the state area; nobody else's do."""

from __future__ import annotations

from datetime import timedelta

from ecomcrm.domain import Consent, Customer, Identity
from ecomcrm.rules import Engine, Policies, builtin_flow
from ecomcrm.storage import Store

from .conftest import T0, ev

H = timedelta(hours=1)


def _add(store: Store, cid: str, email: str) -> None:
    at = T0 - timedelta(days=30)
    store.customers.put(Customer(id=cid, created_at=at, identities=[Identity.email(email)]))
    store.consents.record(
        Consent(customer_id=cid, channel="email", purpose="marketing", granted=True, at=at)
    )


def _dump(store: Store) -> str:
    return repr([(r.key, dict(r.value)) for r in store.state.scan("")])


def test_forget_removes_the_customer_and_keeps_the_others(store: Store) -> None:
    flows = [builtin_flow("abandoned_cart"), builtin_flow("welcome_series")]
    engine = Engine(store, flows, Policies())
    for n, cid in enumerate(("c:1", "c", "1")):  # ids that share text with each other's keys
        _add(store, cid, f"person{n}@example.com")
        engine.handle(ev("Signed Up", cid, T0))
        engine.handle(ev("Checkout Started", cid, T0))
    engine.advance(T0 + 2 * H)  # cart reminders handed out, later steps waiting on timers
    assert "'c:1'" in _dump(store) and "enr:welcome_series:c:1" in _dump(store)
    others_before = {
        r.key
        for r in store.state.scan("")
        if "c:1" not in r.key and r.value.get("customer_id") != "c:1"
    }

    gone = engine.forget("c:1")

    assert gone > 0
    dump = _dump(store)
    assert "c:1" not in dump  # no key, no value names them (act records included)
    kept = {r.key for r in store.state.scan("")}
    assert others_before <= kept
    assert engine.forget("c:1") == 0  # idempotent
    # the others still get their next steps
    later = {a.customer_id for a in engine.advance(T0 + 3 * 24 * H)}
    assert later == {"c", "1"}
