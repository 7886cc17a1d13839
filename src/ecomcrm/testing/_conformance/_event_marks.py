"""Capability ``SupportsEventMarks`` (a behaviour group of the storage conformance kit).

The rules engine writes one mark per handled event in the same batch as what the event
did; a redelivered event finds its mark and changes nothing. So a mark must read back as
the record it stands for, and a batch with marks must be as all-or-nothing as any batch.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecomcrm.errors import ConflictError, ValidationError
from ecomcrm.storage import Store, SupportsEventMarks
from ecomcrm.testing._conformance._fixtures import StoreFixtures, customer


def _snapshot(store: Store, keys: list[str]) -> dict[str, tuple[Any, int, str | None] | None]:
    """Each key's (value, version, owner) through the core ``get``, None when absent."""
    out: dict[str, tuple[Any, int, str | None] | None] = {}
    for key in keys:
        record = store.state.get(key)
        out[key] = None if record is None else (dict(record.value), record.version, record.owner)
    return out


class EventMarksBehaviour(StoreFixtures):
    """``state.apply_marked``: marks are ordinary records, written all-or-nothing with a batch."""

    def test_marks_read_back_as_records(self, store: Store) -> None:
        """Contract: a mark is the record {"at", "cust"} at version 1, through every read."""
        state: SupportsEventMarks = self.claimed(store.state, SupportsEventMarks)
        state.apply_marked(
            [("enr:m1", {"step": 1}, None, "m1")], [("seen:e1", 5, "m1"), ("seen:e2", -7, "m2")]
        )
        expected = {
            "seen:e1": ({"at": 5, "cust": "m1"}, 1, "m1"),
            "seen:e2": ({"at": -7, "cust": "m2"}, 1, "m2"),
            "enr:m1": ({"step": 1}, 1, "m1"),
        }
        assert _snapshot(store, list(expected)) == expected
        found = state.get_many(["seen:e2", "seen:e1", "seen:none"])
        assert {k: (dict(r.value), r.version, r.owner) for k, r in found.items()} == {
            k: v for k, v in expected.items() if k.startswith("seen:")
        }
        scanned = store.state.scan("seen:")
        assert [r.key for r in scanned] == ["seen:e1", "seen:e2"]
        assert [r.value for r in scanned] == [{"at": 5, "cust": "m1"}, {"at": -7, "cust": "m2"}]
        state.apply_marked([], [])
        assert len(store.state.scan("seen:")) == 2

    def test_marks_change_and_go_like_records(self, store: Store) -> None:
        """Contract: put replaces a mark, delete removes it, a batch may update or delete it."""
        state: SupportsEventMarks = self.claimed(store.state, SupportsEventMarks)
        state.apply_marked([], [("seen:a", 1, "m1"), ("seen:b", 2, "m1"), ("seen:c", 3, "m1")])
        store.state.put("seen:a", {"n": 1}, expected_version=1, owner="m2")
        store.state.delete("seen:b", expected_version=1)
        state.apply([("seen:c", None, 1)])
        assert _snapshot(store, ["seen:a", "seen:b", "seen:c"]) == {
            "seen:a": ({"n": 1}, 2, "m2"),
            "seen:b": None,
            "seen:c": None,
        }
        with pytest.raises(ConflictError):
            store.state.delete("seen:a", expected_version=1)
        state.apply_marked([], [("seen:b", 9, "m3")])  # deleted: the key is free again
        assert _snapshot(store, ["seen:b"]) == {"seen:b": ({"at": 9, "cust": "m3"}, 1, "m3")}

    def test_a_batch_with_marks_is_all_or_nothing(self, store: Store) -> None:
        """Contract: an existing mark key or a stale change raises ConflictError, writing nothing."""
        state: SupportsEventMarks = self.claimed(store.state, SupportsEventMarks)
        state.apply_marked([("k", {"v": 1}, None)], [("seen:old", 1, "m1")])
        keys = ["k", "new", "seen:old", "seen:new"]
        before = _snapshot(store, keys)
        stale: list[tuple[list[Any], list[Any]]] = [
            ([("new", {"v": 1}, None)], [("seen:new", 2, "m1"), ("seen:old", 2, "m1")]),
            ([("k", {"v": 2}, 7), ("new", {"v": 1}, None)], [("seen:new", 2, "m1")]),
            ([("k", {"v": 2}, 1)], [("seen:old", 3, "m2")]),
        ]
        for changes, marks in stale:
            with pytest.raises(ConflictError):
                state.apply_marked(changes, marks)
            assert _snapshot(store, keys) == before, (changes, marks)

    def test_malformed_marks_write_nothing(self, store: Store) -> None:
        """Contract: a repeated key or a malformed mark raises ValidationError, writing nothing."""
        state: SupportsEventMarks = self.claimed(store.state, SupportsEventMarks)
        keys = ["a", "seen:x", "seen:y"]
        malformed: list[tuple[list[Any], list[Any]]] = [
            ([("a", {"v": 1}, None)], [("seen:x", 1, "m1"), ("seen:x", 2, "m1")]),
            ([("seen:x", {"v": 1}, None)], [("seen:x", 1, "m1")]),
            ([("a", {"v": 1}, None)], [("seen:x", 1, "m1"), ("", 1, "m1")]),
            ([("a", {"v": 1}, None)], [("seen:x", 1, "m1"), ("seen:y", 1.5, "m1")]),
            ([("a", {"v": 1}, None)], [("seen:x", 1, "m1"), ("seen:y", True, "m1")]),
            ([("a", {"v": 1}, None)], [("seen:x", 1, "m1"), ("seen:y", 1, "")]),
            ([("a", {"v": 1}, None)], [("seen:x", 1, "m1"), ("seen:y", 1, None)]),
            ([("a", {"v": 1}, None)], [("seen:x", 1, "m1"), ("seen:y", 1)]),
            ([("a", None, None)], [("seen:x", 1, "m1")]),
        ]
        for changes, marks in malformed:
            with pytest.raises(ValidationError):
                state.apply_marked(changes, marks)
            assert _snapshot(store, keys) == dict.fromkeys(keys), (changes, marks)

    def test_marks_join_the_enclosing_transaction(self, store: Store) -> None:
        """Contract: inside store.transaction() the marks are rolled back with the block."""
        state: SupportsEventMarks = self.claimed(store.state, SupportsEventMarks)
        with pytest.raises(RuntimeError), store.transaction():
            state.apply_marked([("a", {"v": 1}, None)], [("seen:t", 1, "m1")])
            raise RuntimeError("boom")
        assert _snapshot(store, ["a", "seen:t"]) == {"a": None, "seen:t": None}
        state.apply_marked([], [("seen:t", 1, "m1")])  # nothing was left behind
        assert store.state.get("seen:t") is not None

    def test_marks_are_erased_with_their_owner(self, store: Store) -> None:
        """Contract: erasing a person deletes their marks and keeps everyone else's."""
        state: SupportsEventMarks = self.claimed(store.state, SupportsEventMarks)
        store.customers.put(customer("p1"))
        store.customers.put(customer("p2"))
        state.apply_marked([], [("seen:1", 1, "p1"), ("seen:2", 2, "p2"), ("seen:3", 3, "p1")])
        store.erase("p1")
        assert [(r.key, r.owner) for r in store.state.scan("seen:")] == [("seen:2", "p2")]
