"""Capability ``SupportsStateBatches`` (a behaviour group of the storage conformance kit).

The rules engine's exactly-once promise rests on this fast path when an adapter offers
it: every batch is a set of compare-and-set writes applied all together or not at all.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ConflictError, ValidationError
from ecomcrm.storage import StateChange, Store, SupportsStateBatches
from ecomcrm.testing._conformance._fixtures import StoreFixtures, customer

_namespaces = itertools.count()


def _snapshot(store: Store, keys: list[str]) -> dict[str, tuple[Any, int, str | None] | None]:
    """Each key's (value, version, owner) through the core ``get``, None when absent."""
    out: dict[str, tuple[Any, int, str | None] | None] = {}
    for key in keys:
        record = store.state.get(key)
        out[key] = None if record is None else (dict(record.value), record.version, record.owner)
    return out


class StateBatchesBehaviour(StoreFixtures):
    """``state.get_many`` equals ``get``; ``state.apply`` is all-or-nothing compare-and-set."""

    def test_get_many_equals_get(self, store: Store) -> None:
        """Contract: get_many returns, by key, what get returns for every key that exists."""
        state: SupportsStateBatches = self.claimed(store.state, SupportsStateBatches)
        store.state.put("a", {"n": 1}, expected_version=None, owner="c1")
        store.state.put("b", {"n": [1, 2]}, expected_version=None)
        store.state.put("b", {"n": [3]}, expected_version=1)
        keys = ["b", "zz", "a", "b", "missing"]
        found = state.get_many(keys)
        assert set(found) == {"a", "b"}
        for key in keys:
            assert found.get(key) == store.state.get(key), key
        assert state.get_many([]) == {}
        with pytest.raises(ValidationError):
            state.get_many([""])

    def test_apply_creates_updates_and_deletes(self, store: Store) -> None:
        """Contract: apply writes each change as put/delete would, versions and owners included."""
        state: SupportsStateBatches = self.claimed(store.state, SupportsStateBatches)
        store.state.put("old", {"v": 1}, expected_version=None, owner="c1")
        store.state.put("gone", {"v": 1}, expected_version=None)
        state.apply(
            [
                ("new", {"v": "n"}, None, "c2"),
                ("plain", {"v": "p"}, None),
                ("old", {"v": 2}, 1, None),
                ("gone", None, 1),
            ]
        )
        assert _snapshot(store, ["new", "plain", "old", "gone"]) == {
            "new": ({"v": "n"}, 1, "c2"),
            "plain": ({"v": "p"}, 1, None),
            "old": ({"v": 2}, 2, None),
            "gone": None,
        }
        state.apply([])
        assert [r.key for r in store.state.scan()] == ["new", "old", "plain"]

    def test_apply_is_all_or_nothing(self, store: Store) -> None:
        """Contract: one stale change raises ConflictError and nothing of the batch is written."""
        state: SupportsStateBatches = self.claimed(store.state, SupportsStateBatches)
        store.state.put("a", {"v": 1}, expected_version=None)
        store.state.put("b", {"v": 1}, expected_version=None)
        keys = ["a", "b", "c"]
        before = _snapshot(store, keys)
        stale_batches: list[list[StateChange]] = [
            [("a", {"v": 2}, 1), ("b", {"v": 2}, 7), ("c", {"v": 1}, None)],  # wrong version
            [("c", {"v": 1}, None), ("a", {"v": 2}, None)],  # exists already
            [("a", {"v": 2}, 1), ("c", None, 1)],  # deletes a missing key
            [("c", {"v": 1}, 1)],  # updates a missing key
        ]
        for batch in stale_batches:
            with pytest.raises(ConflictError):
                state.apply(batch)
            assert _snapshot(store, keys) == before, batch

    def test_apply_refuses_malformed_batches_without_writing(self, store: Store) -> None:
        """Contract: a repeated key, a delete without version or a non-JSON value write nothing."""
        state: SupportsStateBatches = self.claimed(store.state, SupportsStateBatches)
        store.state.put("a", {"v": 1}, expected_version=None)
        before = _snapshot(store, ["a", "b"])
        malformed: list[list[Any]] = [
            [("b", {"v": 1}, None), ("b", {"v": 2}, None)],
            [("b", {"v": 1}, None), ("a", None, None)],
            [("b", {"v": 1}, None), ("a", {"v": object()}, 1)],
            [("b", {"v": 1}, None), ("", {"v": 1}, None)],
        ]
        for batch in malformed:
            with pytest.raises(ValidationError):
                state.apply(batch)
            assert _snapshot(store, ["a", "b"]) == before, batch

    def test_apply_joins_the_enclosing_transaction(self, store: Store) -> None:
        """Contract: inside store.transaction() a batch is rolled back with the block."""
        state: SupportsStateBatches = self.claimed(store.state, SupportsStateBatches)
        store.state.put("a", {"v": 1}, expected_version=None)
        with pytest.raises(RuntimeError), store.transaction():
            state.apply([("a", {"v": 2}, 1), ("b", {"v": 1}, None)])
            raise RuntimeError("boom")
        assert _snapshot(store, ["a", "b"]) == {"a": ({"v": 1}, 1, None), "b": None}

    def test_owners_of_batched_records_are_erased_with_them(self, store: Store) -> None:
        """Contract: a record a batch wrote with an owner goes when that person is erased."""
        state: SupportsStateBatches = self.claimed(store.state, SupportsStateBatches)
        store.customers.put(customer("p1"))
        state.apply([("enr:p1", {"step": 1}, None, "p1"), ("global", {"n": 1}, None)])
        store.erase("p1")
        assert store.state.get("enr:p1") is None
        assert store.state.get("global") is not None

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
    )
    @given(
        batches=st.lists(
            st.lists(
                st.tuples(
                    st.sampled_from(["k0", "k1", "k2", "k3"]),
                    st.one_of(st.none(), st.integers(0, 3).map(lambda n: {"n": n})),
                    st.one_of(st.none(), st.integers(1, 3)),
                ),
                max_size=4,
                unique_by=lambda change: change[0],
            ),
            max_size=6,
        )
    )
    def test_batches_agree_with_a_versioned_dict(
        self, store: Store, batches: list[list[tuple[str, Any, int | None]]]
    ) -> None:
        """Contract: any sequence of batches agrees with a dict of (value, version)."""
        state: SupportsStateBatches = self.claimed(store.state, SupportsStateBatches)
        prefix = f"cas{next(_namespaces)}:"
        model: dict[str, tuple[Any, int]] = {}
        for raw in batches:
            batch = [(prefix + key, value, expected) for key, value, expected in raw]
            stale = any(
                (model[key][1] if key in model else None) != expected
                for key, _, expected in batch
                if not (_ is None and expected is None)
            )
            malformed = any(value is None and expected is None for _, value, expected in batch)
            if malformed:
                with pytest.raises(ValidationError):
                    state.apply(batch)
            elif stale:
                with pytest.raises(ConflictError):
                    state.apply(batch)
            else:
                state.apply(batch)
                for key, value, expected in batch:
                    if value is None:
                        del model[key]
                    else:
                        model[key] = (value, 1 if expected is None else expected + 1)
            stored = {r.key: (dict(r.value), r.version) for r in store.state.scan(prefix)}
            assert stored == model
            assert {
                k: (dict(r.value), r.version) for k, r in state.get_many(list(model)).items()
            } == model
