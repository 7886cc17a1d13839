"""The storage conformance kit: pytest classes that check the whole store contract.

An adapter author subclasses :class:`StoreConformance` and provides a ``store`` fixture::

    import pytest
    from ecomcrm.testing import StoreConformance
    from mypackage import PgStore

    class TestPgStore(StoreConformance):
        capabilities = frozenset({"raw_dump"})

        @pytest.fixture
        def store(self):
            store = PgStore(url_of_a_fresh_database())
            yield store
            store.close()

        def raw_dump(self, store):          # only with the "raw_dump" capability
            return dump_every_table_as_bytes(store)

The behaviour groups are separate mixins (``CustomerBehaviour``, ``MergeBehaviour``...), so
an adapter in progress can compose only the groups it already supports. Tests that need
an optional capability are skipped when the class does not declare it:

- ``"raw_dump"``: :meth:`StoreFixtures.raw_dump` returns every byte the adapter keeps
  (after its own clean-up); the erase-completeness test scans it for personal data.
- ``"reopen"``: :meth:`StoreFixtures.reopen` closes the store and opens the same data
  again; the durability tests check everything survives.
- ``"second_handle"``: :meth:`StoreFixtures.second_handle` opens a second, independent
  handle (connection, process-level client) on the same data; the concurrency test
  interleaves writes through both and checks none is lost.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ecomcrm.testing.strategies as crm
from ecomcrm.domain import (
    Address,
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    LoyaltyEntry,
    Message,
    Order,
    OrderLine,
    Purpose,
    Refund,
    ReturnLine,
    SupportTicket,
    to_dict,
)
from ecomcrm.errors import ConflictError, NotFoundError, StorageError, ValidationError
from ecomcrm.storage import Store
from ecomcrm.storage.toolkit import customer_id_identity

__all__ = [
    "AnalyticsBehaviour",
    "ConsentBehaviour",
    "Customer360Behaviour",
    "CustomerBehaviour",
    "DurabilityBehaviour",
    "EventBehaviour",
    "ExportEraseBehaviour",
    "LoyaltyBehaviour",
    "MergeBehaviour",
    "MessageBehaviour",
    "OrderBehaviour",
    "RoundTripBehaviour",
    "StateBehaviour",
    "StatefulBehaviour",
    "StoreConformance",
    "StoreFixtures",
    "TicketBehaviour",
    "TransactionBehaviour",
]

T0 = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
PARIS = timezone(timedelta(hours=2))


def at(days: float = 0, *, tz: timezone = UTC) -> datetime:
    """``T0 + days``, optionally expressed in another offset (the same instant)."""
    return (T0 + timedelta(days=days)).astimezone(tz)


def customer(cid: str, *identities: Identity, **fields: Any) -> Customer:
    """A customer created at ``T0`` with these identities."""
    fields.setdefault("created_at", T0)
    return Customer(id=cid, identities=identities, **fields)


def order(
    oid: str,
    cid: str,
    days: float = 0,
    price: str = "10.00",
    *,
    quantity: int = 1,
    currency: str = "EUR",
    **fields: Any,
) -> Order:
    """A one-line order of ``quantity`` units at ``price``."""
    return Order(
        id=oid,
        customer_id=cid,
        placed_at=at(days),
        currency=currency,
        lines=[OrderLine(sku="SKU-1", title="Tee", quantity=quantity, unit_price=price)],
        **fields,
    )


def event(
    name: str, days: float, *, cid: str | None = None, anon: str | None = None, **props: Any
) -> Event:
    """An event at ``T0 + days`` for a customer or an anonymous id."""
    return Event(name=name, at=at(days), customer_id=cid, anonymous_id=anon, properties=props)


def consent(
    cid: str,
    granted: bool,
    days: float = 0,
    channel: str = "email",
    purpose: str = "marketing",
    source: str = "",
) -> Consent:
    """A consent decision."""
    return Consent(
        customer_id=cid,
        channel=channel,
        purpose=purpose,
        granted=granted,
        at=at(days),
        source=source,
    )


def entry(eid: str, cid: str, points: int, days: float = 0) -> LoyaltyEntry:
    """A loyalty ledger entry (earn when positive, redeem when negative)."""
    return LoyaltyEntry(
        id=eid, customer_id=cid, kind="earn" if points > 0 else "redeem", points=points, at=at(days)
    )


def ticket(
    tid: str, cid: str, days: float = 0, subject: str = "Where is my order?"
) -> SupportTicket:
    """A support ticket opened at ``T0 + days``."""
    return SupportTicket(
        id=tid, customer_id=cid, channel="email", subject=subject, opened_at=at(days)
    )


def message(mid: str, cid: str, days: float = 0, **fields: Any) -> Message:
    """An outbound email at ``T0 + days``."""
    fields.setdefault("channel", "email")
    fields.setdefault("template", "welcome_1")
    return Message(id=mid, customer_id=cid, at=at(days), **fields)


def _us(when: datetime) -> np.datetime64:
    return np.datetime64(when.astimezone(UTC).replace(tzinfo=None), "us")


class StoreFixtures:
    """The hooks the kit uses. Subclasses override ``store`` (required) and any backdoor.

    ``capabilities`` names the optional behaviours the adapter supports (see the module
    docstring); tests needing an absent one are skipped.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A fresh, empty store (override this fixture)."""
        raise NotImplementedError("subclass StoreConformance and define a `store` fixture")
        yield  # pragma: no cover

    def raw_dump(self, store: Store) -> bytes:
        """Every byte the adapter keeps for ``store`` (capability ``"raw_dump"``)."""
        raise NotImplementedError

    def reopen(self, store: Store) -> Store:
        """Close ``store`` and open the same data again (capability ``"reopen"``)."""
        raise NotImplementedError

    def second_handle(self, store: Store) -> Store:
        """Another independent handle on the same data (capability ``"second_handle"``)."""
        raise NotImplementedError

    def require(self, capability: str) -> None:
        """Skip the running test unless the adapter declares ``capability``."""
        if capability not in self.capabilities:
            pytest.skip(f"adapter does not declare the {capability!r} capability")


# ------------------------------------------------------------------------------------------


class CustomerBehaviour(StoreFixtures):
    """Customer profiles: put, upsert, get/find, identities, iteration, bulk writes."""

    def test_put_then_get_returns_an_equal_customer(self, store: Store) -> None:
        """Contract: put then get returns an equal customer."""
        ada = customer(
            "c1",
            Identity.email("Ada@Example.com"),
            Identity.phone("+44 20 7946 0958"),
            first_name="Ada",
            last_name="Lovelace",
            birthday=datetime(1815, 12, 10).date(),
            timezone="Europe/London",
            locale="en-GB",
            country="GB",
            acquisition_channel="referral",
            addresses=[Address(line1="12 St James's Sq", city="London", country="GB")],
            tags={"vip", "ü-tag"},
            attributes={"plan": "gold", "score": 1.5, "ok": True, "none": None},
            created_at=at(0.123456, tz=PARIS),
        )
        store.customers.put(ada)
        assert store.customers.get("c1") == ada
        assert store.customers.find("c1") == ada

    def test_put_existing_id_conflicts(self, store: Store) -> None:
        """Contract: put existing id conflicts."""
        store.customers.put(customer("c1"))
        with pytest.raises(ConflictError):
            store.customers.put(customer("c1", first_name="Other"))
        assert store.customers.get("c1").first_name == ""

    def test_identity_belongs_to_one_customer(self, store: Store) -> None:
        """Contract: identity belongs to one customer."""
        store.customers.put(customer("c1", Identity.email("a@example.com")))
        with pytest.raises(ConflictError):
            store.customers.put(customer("c2", Identity.email("A@example.com")))
        with pytest.raises(ConflictError):
            store.customers.upsert(customer("c2", Identity.email("a@example.com")))
        assert store.customers.find("c2") is None

    def test_upsert_creates_then_replaces(self, store: Store) -> None:
        """Contract: upsert creates then replaces."""
        assert store.customers.upsert(customer("c1", Identity.email("a@example.com"))) is True
        replaced = customer("c1", Identity.email("b@example.com"), first_name="Bea")
        assert store.customers.upsert(replaced) is False
        assert store.customers.get("c1") == replaced
        assert store.customers.find_by_identity(Identity.email("a@example.com")) is None
        assert store.customers.find_by_identity(Identity.email("b@example.com")) == replaced
        store.customers.put(customer("c2", Identity.email("a@example.com")))

    def test_missing_customer(self, store: Store) -> None:
        """Contract: missing customer."""
        assert store.customers.find("nobody") is None
        with pytest.raises(NotFoundError):
            store.customers.get("nobody")

    def test_find_by_identity_uses_normalised_values(self, store: Store) -> None:
        """Contract: find by identity uses normalised values."""
        store.customers.put(
            customer("c1", Identity.email("ada@example.com"), Identity.phone("+33612345678"))
        )
        assert store.customers.find_by_identity(Identity.email("  ADA@example.COM")).id == "c1"  # type: ignore[union-attr]
        assert store.customers.find_by_identity(Identity.phone("0033 6 12 34 56 78")).id == "c1"  # type: ignore[union-attr]
        assert store.customers.find_by_identity(Identity.email("bob@example.com")) is None

    def test_iterate_is_ordered_by_id_and_count_agrees(self, store: Store) -> None:
        """Contract: iterate is ordered by id and count agrees."""
        ids = ["c10", "c2", "B", "a", "c1", "é"]
        for cid in ids:
            store.customers.put(customer(cid))
        assert [c.id for c in store.customers.iterate()] == sorted(ids)
        assert store.customers.count() == len(ids)

    def test_put_many_writes_all(self, store: Store) -> None:
        """Contract: put many writes all."""
        written = store.customers.put_many(
            customer(f"c{i}", Identity.email(f"u{i}@example.com")) for i in range(50)
        )
        assert written == 50
        assert store.customers.count() == 50
        assert store.customers.find_by_identity(Identity.email("u49@example.com")).id == "c49"  # type: ignore[union-attr]

    def test_put_many_is_atomic(self, store: Store) -> None:
        """Contract: put many is atomic."""
        store.customers.put(customer("c0", Identity.email("taken@example.com")))
        batch = [
            customer("c1"),
            customer("c2"),
            customer("c3", Identity.email("taken@example.com")),
        ]
        with pytest.raises(ConflictError):
            store.customers.put_many(batch)
        assert store.customers.count() == 1
        assert store.customers.find("c1") is None

    def test_a_closed_store_refuses_use(self, store: Store) -> None:
        """After close(), calls raise StorageError; closing again is harmless."""
        store.customers.put(customer("c1"))
        store.close()
        with pytest.raises(StorageError):
            store.customers.get("c1")
        with pytest.raises(StorageError):
            store.customers.put(customer("c2"))
        store.close()


class OrderBehaviour(StoreFixtures):
    """Orders with lines, refunds and returns."""

    def test_order_round_trip(self, store: Store) -> None:
        """Contract: order round trip."""
        store.customers.put(customer("c1"))
        rich = Order(
            id="1001",
            customer_id="c1",
            placed_at=at(1.5, tz=PARIS),
            currency="JPY",
            lines=[
                OrderLine(
                    sku="A",
                    title="Tea",
                    quantity=2,
                    unit_price="1200",
                    discount="100",
                    category="Food > Tea",
                ),
                OrderLine(sku="B", quantity=1, unit_price="0"),
            ],
            discount="100",
            shipping="500",
            tax="230",
            status="shipped",
            sales_channel="web",
            discount_codes=["WELCOME10"],
            shipping_address=Address(line1="1-1 Chiyoda", city="Tokyo", country="JP"),
            shipped_at=at(2),
        )
        assert store.orders.upsert(rich) is True
        assert store.orders.get("1001") == rich
        assert store.orders.for_customer("c1") == [rich]
        assert store.orders.count() == 1

    def test_order_for_unknown_customer_is_refused(self, store: Store) -> None:
        """Contract: order for unknown customer is refused."""
        with pytest.raises(NotFoundError):
            store.orders.upsert(order("1", "ghost"))
        assert store.orders.count() == 0

    def test_upsert_replaces(self, store: Store) -> None:
        """Contract: upsert replaces."""
        store.customers.put(customer("c1"))
        store.orders.upsert(order("1", "c1", price="10.00"))
        assert store.orders.upsert(order("1", "c1", price="12.00", status="delivered")) is False
        assert store.orders.get("1").total == Decimal("12.00")
        assert store.orders.count() == 1

    def test_missing_order(self, store: Store) -> None:
        """Contract: missing order."""
        with pytest.raises(NotFoundError):
            store.orders.get("nope")

    def test_for_customer_orders_by_time_then_id(self, store: Store) -> None:
        """Contract: for customer orders by time then id."""
        store.customers.put_many([customer("c1"), customer("c2")])
        store.orders.put_many(
            [order("b", "c1", 2), order("a", "c1", 2), order("z", "c1", 1), order("x", "c2", 0)]
        )
        assert [o.id for o in store.orders.for_customer("c1")] == ["z", "a", "b"]
        assert store.orders.for_customer("nobody") == []

    def test_put_many_orders_is_atomic(self, store: Store) -> None:
        """Contract: put many orders is atomic."""
        store.customers.put(customer("c1"))
        with pytest.raises(NotFoundError):
            store.orders.put_many([order("1", "c1"), order("2", "ghost")])
        assert store.orders.count() == 0

    def test_refunds_and_returns(self, store: Store) -> None:
        """Contract: refunds and returns."""
        store.customers.put(customer("c1"))
        store.orders.upsert(order("1", "c1", quantity=3, price="10.00"))
        late = Refund(
            id="r2",
            order_id="1",
            customer_id="c1",
            at=at(9),
            amount="5.00",
            currency="EUR",
            reason="late",
        )
        back = Refund(
            id="r1",
            order_id="1",
            customer_id="c1",
            at=at(5),
            amount="10.00",
            currency="EUR",
            returned=True,
            lines=[ReturnLine(sku="SKU-1", quantity=1, reason="too small")],
        )
        assert store.orders.add_refund(late) is True
        assert store.orders.add_refund(back) is True
        assert store.orders.add_refund(attrs.evolve(back, amount=Decimal("99"))) is False
        assert store.orders.refunds_for_order("1") == [back, late]
        assert store.orders.refunds_for_customer("c1") == [back, late]
        assert store.orders.refunds_for_order("other") == []

    def test_refund_for_unknown_order_is_refused(self, store: Store) -> None:
        """Contract: refund for unknown order is refused."""
        store.customers.put(customer("c1"))
        with pytest.raises(NotFoundError):
            store.orders.add_refund(
                Refund(
                    id="r", order_id="nope", customer_id="c1", at=at(), amount="1", currency="EUR"
                )
            )

    def test_add_refunds_skips_known_ids(self, store: Store) -> None:
        """Contract: add_refunds adds in order, skipping ids stored or seen earlier."""
        store.customers.put(customer("c1"))
        store.customers.put(customer("c2"))
        store.orders.put_many([order("1", "c1"), order("2", "c2")])
        store.merge("c1", "c2", at=at(0))

        def refund(rid: str, oid: str, cid: str, days: float, amount: str = "1.00") -> Refund:
            return Refund(
                id=rid, order_id=oid, customer_id=cid, at=at(days), amount=amount, currency="EUR"
            )

        first = refund("r1", "1", "c1", 3)
        assert store.orders.add_refund(first) is True
        batch = [
            attrs.evolve(first, amount=Decimal("9")),
            refund("r2", "2", "c2", 2),
            refund("r3", "1", "c1", 1, "2.00"),
            refund("r2", "1", "c1", 0, "7.00"),
        ]
        assert store.orders.add_refunds(iter(batch)) == 2
        assert store.orders.add_refunds([]) == 0
        moved = attrs.evolve(batch[1], customer_id="c1")
        assert store.orders.refunds_for_order("1") == [batch[2], first]
        assert store.orders.refunds_for_customer("c1") == [batch[2], moved, first]

    def test_add_refunds_is_atomic(self, store: Store) -> None:
        """Contract: add_refunds names the first unknown order's row and writes nothing."""
        store.customers.put(customer("c1"))
        store.orders.upsert(order("1", "c1"))
        batch = [
            Refund(id=f"r{k}", order_id=o, customer_id="c1", at=at(), amount="1", currency="EUR")
            for k, o in enumerate(["1", "nope", "1"])
        ]
        with pytest.raises(NotFoundError) as caught:
            store.orders.add_refunds(batch)
        assert caught.value.row == 1 and caught.value.value == "nope"
        assert store.orders.refunds_for_order("1") == []


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


