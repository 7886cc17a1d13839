"""Capability ``SupportsRetention`` (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ecomcrm.domain import Address, Identity, Message, Refund, SupportTicket
from ecomcrm.errors import ValidationError
from ecomcrm.storage import RetentionPolicy, Store, SupportsAuditLog, SupportsRetention
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    consent,
    customer,
    event,
    order,
)

NOW = at(1000)


def _retention(store: Store, fixtures: StoreFixtures) -> SupportsRetention:
    claimed: SupportsRetention = fixtures.claimed(store, SupportsRetention)
    return claimed


class RetentionBehaviour(StoreFixtures):
    """``apply_retention`` deletes or pseudonymises exactly what is due, idempotently."""

    def test_events_by_name_with_a_default(self, store: Store) -> None:
        """Contract: each name's period applies; ``"*"`` covers the rest; the boundary stays."""
        purge = _retention(store, self)
        store.customers.put(customer("c1"))
        store.events.append_many(
            [
                event("page_view", 900, cid="c1"),  # 100 days old: due under 30d
                event("page_view", 980, cid="c1"),  # 20 days old: kept
                event("purchase", 900, cid="c1"),  # due only under "*" = 90d
                event("purchase", 910, cid="c1"),  # exactly 90 days old: kept
                event("page_view", 100, anon="ck"),  # anonymous visitor, old
            ]
        )
        policy = RetentionPolicy(events={"page_view": "30d", "*": "90d"})
        report = purge.apply_retention(policy, NOW)
        assert report.counts["events"] == 3
        left = [(e.name, e.at) for e in store.events.for_customer("c1")]
        assert left == [("purchase", at(910)), ("page_view", at(980))]
        assert store.events.for_anonymous("ck") == []
        assert purge.apply_retention(policy, NOW).counts["events"] == 0

    def test_names_not_covered_are_kept(self, store: Store) -> None:
        """Contract: without ``"*"`` only the listed names are purged."""
        purge = _retention(store, self)
        store.events.append_many([event("a", 0, anon="x"), event("b", 0, anon="x")])
        purge.apply_retention(RetentionPolicy(events={"a": "1d"}), NOW)
        assert [e.name for e in store.events.for_anonymous("x")] == ["b"]

    def test_messages_and_closed_tickets(self, store: Store) -> None:
        """Contract: old messages go; tickets go when closed before the cut-off."""
        purge = _retention(store, self)
        store.customers.put(customer("c1"))
        for mid, days in (("m-old", 100), ("m-new", 990)):
            store.messages.upsert(Message(id=mid, customer_id="c1", channel="email", at=at(days)))
        for tid, opened, closed in (("t-old", 10, 20), ("t-open", 10, None), ("t-new", 10, 995)):
            store.tickets.upsert(
                SupportTicket(
                    id=tid,
                    customer_id="c1",
                    channel="email",
                    subject="help",
                    opened_at=at(opened),
                    closed_at=None if closed is None else at(closed),
                    status="open" if closed is None else "closed",
                )
            )
        report = purge.apply_retention(RetentionPolicy(messages="1y", tickets="30d"), NOW)
        assert (report.counts["messages"], report.counts["tickets"]) == (1, 1)
        assert [m.id for m in store.messages.for_customer("c1")] == ["m-new"]
        assert sorted(t.id for t in store.tickets.for_customer("c1")) == ["t-new", "t-open"]

    def test_order_personal_fields_go_and_the_facts_stay(self, store: Store) -> None:
        """Contract: old orders lose address and codes, refunds their reasons; facts equal."""
        purge = _retention(store, self)
        store.customers.put(customer("c1"))
        home = Address(line1="1 Secret Lane", city="Lyon")
        store.orders.upsert(order("o-old", "c1", 10, shipping_address=home, discount_codes=["ME"]))
        store.orders.upsert(order("o-new", "c1", 990, shipping_address=home))
        store.orders.add_refund(
            Refund(
                id="r1",
                order_id="o-old",
                customer_id="c1",
                amount="1.00",
                currency="EUR",
                at=at(11),
                reason="my neighbour broke it",
            )
        )
        before = store.order_facts()
        report = purge.apply_retention(RetentionPolicy(order_personal_fields="2y"), NOW)
        assert (report.counts["orders"], report.counts["refunds"]) == (1, 1)
        old, new = store.orders.get("o-old"), store.orders.get("o-new")
        assert old.shipping_address is None and old.discount_codes == ()
        assert new.shipping_address == home
        assert store.orders.refunds_for_order("o-old")[0].reason is None
        after = store.order_facts()
        assert after.amount.tolist() == before.amount.tolist()
        assert after.refunded.tolist() == before.refunded.tolist()
        again = purge.apply_retention(RetentionPolicy(order_personal_fields="2y"), NOW)
        assert (again.counts["orders"], again.counts["refunds"]) == (0, 0)

    def test_consent_history_keeps_the_current_decision(self, store: Store) -> None:
        """Contract: superseded old decisions go; the current one stays however old."""
        purge = _retention(store, self)
        store.customers.put(customer("c1"))
        store.consents.record_many(
            [
                consent("c1", True, 1),
                consent("c1", False, 2),
                consent("c1", True, 3),  # current for email: kept though old
                consent("c1", True, 1, channel="sms"),  # current for sms
                consent("c1", False, 995, channel="push"),
                consent("c1", True, 996, channel="push"),
            ]
        )
        current = store.consents.current("c1")
        report = purge.apply_retention(RetentionPolicy(consent_history="1y"), NOW)
        assert report.counts["consents"] == 2
        assert store.consents.current("c1") == current
        assert len(store.consents.history("c1")) == 4
        assert purge.apply_retention(RetentionPolicy(consent_history="1y"), NOW).total == 0

    def test_anonymous_profiles_are_erased_keeping_order_facts(self, store: Store) -> None:
        """Contract: never-identified, old, silent profiles are erased; their orders stay."""
        purge = _retention(store, self)
        store.customers.put(customer("visitor", Identity(kind="anonymous", value="ck-1")))
        store.customers.put(customer("bare"))
        store.customers.put(customer("known", Identity.email("known@example.com")))
        store.customers.put(customer("active", Identity(kind="anonymous", value="ck-2")))
        store.customers.put(customer("young", created_at=at(990)))
        store.orders.upsert(order("o1", "visitor", 5, price="12.00"))
        store.events.append(event("page_view", 999, anon="ck-2"))
        policy = RetentionPolicy(anonymous_profiles="90d")
        report = purge.apply_retention(policy, NOW)
        assert report.counts["anonymous_profiles"] == 2
        assert store.customers.find("visitor") is None and store.customers.find("bare") is None
        for kept in ("known", "active", "young"):
            assert store.customers.find(kept) is not None
        assert store.order_facts().amount.tolist() == [12.0]
        assert purge.apply_retention(policy, NOW).counts["anonymous_profiles"] == 0

    def test_the_purge_is_audited(self, store: Store) -> None:
        """Contract: a store with an audit log records one retention.purge entry per run."""
        purge = _retention(store, self)
        if not isinstance(store, SupportsAuditLog):
            pytest.skip("the store keeps no audit log")
        store.events.append(event("page_view", 1, anon="x"))
        purge.apply_retention(RetentionPolicy(events="30d"), NOW)
        (entry,) = store.audit.entries(action="retention.purge")
        assert entry.details["counts"] == {"events": 1}
        assert entry.details["policy"]["events"] == {"*": 30.0}

    def test_bad_arguments(self, store: Store) -> None:
        """Contract: a naive ``now`` or a non-policy raises ValidationError, changing nothing."""
        purge = _retention(store, self)
        store.events.append(event("page_view", 1, anon="x"))
        with pytest.raises(ValidationError):
            purge.apply_retention(RetentionPolicy(events="1d"), datetime(2030, 1, 1))
        with pytest.raises(ValidationError):
            purge.apply_retention("2y", NOW)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            RetentionPolicy(events=timedelta(0))
        assert store.events.count() == 1
