"""The adapter of docs/write-a-storage-adapter.md (examples/dict_store.py) passes the kit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ecomcrm.storage import Store, open_store, register_store, unregister_store
from ecomcrm.testing import StoreConformance

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dict_store.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dict_store", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dict_store"] = module
    spec.loader.exec_module(module)
    return module


dict_store = _load()


class TestDictStore(StoreConformance):
    capabilities = frozenset({"raw_dump"})

    @pytest.fixture
    def store(self) -> Store:
        store: Store = dict_store.DictStore()
        return store

    def raw_dump(self, store: Store) -> bytes:
        return repr(store.tables).encode()  # type: ignore[attr-defined]


def test_open_by_url_after_registering() -> None:
    register_store("dict", dict_store.DictStore.from_url, clobber=True)
    try:
        store = open_store("dict://")
        assert isinstance(store, dict_store.DictStore)
        assert isinstance(store, Store)
    finally:
        unregister_store("dict")
