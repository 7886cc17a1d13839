"""Capability ``SupportsSuppressionRemoval`` (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import pytest

from ecomcrm.domain import Identity
from ecomcrm.errors import ValidationError
from ecomcrm.storage import Store, SupportsAuditLog, SupportsSuppressionRemoval
from ecomcrm.storage.toolkit import audit_pseudonym, customer_id_identity, tombstone_key
from ecomcrm.testing._conformance._fixtures import StoreFixtures, customer


class SuppressionRemovalBehaviour(StoreFixtures):
    """``remove_suppression`` lifts one suppression, on record, and nothing else."""

    def _remover(self, store: Store) -> SupportsSuppressionRemoval:
        claimed: SupportsSuppressionRemoval = self.claimed(store, SupportsSuppressionRemoval)
        return claimed

    def test_a_lifted_identity_can_come_back(self, store: Store) -> None:
        """Contract: True once, is_suppressed False, the identity may be written again."""
        remover = self._remover(store)
        email, phone = Identity.email("back@example.com"), Identity.phone("+4930123456")
        store.customers.put(customer("gone", email, phone))
        store.erase("gone")
        assert store.is_suppressed(email) and store.is_suppressed(phone)
        assert remover.remove_suppression(email) is True
        assert not store.is_suppressed(email)
        assert store.is_suppressed(phone)  # the others stay
        assert store.is_suppressed(customer_id_identity("gone"))
        store.customers.put(customer("again", email))
        assert store.customers.find_by_identity(email).id == "again"  # type: ignore[union-attr]
        with pytest.raises(ValidationError):
            store.customers.put(customer("other", phone))
        assert remover.remove_suppression(email) is False  # nothing left to lift

    def test_nothing_suppressed_changes_nothing(self, store: Store) -> None:
        """Contract: False for an identity never suppressed (or anonymous); no entry."""
        remover = self._remover(store)
        store.customers.put(customer("bare"))
        store.erase("bare")
        assert remover.remove_suppression(Identity.email("never@example.com")) is False
        assert remover.remove_suppression(Identity(kind="anonymous", value="cookie-1")) is False
        if isinstance(store, SupportsAuditLog):
            assert store.audit.entries(action="suppression.removed") == []
        with pytest.raises(ValidationError):
            remover.remove_suppression("never@example.com")  # type: ignore[arg-type]

    def test_an_erased_id_can_be_used_again(self, store: Store) -> None:
        """Contract: lifting an erased customer id lets a customer with that id be written."""
        remover = self._remover(store)
        store.customers.put(customer("reused"))
        store.erase("reused")
        with pytest.raises(ValidationError):
            store.customers.put(customer("reused"))
        assert remover.remove_suppression(customer_id_identity("reused")) is True
        store.customers.put(customer("reused"))
        assert store.customers.get("reused").id == "reused"

    def test_a_removal_is_recorded(self, store: Store) -> None:
        """Contract: suppression.removed with the kind and tombstone key, never the value."""
        remover = self._remover(store)
        audit: SupportsAuditLog = self.claimed(store, SupportsAuditLog)
        email = Identity.email("logged@example.com")
        store.customers.put(customer("logged", email))
        receipt = store.erase("logged")
        remover.remove_suppression(email)
        remover.remove_suppression(customer_id_identity("logged"))
        first, second = audit.audit.entries(action="suppression.removed")
        assert first.subject is None and first.details["kind"] == "email"
        assert first.details["tombstone"] == tombstone_key(email)
        assert first.details["tombstone"] in receipt.tombstones
        assert "logged@example.com" not in repr(first.to_dict())
        assert second.subject == audit_pseudonym("logged")
        trail = [e.action for e in audit.audit.entries(subject=audit_pseudonym("logged"))]
        assert trail == ["erasure", "suppression.added", "suppression.removed"]

    def test_a_rolled_back_removal_keeps_the_suppression(self, store: Store) -> None:
        """Contract: inside a transaction that fails, the suppression and the log stay."""
        remover = self._remover(store)
        email = Identity.email("kept@example.com")
        store.customers.put(customer("kept", email))
        store.erase("kept")
        with pytest.raises(RuntimeError), store.transaction():
            assert remover.remove_suppression(email) is True
            raise RuntimeError("boom")
        assert store.is_suppressed(email)
        if isinstance(store, SupportsAuditLog):
            assert store.audit.entries(action="suppression.removed") == []
