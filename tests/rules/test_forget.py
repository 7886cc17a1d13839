"""Engine.forget: an erased customer's records leave the state area; nobody else's do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ecomcrm.domain import Consent, Customer, Identity
from ecomcrm.rules import Engine, Flow, Policies, builtin_flow
from ecomcrm.storage import SqliteStore, Store

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
    others_before = {r.key for r in store.state.scan("") if r.owner != "c:1"}
    assert others_before and all(
        "c:1" not in r.key for r in store.state.scan("enr:") if r.owner != "c:1"
    )

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


AWKWARD = ("cart", "enr", "timer", "act", "bob", "alice:bob", "a%3Ab", "abandoned_cart", "1")


def _state(store: Store) -> dict[str, tuple[str, int]]:
    return {r.key: (repr(dict(r.value)), r.version) for r in store.state.scan("")}


def test_store_erase_alone_removes_the_engine_state_of_its_subject_only(store: Store) -> None:
    """Erasing ``cart`` (``enr``, ``timer``, ``bob`` beside ``alice:bob``...) touches nobody else.

    Before, ``state_keys_of`` matched any ``:``-part of a key: erasing ``cart`` deleted
    every enrollment of the flow ``cart``, ``enr`` every enrollment, ``timer`` every timer,
    ``bob`` the records of ``alice:bob``.
    """
    cart = Flow.from_dict({**builtin_flow("abandoned_cart").to_dict(), "id": "cart"})
    engine = Engine(store, [cart, builtin_flow("welcome_series")], Policies())
    for n, cid in enumerate(AWKWARD):
        _add(store, cid, f"person{n}@example.com")
        engine.handle(ev("Signed Up", cid, T0))
        engine.handle(ev("Checkout Started", cid, T0, note=f"SECRET-{cid}-PROPS"))
    engine.advance(T0 + 2 * H)  # reminders handed out (their params carry the event)
    owned = {cid: {r.key for r in store.state.scan("") if r.owner == cid} for cid in AWKWARD}
    assert all(len(keys) >= 5 for keys in owned.values())
    alive = set(AWKWARD)
    for cid in ("cart", "enr", "timer", "act", "bob", "1"):
        before = _state(store)
        store.erase(cid)  # no engine.forget: the store's erasure is enough
        alive.discard(cid)
        after = _state(store)
        assert set(before) - set(after) == owned[cid], cid
        assert all(after[k] == before[k] for k in after), cid  # nobody else's record changed
        assert f"SECRET-{cid}-PROPS" not in repr(after)
        assert engine.forget(cid) == 0  # nothing left to forget
    later = {a.customer_id for a in engine.advance(T0 + 3 * 24 * H)}
    assert later == alive  # the others still get their next steps


def test_erased_trigger_properties_leave_the_sqlite_files_while_open(tmp_path: Path) -> None:
    """No byte of the trigger event's properties stays in the db, -wal or -shm files."""
    path = tmp_path / "crm.db"
    store = SqliteStore(path)
    engine = Engine(store, [builtin_flow("abandoned_cart")], Policies())
    for n, cid in enumerate(("bob", "alice:bob")):
        _add(store, cid, f"person{n}@example.com")
        engine.handle(ev("Checkout Started", cid, T0, note=f"SECRET-{cid}-PROPS"))
    engine.advance(T0 + 2 * H)

    def files() -> bytes:
        parts = (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        return b"".join(p.read_bytes() for p in parts if p.exists())

    assert b"SECRET-bob-PROPS" in files()
    store.erase("bob")
    raw = files()
    assert b"SECRET-bob-PROPS" not in raw and b"SECRET-alice:bob-PROPS" in raw
    store.close()