class ConsentBehaviour(StoreFixtures):
    """The append-only consent ledger and the current state per channel and purpose."""

    def test_consent_needs_a_customer(self, store: Store) -> None:
        """Contract: consent needs a customer."""
        with pytest.raises(NotFoundError):
            store.consents.record(consent("ghost", True))

    def test_history_and_current(self, store: Store) -> None:
        """Contract: history and current."""
        store.customers.put(customer("c1"))
        decisions = [
            consent("c1", True, 2, source="checkout"),
            consent("c1", False, 1),
            consent("c1", True, 0, channel="sms"),
            consent("c1", True, 3, purpose="transactional"),
        ]
        for d in decisions:
            store.consents.record(d)
        history = store.consents.history("c1")
        assert history == [decisions[2], decisions[1], decisions[0], decisions[3]]
        current = store.consents.current("c1")
        assert current == {
            (Channel.EMAIL, Purpose.MARKETING): decisions[0],
            (Channel.SMS, Purpose.MARKETING): decisions[2],
            (Channel.EMAIL, Purpose.TRANSACTIONAL): decisions[3],
        }
        assert store.consents.is_granted("c1", "email", "marketing") is True
        assert store.consents.is_granted("c1", Channel.PUSH, Purpose.MARKETING) is False

    def test_ties_go_to_the_last_recorded(self, store: Store) -> None:
        """Contract: ties go to the last recorded."""
        store.customers.put(customer("c1"))
        store.consents.record(consent("c1", True, 1))
        store.consents.record(consent("c1", False, 1))
        assert store.consents.is_granted("c1", "email", "marketing") is False
        store.consents.record(consent("c1", True, 1))
        assert store.consents.is_granted("c1", "email", "marketing") is True
        assert [c.granted for c in store.consents.history("c1")] == [True, False, True]

    def test_record_many_equals_recording_in_turn(self, store: Store) -> None:
        """Contract: record_many appends in order (ties too) and follows merges."""
        store.customers.put(customer("c1"))
        store.customers.put(customer("c2"))
        store.merge("c1", "c2", at=at(0))
        decisions = [
            consent("c1", True, 1),
            consent("c2", False, 1, source="form"),
            consent("c1", True, 0, channel="sms"),
        ]
        assert store.consents.record_many(iter(decisions)) == 3
        assert store.consents.record_many([]) == 0
        history = store.consents.history("c1")
        assert history == [
            decisions[2],
            decisions[0],
            attrs.evolve(decisions[1], customer_id="c1"),
        ]
        assert store.consents.is_granted("c1", "email", "marketing") is False

    def test_record_many_is_atomic(self, store: Store) -> None:
        """Contract: record_many names the first unknown customer's row and writes nothing."""
        store.customers.put(customer("c1"))
        with pytest.raises(NotFoundError) as caught:
            store.consents.record_many(
                [consent("c1", True), consent("ghost", True), consent("ghost2", True)]
            )
        assert caught.value.row == 1 and caught.value.value == "ghost"
        assert store.consents.history("c1") == []

    def test_unknown_customer_has_no_consent(self, store: Store) -> None:
        """Contract: unknown customer has no consent."""
        assert store.consents.history("ghost") == []
        assert store.consents.current("ghost") == {}
        assert store.consents.is_granted("ghost", "email", "marketing") is False


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


