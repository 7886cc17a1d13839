"""The encrypting wrapper (``ecomcrm.privacy.shredding``) passes the storage conformance kit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ecomcrm.domain import Customer, Identity
from ecomcrm.privacy.shredding import KeyRing, StaticKeyProvider, blind_identity, encrypted_store
from ecomcrm.storage import MemoryStore, SqliteStore, Store
from ecomcrm.storage.toolkit import tombstone_key
from ecomcrm.testing import StoreConformance

MASTER = StaticKeyProvider({"k1": bytes(range(32))})
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class _Wrapped(StoreConformance):
    def test_a_removal_is_recorded(self, store: Store) -> None:
        """The wrapper's form: the log names the hash the store keeps for the email."""
        email = Identity.email("logged@example.com")
        store.customers.put(Customer(id="logged", created_at=T0, identities=[email]))
        receipt = store.erase("logged")
        assert store.remove_suppression(email) is True  # type: ignore[attr-defined]
        (entry,) = store.audit.entries(action="suppression.removed")  # type: ignore[attr-defined]
        kept = blind_identity(store.ring, email)  # type: ignore[attr-defined]
        assert entry.details == {"kind": "external", "tombstone": tombstone_key(kept)}
        assert entry.details["tombstone"] in receipt.tombstones


class TestEncryptedMemoryStore(_Wrapped):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        wrapped = encrypted_store(MemoryStore(), KeyRing(tmp_path / "keys.db", MASTER))
        yield wrapped  # type: ignore[misc]


class TestEncryptedSqliteStore(_Wrapped):
    capabilities = frozenset({"reopen"})

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        self._folder = tmp_path
        self._handles: list[Store] = []
        yield self._open()
        for handle in self._handles:
            handle.close()

    def _open(self) -> Store:
        store: Store = encrypted_store(  # type: ignore[assignment]
            SqliteStore(self._folder / "crm.db"), KeyRing(self._folder / "keys.db", MASTER)
        )
        self._handles.append(store)
        return store

    def reopen(self, store: Store) -> Store:
        store.close()
        return self._open()
