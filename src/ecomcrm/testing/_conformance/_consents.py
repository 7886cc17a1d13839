"""The consent ledger (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import attrs
import pytest

from ecomcrm.domain import (
    Channel,
    Purpose,
)
from ecomcrm.errors import NotFoundError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    consent,
    customer,
)


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

    def test_topics_and_proof_round_trip(self, store: Store) -> None:
        """Contract: a decision's topic, basis, wording version, IP and form id read back."""
        store.customers.put(customer("c1"))
        store.customers.put(customer("c2"))
        proven = attrs.evolve(
            consent("c2", True, 1, source="preference page"),
            topic="newsletter",
            basis="consent",
            wording_version="nl-2024-05",
            ip_address="2001:db8::7",
            form_id="prefs-v3",
        )
        legacy = consent("c2", True, 0)  # no topic, no proof: as recorded before they existed
        store.consents.record(legacy)
        store.consents.record_many([proven, attrs.evolve(proven, basis="legitimate_interests")])
        store.merge("c1", "c2", at=at(2))
        history = store.consents.history("c1")
        expected = [legacy, proven, attrs.evolve(proven, basis="legitimate_interests")]
        assert history == [attrs.evolve(c, customer_id="c1") for c in expected]
        assert history[0].topic is None and history[0].proof == {}
        assert history[1].proof == {
            "source": "preference page",
            "basis": "consent",
            "wording_version": "nl-2024-05",
            "ip_address": "2001:db8::7",
            "form_id": "prefs-v3",
        }
        exported = store.export("c1")["consents"]
        assert [c["topic"] for c in exported] == [None, "newsletter", "newsletter"]
        assert exported[1]["ip_address"] == "2001:db8::7"

    def test_topic_decisions_leave_the_purpose_wide_state_alone(self, store: Store) -> None:
        """Contract: current / is_granted / customer_table read purpose-wide decisions only."""
        store.customers.put(customer("c1"))
        store.consents.record(consent("c1", True, 0))
        store.consents.record(attrs.evolve(consent("c1", False, 1), topic="offers"))
        store.consents.record(attrs.evolve(consent("c1", True, 2, channel="sms"), topic="offers"))
        assert store.consents.is_granted("c1", "email", "marketing") is True
        assert store.consents.is_granted("c1", "sms", "marketing") is False
        assert set(store.consents.current("c1")) == {(Channel.EMAIL, Purpose.MARKETING)}
        table = store.customer_table()
        assert table.consents["email:marketing"].tolist() == [True]
        assert "sms:marketing" not in table.consents or not table.consents["sms:marketing"][0]
        assert len(store.consents.history("c1")) == 3
