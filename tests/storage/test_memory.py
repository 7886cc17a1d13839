"""MemoryStore passes the whole conformance kit, plus a few MemoryStore-only checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecomcrm.domain import Customer
from ecomcrm.errors import StorageError
from ecomcrm.storage import MemoryStore, Store
from ecomcrm.storage.memory._tables import _Columns
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


def test_testing_package_explains_missing_hypothesis() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('hypothesis', 'pytest'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib.util\n"
        "importlib.util.find_spec = lambda name, *a: None if name in ('hypothesis', 'pytest') else 1\n"
        "try:\n"
        "    import ecomcrm.testing\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs Hypothesis" in out.stdout
    assert "pip install" in out.stdout