class LoyaltyBehaviour(StoreFixtures):
    """The points ledger: idempotent appends, ordering, balance."""

    def test_ledger(self, store: Store) -> None:
        """Contract: ledger."""
        store.customers.put(customer("c1"))
        earn = entry("order:1:earn", "c1", 120, 1)
        redeem = entry("redeem:1", "c1", -50, 2)
        early = entry("signup", "c1", 10, 0)
        assert store.loyalty.append(earn) is True
        assert store.loyalty.append(redeem) is True
        assert store.loyalty.append(early) is True
        assert store.loyalty.append(attrs.evolve(earn, points=999)) is False
        assert store.loyalty.has("order:1:earn") and not store.loyalty.has("nope")
        assert store.loyalty.entries("c1") == [early, earn, redeem]
        assert store.loyalty.balance("c1") == 80
        assert store.loyalty.balance("ghost") == 0

    def test_equal_times_keep_insertion_order(self, store: Store) -> None:
        """Contract: equal times keep insertion order."""
        store.customers.put(customer("c1"))
        ids = ["z", "a", "m"]
        for eid in ids:
            store.loyalty.append(entry(eid, "c1", 5, 1))
        assert [e.id for e in store.loyalty.entries("c1")] == ids

    def test_append_many_skips_known_ids(self, store: Store) -> None:
        """Contract: append_many appends in order, skipping ids stored or seen earlier."""
        store.customers.put(customer("c1"))
        first = entry("a", "c1", 5, 1)
        assert store.loyalty.append(first) is True
        batch = [
            attrs.evolve(first, points=99),
            entry("z", "c1", 7, 1),
            entry("b", "c1", -2, 1),
            entry("z", "c1", 1000, 0),
        ]
        assert store.loyalty.append_many(iter(batch)) == 2
        assert store.loyalty.append_many([]) == 0
        assert [e.id for e in store.loyalty.entries("c1")] == ["a", "z", "b"]
        assert store.loyalty.balance("c1") == 10


