"""The customer 360 view (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import pytest

from ecomcrm.domain import (
    Identity,
    Refund,
)
from ecomcrm.errors import NotFoundError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    consent,
    customer,
    entry,
    event,
    message,
    order,
    ticket,
)


class Customer360Behaviour(StoreFixtures):
    """The support agent's single view."""

    def test_customer_360(self, store: Store) -> None:
        """Contract: customer 360."""
        store.customers.put_many(
            [
                customer("a", Identity.email("a@example.com"), attributes={"loyalty_tier": "gold"}),
                customer("b"),
            ]
        )
        store.orders.put_many(
            [
                order("o1", "a", 1, "10.00"),
                order("o2", "b", 2, "3.00"),
                order("o3", "a", 3, "4.00", status="cancelled"),
            ]
        )
        store.orders.add_refund(
            Refund(
                id="r",
                order_id="o1",
                customer_id="a",
                at=at(4),
                amount="2.50",
                currency="EUR",
                reason="damaged",
            )
        )
        store.events.append_many([event("Product Viewed", d, cid="a") for d in range(10)])
        store.tickets.upsert(ticket("t", "a"))
        store.consents.record(consent("a", True))
        store.loyalty.append(entry("l", "a", 30))
        for i in range(5):
            store.messages.upsert(message(f"m{i}", "a", i))
        store.merge("a", "b", at=at(5))
        view = store.customer_360("b", recent_events=3, messages=2)
        assert view.customer.id == "a"
        assert [o.id for o in view.orders] == ["o1", "o2", "o3"]
        assert [r.reason for r in view.refunds] == ["damaged"]
        assert [e.at for e in view.recent_events] == [at(7), at(8), at(9)]
        assert [t.id for t in view.tickets] == ["t"]
        assert [c.granted for c in view.consents] == [True]
        assert (view.loyalty_balance, view.loyalty_tier) == (30, "gold")
        assert [e.id for e in view.loyalty_entries] == ["l"]
        assert [m.id for m in view.messages] == ["m3", "m4"]
        assert view.merged_ids == ("b",)
        assert dict(view.total_spent) == {"EUR": "10.50"}
        with pytest.raises(NotFoundError):
            store.customer_360("ghost")
