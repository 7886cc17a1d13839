"""Identity resolution and merges (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

from datetime import datetime

import pytest

from ecomcrm.domain import (
    Identity,
    Refund,
)
from ecomcrm.errors import ConflictError, NotFoundError, ValidationError
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


class MergeBehaviour(StoreFixtures):
    """Identity linking and merging customers."""

    def _two_customers(self, store: Store) -> None:
        store.customers.put(
            customer(
                "a",
                Identity.email("a@example.com"),
                first_name="Ada",
                tags={"vip"},
                attributes={"plan": "gold"},
            )
        )
        store.customers.put(
            customer(
                "b",
                Identity.email("b@example.com"),
                Identity(kind="anonymous", value="cookie-b"),
                last_name="Lovelace",
                country="GB",
                tags={"new"},
                attributes={"plan": "free", "score": 3},
                created_at=at(-10),
            )
        )
        store.orders.upsert(order("oa", "a", 1))
        store.orders.upsert(order("ob", "b", 2))
        store.orders.add_refund(
            Refund(id="rb", order_id="ob", customer_id="b", at=at(3), amount="1", currency="EUR")
        )
        store.events.append(event("Product Viewed", 1, cid="b"))
        store.events.append(event("Product Viewed", 2, anon="cookie-b"))
        store.consents.record(consent("b", True, 1))
        store.tickets.upsert(ticket("tb", "b"))
        store.loyalty.append(entry("lb", "b", 40))
        store.loyalty.append(entry("la", "a", 2))
        store.messages.upsert(message("mb", "b"))

    def test_merge_repoints_everything(self, store: Store) -> None:
        """Contract: merge repoints everything."""
        self._two_customers(store)
        record = store.merge("a", "b", at=at(5))
        assert (record.survivor_id, record.merged_id, record.at) == ("a", "b", at(5))
        assert store.resolve("b") == "a"
        assert store.customers.count() == 1
        survivor = store.customers.get("b")
        assert survivor.id == "a"
        assert (survivor.first_name, survivor.last_name, survivor.country) == (
            "Ada",
            "Lovelace",
            "GB",
        )
        assert survivor.tags == frozenset({"vip", "new"})
        assert dict(survivor.attributes) == {"plan": "gold", "score": 3}
        assert survivor.created_at == at(-10)
        assert {i.key for i in survivor.identities} == {
            "email:a@example.com",
            "email:b@example.com",
            "anonymous:cookie-b",
        }
        assert store.customers.find_by_identity(Identity.email("b@example.com")).id == "a"  # type: ignore[union-attr]
        assert [o.id for o in store.orders.for_customer("a")] == ["oa", "ob"]
        assert all(o.customer_id == "a" for o in store.orders.for_customer("a"))
        assert store.orders.get("ob").customer_id == "a"
        assert [r.customer_id for r in store.orders.refunds_for_customer("a")] == ["a"]
        assert len(store.events.for_customer("a")) == 2
        assert [c.customer_id for c in store.consents.history("a")] == ["a"]
        assert store.consents.is_granted("a", "email", "marketing")
        assert [t.customer_id for t in store.tickets.for_customer("a")] == ["a"]
        assert store.loyalty.balance("a") == 42
        assert [m.customer_id for m in store.messages.for_customer("a")] == ["a"]
        assert store.merges("a") == [record]
        assert store.orders.for_customer("b") == store.orders.for_customer("a")

    def test_merge_is_idempotent_and_never_cycles(self, store: Store) -> None:
        """Contract: merge is idempotent and never cycles."""
        self._two_customers(store)
        first = store.merge("a", "b", at=at(5))
        assert store.merge("a", "b", at=at(6)) == first
        assert store.merge("b", "a", at=at(7)) == first
        assert store.resolve("a") == "a" and store.resolve("b") == "a"
        assert store.customers.count() == 1
        assert store.merges("a") == [first]
        assert store.loyalty.balance("b") == 42

    def test_merge_chains_resolve(self, store: Store) -> None:
        """Contract: merge chains resolve."""
        store.customers.put_many([customer("a"), customer("b"), customer("c")])
        store.orders.upsert(order("oc", "c"))
        first = store.merge("b", "c", at=at(1))
        second = store.merge("a", "b", at=at(2))
        assert store.resolve("c") == "a"
        assert store.orders.get("oc").customer_id == "a"
        assert store.merges("a") == [first, second]
        assert store.merge("c", "a", at=at(3)) in (first, second)
        assert store.customers.count() == 1

    def test_merge_refuses_bad_input(self, store: Store) -> None:
        """Contract: merge refuses bad input."""
        store.customers.put(customer("a"))
        with pytest.raises(NotFoundError):
            store.merge("a", "ghost", at=at())
        with pytest.raises(NotFoundError):
            store.merge("ghost", "a", at=at())
        with pytest.raises(ValidationError):
            store.merge("a", "a", at=at())
        assert store.merges("a") == []

    def test_merge_checks_its_arguments_before_changing_anything(self, store: Store) -> None:
        """Contract: a naive ``at`` and ids that are not non-empty strings: ValidationError.

        The checks come first: nothing is merged, whatever the ids.
        """
        self._two_customers(store)
        naive = datetime(2024, 1, 1)
        for survivor, merged, when in (
            ("a", "b", naive),
            ("a", "", at()),
            ("", "b", at()),
            (1, "b", at()),
            ("a", None, at()),
            ("ghost", "b", naive),
        ):
            with pytest.raises(ValidationError):
                store.merge(survivor, merged, at=when)  # type: ignore[arg-type]
        assert store.resolve("b") == "b" and store.merges("a") == []
        assert store.customers.count() == 2

    def test_an_erased_customer_cannot_be_merged(self, store: Store) -> None:
        """Contract: the erased id and the ids merged into it are unknown to merge."""
        store.customers.put_many([customer("a"), customer("b"), customer("c")])
        store.merge("a", "b", at=at(1))
        store.erase("a")
        for pair in (("c", "a"), ("a", "c"), ("c", "b"), ("b", "c"), ("a", "b")):
            with pytest.raises(NotFoundError):
                store.merge(*pair, at=at(2))
        assert store.merges("c") == [] and store.customers.count() == 1

    def test_link_identity(self, store: Store) -> None:
        """Contract: link identity."""
        store.customers.put_many([customer("a"), customer("b", Identity.email("b@example.com"))])
        store.link_identity("a", Identity.email("A@Example.com"))
        store.link_identity("a", Identity.email("a@example.com"))
        assert [i.key for i in store.customers.get("a").identities] == ["email:a@example.com"]
        assert store.customers.find_by_identity(Identity.email("a@example.com")).id == "a"  # type: ignore[union-attr]
        with pytest.raises(ConflictError):
            store.link_identity("a", Identity.email("b@example.com"))
        with pytest.raises(NotFoundError):
            store.link_identity("ghost", Identity.email("c@example.com"))