class MessageBehaviour(StoreFixtures):
    """The message log."""

    def test_messages(self, store: Store) -> None:
        """Contract: messages."""
        store.customers.put(customer("c1"))
        first = message(
            "m1",
            "c1",
            1,
            params={"name": "Ada", "items": [1, 2]},
            flow_id="welcome",
            action_id="a1",
        )
        second = message("m2", "c1", 0, channel="sms", purpose="transactional")
        assert store.messages.upsert(first) is True
        assert store.messages.upsert(second) is True
        opened = attrs.evolve(first, outcome="opened")
        assert store.messages.upsert(opened) is False
        assert store.messages.get("m1") == opened
        assert store.messages.for_customer("c1") == [second, opened]
        assert store.messages.for_customer("c1", since=at(0.5)) == [opened]
        with pytest.raises(NotFoundError):
            store.messages.get("m9")


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


class TransactionBehaviour(StoreFixtures):
    """``with store.transaction():`` is atomic across every repository."""

    def _seed(self, store: Store) -> None:
        store.customers.put(customer("c1", Identity.email("a@example.com"), first_name="Ada"))
        store.orders.upsert(order("1", "c1"))
        store.state.put("k", {"v": 1}, expected_version=None)

    def _snapshot(self, store: Store) -> Any:
        return (
            [to_dict(c) for c in store.customers.iterate()],
            store.orders.count(),
            [to_dict(o) for o in store.orders.for_customer("c1")],
            store.orders.refunds_for_customer("c1"),
            store.events.count(),
            store.consents.history("c1"),
            store.tickets.for_customer("c1"),
            store.loyalty.entries("c1"),
            store.messages.for_customer("c1"),
            [(r.key, json.dumps(r.value, sort_keys=True), r.version) for r in store.state.scan()],
            store.merges("c1"),
        )

    def test_an_exception_rolls_back_every_repository(self, store: Store) -> None:
        """Contract: an exception rolls back every repository."""
        self._seed(store)
        before = self._snapshot(store)
        with pytest.raises(RuntimeError, match="boom"), store.transaction():
            store.customers.upsert(
                customer("c1", Identity.email("b@example.com"), first_name="Changed")
            )
            store.customers.put(customer("c2", Identity.email("a@example.com")))
            store.orders.upsert(order("1", "c1", price="99.00"))
            store.orders.upsert(order("2", "c2"))
            store.orders.add_refund(
                Refund(id="r", order_id="1", customer_id="c1", at=at(1), amount="1", currency="EUR")
            )
            store.events.append(event("Cart Viewed", 1, cid="c1"))
            store.consents.record(consent("c1", True))
            store.tickets.upsert(ticket("t1", "c1"))
            store.loyalty.append(entry("e1", "c1", 10))
            store.messages.upsert(message("m1", "c1"))
            store.state.put("k", {"v": 2}, expected_version=1)
            store.state.put("k2", {"v": 1}, expected_version=None)
            store.link_identity("c1", Identity.phone("+33612345678"))
            store.merge("c1", "c2", at=at(2))
            raise RuntimeError("boom")
        assert self._snapshot(store) == before
        assert store.customers.find("c2") is None
        assert store.resolve("c2") == "c2"
        assert store.customers.find_by_identity(Identity.email("a@example.com")).id == "c1"  # type: ignore[union-attr]
        assert store.customers.find_by_identity(Identity.phone("+33612345678")) is None
        assert store.loyalty.has("e1") is False
        assert store.state.get("k2") is None

    def test_a_failing_write_inside_rolls_back_earlier_writes(self, store: Store) -> None:
        """Contract: a failing write inside rolls back earlier writes."""
        self._seed(store)
        with pytest.raises(ConflictError), store.transaction():
            store.customers.put(customer("c2"))
            store.state.put("k", {"v": 5}, expected_version=7)
        assert store.customers.find("c2") is None

    def test_nested_blocks_join_the_outer_one(self, store: Store) -> None:
        """Contract: nested blocks join the outer one."""
        with pytest.raises(RuntimeError), store.transaction():
            with store.transaction():
                store.customers.put(customer("c1"))
            store.customers.put(customer("c2"))
            raise RuntimeError("outer fails")
        assert store.customers.count() == 0

    def test_committed_blocks_stay(self, store: Store) -> None:
        """Contract: committed blocks stay."""
        with store.transaction():
            store.customers.put(customer("c1"))
            store.orders.upsert(order("1", "c1"))
        assert store.orders.get("1").customer_id == "c1"

    def test_rollback_of_an_erasure(self, store: Store) -> None:
        """Contract: rollback of an erasure."""
        self._seed(store)
        before = self._snapshot(store)
        with pytest.raises(RuntimeError), store.transaction():
            store.erase("c1")
            raise RuntimeError("undo")
        assert self._snapshot(store) == before
        assert store.is_suppressed(Identity.email("a@example.com")) is False


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


_SECRET_EMAIL = "zebulonia.quattlebaum@example.org"
_SECRET_PHONE = "+33687654321"
_SECRETS = (_SECRET_EMAIL, _SECRET_PHONE, "Zebulonia", "Quattlebaum", "Rue Fictive", "ext-zq-77")


