"""Consent topics, proof of consent and the preference centre (issue 20, part 3)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    LawfulBasis,
    Purpose,
    current_decision,
    from_dict,
    to_dict,
)
from ecomcrm.errors import ValidationError
from ecomcrm.privacy import ConsentState, ConsentTopic, PreferenceCentre, export_person
from ecomcrm.storage import SqliteStore, Store
from ecomcrm.storage.sqlite._schema import SCHEMA_VERSION, migrate
from ecomcrm.storage.toolkit import latest_consents

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TOPICS = ["newsletter", "offers", "reviews"]


def _decision(granted: bool, day: int, topic: str | None = None, channel: str = "email") -> Consent:
    return Consent(
        customer_id="c1",
        channel=channel,
        purpose="marketing",
        granted=granted,
        at=T0 + timedelta(days=day),
        topic=topic,
    )


# --- the domain ---------------------------------------------------------------------------


def test_consent_validates_its_new_fields_naming_them() -> None:
    for field, value in [
        ("topic", "Product Updates"),
        ("topic", ""),
        ("basis", "because"),
        ("ip_address", "999.1.1.1"),
        ("wording_version", 3),
    ]:
        with pytest.raises(ValidationError) as caught:
            attrs.evolve(_decision(True, 0), **{field: value})
        assert caught.value.entity == "Consent" and caught.value.field == field


def test_a_stored_dict_written_before_topics_reads_back_unchanged() -> None:
    old = {
        "type": "Consent",
        "schema_version": 1,
        "customer_id": "c1",
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "at": "2024-01-01T00:00:00+00:00",
        "source": "signup",
    }
    consent = from_dict(old)
    assert consent == Consent(
        customer_id="c1", channel="email", purpose="marketing", granted=True, at=T0, source="signup"
    )
    assert consent.topic is None and consent.basis is None and consent.proof == {"source": "signup"}
    assert from_dict(to_dict(consent)) == consent


histories = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(0, 5),
        st.none() | st.sampled_from(TOPICS),
        st.sampled_from(["email", "sms"]),
    ).map(lambda t: _decision(*t)),
    max_size=12,
)


@given(histories, st.sampled_from(TOPICS), st.sampled_from(["email", "sms"]))
def test_the_decision_in_force_is_the_latest_covering_one(
    history: list[Consent], topic: str, channel: str
) -> None:
    # an independent oracle: scan from the latest (at, position) down for a covering decision
    ranked = sorted(enumerate(history), key=lambda p: (p[1].at, p[0]), reverse=True)
    oracle = next(
        (c for _, c in ranked if c.channel.value == channel and c.topic in (None, topic)),
        None,
    )
    assert current_decision(history, channel, "marketing", topic) is oracle
    # topic decisions never change what the purpose as a whole is
    wide = [c for c in history if c.topic is None]
    assert latest_consents(history) == latest_consents(wide)
    # a later purpose-wide withdrawal (an Art. 21 objection) withdraws every topic
    later = _decision(False, 6, None, channel)
    assert all(
        not current_decision([*history, later], channel, Purpose.MARKETING, t).granted  # type: ignore[union-attr]
        for t in TOPICS
    )


# --- the preference centre ----------------------------------------------------------------

CENTRE = PreferenceCentre(
    [
        ConsentTopic(name="newsletter", channels=["email"], wording_version="nl-v2", title="News"),
        ConsentTopic(name="offers", channels=["email", "sms"], wording_version="offers-v1"),
        ConsentTopic(
            name="order_updates",
            purpose="transactional",
            channels=["sms"],
            basis="contract",
        ),
    ]
)


@pytest.fixture
def store() -> Store:
    store = ecomcrm.open_store("memory://")
    store.customers.put(Customer(id="c1", created_at=T0))
    return store


def test_the_state_lists_every_topic_and_channel_with_source_basis_and_wording(
    store: Store,
) -> None:
    store.consents.record(
        Consent(
            customer_id="c1",
            channel="email",
            purpose="marketing",
            granted=True,
            at=T0,
            source="checkout box",
            wording_version="nl-v1",
        )
    )
    CENTRE.record(
        store,
        "c1",
        "offers",
        "sms",
        True,
        at=T0 + timedelta(days=1),
        source="preference page",
        ip_address="203.0.113.9",
        form_id="prefs",
    )
    CENTRE.record(store, "c1", "offers", "email", False, at=T0 + timedelta(days=2))
    state = CENTRE.state(store, "c1")
    rows = {(c.topic, c.channel.value): c for c in state.choices}
    assert sorted(rows) == [
        ("newsletter", "email"),
        ("offers", "email"),
        ("offers", "sms"),
        ("order_updates", "sms"),
    ]
    newsletter = rows[("newsletter", "email")]
    assert newsletter.granted and newsletter.scope == "purpose" and newsletter.outdated
    assert newsletter.to_dict()["source"] == "checkout box"
    assert not rows[("offers", "email")].granted and rows[("offers", "email")].scope == "topic"
    sms = rows[("offers", "sms")].to_dict()
    assert sms["granted"] and sms["basis"] == "consent" and sms["wording_version"] == "offers-v1"
    assert sms["proof"]["ip_address"] == "203.0.113.9" and sms["proof"]["form_id"] == "prefs"
    assert not sms["outdated"]
    assert rows[("order_updates", "sms")].decision is None  # opt-in: nothing without a decision
    assert state == ConsentState.from_history("c1", store.consents.history("c1"), CENTRE.topics)


def test_an_objection_to_direct_marketing_withdraws_every_topic(store: Store) -> None:
    CENTRE.record(store, "c1", "newsletter", "email", True, at=T0)
    CENTRE.record(store, "c1", "offers", "email", True, at=T0)
    store.consents.record(attrs.evolve(_decision(False, 1), source="unsubscribe all"))
    state = CENTRE.state(store, "c1")
    assert not state.granted("newsletter", "email") and not state.granted("offers", "email")
    assert state.granted("offers", "sms") is False
    CENTRE.record(store, "c1", "newsletter", "email", True, at=T0 + timedelta(days=2))
    assert CENTRE.state(store, "c1").granted("newsletter", "email")  # a later opt-in counts


def test_the_centre_refuses_unknown_topics_and_channels(store: Store) -> None:
    with pytest.raises(ValidationError, match="known: \\['newsletter'"):
        CENTRE.record(store, "c1", "surveys", "email", True, at=T0)
    with pytest.raises(ValidationError) as caught:
        CENTRE.record(store, "c1", "newsletter", "sms", True, at=T0)
    assert caught.value.field == "channel"
    with pytest.raises(ValidationError):
        PreferenceCentre([ConsentTopic(name="a"), ConsentTopic(name="a")])
    with pytest.raises(ValidationError):
        ConsentTopic(name="offers", channels=[])
    with pytest.raises(ValidationError):
        CENTRE.state(store, "c1").choice("newsletter", "sms")
    assert store.consents.history("c1") == []


def test_the_export_carries_the_proofs_and_the_state(store: Store) -> None:
    CENTRE.record(
        store,
        "c1",
        "offers",
        "sms",
        True,
        at=T0,
        source="popup",
        ip_address="2001:DB8::1",
        form_id="popup-4",
    )
    document = export_person(store, "c1", preferences=CENTRE, actor="dpo")
    (decision,) = document["data"]["consents"]
    assert (decision["topic"], decision["basis"], decision["wording_version"]) == (
        "offers",
        "consent",
        "offers-v1",
    )
    assert (decision["ip_address"], decision["form_id"], decision["source"]) == (
        "2001:db8::1",
        "popup-4",
        "popup",
    )
    choices = {(c["topic"], c["channel"]): c for c in document["consent_state"]["choices"]}
    assert choices[("offers", "sms")]["granted"] is True
    assert document["audit"][0]["details"]["channel"] == "sms"


def test_lawful_basis_names_the_six_bases_of_article_6() -> None:
    assert [b.value for b in LawfulBasis] == [
        "consent",
        "contract",
        "legal_obligation",
        "vital_interests",
        "public_task",
        "legitimate_interests",
    ]
    assert ConsentTopic(name="x", channels=Channel.EMAIL).channels == (Channel.EMAIL,)


# --- stored data written before topics ----------------------------------------------------


def test_a_version_5_sqlite_file_is_migrated_and_its_consents_read_back_unchanged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    migrate(conn, 0, target=5)
    conn.execute("INSERT INTO customers (id, created_at) VALUES ('c1', 0)")
    conn.execute(
        "INSERT INTO consents (customer_id, channel, purpose, granted, at, source) "
        "VALUES ('c1', 'email', 'marketing', 1, ?, 'signup form')",
        (int(T0.timestamp() * 1_000_000),),
    )
    conn.execute("COMMIT")
    conn.close()
    store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION >= 6
    (old,) = store.consents.history("c1")
    assert old == Consent(
        customer_id="c1",
        channel="email",
        purpose="marketing",
        granted=True,
        at=T0,
        source="signup form",
    )
    CENTRE.record(store, "c1", "offers", "email", False, at=T0 + timedelta(days=1))
    assert store.consents.is_granted("c1", "email", "marketing")  # the topic leaves it alone
    assert not CENTRE.state(store, "c1").granted("offers", "email")
    last = store.audit.entries(action="schema.migration")[-1]
    assert last.details == {"from_version": 5, "to_version": SCHEMA_VERSION}
    store.close()
