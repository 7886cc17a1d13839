"""MemoryStore passes the whole conformance kit, plus a few MemoryStore-only checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecomcrm.domain import Customer
from ecomcrm.errors import StorageError
from ecomcrm.storage import MemoryStore, Store
from ecomcrm.storage._memory import _Columns
from ecomcrm.testing import StoreConformance


def _memory_dump(store: MemoryStore) -> bytes:
    """Every Python value the store holds, as text (its "raw bytes")."""
    parts = []
    for name, value in vars(store).items():
        if isinstance(value, _Columns):
            parts.append(f"{name}={value.cols!r} {value.keys!r} {value.row!r}")
        else:
            parts.append(f"{name}={value!r}")
    return "\n".join(parts).encode("utf-8")


class TestMemoryStore(StoreConformance):
    capabilities = frozenset({"raw_dump"})

    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()

    def raw_dump(self, store: Store) -> bytes:
        assert isinstance(store, MemoryStore)
        return _memory_dump(store)


def test_memory_store_satisfies_the_protocol() -> None:
    assert isinstance(MemoryStore(), Store)


def test_closed_store_refuses_work() -> None:
    store = MemoryStore()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.customers.put(Customer(id="c", created_at=datetime(2024, 1, 1, tzinfo=UTC)))
    with pytest.raises(StorageError):
        store.order_facts(currency="EUR")


def test_repr() -> None:
    assert repr(MemoryStore()) == "<MemoryStore 0 customers>"