class ExportEraseBehaviour(StoreFixtures):
    """Privacy: complete exports and complete erasure with suppression."""

    def _write_person(self, store: Store) -> None:
        store.customers.put(
            customer(
                "p1",
                Identity.email(_SECRET_EMAIL),
                Identity.phone(_SECRET_PHONE),
                Identity(kind="external", value="ext-zq-77"),
                Identity(kind="anonymous", value="cookie-zq"),
                first_name="Zebulonia",
                last_name="Quattlebaum",
                addresses=[Address(line1="12 Rue Fictive", city="Lyon", country="FR")],
                attributes={"note": "Zebulonia likes tea"},
                tags={"vip"},
            )
        )
        store.customers.put(customer("p2", Identity(kind="anonymous", value="cookie-old")))
        store.orders.upsert(order("o-p2", "p2", 0.5, price="7.00"))
        store.merge("p1", "p2", at=at(0.6))
        store.customers.put(
            customer("other", Identity.email("other@example.com"), first_name="Bob")
        )
        store.orders.upsert(
            order(
                "o1",
                "p1",
                1,
                price="20.00",
                shipping_address=Address(line1="12 Rue Fictive", city="Lyon"),
                discount_codes=["ZEBULONIA"],
            )
        )
        store.orders.upsert(order("o2", "other", 2, price="5.00"))
        store.orders.add_refund(
            Refund(
                id="r1",
                order_id="o1",
                customer_id="p1",
                at=at(3),
                amount="5.00",
                currency="EUR",
                reason="Zebulonia Quattlebaum says torn",
            )
        )
        store.events.append(
            event("Identify", 1, cid="p1", email=_SECRET_EMAIL, full_name="Zebulonia Quattlebaum")
        )
        store.events.append(event("Product Viewed", 0.2, anon="cookie-zq", phone=_SECRET_PHONE))
        store.events.append(event("Product Viewed", 0.3, anon="cookie-old"))
        store.consents.record(consent("p1", True, 1, source=f"form of {_SECRET_EMAIL}"))
        store.tickets.upsert(ticket("t1", "p1", 2, subject="Zebulonia Quattlebaum: parcel lost"))
        store.loyalty.append(
            LoyaltyEntry(
                id="l1", customer_id="p1", kind="earn", points=10, at=at(1), description="Zebulonia"
            )
        )
        store.messages.upsert(
            message("m1", "p1", 2, params={"first_name": "Zebulonia", "to": _SECRET_EMAIL})
        )
        store.state.put(
            "enrollment:welcome:p1", {"email": _SECRET_EMAIL}, expected_version=None, owner="p1"
        )
        store.state.put(
            "enrollment:welcome:p2", {"phone": _SECRET_PHONE}, expected_version=None, owner="p2"
        )
        store.state.put(  # an unidentified visitor's record, owned by the anonymous identity
            "enr:browse:anonymous:cookie-zq", {"props": _SECRET_PHONE}, expected_version=None,
            owner="anonymous:cookie-zq",
        )  # fmt: skip
        store.state.put("global:config", {"ok": True}, expected_version=None)

    def test_export_holds_everything_and_is_json(self, store: Store) -> None:
        """Contract: export holds everything and is json."""
        self._write_person(store)
        doc = store.export("p2")
        text = json.dumps(doc)
        assert doc["customer_id"] == "p1"
        assert doc["customer"]["first_name"] == "Zebulonia"
        assert [o["id"] for o in doc["orders"]] == ["o-p2", "o1"]
        assert [r["id"] for r in doc["refunds"]] == ["r1"]
        assert len(doc["events"]) == 3
        assert len(doc["consents"]) == 1
        assert [t["id"] for t in doc["tickets"]] == ["t1"]
        assert doc["loyalty"]["balance"] == 10
        assert [m["id"] for m in doc["messages"]] == ["m1"]
        assert [m["merged_id"] for m in doc["merges"]] == ["p2"]
        assert _SECRET_PHONE in text and "other@example.com" not in text
        with pytest.raises(NotFoundError):
            store.export("ghost")

    def _assert_gone(self, store: Store, text: str) -> None:
        for secret in _SECRETS:
            assert secret not in text, f"{secret!r} survived the erasure"

    def _everything_readable(self, store: Store) -> str:
        parts = [json.dumps(store.export(c.id)) for c in store.customers.iterate()]
        parts += [json.dumps(to_dict(e)) for e in store.events.for_anonymous("cookie-zq")]
        parts += [json.dumps(to_dict(e)) for e in store.events.for_anonymous("cookie-old")]
        parts += [json.dumps(dict(r.value)) + r.key for r in store.state.scan()]
        for oid in ("o1", "o-p2"):
            with contextlib.suppress(NotFoundError):
                parts.append(json.dumps(to_dict(store.orders.get(oid))))
        parts.append(repr(store.order_facts(currency="EUR")))
        parts.append(repr(store.event_facts()))
        parts.append(repr(store.customer_table()))
        return "\n".join(parts)

    def test_erase_removes_everything_and_suppresses(self, store: Store) -> None:
        """Contract: erase removes everything and suppresses."""
        self._write_person(store)
        receipt = store.erase("p2")
        assert receipt.customer_id == "p1"
        assert receipt.kept_order_facts is False
        assert len(receipt.tombstones) >= 2 and _SECRET_EMAIL not in "".join(receipt.tombstones)
        for cid in ("p1", "p2"):
            assert store.customers.find(cid) is None
            assert store.orders.for_customer(cid) == []
            assert store.events.for_customer(cid) == []
            assert store.consents.history(cid) == []
            assert store.tickets.for_customer(cid) == []
            assert store.loyalty.entries(cid) == []
            assert store.messages.for_customer(cid) == []
        assert store.customers.count() == 1
        assert store.orders.count() == 1
        assert store.events.for_anonymous("cookie-zq") == []
        assert store.state.get("enrollment:welcome:p1") is None
        assert store.state.get("global:config") is not None
        assert not store.loyalty.has("l1")
        with pytest.raises(NotFoundError):
            store.orders.get("o1")
        for identity in (Identity.email(_SECRET_EMAIL), Identity.phone(_SECRET_PHONE)):
            assert store.customers.find_by_identity(identity) is None
            assert store.is_suppressed(identity)
        assert not store.is_suppressed(Identity.email("other@example.com"))
        self._assert_gone(store, self._everything_readable(store))

    def test_suppressed_identities_are_refused(self, store: Store) -> None:
        """Contract: suppressed identities are refused."""
        self._write_person(store)
        store.erase("p1")
        with pytest.raises(ValidationError):
            store.customers.put(customer("new", Identity.email(_SECRET_EMAIL.upper())))
        with pytest.raises(ValidationError):
            store.customers.upsert(customer("new", Identity.phone(_SECRET_PHONE)))
        with pytest.raises(ValidationError):
            store.link_identity("other", Identity.email(_SECRET_EMAIL))
        assert store.customers.find("new") is None
        store.customers.put(customer("new", Identity.email("fresh@example.com")))

    def test_an_erased_customer_id_is_not_brought_back(self, store: Store) -> None:
        """Contract: the erased id (and ids merged into it) can no longer be created."""
        self._write_person(store)
        store.erase("p1")
        for cid in ("p1", "p2"):
            assert store.is_suppressed(customer_id_identity(cid))
            with pytest.raises(ValidationError, match="erased"):
                store.customers.put(customer(cid))
            with pytest.raises(ValidationError):
                store.customers.upsert(customer(cid))
            with pytest.raises(ValidationError):
                store.customers.put_many([customer("fresh-1"), customer(cid)])
            assert store.customers.find(cid) is None
        assert store.customers.find("fresh-1") is None  # the batch was refused whole
        assert not store.is_suppressed(customer_id_identity("other"))
        store.customers.put_many([customer("fresh-1"), customer("p1x")])
        assert store.customers.count() == 3

    def test_erase_can_keep_anonymous_order_facts(self, store: Store) -> None:
        """Contract: erase can keep anonymous order facts."""
        self._write_person(store)
        before = store.order_facts()
        receipt = store.erase("p1", keep_order_facts=True)
        assert receipt.kept_order_facts is True
        after = store.order_facts()
        assert sorted(after.order_id.tolist()) == sorted(before.order_id.tolist())
        assert after.amount.sum() == pytest.approx(before.amount.sum())
        assert after.refunded.sum() == pytest.approx(before.refunded.sum())
        assert not {"p1", "p2"} & set(after.customer_ids.tolist())
        kept = store.orders.get("o1")
        assert kept.customer_id not in ("p1", "p2") and kept.shipping_address is None
        assert store.customers.find(kept.customer_id) is not None
        self._assert_gone(store, self._everything_readable(store))

    def test_raw_storage_holds_no_personal_data_after_erase(self, store: Store) -> None:
        """Contract: raw storage holds no personal data after erase."""
        self.require("raw_dump")
        self._write_person(store)
        assert _SECRET_EMAIL.encode() in self.raw_dump(store)
        store.erase("p1")
        raw = self.raw_dump(store)
        for secret in _SECRETS:
            assert secret.encode("utf-8") not in raw, f"{secret!r} is still in the raw storage"

    def _engine_records(self, store: Store, cid: str, n: int) -> set[str]:
        """Write the records the rules engine keeps about ``cid`` (its key layouts)."""
        keys: dict[str, dict[str, Any]] = {
            f"enr:cart:{cid}": {"cust": cid, "ctx": {"note": f"secret of {cid}"}},
            f"trg:welcome:{cid}": {"cust": cid},
            f"cnt:enr:{cid}": {"_ids": [f"e-{n}"]},
            f"cap:{cid}": {"sends": [["email", n]]},
            f"timer:{n:017d}:enr:cart:{cid}": {"k": f"enr:cart:{cid}"},
            f"act:act_{n:06d}": {"customer_id": cid, "idempotency_key": f"cart:v2:{n}"},
            f"cart:v2:{cid}": {"why": "an app's own record about the person"},
        }
        for key, value in keys.items():
            store.state.put(key, value, expected_version=None, owner=cid)
        return set(keys)

    _AWKWARD_IDS = (
        "cart", "enr", "timer", "act", "cap", "welcome", "bob", "alice:bob", "alice",
        "a:b:c", "b:c", "%3A", "a%3Ab", "a:b", "100%", "anonymous", "v2",
    )  # fmt: skip

    def test_erase_touches_only_its_subject(self, store: Store) -> None:
        """Contract: erasing a person deletes their state records and nobody else's.

        Ids equal to parts of other records' keys (``cart``, ``enr``, ``timer``, ``bob``
        beside ``alice:bob``, ids with ``:`` and ``%``) never match those parts.
        """
        records: dict[str, set[str]] = {}
        for n, cid in enumerate(self._AWKWARD_IDS):
            store.customers.put(customer(cid, Identity.email(f"person{n}@example.com")))
            records[cid] = self._engine_records(store, cid, n)
        store.state.put("flowdef:cart:000001", {"id": "cart"}, expected_version=None)
        for cid in self._AWKWARD_IDS:
            receipt = store.erase(cid)
            assert receipt.counts.get("state") == len(records.pop(cid)), cid
            expected = set().union(*records.values(), {"flowdef:cart:000001"})
            left = {r.key for r in store.state.scan()}
            assert left == expected, f"erasing {cid!r} changed {sorted(left ^ expected)}"
            assert all(r.owner in records for r in store.state.scan() if r.owner is not None)

    def test_erase_deletes_records_of_merged_ids_and_anonymous_identities(
        self, store: Store
    ) -> None:
        """Contract: the state of ids merged into the person and of their cookies goes too."""
        store.customers.put(customer("p:1", Identity(kind="anonymous", value="ck:9")))
        store.customers.put(customer("p:2"))
        store.customers.put(customer("ck:9"))  # a customer whose id is the cookie's value
        store.merge("p:1", "p:2", at=at(1))
        for key, owner in (("enr:f:p:1", "p:1"), ("enr:f:p:2", "p:2"),
                           ("enr:f:anonymous:ck:9", "anonymous:ck:9"), ("enr:f:ck:9", "ck:9")):  # fmt: skip
            store.state.put(key, {"x": 1}, expected_version=None, owner=owner)
        assert store.erase("p:2").counts.get("state") == 3
        assert [r.key for r in store.state.scan()] == ["enr:f:ck:9"]

    def test_raw_storage_holds_no_engine_state_of_the_erased(self, store: Store) -> None:
        """Contract: after erase, no byte of an erased person's state values is stored."""
        self.require("raw_dump")
        for n, cid in enumerate(("alice:bob", "bob")):
            store.customers.put(customer(cid, Identity.email(f"p{n}@example.com")))
            self._engine_records(store, cid, n)
        secret = b"secret of alice:bob"
        assert secret in self.raw_dump(store)
        store.erase("alice:bob")
        raw = self.raw_dump(store)
        assert secret not in raw and b"secret of bob" in raw

    def test_erase_unknown(self, store: Store) -> None:
        """Contract: erase unknown."""
        with pytest.raises(NotFoundError):
            store.erase("ghost")

    def test_erase_checks_the_id(self, store: Store) -> None:
        """Contract: erase of an id that is not a non-empty string: ValidationError."""
        store.customers.put(customer("p1"))
        for bad in ("", None, 1):
            with pytest.raises(ValidationError):
                store.erase(bad)  # type: ignore[arg-type]
        assert store.customers.count() == 1

    def test_erase_twice(self, store: Store) -> None:
        """Contract: an erased customer is unknown: a second erase raises NotFoundError."""
        store.customers.put(customer("p1", Identity.email("p1@example.com")))
        store.erase("p1")
        with pytest.raises(NotFoundError):
            store.erase("p1")


