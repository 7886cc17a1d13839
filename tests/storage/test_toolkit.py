"""The adapter-independent rules in ecomcrm.storage.toolkit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import Customer, Identity
from ecomcrm.errors import ConflictError, StorageError, ValidationError

T = datetime(2024, 1, 1, tzinfo=UTC)


def test_tombstone_key_is_pinned() -> None:
    # Changing the salt or the hash forgets every suppression already stored: never do it.
    assert sh.tombstone_key(Identity.email("ada@example.com")) == (
        "134bd7abfbd00418f9ab4eee52896dca2660ffd52f369ec6326616c99fa116f7"
    )


def test_tombstone_key_depends_on_kind_and_normalised_value() -> None:
    email = sh.tombstone_key(Identity.email(" Ada@Example.com"))
    assert email == sh.tombstone_key(Identity.email("ada@example.com"))
    assert email != sh.tombstone_key(Identity(kind="external", value="ada@example.com"))
    assert "ada" not in email


def test_check_not_suppressed_names_the_kind_not_the_value() -> None:
    banned = {sh.tombstone_key(Identity.phone("+33612345678"))}
    with pytest.raises(ValidationError) as info:
        sh.check_not_suppressed(
            [Identity.email("x@example.com"), Identity.phone("+33 6 12 34 56 78")],
            banned.__contains__,
            entity="Customer",
        )
    assert "+336" not in str(info.value) and info.value.value == "phone"
    sh.check_not_suppressed(
        [Identity(kind="anonymous", value="c")], lambda key: True, entity="Customer"
    )


def test_follow_merges_detects_cycles() -> None:
    assert sh.follow_merges("x", {}.get) == "x"
    with pytest.raises(StorageError):
        sh.follow_merges("a", {"a": "b", "b": "a"}.get)


def test_merge_profiles_rules() -> None:
    survivor = Customer(
        id="a",
        created_at=T,
        identities=[Identity.email("a@example.com")],
        first_name="Ada",
        attributes={"plan": "gold"},
        birthday=None,
    )
    merged = Customer(
        id="b",
        created_at=T - timedelta(days=1),
        identities=[Identity.email("a@example.com"), Identity.phone("+33612345678")],
        first_name="Augusta",
        last_name="King",
        birthday=date(1815, 12, 10),
        attributes={"plan": "free", "score": 2},
        tags={"x"},
    )
    out = sh.merge_profiles(survivor, merged)
    assert out.id == "a" and out.first_name == "Ada" and out.last_name == "King"
    assert out.birthday == date(1815, 12, 10) and out.created_at == T - timedelta(days=1)
    assert [i.key for i in out.identities] == ["email:a@example.com", "phone:+33612345678"]
    assert dict(out.attributes) == {"plan": "gold", "score": 2} and out.tags == {"x"}


def test_state_helpers() -> None:
    assert sh.check_expected_version("k", None, None) == 1
    assert sh.check_expected_version("k", 4, 4) == 5
    for stored, expected in [(None, 1), (2, None), (2, 3)]:
        with pytest.raises(ConflictError):
            sh.check_expected_version("k", stored, expected)
    for bad in (0, -1, True, "1"):
        with pytest.raises(ValidationError):
            sh.check_expected_version("k", 1, bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        sh.check_state_key("")
    with pytest.raises(ValidationError):
        sh.freeze_state_value({"x": float("nan")})
    with pytest.raises(ValidationError):
        sh.freeze_state_value(["not", "a", "mapping"])


def test_state_owners_of_are_whole_ids_and_anonymous_identity_keys() -> None:
    anon = Identity(kind="anonymous", value="ck:1")
    owners = sh.state_owners_of(["c1", "alice:bob"], [anon, Identity.email("a@b.co")])
    assert owners == ["alice:bob", "anonymous:ck:1", "c1"]  # never split into parts


def test_micros_round_trip() -> None:
    when = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert sh.to_micros(when) == -1
    assert sh.from_micros(sh.to_micros(T)) == T


def _columns(n: int, currencies: list[str]) -> dict[str, object]:
    return {
        "customer_ids": ["a", "b"],
        "order_id": [f"o{i}" for i in range(n)],
        "order_customer": ["a"] * n,
        "placed_at_us": list(range(n)),
        "amount": [1.0] * n,
        "order_currency": currencies,
        "discount": [0.0] * n,
        "refunded": [0.0] * n,
        "units": [1] * n,
        "returned_units": [0] * n,
        "cancelled": [False] * n,
    }


def test_order_facts_currency_errors_name_the_currencies() -> None:
    with pytest.raises(ValidationError, match="several currencies") as info:
        sh.order_facts_from_columns(**_columns(3, ["EUR", "USD", "JPY"]))  # type: ignore[arg-type]
    assert info.value.value == ["EUR", "JPY", "USD"]
    with pytest.raises(ValidationError, match="JPY"):
        sh.order_facts_from_columns(  # type: ignore[arg-type]
            **_columns(2, ["EUR", "JPY"]), currency="EUR", rates={"USD": 1.1}
        )
    with pytest.raises(ValidationError, match="positive"):
        sh.order_facts_from_columns(  # type: ignore[arg-type]
            **_columns(2, ["EUR", "JPY"]), currency="eur", rates={"JPY": 0.0}
        )
    empty = sh.order_facts_from_columns(**_columns(0, []))  # type: ignore[arg-type]
    assert empty.currency == sh.NO_CURRENCY and empty.customer_ids.tolist() == ["a", "b"]


rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "zz"]),
        st.integers(-5, 5),
        st.floats(0, 1e6, allow_nan=False),
        st.sampled_from(["EUR", "USD", "JPY"]),
    ),
    max_size=30,
)


@given(rows)
def test_order_facts_match_a_row_by_row_oracle(data: list[tuple[str, int, float, str]]) -> None:
    rates = {"USD": 0.5, "JPY": 0.01}
    ids = [f"o{i:03d}" for i in range(len(data))][::-1]
    facts = sh.order_facts_from_columns(
        customer_ids=["a", "b", "c"],
        order_id=ids,
        order_customer=[r[0] for r in data],
        placed_at_us=[r[1] for r in data],
        amount=[r[2] for r in data],
        order_currency=[r[3] for r in data],
        discount=[0.0] * len(data),
        refunded=[r[2] / 2 for r in data],
        units=[1] * len(data),
        returned_units=[0] * len(data),
        cancelled=[r[1] > 0 for r in data],
        currency="EUR",
        rates=rates,
    )
    expected = sorted(
        (
            (r[1], oid, "abc".index(r[0]), r[2] * rates.get(r[3], 1.0), r[1] > 0)
            for oid, r in zip(ids, data, strict=True)
            if r[0] != "zz"
        ),
        key=lambda e: (e[0], e[1]),
    )
    assert facts.order_id.tolist() == [e[1] for e in expected]
    assert facts.placed_at.astype(np.int64).tolist() == [e[0] for e in expected]
    assert facts.customer_index.tolist() == [e[2] for e in expected]
    np.testing.assert_allclose(facts.amount, [e[3] for e in expected])
    np.testing.assert_allclose(facts.refunded, [e[3] / 2 for e in expected])
    assert facts.cancelled.tolist() == [e[4] for e in expected]


def test_customer_table_from_columns_handles_unknown_consent_ids() -> None:
    table = sh.customer_table_from_columns(
        ids=["b", "a"],
        created_at_us=[0, 0],
        country=[None, None],
        timezone=[None, None],
        birthday=[None, None],
        acquisition_channel=[None, None],
        tags=[[], []],
        consents=[("ghost", "sms:marketing", True), ("a", "sms:marketing", True)],
    )
    assert table.consents["sms:marketing"].tolist() == [True, False]
    assert table.tag_indptr.tolist() == [0, 0, 0] and table.tag_vocabulary == ()
