"""Capability ``SupportsClaims`` (a behaviour group of the storage conformance kit).

Processes that advance the rules engine at once rest on it: records claimed in one
transaction are skipped by every other transaction's claim until the first one ends.
"""

from __future__ import annotations

import pytest

from ecomcrm.errors import StorageError, ValidationError
from ecomcrm.storage import Store, SupportsClaims
from ecomcrm.testing._conformance._fixtures import StoreFixtures


def _seed(store: Store, *keys: str) -> None:
    for n, key in enumerate(keys):
        store.state.put(key, {"n": n}, expected_version=None, owner=f"c{n}")


class ClaimsBehaviour(StoreFixtures):
    """``state.claim`` returns what ``get`` returns, and concurrent claims are disjoint."""

    def test_claim_returns_the_existing_records_by_key(self, store: Store) -> None:
        """Contract: the records of the keys that exist, in key order, each equal to get."""
        state: SupportsClaims = self.claimed(store.state, SupportsClaims)
        _seed(store, "t:2", "t:1", "t:3")
        store.state.put("t:3", {"n": "again"}, expected_version=1)
        with store.transaction():
            found = state.claim(["t:3", "missing", "t:1", "t:3", "t:2"])
            assert [r.key for r in found] == ["t:1", "t:2", "t:3"]
            assert found == [store.state.get(r.key) for r in found]
            assert state.claim([]) == []
            with pytest.raises(ValidationError):
                state.claim([""])

    def test_claim_needs_a_transaction(self, store: Store) -> None:
        """Contract: outside store.transaction() a claim would end at once: StorageError."""
        state: SupportsClaims = self.claimed(store.state, SupportsClaims)
        _seed(store, "t:1")
        with pytest.raises(StorageError):
            state.claim(["t:1"])

    def test_claims_of_two_handles_are_disjoint(self, store: Store) -> None:
        """Contract: another transaction skips what one holds, until that one ends."""
        state: SupportsClaims = self.claimed(store.state, SupportsClaims)
        self.require("second_handle")
        other = self.second_handle(store)
        other_state: SupportsClaims = self.claimed(other.state, SupportsClaims)
        _seed(store, "t:1", "t:2", "t:3", "t:4")
        keys = ["t:1", "t:2", "t:3", "t:4"]
        with store.transaction():
            mine = state.claim(keys[:2])
            with other.transaction():
                theirs = other_state.claim(keys)
                # skipped, not waited for: the other handle takes the rest at once
                assert [r.key for r in theirs] == ["t:3", "t:4"]
            assert [r.key for r in mine] == ["t:1", "t:2"]
            store.state.delete("t:1", expected_version=1)
        with other.transaction():
            # the first transaction ended: what it deleted is gone, the rest claimable again
            assert [r.key for r in other_state.claim(keys)] == ["t:2", "t:3", "t:4"]

    def test_a_rolled_back_claim_leaves_the_records(self, store: Store) -> None:
        """Contract: a claimer whose transaction fails leaves its records for the next one."""
        state: SupportsClaims = self.claimed(store.state, SupportsClaims)
        _seed(store, "t:1", "t:2")
        with pytest.raises(RuntimeError), store.transaction():
            assert len(state.claim(["t:1", "t:2"])) == 2
            store.state.delete("t:1", expected_version=1)
            raise RuntimeError("the claimer fails")
        with store.transaction():
            assert [r.key for r in state.claim(["t:1", "t:2"])] == ["t:1", "t:2"]
