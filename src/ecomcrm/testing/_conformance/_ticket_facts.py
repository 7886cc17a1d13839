"""Capability ``SupportsTicketFacts`` (a behaviour group of the storage conformance kit).

The feature table's ticket fields and the report's support figures read every ticket as
columns when a store offers them; these tests prove the columns say what
``tickets.for_customer`` says, through merges, erasure and updates.
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecomcrm.storage import Store, SupportsTicketFacts, TicketFacts, toolkit
from ecomcrm.testing._conformance._fixtures import StoreFixtures, _us, at, customer, ticket

_namespaces = itertools.count()


def _fact_rows(facts: TicketFacts, cid: str) -> list[tuple[Any, ...]]:
    mine = facts.customer_id == cid
    return list(
        zip(
            facts.ticket_id[mine].tolist(),
            facts.channel[mine].tolist(),
            facts.status[mine].tolist(),
            facts.opened_at[mine].tolist(),
            facts.first_response_at[mine].tolist(),
            facts.closed_at[mine].tolist(),
            [None if np.isnan(v) else int(v) for v in facts.satisfaction[mine].tolist()],
            strict=True,
        )
    )


def _ticket_rows(store: Store, cid: str) -> list[tuple[Any, ...]]:
    def when(value: Any) -> Any:
        return None if value is None else _us(value).tolist()

    return [
        (
            t.id,
            t.channel.value,
            t.status.value,
            _us(t.opened_at).tolist(),
            when(t.first_response_at),
            when(t.closed_at),
            t.satisfaction,
        )
        for t in store.tickets.for_customer(cid)
    ]


class TicketFactsBehaviour(StoreFixtures):
    """``ticket_facts()`` equals ``tickets.for_customer`` of every live customer."""

    def _check_tickets(self, store: Store, bulk: SupportsTicketFacts, prefix: str = "") -> None:
        facts = bulk.ticket_facts()
        for column in (facts.opened_at, facts.first_response_at, facts.closed_at):
            assert column.dtype == np.dtype("datetime64[us]")
        assert facts.satisfaction.dtype == np.float64
        live = [str(c) for c in store.customer_table().ids.tolist()]
        for cid in live:
            if cid.startswith(prefix):
                assert _fact_rows(facts, cid) == _ticket_rows(store, cid), cid
        assert set(facts.customer_id.tolist()) <= set(live)
        opened = facts.opened_at.astype(np.int64)
        assert bool(np.all(opened[1:] >= opened[:-1]))  # by opened_at, then id
        reference = toolkit.ticket_facts_from_store(store)
        assert facts.ticket_id.tolist() == reference.ticket_id.tolist()
        assert facts.customer_id.tolist() == reference.customer_id.tolist()

    def test_empty_store_has_no_ticket_facts(self, store: Store) -> None:
        """Contract: a store without tickets gives empty columns."""
        bulk: SupportsTicketFacts = self.claimed(store, SupportsTicketFacts)
        assert len(bulk.ticket_facts()) == 0
        self._check_tickets(store, bulk)

    def test_ticket_facts_follow_merges_updates_and_erasure(self, store: Store) -> None:
        """Contract: merged ids count for their survivor; an update replaces its row.

        An erased person's tickets are gone.
        """
        bulk: SupportsTicketFacts = self.claimed(store, SupportsTicketFacts)
        store.customers.put_many([customer(c) for c in ("a", "b", "c", "d")])
        closed = attrs.evolve(
            ticket("t2", "b", 1),
            status="closed",
            first_response_at=at(1.1),
            closed_at=at(2),
            satisfaction=2,
        )
        store.tickets.put_many(
            [
                ticket("t1", "a", 1),
                closed,
                ticket("t0", "b", 1),
                ticket("t3", "c", 0.5),
                ticket("t4", "d", 0),
            ]
        )
        store.merge("a", "b", at=at(4))
        store.tickets.upsert(ticket("t5", "b", 5))  # through a merged id
        store.tickets.upsert(attrs.evolve(ticket("t1", "a", 1), status="pending", satisfaction=5))
        store.erase("d")
        facts = bulk.ticket_facts()
        assert facts.ticket_id.tolist() == ["t3", "t0", "t1", "t2", "t5"]
        assert facts.customer_id.tolist() == ["c", "a", "a", "a", "a"]
        assert facts.status.tolist()[2:4] == ["pending", "closed"]
        assert np.isnat(facts.closed_at[0]) and facts.satisfaction[3] == 2.0
        self._check_tickets(store, bulk)

    @settings(
        max_examples=15,
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
                st.sampled_from(["open", "close", "merge"]),
                st.integers(0, 3),
                st.integers(0, 3),
                st.integers(0, 4),
                st.one_of(st.none(), st.integers(1, 5)),
            ),
            max_size=12,
        )
    )
    def test_random_ticket_histories_agree(
        self, store: Store, steps: list[tuple[str, int, int, int, int | None]]
    ) -> None:
        """Contract: after any tickets, updates and merges the columns equal the reads."""
        bulk: SupportsTicketFacts = self.claimed(store, SupportsTicketFacts)
        prefix = f"tf{next(_namespaces)}-"
        ids = [f"{prefix}{n}" for n in range(4)]
        store.customers.put_many([customer(c) for c in ids])
        opened: list[str] = []
        for n, (kind, who, other, day, rating) in enumerate(steps):
            cid = store.resolve(ids[who])
            if kind == "open":
                tid = f"{prefix}t{n % 5}"  # ids repeat: a later open replaces the ticket
                store.tickets.upsert(ticket(tid, cid, day))
                opened.append(tid)
            elif kind == "close" and opened:
                old = store.tickets.get(opened[other % len(opened)])
                store.tickets.upsert(
                    attrs.evolve(old, status="closed", closed_at=old.opened_at, satisfaction=rating)
                )
            elif kind == "merge":
                survivor = store.resolve(ids[other])
                if survivor != cid:
                    store.merge(survivor, cid, at=at(10 + n))
        self._check_tickets(store, bulk, prefix)
