"""Engine.refresh over all customers: the array path equals the per-customer reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import ecomcrm
from ecomcrm.domain import Customer
from ecomcrm.io import SyntheticShop
from ecomcrm.rules import ActionStep, Flow, Trigger, backtest, builtin_flows
from ecomcrm.storage import Store

from .engine_hooks import Engine

END = datetime(2025, 1, 1, tzinfo=UTC)


def _flows() -> list[Flow]:
    act = [ActionStep(id="send", channel="email", template="t")]
    return [
        *builtin_flows(),
        Flow(
            id="bday_early",
            trigger=Trigger.date("birthday", at="18:30", days_before=3, feb29="mar1"),
            steps=act,
        ),
        Flow(id="bday_skip", trigger=Trigger.date("birthday", feb29="skip"), steps=act),
        Flow(id="quiet_60", trigger=Trigger.inactivity("60d"), steps=act),
        Flow(id="lapsed", trigger=Trigger.segment_exit("days_since_last_order < 45"), steps=act),
        Flow(id="repeat", trigger=Trigger.segment_entry("orders_count >= 3"), steps=act),
        # a field the arrays do not reproduce: every customer takes the per-customer path
        Flow(id="big", trigger=Trigger.threshold("total_spent >= 300"), steps=act),
    ]


@pytest.fixture(scope="module", params=["memory", pytest.param("sqlite", marks=pytest.mark.slow)])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    if request.param == "memory":
        store = ecomcrm.open_store("memory://")
    else:
        path: Path = tmp_path_factory.mktemp("refresh") / "shop.db"
        store = ecomcrm.open_store(f"sqlite:///{path}")
    SyntheticShop(customers=2000, seed=11).to_store(store)
    # the Feb 29 rule, a zone with DST and one without a zone, on known customers
    extra = [
        ("leap-1", datetime(2024, 2, 29, 23, 30, tzinfo=UTC), "America/New_York", (2000, 2, 29)),
        ("leap-2", datetime(2023, 3, 12, 6, 59, tzinfo=UTC), "America/New_York", (1996, 2, 29)),
        ("leap-3", datetime(2023, 10, 29, 0, 30, tzinfo=UTC), "Europe/Berlin", (1990, 12, 31)),
        ("leap-4", datetime(2022, 12, 31, 23, 0, tzinfo=UTC), None, (1985, 1, 1)),
    ]
    from datetime import date

    for cid, created, tz, (y, m, d) in extra:
        store.customers.put(
            Customer(id=cid, created_at=created, timezone=tz, birthday=date(y, m, d))
        )
    yield store
    store.close()


def _state(engine: Engine) -> list[tuple[str, Any]]:
    return [(r.key, r.value) for r in engine._state.scan("") if not r.key.startswith("flowdef:")]


def _run(store: Store, vector: bool, *, as_of: bool) -> tuple[list[Any], list[Any]]:
    scratch = ecomcrm.open_store("memory://")
    engine = Engine(store, _flows(), state_store=scratch, _as_of_events=as_of)
    engine._vector_refresh = vector
    actions: list[Any] = []
    for days in (40, 39, 0):
        now = END - timedelta(days=days, hours=3)
        actions.extend(a.to_dict() for a in engine.advance(now))
        actions.extend(a.to_dict() for a in engine.refresh(now))
    state = _state(engine)
    scratch.close()
    return actions, state


@pytest.mark.parametrize("as_of", [True, False])
def test_array_refresh_equals_per_customer_refresh(shop: Store, as_of: bool) -> None:
    fast_actions, fast_state = _run(shop, True, as_of=as_of)
    ref_actions, ref_state = _run(shop, False, as_of=as_of)
    assert len(ref_state) > 2000  # the comparison covers real work
    for prefix in ("enr:", "seg:loyalty_tier_nudge:", "seg:lapsed:", "trg:signup_anniversary:"):
        assert any(k.startswith(prefix) for k, _ in ref_state), prefix
    assert fast_state == ref_state
    assert fast_actions == ref_actions


def test_backtest_equal_with_both_refresh_paths(
    shop: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [
        e
        for c in list(shop.customers.iterate())[:150]
        for e in shop.events.for_customer(c.id, since=END - timedelta(days=5))
    ]
    fast = backtest(shop, _flows(), events, end=END).to_dict()
    assert fast["events"] > 20 and fast["actions"]
    original = Engine.__init__

    def reference(self: Engine, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._vector_refresh = False

    monkeypatch.setattr(Engine, "__init__", reference)
    assert backtest(shop, _flows(), events, end=END).to_dict() == fast
