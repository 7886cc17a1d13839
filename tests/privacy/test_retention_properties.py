"""Retention purges agree across stores and with a plain reading of the policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.domain import Event
from ecomcrm.storage import MemoryStore, RetentionPolicy, SqliteStore

NOW = datetime(2025, 1, 1, tzinfo=UTC)
NAMES = ("page_view", "search", "purchase")

events = st.lists(
    st.tuples(st.sampled_from(NAMES), st.integers(min_value=0, max_value=800)),
    max_size=30,
)
periods = st.dictionaries(
    st.sampled_from((*NAMES, "*")), st.integers(min_value=1, max_value=700), max_size=3
)


@settings(max_examples=40, deadline=None)
@given(events=events, rules=periods)
def test_memory_and_sqlite_keep_exactly_the_events_the_policy_keeps(
    events: list[tuple[str, int]], rules: dict[str, int]
) -> None:
    written = [
        Event(id=f"e{i}", name=name, at=NOW - timedelta(days=age), anonymous_id="v")
        for i, (name, age) in enumerate(events)
    ]
    policy = RetentionPolicy(events={k: timedelta(days=v) for k, v in rules.items()} or None)

    def due(name: str, age: int) -> bool:
        period = rules.get(name, rules.get("*"))
        return period is not None and age > period

    expected = sorted(f"e{i}" for i, (name, age) in enumerate(events) if not due(name, age))
    for store in (MemoryStore(), SqliteStore(":memory:")):
        store.events.append_many(written)
        report = store.apply_retention(policy, NOW)
        assert sorted(e.id for e in store.events.for_anonymous("v")) == expected
        assert report.counts.get("events", 0) == len(events) - len(expected)
        assert store.apply_retention(policy, NOW).total == 0
        store.close()