class AnalyticsBehaviour(StoreFixtures):
    """Columnar reads equal the object reads."""

    def _write(self, store: Store) -> None:
        store.customers.put_many(
            [
                customer(
                    "b",
                    country="FR",
                    tags={"vip", "b2b"},
                    timezone="Europe/Paris",
                    acquisition_channel="ads",
                ),
                customer("a", birthday=datetime(1990, 5, 17).date(), created_at=at(-3)),
                customer("c", tags={"vip"}),
            ]
        )
        store.link_identity("c", Identity(kind="anonymous", value="cookie-c"))
        store.orders.put_many(
            [
                order("o3", "a", 2, "10.00", quantity=2),
                order("o1", "b", 1, "5.50"),
                order("o2", "c", 1, "1000", currency="JPY"),
                order("o4", "a", 3, "8.00", status="cancelled", cancelled_at=at(3.5)),
            ]
        )
        store.orders.add_refund(
            Refund(
                id="r",
                order_id="o3",
                customer_id="a",
                at=at(4),
                amount="4.00",
                currency="EUR",
                returned=True,
                lines=[ReturnLine(sku="SKU-1", quantity=1)],
            )
        )
        store.consents.record(consent("a", True))
        store.consents.record(consent("b", False))
        store.events.append_many(
            [
                event("Product Viewed", 1, cid="a", sku="TEE"),
                event("Order Completed", 1.5, cid="b"),
                event("Product Viewed", 2, anon="cookie-c", product_id=7),
                event("Product Viewed", 0, anon="stranger"),
            ]
        )

    def test_mixed_currencies_need_rates(self, store: Store) -> None:
        """Contract: mixed currencies need rates."""
        self._write(store)
        with pytest.raises(ValidationError, match="JPY"):
            store.order_facts()
        with pytest.raises(ValidationError, match="JPY"):
            store.order_facts(currency="EUR", rates={"USD": 1.1})

    def test_order_facts_equal_object_reads(self, store: Store) -> None:
        """Contract: order facts equal object reads."""
        self._write(store)
        rates = {"JPY": 0.0062}
        facts = store.order_facts(currency="EUR", rates=rates)
        table = store.customer_table()
        assert facts.currency == "EUR"
        assert facts.customer_ids.tolist() == table.ids.tolist() == ["a", "b", "c"]
        assert facts.order_id.tolist() == ["o1", "o2", "o3", "o4"]
        expected = sorted(
            (o for c in store.customers.iterate() for o in store.orders.for_customer(c.id)),
            key=lambda o: (o.placed_at, o.id),
        )
        assert [o.id for o in expected] == facts.order_id.tolist()
        assert facts.customer_ids[facts.customer_index].tolist() == [
            o.customer_id for o in expected
        ]
        assert facts.placed_at.dtype == np.dtype("datetime64[us]")
        assert facts.placed_at.tolist() == [_us(o.placed_at).tolist() for o in expected]
        assert facts.amount.dtype == np.float64
        np.testing.assert_allclose(
            facts.amount, [float(o.total) * rates.get(o.currency, 1.0) for o in expected]
        )
        np.testing.assert_allclose(facts.refunded, [0.0, 0.0, 4.0, 0.0])
        assert facts.units.tolist() == [1, 1, 2, 1]
        assert facts.returned_units.tolist() == [0, 0, 1, 0]
        assert facts.cancelled.tolist() == [False, False, False, True]

    def test_single_currency_needs_no_rates(self, store: Store) -> None:
        """Contract: single currency needs no rates."""
        store.customers.put(customer("a"))
        empty = store.order_facts(currency="USD")
        assert len(empty) == 0 and empty.currency == "USD"
        store.orders.upsert(order("o1", "a", currency="GBP"))
        facts = store.order_facts()
        assert facts.currency == "GBP" and facts.amount.tolist() == [10.0]

    def test_event_facts_equal_object_reads(self, store: Store) -> None:
        """Contract: event facts equal object reads."""
        self._write(store)
        facts = store.event_facts()
        assert facts.customer_ids.tolist() == ["a", "b", "c"]
        assert facts.at.dtype == np.dtype("datetime64[us]")
        assert [facts.names[c] for c in facts.name_code] == [
            "Product Viewed",
            "Product Viewed",
            "Order Completed",
            "Product Viewed",
        ]
        assert facts.names == ("Order Completed", "Product Viewed")
        assert facts.customer_index.tolist() == [-1, 0, 1, 2]
        assert facts.at.tolist() == [_us(at(d)).tolist() for d in (0, 1, 1.5, 2)]
        assert facts.product.tolist()[0] is None and facts.product.tolist()[3] == "7"
        only = store.event_facts(names=["Order Completed"])
        assert (
            len(only) == 1
            and only.names == ("Order Completed",)
            and only.customer_index.tolist() == [1]
        )
        for i, cid in enumerate(facts.customer_ids.tolist()):
            mine = store.events.for_customer(cid)
            assert int((facts.customer_index == i).sum()) == len(mine)

    def _write_lines(self, store: Store) -> None:
        def line(sku: str, quantity: int, price: str, **fields: Any) -> OrderLine:
            return OrderLine(sku=sku, quantity=quantity, unit_price=price, **fields)

        def refund(rid: str, oid: str, cid: str, returned: bool, *lines: ReturnLine) -> Refund:
            return Refund(
                id=rid,
                order_id=oid,
                customer_id=cid,
                at=at(5),
                amount="1.00",
                currency="EUR",
                returned=returned,
                lines=lines,
            )

        tops = "Apparel > Tops"
        store.customers.put_many(
            [customer(c) for c in ("a", "b", "c", "d")] + [customer("e", Identity.email("e@x.co"))]
        )
        store.orders.put_many(
            [
                Order(
                    id="o1",
                    customer_id="a",
                    placed_at=at(1),
                    currency="EUR",
                    lines=[
                        line("SKU-A", 2, "10.00", discount="1.00", category=tops),
                        line("SKU-B", 1, "5.50"),
                        line("SKU-A", 1, "10.00", category=tops),
                    ],
                ),
                Order(
                    id="o2",
                    customer_id="b",
                    placed_at=at(2),
                    currency="JPY",
                    lines=[line("SKU-C", 3, "1000", category=("Home",))],
                ),
                Order(
                    id="o3",
                    customer_id="a",
                    placed_at=at(3),
                    currency="EUR",
                    status="cancelled",
                    lines=[line("SKU-B", 1, "5.50", category="Home > Kitchen")],
                ),
                Order(
                    id="o4",
                    customer_id="d",
                    placed_at=at(2),
                    currency="EUR",
                    lines=[line("SKU-D", 1, "20.00", category="Apparel > Shoes")],
                ),
                Order(
                    id="o5",
                    customer_id="e",
                    placed_at=at(1),
                    currency="EUR",
                    lines=[line("SKU-E", 1, "3.00")],
                ),
                Order(id="o6", customer_id="a", placed_at=at(4), currency="EUR", shipping="4.99"),
            ]
        )
        store.orders.add_refund(refund("r1", "o1", "a", True, ReturnLine(sku="SKU-A", quantity=2)))
        store.orders.add_refund(
            refund(
                "r2",
                "o1",
                "a",
                True,
                ReturnLine(sku="SKU-A", quantity=1),
                ReturnLine(sku="SKU-Z", quantity=1),
            )
        )
        store.orders.add_refund(refund("r3", "o1", "a", False, ReturnLine(sku="SKU-B", quantity=1)))
        store.merge("c", "d", at=at(6))
        store.erase("e")

    def test_line_facts_equal_object_reads(self, store: Store) -> None:
        """Contract: line facts equal what the object reads imply (``Store.line_facts``)."""
        self._write_lines(store)
        rates = {"JPY": 0.0062}
        facts = store.line_facts(currency="EUR", rates=rates)
        orders = store.order_facts(currency="EUR", rates=rates)
        assert facts.currency == "EUR"
        assert facts.customer_ids.tolist() == store.customer_table().ids.tolist()
        assert facts.order_ids.tolist() == orders.order_id.tolist()
        assert facts.order_ids.tolist() == ["o1", "o2", "o4", "o3", "o6"]
        index = {cid: i for i, cid in enumerate(facts.customer_ids.tolist())}
        expected: list[tuple[Any, ...]] = []
        for j, oid in enumerate(facts.order_ids.tolist()):
            o = store.orders.get(oid)
            left: dict[str, int] = {}
            for r in store.orders.refunds_for_order(oid):
                for item in r.lines if r.returned else ():
                    left[item.sku] = left.get(item.sku, 0) + item.quantity
            for ln in o.lines:
                taken = min(ln.quantity, left.get(ln.sku, 0))
                left[ln.sku] = left.get(ln.sku, 0) - taken
                total = float(ln.unit_price) * ln.quantity - float(ln.discount)
                expected.append(
                    (
                        index[store.resolve(o.customer_id)],
                        j,
                        ln.sku,
                        " > ".join(ln.category) or None,
                        ln.quantity,
                        total * rates.get(o.currency, 1.0),
                        _us(o.placed_at).tolist(),
                        o.is_cancelled,
                        taken,
                    )
                )
        assert len(facts) == len(expected) == 6
        assert facts.skus == ("SKU-A", "SKU-B", "SKU-C", "SKU-D")
        assert facts.categories == ("Apparel > Shoes", "Apparel > Tops", "Home", "Home > Kitchen")
        assert facts.sku_code.dtype == np.int32 and facts.category_code.dtype == np.int32
        assert facts.placed_at.dtype == np.dtype("datetime64[us]")
        assert facts.amount.dtype == np.float64 and facts.quantity.dtype == np.int64
        assert facts.customer_index.tolist() == [e[0] for e in expected]
        assert facts.order_index.tolist() == [e[1] for e in expected]
        assert facts.sku.tolist() == [e[2] for e in expected]
        names = [facts.categories[c] if c >= 0 else None for c in facts.category_code.tolist()]
        assert names == [e[3] for e in expected]
        assert facts.quantity.tolist() == [e[4] for e in expected]
        np.testing.assert_allclose(facts.amount, [e[5] for e in expected], rtol=1e-12)
        np.testing.assert_allclose(facts.amount, [19.0, 5.5, 10.0, 18.6, 20.0, 5.5], rtol=1e-12)
        assert facts.placed_at.tolist() == [e[6] for e in expected]
        assert facts.cancelled.tolist() == [e[7] for e in expected]
        assert facts.cancelled.tolist() == [False, False, False, False, False, True]
        assert facts.returned_units.tolist() == [e[8] for e in expected] == [2, 0, 1, 0, 0, 0]
        # the merged customer's order counts for the survivor; the erased one's is gone
        assert facts.customer_ids[facts.customer_index].tolist() == ["a", "a", "a", "b", "c", "a"]
        codes, tops = facts.top_categories()
        assert tops == ("Apparel", "Home") and codes.tolist() == [0, -1, 0, 1, 0, 1]

    def test_line_facts_currencies(self, store: Store) -> None:
        """Contract: line facts convert like order facts; a mixture needs rates."""
        self._write_lines(store)
        with pytest.raises(ValidationError, match="JPY"):
            store.line_facts()
        with pytest.raises(ValidationError, match="JPY"):
            store.line_facts(currency="EUR", rates={"USD": 1.1})
        usd = store.line_facts(currency="USD", rates={"EUR": 2.0, "JPY": 0.01})
        assert usd.currency == "USD"
        np.testing.assert_allclose(usd.amount, [38.0, 11.0, 20.0, 30.0, 40.0, 11.0], rtol=1e-12)

    def test_line_facts_single_currency_and_empty(self, store: Store) -> None:
        """Contract: one currency needs no rates; an empty store gives empty line facts."""
        empty = store.line_facts(currency="USD")
        assert len(empty) == 0 and empty.currency == "USD" and empty.skus == ()
        store.customers.put(customer("a"))
        store.orders.upsert(order("o1", "a", currency="GBP", quantity=3))
        facts = store.line_facts()
        assert facts.currency == "GBP" and facts.amount.tolist() == [30.0]
        assert facts.sku.tolist() == ["SKU-1"] and facts.category_code.tolist() == [-1]
        assert facts.order_ids.tolist() == ["o1"] and facts.order_index.tolist() == [0]

    def test_customer_table(self, store: Store) -> None:
        """Contract: customer table."""
        self._write(store)
        table = store.customer_table()
        assert table.ids.tolist() == ["a", "b", "c"]
        assert table.created_at.tolist() == [
            _us(at(-3)).tolist(),
            _us(T0).tolist(),
            _us(T0).tolist(),
        ]
        assert table.country.tolist() == [None, "FR", None]
        assert table.timezone.tolist() == [None, "Europe/Paris", None]
        assert table.acquisition_channel.tolist() == [None, "ads", None]
        assert str(table.birthday[0]) == "1990-05-17" and np.isnat(table.birthday[1])
        tags = [
            sorted(
                table.tag_vocabulary[c]
                for c in table.tag_codes[table.tag_indptr[i] : table.tag_indptr[i + 1]]
            )
            for i in range(len(table))
        ]
        assert tags == [[], ["b2b", "vip"], ["vip"]]
        assert table.consents["email:marketing"].tolist() == [True, False, False]

    def test_empty_store(self, store: Store) -> None:
        """Contract: empty store."""
        assert len(store.customer_table()) == 0
        assert len(store.order_facts(currency="EUR")) == 0
        assert len(store.event_facts()) == 0
        assert len(store.line_facts(currency="EUR")) == 0


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
        key=st.text(min_size=1, max_size=20),
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


