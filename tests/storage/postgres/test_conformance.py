"""PostgresStore: the whole conformance kit against a real server, one schema per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _pg import drop_schema, fresh_schema, schema_url

from ecomcrm.storage import PostgresStore, Store
from ecomcrm.testing import StoreConformance


class TestPostgresConformance(StoreConformance):
    capabilities = frozenset({"raw_dump", "reopen", "second_handle"})

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        self._schema = fresh_schema()
        self._handles: list[PostgresStore] = []
        store = PostgresStore(schema_url(self._schema), pool_max=2)
        self._handles.append(store)
        yield store
        for handle in self._handles:
            handle.close()
        drop_schema(self._schema)

    def raw_dump(self, store: Store) -> bytes:
        assert isinstance(store, PostgresStore)
        return b"".join(store.raw_tables().values())

    def reopen(self, store: Store) -> Store:
        store.close()
        again = PostgresStore(schema_url(self._schema), pool_max=2)
        self._handles.append(again)
        return again

    def second_handle(self, store: Store) -> Store:
        other = PostgresStore(schema_url(self._schema), pool_max=2)
        self._handles.append(other)
        return other
