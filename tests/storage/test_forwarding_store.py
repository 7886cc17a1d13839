"""The forwarding wrapper of examples/forwarding_store.py: composition keeps every capability."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

import ecomcrm
import ecomcrm.storage
from ecomcrm.io import SyntheticShop
from ecomcrm.rules import backtest, builtin_flows
from ecomcrm.storage import MemoryStore, OrderFacts, SqliteStore, Store
from ecomcrm.testing import StoreConformance

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CAPABILITIES = [
    getattr(ecomcrm.storage, name)
    for name in ecomcrm.storage.__all__
    if name.startswith("Supports")
]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


forwarding = _load("forwarding_store")
dict_store = sys.modules.get("dict_store") or _load("dict_store")


class TestForwardingMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Store:
        wrapped: Store = forwarding.forwarding_store(MemoryStore())
        return wrapped


class TestForwardingSqliteStore(StoreConformance):
    capabilities = frozenset({"reopen", "second_handle"})

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        self._path = tmp_path / "crm.db"
        self._handles: list[Store] = []
        yield self._open()
        for handle in self._handles:
            handle.close()

    def _open(self) -> Store:
        store: Store = forwarding.forwarding_store(SqliteStore(self._path))
        self._handles.append(store)
        return store

    def reopen(self, store: Store) -> Store:
        store.close()
        return self._open()

    def second_handle(self, store: Store) -> Store:
        return self._open()


def _stores(tmp_path: Path) -> list[Store]:
    return [
        MemoryStore(),
        SqliteStore(":memory:"),
        SqliteStore(tmp_path / "a.db"),
        dict_store.DictStore(),
    ]


def test_the_wrapper_claims_exactly_what_the_inner_store_claims(tmp_path: Path) -> None:
    assert len(CAPABILITIES) == 12
    for inner in _stores(tmp_path):
        store = forwarding.forwarding_store(inner)
        assert isinstance(store, Store)
        for capability in CAPABILITIES:
            for outer, under in ((store, inner), (store.state, inner.state),
                                 (store.orders, inner.orders)):  # fmt: skip
                assert isinstance(outer, capability) == isinstance(under, capability), (
                    inner,
                    capability,
                )
        store.close()


def test_a_subclass_keeps_the_capabilities_and_its_overrides() -> None:
    calls: list[str] = []

    class CountingStore(forwarding.ForwardingStore):  # type: ignore[misc]
        def order_facts(self, **options: object) -> OrderFacts:
            calls.append("order_facts")
            facts: OrderFacts = super().order_facts(**options)
            return facts

    inner = MemoryStore()
    store = forwarding.forwarding_store(inner, cls=CountingStore)
    assert isinstance(store, CountingStore)
    assert isinstance(store, ecomcrm.storage.SupportsBulkFacts)
    assert len(store.order_facts()) == 0 and calls == ["order_facts"]
    assert type(forwarding.forwarding_store(MemoryStore(), cls=CountingStore)) is type(store)


def test_a_backtest_through_the_wrapper_decides_the_same(tmp_path: Path) -> None:
    shop = SyntheticShop(customers=150, seed=3)
    bare = ecomcrm.open_store(f"sqlite:///{tmp_path / 'shop.db'}")
    shop.to_store(bare)
    events = [e for c in bare.customers.iterate() for e in bare.events.for_customer(c.id)]
    start = shop.end - timedelta(days=20)
    reports = [
        backtest(store, builtin_flows(), events, start=start, end=shop.end)
        for store in (bare, forwarding.forwarding_store(bare))
    ]
    assert reports[0].actions == reports[1].actions
    assert reports[0].flows == reports[1].flows
    bare.close()