class DurabilityBehaviour(StoreFixtures):
    """Capability tests: reopening and a second handle."""

    def test_everything_survives_reopen(self, store: Store) -> None:
        """Contract: everything survives reopen."""
        self.require("reopen")
        store.customers.put(customer("a", Identity.email("a@example.com"), first_name="Ada"))
        store.orders.upsert(order("o1", "a"))
        store.state.put("k", {"v": 1}, expected_version=None)
        store.customers.put(customer("z", Identity.email("z@example.com")))
        store.erase("z")
        again = self.reopen(store)
        assert again.customers.get("a").first_name == "Ada"
        assert again.orders.get("o1").customer_id == "a"
        record = again.state.get("k")
        assert record is not None and record.version == 1
        assert again.is_suppressed(Identity.email("z@example.com"))

    def test_two_handles_lose_no_writes(self, store: Store) -> None:
        """Contract: two handles lose no writes."""
        self.require("second_handle")
        other = self.second_handle(store)
        for i in range(20):
            handle = store if i % 2 else other
            handle.customers.put(customer(f"c{i}"))
            record = handle.state.get("counter")
            handle.state.put(
                "counter", {"n": i + 1}, expected_version=None if record is None else record.version
            )
        assert store.customers.count() == other.customers.count() == 20
        final = store.state.get("counter")
        assert final is not None and dict(final.value) == {"n": 20} and final.version == 20
        stale = other.state.get("counter")
        assert stale is not None
        store.state.put("counter", {"n": 21}, expected_version=stale.version)
        with pytest.raises(ConflictError):
            other.state.put("counter", {"n": 99}, expected_version=stale.version)


