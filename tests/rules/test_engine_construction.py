"""Constructing an engine only reads: flow definitions are stored with its first write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import pytest

from ecomcrm.errors import ConfigurationError
from ecomcrm.rules import ActionStep, Engine, Flow, Trigger, WaitStep, builtin_flows
from ecomcrm.storage import StateRecord, Store

from .conftest import T0, add_customer, ev


class _NoWrites:
    """A state repository that reads through and refuses every write."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get(self, key: str) -> StateRecord | None:
        record: StateRecord | None = self._inner.get(key)
        return record

    def get_many(self, keys: Iterable[str]) -> Mapping[str, StateRecord]:
        found: Mapping[str, StateRecord] = self._inner.get_many(keys)
        return found

    def scan(self, prefix: str = "", **kwargs: Any) -> list[StateRecord]:
        found: list[StateRecord] = self._inner.scan(prefix, **kwargs)
        return found

    def put(self, *args: Any, **kwargs: Any) -> StateRecord:
        raise AssertionError("the engine wrote")

    def delete(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the engine wrote")

    def apply(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the engine wrote")


def _cart(wait: str = "1h") -> Flow:
    return Flow(
        id="cart",
        trigger=Trigger.on_event("Checkout Started"),
        steps=[
            WaitStep(id="wait", duration=wait),
            ActionStep(id="mail", channel="email", template="cart"),
        ],
    )


def _snapshot(store: Store) -> list[tuple[str, Any, int, str | None]]:
    return [(r.key, dict(r.value), r.version, r.owner) for r in store.state.scan("")]


def test_constructing_an_engine_writes_nothing(store: Store) -> None:
    add_customer(store, "c1")
    Engine(store, [_cart()]).handle(ev("Checkout Started", "c1", T0))  # some state already
    before = _snapshot(store)
    store.state = _NoWrites(store.state)  # type: ignore[misc]
    engine = Engine(store, [*builtin_flows(), _cart()])
    assert engine.next_due() is not None and engine.pending() == []
    assert "cart" in engine.explain("c1", "cart").text
    assert engine.advance(T0) == []  # nothing due: nothing written either
    assert _snapshot(store) == before


def test_definitions_are_stored_with_the_first_write(store: Store) -> None:
    add_customer(store, "c1")
    engine = Engine(store, [_cart()])
    assert store.state.scan("") == []
    engine.handle(ev("Checkout Started", "c1", T0))
    assert [r.key for r in store.state.scan("flowdef:")] == ["flowdef:cart:000001"]
    (action,) = Engine(store, [_cart()]).advance(T0 + timedelta(hours=1))
    assert action.template == "cart"


def test_a_definition_changed_by_another_engine_is_refused_at_the_first_write(
    store: Store,
) -> None:
    add_customer(store, "c1")
    first, second = Engine(store, [_cart()]), Engine(store, [_cart(wait="3h")])
    first.handle(ev("Checkout Started", "c1", T0))
    with pytest.raises(ConfigurationError, match="bump the version"):
        second.handle(ev("Checkout Started", "c1", T0, cart="other"))
    assert len(store.state.scan("flowdef:")) == 1
