"""Support tickets (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import attrs
import pytest

from ecomcrm.domain import SupportTicket
from ecomcrm.errors import NotFoundError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    customer,
    ticket,
)


class TicketBehaviour(StoreFixtures):
    """Support tickets."""

    def test_ticket_round_trip_and_update(self, store: Store) -> None:
        """Contract: ticket round trip and update."""
        store.customers.put(customer("c1"))
        t = SupportTicket(
            id="t1",
            customer_id="c1",
            channel="chat",
            subject="Größe?",
            tags={"sizing"},
            opened_at=at(1),
            first_response_at=at(1.01),
            order_id="1001",
        )
        assert store.tickets.upsert(t) is True
        assert store.tickets.get("t1") == t
        solved = attrs.evolve(t, status="solved", closed_at=at(2), satisfaction=5)
        assert store.tickets.upsert(solved) is False
        assert store.tickets.get("t1") == solved
        store.tickets.upsert(ticket("t0", "c1", 3))
        assert [x.id for x in store.tickets.for_customer("c1")] == ["t1", "t0"]

    def test_ticket_needs_a_customer(self, store: Store) -> None:
        """Contract: ticket needs a customer."""
        with pytest.raises(NotFoundError):
            store.tickets.upsert(ticket("t1", "ghost"))
        with pytest.raises(NotFoundError):
            store.tickets.get("t1")

    def test_put_many_upserts_in_order(self, store: Store) -> None:
        """Contract: put_many upserts in order (later duplicates win) and follows merges."""
        store.customers.put(customer("c1"))
        store.customers.put(customer("c2"))
        store.merge("c1", "c2", at=at(0))
        old = ticket("t1", "c1", 1)
        assert store.tickets.upsert(old) is True
        batch = [
            ticket("t2", "c2", 2),
            attrs.evolve(old, subject="Refund?"),
            ticket("t3", "c1", 0),
            attrs.evolve(old, subject="Refund!"),
        ]
        assert store.tickets.put_many(iter(batch)) == 4
        assert store.tickets.put_many([]) == 0
        assert store.tickets.get("t1") == batch[3]
        assert store.tickets.get("t2") == attrs.evolve(batch[0], customer_id="c1")
        assert [t.id for t in store.tickets.for_customer("c1")] == ["t3", "t1", "t2"]

    def test_put_many_tickets_is_atomic(self, store: Store) -> None:
        """Contract: put_many names the first unknown customer's row and writes nothing."""
        store.customers.put(customer("c1"))
        with pytest.raises(NotFoundError) as caught:
            store.tickets.put_many([ticket("t1", "c1"), ticket("t2", "ghost"), ticket("t3", "x")])
        assert caught.value.row == 1 and caught.value.value == "ghost"
        assert store.tickets.for_customer("c1") == []