class StatefulBehaviour(StoreFixtures):
    """Random operation sequences agree with a dict model (:class:`StoreStateMachine`)."""

    stateful_settings: ClassVar[settings] = settings(
        max_examples=15,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )

    def test_random_operations_agree_with_a_dict_model(self, store: Store) -> None:
        """Contract: random operations agree with a dict model."""
        from ecomcrm.testing._stateful import run_state_machine

        run_state_machine(lambda: store, settings=self.stateful_settings)


class StoreConformance(
    CustomerBehaviour,
    OrderBehaviour,
    EventBehaviour,
    ConsentBehaviour,
    TicketBehaviour,
    LoyaltyBehaviour,
    MessageBehaviour,
    StateBehaviour,
    TransactionBehaviour,
    MergeBehaviour,
    ExportEraseBehaviour,
    AnalyticsBehaviour,
    Customer360Behaviour,
    RoundTripBehaviour,
    StatefulBehaviour,
    DurabilityBehaviour,
):
    """The whole storage contract: subclass it and define a ``store`` fixture.

    Example:
        >>> import pytest
        >>> from ecomcrm.storage import MemoryStore
        >>> class TestMyStore(StoreConformance):
        ...     @pytest.fixture
        ...     def store(self):
        ...         return MemoryStore()
        >>> "test_merge_is_idempotent_and_never_cycles" in dir(TestMyStore)
        True
    """
