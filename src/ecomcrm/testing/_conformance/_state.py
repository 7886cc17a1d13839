"""The rules engine's state area (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from ecomcrm.errors import ConflictError, ValidationError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import StoreFixtures


class StateBehaviour(StoreFixtures):
    """Versioned records with compare-and-set for the rules engine."""

    def test_create_update_delete(self, store: Store) -> None:
        """Contract: create update delete."""
        assert store.state.get("k") is None
        first = store.state.put("k", {"step": 1, "seen": ["a"]}, expected_version=None)
        assert (first.key, dict(first.value), first.version) == ("k", {"step": 1, "seen": ["a"]}, 1)
        second = store.state.put("k", {"step": 2}, expected_version=1)
        assert second.version == 2
        stored = store.state.get("k")
        assert stored is not None and dict(stored.value) == {"step": 2} and stored.version == 2
        store.state.delete("k", expected_version=2)
        assert store.state.get("k") is None
        again = store.state.put("k", {"step": 0}, expected_version=None)
        assert again.version == 1

    def test_stale_writes_conflict_and_change_nothing(self, store: Store) -> None:
        """Contract: stale writes conflict and change nothing."""
        store.state.put("k", {"v": 1}, expected_version=None)
        store.state.put("k", {"v": 2}, expected_version=1)
        with pytest.raises(ConflictError):
            store.state.put("k", {"v": 3}, expected_version=1)
        with pytest.raises(ConflictError):
            store.state.put("k", {"v": 3}, expected_version=None)
        with pytest.raises(ConflictError):
            store.state.put("new", {"v": 3}, expected_version=1)
        with pytest.raises(ConflictError):
            store.state.delete("k", expected_version=1)
        with pytest.raises(ConflictError):
            store.state.delete("absent", expected_version=1)
        record = store.state.get("k")
        assert record is not None and dict(record.value) == {"v": 2} and record.version == 2
        assert store.state.get("new") is None

    def test_values_are_copied(self, store: Store) -> None:
        """Contract: values are copied."""
        value: dict[str, Any] = {"list": [1, 2], "nested": {"a": 1.5, "b": None, "c": "ü"}}
        store.state.put("k", value, expected_version=None)
        value["list"].append(3)
        value["nested"]["a"] = 0
        record = store.state.get("k")
        assert record is not None
        assert json.loads(json.dumps(record.value)) == {
            "list": [1, 2],
            "nested": {"a": 1.5, "b": None, "c": "ü"},
        }

    def test_non_json_values_are_refused(self, store: Store) -> None:
        """Contract: non json values are refused."""
        with pytest.raises(ValidationError):
            store.state.put("k", {"when": datetime(2024, 1, 1)}, expected_version=None)
        assert store.state.get("k") is None

    def test_keys_with_nul_are_refused(self, store: Store) -> None:
        """Contract: a key holding U+0000 is a ValidationError in every store, and nothing is written."""
        with pytest.raises(ValidationError):
            store.state.put("a\x00b", {"v": 1}, expected_version=None)
        assert store.state.get("a") is None and list(store.state.scan("a")) == []

    def test_owner_is_stored_with_the_record(self, store: Store) -> None:
        """Contract: ``owner`` round-trips through put, get and scan; a put replaces it."""
        assert store.state.put("k", {"v": 1}, expected_version=None, owner="a:b%3A").owner == (
            "a:b%3A"
        )
        record = store.state.get("k")
        assert record is not None and record.owner == "a:b%3A"
        assert [r.owner for r in store.state.scan("k")] == ["a:b%3A"]
        store.state.put("k", {"v": 2}, expected_version=1)
        record = store.state.get("k")
        assert record is not None and record.owner is None
        for bad in ("", 7):
            with pytest.raises(ValidationError):
                store.state.put("k2", {"v": 1}, expected_version=None, owner=bad)  # type: ignore[arg-type]
        assert store.state.get("k2") is None

    def test_scan(self, store: Store) -> None:
        """Contract: scan."""
        for key in ["a:2", "a:1", "a:10", "b:1", "a", "ab"]:
            store.state.put(key, {"key": key}, expected_version=None)
        assert [r.key for r in store.state.scan()] == ["a", "a:1", "a:10", "a:2", "ab", "b:1"]
        assert [r.key for r in store.state.scan("a:")] == ["a:1", "a:10", "a:2"]
        assert [r.key for r in store.state.scan("a:", start="a:10")] == ["a:10", "a:2"]
        assert [r.key for r in store.state.scan("a:", stop="a:2")] == ["a:1", "a:10"]
        assert [r.key for r in store.state.scan(limit=2)] == ["a", "a:1"]
        assert [dict(r.value)["key"] for r in store.state.scan("b")] == ["b:1"]
