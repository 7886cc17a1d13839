"""Property tests of the domain model, driven by the public strategies."""

import json
from datetime import UTC

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.domain import (
    Customer,
    Identity,
    Order,
    from_dict,
    normalize_email,
    normalize_phone,
    to_dict,
)
from ecomcrm.testing import strategies as crm

EXAMPLES = settings(max_examples=300)


def _round_trip(obj: object) -> object:
    # through real JSON text, as a store or an app would ship it
    return from_dict(json.loads(json.dumps(to_dict(obj))))


@st.composite
def any_domain_object(draw: st.DrawFn) -> object:
    graph = draw(crm.customer_graphs())
    objects = graph.objects()
    return objects[draw(st.integers(0, len(objects) - 1))]


@pytest.mark.parametrize(
    "strategy",
    [
        crm.customers(),
        crm.identities(),
        crm.addresses(),
        crm.consents(),
        crm.products(),
        crm.order_lines(),
        crm.orders(),
        crm.events(),
        crm.tickets(),
        crm.loyalty_entries(),
        crm.messages(),
        crm.orders().flatmap(crm.refunds),
    ],
    ids=lambda s: repr(s)[:30],
)
def test_round_trip_is_exact(strategy: st.SearchStrategy[object]) -> None:
    @EXAMPLES
    @given(strategy)
    def check(obj: object) -> None:
        back = _round_trip(obj)
        assert back == obj
        assert type(back) is type(obj)
        assert to_dict(back) == to_dict(obj)

    check()


@EXAMPLES
@given(crm.customer_graphs())
def test_graph_objects_round_trip(graph: crm.CustomerGraph) -> None:
    for obj in graph.objects():
        assert _round_trip(obj) == obj


@EXAMPLES
@given(crm.customers())
def test_timestamps_are_utc(customer: Customer) -> None:
    assert customer.created_at.tzinfo is UTC


@EXAMPLES
@given(crm.emails())
def test_email_normalisation_is_idempotent(raw: str) -> None:
    once = Identity.email(raw).value
    assert once == once.strip().lower()
    assert normalize_email(once) == once
    assert Identity.email(once).value == once


@EXAMPLES
@given(crm.phones())
def test_phone_normalisation_is_idempotent(raw: str) -> None:
    once = Identity.phone(raw).value
    assert once.startswith("+") and once[1:].isdigit()
    assert normalize_phone(once) == once


@EXAMPLES
@given(crm.orders())
def test_order_totals_agree(order: Order) -> None:
    assert order.subtotal == order.line_total
    assert order.total == order.expected_total
    # rebuilding with the computed totals given explicitly is accepted and equal
    assert attrs.evolve(order, subtotal=order.subtotal, total=order.total) == order


@EXAMPLES
@given(crm.orders(), st.integers(min_value=2, max_value=10_000))
def test_order_total_off_by_more_than_rounding_is_rejected(order: Order, cents: int) -> None:
    from decimal import Decimal

    from ecomcrm.errors import ValidationError

    with pytest.raises(ValidationError, match=r"Order\.total"):
        attrs.evolve(order, total=order.total + Decimal(cents))


@EXAMPLES
@given(st.text(max_size=30))
def test_email_validation_never_crashes(text: str) -> None:
    result = normalize_email(text)
    assert result is None or ("@" in result and result == result.lower())


def test_strategies_are_registered_with_hypothesis() -> None:
    # through the "hypothesis" entry point declared in pyproject.toml
    @settings(max_examples=20)
    @given(st.from_type(Customer), st.from_type(Order))
    def check(customer: Customer, order: Order) -> None:
        assert isinstance(customer, Customer) and isinstance(order, Order)

    check()
