"""Behavioural events (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import pytest

from ecomcrm.domain import (
    Event,
    Identity,
)
from ecomcrm.errors import ValidationError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    customer,
    event,
)


class EventBehaviour(StoreFixtures):
    """Behavioural events: idempotent appends, customer and anonymous reads."""

    def test_append_is_idempotent(self, store: Store) -> None:
        """Contract: append is idempotent."""
        e = event("Product Viewed", 0, cid="c1", sku="TEE", price=19.9, tags=["a", {"b": None}])
        assert store.events.append(e) is True
        assert store.events.append(e) is False
        assert store.events.count() == 1
        assert store.events.for_customer("c1") == [e]

    def test_append_many_counts_new_events(self, store: Store) -> None:
        """Contract: append many counts new events."""
        batch = [event("Product Viewed", d, cid="c1") for d in range(5)]
        assert store.events.append_many(batch) == 5
        assert store.events.append_many([*batch[:2], event("Cart Viewed", 9, cid="c1")]) == 1
        assert store.events.count() == 6

    def test_for_customer_filters(self, store: Store) -> None:
        """Contract: for customer filters."""
        store.customers.put(customer("c1"))
        batch = [event("Product Viewed" if d % 2 else "Cart Viewed", d, cid="c1") for d in range(6)]
        store.events.append_many(reversed(batch))
        assert store.events.for_customer("c1") == batch
        assert store.events.for_customer("c1", since=at(3)) == batch[3:]
        assert store.events.for_customer("c1", names=["Cart Viewed"]) == batch[0::2]
        assert store.events.for_customer("c1", limit=2) == batch[4:]
        assert store.events.for_customer("c1", names={"Product Viewed"}, limit=1) == [batch[5]]

    def test_names_are_normalised_on_write_and_on_query(self, store: Store) -> None:
        """Contract: a name filter is normalised as stored names are (``" Viewed"`` finds it)."""
        store.customers.put(customer("c1"))
        viewed = event(" Viewed", 1, cid="c1")
        other = event("Viewed Twice", 2, cid="c1")
        store.events.append_many([viewed, other])
        assert viewed.name == "Viewed"
        for names in ([" Viewed"], ["Viewed "], ("Viewed",), {" Viewed  "}):
            assert store.events.for_customer("c1", names=names) == [viewed]
            facts = store.event_facts(names=names)
            assert [facts.names[c] for c in facts.name_code] == ["Viewed"]
        assert store.events.for_customer("c1", names=[]) == []
        with pytest.raises(ValidationError):
            store.events.for_customer("c1", names="Viewed")  # one string is not a list

    def test_equal_times_are_ordered_by_id(self, store: Store) -> None:
        """Contract: equal times are ordered by id."""
        batch = [Event(id=i, name="Tick", at=at(0), customer_id="c1") for i in ("e3", "e1", "e2")]
        store.events.append_many(batch)
        assert [e.id for e in store.events.for_customer("c1")] == ["e1", "e2", "e3"]

    def test_anonymous_events_join_the_customer_when_linked(self, store: Store) -> None:
        """Contract: anonymous events join the customer when linked."""
        store.customers.put(customer("c1"))
        anonymous = [event("Product Viewed", d, anon="cookie-1", sku="TEE") for d in (1, 2)]
        own = event("Order Completed", 3, cid="c1")
        store.events.append_many([*anonymous, own])
        assert store.events.for_anonymous("cookie-1") == anonymous
        assert store.events.for_customer("c1") == [own]
        store.link_identity("c1", Identity(kind="anonymous", value="cookie-1"))
        assert [e.name for e in store.events.for_customer("c1")] == [
            "Product Viewed",
            "Product Viewed",
            "Order Completed",
        ]
        assert [e.id for e in store.events.for_anonymous("cookie-1")] == [e.id for e in anonymous]
        later = event("Product Viewed", 4, anon="cookie-1")
        store.events.append(later)
        assert store.events.for_customer("c1")[-1].id == later.id
