"""Generated customer graphs round-trip (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ecomcrm.testing.strategies as crm
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import StoreFixtures

_namespaces = itertools.count()

# Kit tests are inherited by every adapter's test class, so one test function runs with
# several executors (one per adapter) and with the adapter's function-scoped `store`
# fixture (each example writes under a fresh id prefix instead of a fresh store).
_SHARED_TEST_CHECKS = (HealthCheck.function_scoped_fixture, HealthCheck.differing_executors)


class RoundTripBehaviour(StoreFixtures):
    """Hypothesis-generated customer graphs come back exactly as written."""

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[*_SHARED_TEST_CHECKS, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def test_generated_graphs_round_trip(self, store: Store, data: st.DataObject) -> None:
        """Contract: generated graphs round trip."""
        cid = f"rt{next(_namespaces)}"
        graph = data.draw(crm.customer_graphs(customer_id=cid))
        person = graph.customer
        free = tuple(i for i in person.identities if store.customers.find_by_identity(i) is None)
        person = attrs.evolve(person, identities=free)
        with store.transaction():
            store.customers.put(person)
            store.orders.put_many(graph.orders)
            for refund in graph.refunds:
                store.orders.add_refund(refund)
            store.events.append_many(graph.events)
            for decision in graph.consents:
                store.consents.record(decision)
            for t in graph.tickets:
                store.tickets.upsert(t)
            for e in graph.loyalty:
                store.loyalty.append(e)
            for m in graph.messages:
                store.messages.upsert(m)
        assert store.customers.get(cid) == person
        assert store.orders.for_customer(cid) == sorted(
            graph.orders, key=lambda o: (o.placed_at, o.id)
        )
        assert sorted(store.orders.refunds_for_customer(cid), key=lambda r: r.id) == sorted(
            graph.refunds, key=lambda r: r.id
        )
        assert sorted(store.events.for_customer(cid), key=lambda e: e.id) == sorted(
            graph.events, key=lambda e: e.id
        )
        assert sorted(map(repr, store.consents.history(cid))) == sorted(map(repr, graph.consents))
        assert sorted(store.tickets.for_customer(cid), key=lambda t: t.id) == sorted(
            graph.tickets, key=lambda t: t.id
        )
        assert sorted(store.loyalty.entries(cid), key=lambda e: e.id) == sorted(
            graph.loyalty, key=lambda e: e.id
        )
        assert store.loyalty.balance(cid) == sum(e.points for e in graph.loyalty)
        assert sorted(store.messages.for_customer(cid), key=lambda m: m.id) == sorted(
            graph.messages, key=lambda m: m.id
        )
        doc = store.export(cid)
        json.dumps(doc)
        assert len(doc["orders"]) == len(graph.orders) and len(doc["events"]) == len(graph.events)

    @settings(max_examples=25, deadline=None, suppress_health_check=[*_SHARED_TEST_CHECKS])
    @given(
        key=st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=20),
        value=st.dictionaries(st.text(max_size=5), crm.json_scalars(), max_size=4),
    )
    def test_generated_state_round_trips(
        self, store: Store, key: str, value: dict[str, Any]
    ) -> None:
        """Contract: generated state round trips."""
        current = store.state.get(key)
        record = store.state.put(
            key, value, expected_version=None if current is None else current.version
        )
        fetched = store.state.get(key)
        assert fetched is not None and fetched.version == record.version
        assert json.dumps(fetched.value, sort_keys=True) == json.dumps(value, sort_keys=True)
