"""Capability ``SupportsBulkFacts`` (a behaviour group of the storage conformance kit).

Backtests and ``Engine.refresh`` read consents and loyalty entries as columns when a store
offers them; these tests prove the columns say what the per-customer reads say.
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecomcrm.storage import Store, SupportsBulkFacts
from ecomcrm.testing._conformance._fixtures import (
    PARIS,
    StoreFixtures,
    _us,
    at,
    consent,
    customer,
    entry,
)

_namespaces = itertools.count()


def _live(store: Store) -> list[str]:
    return [str(c) for c in store.customer_table().ids.tolist()]


def _consent_rows(facts: Any, cid: str) -> list[tuple[Any, ...]]:
    mine = facts.customer_id == cid
    return list(
        zip(
            facts.channel[mine].tolist(),
            facts.purpose[mine].tolist(),
            facts.granted[mine].tolist(),
            facts.at[mine].tolist(),
            strict=True,
        )
    )


def _history_rows(store: Store, cid: str) -> list[tuple[Any, ...]]:
    return [
        (c.channel.value, c.purpose.value, c.granted, _us(c.at).tolist())
        for c in store.consents.history(cid)
        if c.topic is None  # topic decisions are not purpose-wide facts
    ]


def _loyalty_rows(facts: Any, cid: str) -> list[tuple[Any, ...]]:
    mine = facts.customer_id == cid
    return list(zip(facts.points[mine].tolist(), facts.at[mine].tolist(), strict=True))


def _entry_rows(store: Store, cid: str) -> list[tuple[Any, ...]]:
    return [(e.points, _us(e.at).tolist()) for e in store.loyalty.entries(cid)]


class BulkFactsBehaviour(StoreFixtures):
    """``consent_facts()`` and ``loyalty_facts()`` equal the per-customer histories."""

    def _check(self, store: Store, bulk: SupportsBulkFacts, prefix: str = "") -> None:
        consents = bulk.consent_facts()
        loyalty = bulk.loyalty_facts()
        assert consents.at.dtype == np.dtype("datetime64[us]")
        assert loyalty.at.dtype == np.dtype("datetime64[us]")
        assert consents.granted.dtype == np.bool_ and loyalty.points.dtype == np.int64
        live = [c for c in _live(store) if c.startswith(prefix)]
        for cid in live:
            assert _consent_rows(consents, cid) == _history_rows(store, cid), cid
            assert _loyalty_rows(loyalty, cid) == _entry_rows(store, cid), cid
        everyone = set(_live(store))
        assert set(consents.customer_id.tolist()) <= everyone
        assert set(loyalty.customer_id.tolist()) <= everyone
        for facts in (consents, loyalty):  # by instant, then as recorded
            times = facts.at.astype(np.int64)
            assert bool(np.all(times[1:] >= times[:-1]))

    def test_empty_store_has_no_facts(self, store: Store) -> None:
        """Contract: a store without decisions or entries gives empty columns."""
        bulk: SupportsBulkFacts = self.claimed(store, SupportsBulkFacts)
        assert len(bulk.consent_facts()) == 0 and len(bulk.loyalty_facts()) == 0
        self._check(store, bulk)

    def test_facts_equal_histories_through_merges_and_erasure(self, store: Store) -> None:
        """Contract: merged ids count for their survivor; erased people have no rows."""
        bulk: SupportsBulkFacts = self.claimed(store, SupportsBulkFacts)
        store.customers.put_many([customer(c) for c in ("a", "b", "c", "d")])
        store.consents.record_many(
            [
                consent("a", True, 1),
                consent("b", False, 1),  # same instant as a's: recording order breaks ties
                consent("b", True, 1, channel="sms"),
                consent("a", False, 3, purpose="transactional"),
                consent("c", True, 2),
                consent("d", True, 0.5),
            ]
        )
        # given in another offset: the instant is what counts
        store.consents.record(attrs.evolve(consent("a", True, 0), at=at(2, tz=PARIS)))
        store.loyalty.append_many(
            [
                entry("l1", "a", 10, 1),
                entry("l2", "b", 5, 1),
                entry("l3", "b", -3, 2),
                entry("l4", "c", 7, 0),
                entry("l5", "d", 1, 0),
            ]
        )
        store.merge("a", "b", at=at(4))
        store.merge("c", "a", at=at(5))
        store.consents.record(consent("b", False, 6))  # through a merged id
        store.loyalty.append(entry("l6", "a", 2, 6))
        store.erase("d")
        consents = bulk.consent_facts()
        assert set(consents.customer_id.tolist()) == {"c"}
        assert len(consents) == 7
        self._check(store, bulk)

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
    )
    @given(
        steps=st.lists(
            st.tuples(
                st.sampled_from(["consent", "entry", "merge"]),
                st.integers(0, 3),
                st.integers(0, 3),
                st.integers(0, 4),
                st.booleans(),
            ),
            max_size=15,
        )
    )
    def test_random_histories_agree(
        self, store: Store, steps: list[tuple[str, int, int, int, bool]]
    ) -> None:
        """Contract: after any decisions, entries and merges the columns equal the histories."""
        bulk: SupportsBulkFacts = self.claimed(store, SupportsBulkFacts)
        prefix = f"bf{next(_namespaces)}-"
        ids = [f"{prefix}{n}" for n in range(4)]
        store.customers.put_many([customer(c) for c in ids])
        for n, (kind, who, other, day, flag) in enumerate(steps):
            cid = store.resolve(ids[who])
            if kind == "consent":
                channel = "email" if flag else "sms"
                store.consents.record(consent(cid, flag, day, channel=channel))
            elif kind == "entry":
                store.loyalty.append(entry(f"{prefix}e{n}", cid, day - 2 or 1, day))
            else:
                survivor = store.resolve(ids[other])
                if survivor != cid:
                    store.merge(survivor, cid, at=at(10 + n))
        self._check(store, bulk, prefix)
