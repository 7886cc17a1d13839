"""Hand-written cases: each invalid input is rejected with a message naming class and field."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from ecomcrm.domain import (
    Consent,
    Customer,
    Event,
    Identity,
    LoyaltyEntry,
    Order,
    OrderLine,
    Product,
    SupportTicket,
    from_dict,
    to_dict,
)
from ecomcrm.errors import EcomcrmError, ValidationError

T = datetime(2024, 3, 1, 12, tzinfo=UTC)


def line(**kw: Any) -> OrderLine:
    return OrderLine(**{"sku": "A", "quantity": 1, "unit_price": "10.00", **kw})


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda: Customer(id="c1", created_at=datetime(2024, 1, 1)), "Customer.created_at"),
        (lambda: Customer(id="", created_at=T), "Customer.id"),
        (lambda: Customer(id="c1", created_at=T, timezone="Mars/Olympus"), "Customer.timezone"),
        (lambda: Customer(id="c1", created_at=T, timezone="../../etc/passwd"), "Customer.timezone"),
        (lambda: Customer(id="c1", created_at=T, country="France"), "Customer.country"),
        (lambda: Customer(id="c1", created_at=T, attributes={"x": [1]}), "Customer.attributes"),
        (
            lambda: Customer(id="c1", created_at=T, attributes={"x": float("nan")}),
            "Customer.attributes",
        ),
        (lambda: Customer(id="c1", created_at=T, birthday=T), "Customer.birthday"),
        (
            lambda: Customer(
                id="c1",
                created_at=T,
                identities=[Identity.email("a@b.co"), Identity.email("A@b.co")],
            ),
            "Customer.identities",
        ),
        (lambda: Identity.email("not-an-email"), "Identity.value"),
        (lambda: Identity.email("a@b"), "Identity.value"),
        (lambda: Identity.phone("020 7946 0958"), "Identity.value"),
        (lambda: Identity.phone("+12"), "Identity.value"),
        (lambda: Identity(kind="fax", value="1"), "Identity.kind"),
        (lambda: line(quantity=-1), "OrderLine.quantity"),
        (lambda: line(unit_price="-1"), "OrderLine.unit_price"),
        (lambda: line(unit_price=1.5), "OrderLine.unit_price"),
        (lambda: line(unit_price="abc"), "OrderLine.unit_price"),
        (lambda: Product(sku="A", price="1", currency="XXY"), "Product.currency"),
        (
            lambda: Order(
                id="1", customer_id="c1", placed_at=T, currency="EUR", lines=[line()], total="11.00"
            ),
            "Order.total",
        ),
        (
            lambda: Order(
                id="1", customer_id="c1", placed_at=T, currency="EUR", lines=[line()], subtotal="9"
            ),
            "Order.subtotal",
        ),
        (
            lambda: Order(
                id="1", customer_id="c1", placed_at=T, currency="EUR", lines=[line()], discount="20"
            ),
            "Order.discount",
        ),
        (
            lambda: Order(
                id="1",
                customer_id="c1",
                placed_at=T,
                currency="EUR",
                lines=[line()],
                cancelled_at=datetime(2020, 1, 1, tzinfo=UTC),
            ),
            "Order.cancelled_at",
        ),
        (lambda: Event(name="Product Viewed", at=T), "Event.customer_id"),
        (lambda: Event(name="", at=T, customer_id="c1"), "Event.name"),
        (
            lambda: Event(name="X", at=T, customer_id="c1", properties={"f": object()}),
            "Event.properties",
        ),
        (
            lambda: Consent(
                customer_id="c1", channel="pigeon", purpose="marketing", granted=True, at=T
            ),
            "Consent.channel",
        ),
        (
            lambda: Consent(
                customer_id="c1", channel="email", purpose="marketing", granted="yes", at=T
            ),
            "Consent.granted",
        ),
        (
            lambda: LoyaltyEntry(id="e", customer_id="c1", kind="earn", points=-5, at=T),
            "LoyaltyEntry.points",
        ),
        (
            lambda: LoyaltyEntry(id="e", customer_id="c1", kind="redeem", points=5, at=T),
            "LoyaltyEntry.points",
        ),
        (
            lambda: SupportTicket(
                id="t", customer_id="c1", channel="email", opened_at=T, satisfaction=9
            ),
            "SupportTicket.satisfaction",
        ),
        (
            lambda: SupportTicket(
                id="t",
                customer_id="c1",
                channel="email",
                opened_at=T,
                closed_at=datetime(2020, 1, 1, tzinfo=UTC),
            ),
            "SupportTicket.closed_at",
        ),
    ],
)
def test_invalid_input_is_rejected_with_location(build: Any, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert str(info.value).startswith(where)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, EcomcrmError)


def test_normalisation_and_defaults() -> None:
    c = Customer(
        id="c1",
        created_at=datetime(2024, 1, 1, 13, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Paris")),
        identities=[Identity.email("  ADA@Example.COM"), Identity.phone("0044 20 7946 0958")],
        country="gb",
        tags=["vip", " vip ", "b2b"],
        birthday=date(1990, 2, 28),
    )
    assert c.created_at == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert c.created_at.tzinfo is UTC
    assert (c.email, c.phone, c.country) == ("ada@example.com", "+442079460958", "GB")
    assert c.tags == frozenset({"vip", "b2b"})


def test_order_computes_totals_and_allows_rounding() -> None:
    o = Order(
        id="1",
        customer_id="c1",
        placed_at=T,
        currency="EUR",
        lines=[line(quantity=3, unit_price="3.333"), line(sku="B", discount="0.50")],
        shipping="4.90",
        tax="2.10",
    )
    assert o.subtotal == Decimal("19.499")
    assert o.total == Decimal("26.499")
    # a total rounded to cents is within tolerance
    assert Order(**{**_fields(o), "total": Decimal("26.50")}).total == Decimal("26.50")
    included = Order(
        id="2",
        customer_id="c1",
        placed_at=T,
        currency="EUR",
        lines=[line()],
        tax="1.67",
        taxes_included=True,
    )
    assert included.total == Decimal("10.00")


def _fields(o: Order) -> dict[str, Any]:
    import attrs

    return {f.name: getattr(o, f.name) for f in attrs.fields(Order)}


def test_objects_are_frozen() -> None:
    c = Customer(id="c1", created_at=T, attributes={"a": 1})
    with pytest.raises(AttributeError):
        c.id = "c2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.attributes["a"] = 2  # type: ignore[index]


def test_event_id_is_content_hash() -> None:
    a = Event(name="Product Viewed", at=T, customer_id="c1", properties={"sku": "A"})
    b = Event(name="Product Viewed", at=T, customer_id="c1", properties={"sku": "A"})
    c = Event(name="Product Viewed", at=T, customer_id="c1", properties={"sku": "B"})
    assert a.id == b.id != c.id


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "Nope", "schema_version": 1}, "type"),
        (
            {"type": "Identity", "schema_version": 99, "kind": "email", "value": "a@b.co"},
            "schema_version",
        ),
        (
            {
                "type": "Identity",
                "schema_version": 1,
                "kind": "email",
                "value": "a@b.co",
                "extra": 1,
            },
            "extra",
        ),
        ({"type": "Customer", "schema_version": 1, "id": "c", "created_at": "yesterday"}, None),
    ],
)
def test_from_dict_rejects_bad_documents(data: dict[str, Any], field: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        from_dict(data)
    if field:
        assert field in str(info.value)


def test_to_dict_example() -> None:
    o = Order(
        id="1", customer_id="c1", placed_at=T, currency="JPY", lines=[line(unit_price="1200")]
    )
    d = to_dict(o)
    assert d["type"] == "Order" and d["schema_version"] == 1
    assert d["total"] == "1200" and d["placed_at"] == "2024-03-01T12:00:00+00:00"
    assert from_dict(d) == o
