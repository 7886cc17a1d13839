"""What is sold and bought: products, orders with their lines, refunds and returns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

import ecomcrm.domain._validation as v
from ecomcrm.domain._customer import Address
from ecomcrm.domain._enums import OrderStatus, to_order_status
from ecomcrm.errors import ValidationError


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        v.fail(instance, attribute, value, "must be an integer")
    elif value < 0:
        v.fail(instance, attribute, value, "must not be negative")


def _text_tuple(value: object) -> object:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(">") if p.strip())
    return v.to_tuple(value)


def _all_text(instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    if value == ():  # the common case: no category, no discount code
        return
    if not isinstance(value, tuple) or not all(isinstance(p, str) and p for p in value):
        v.fail(instance, attribute, value, "must be a sequence of non-empty strings")


@attrs.frozen(kw_only=True)
class Product:
    """A product in the catalogue; ``category`` is a path from broad to narrow.

    Example:
        >>> p = Product(sku="TEE-1", title="Tee", category="Apparel > Tops", price="19.90", currency="eur")
        >>> p.category, p.price, p.currency
        (('Apparel', 'Tops'), Decimal('19.90'), 'EUR')
    """

    sku: str = attrs.field(validator=v.non_empty_text, converter=v.strip_text)
    title: str = attrs.field(default="", validator=v.text)
    category: tuple[str, ...] = attrs.field(default=(), converter=_text_tuple, validator=_all_text)
    price: Decimal = attrs.field(converter=v.to_decimal, validator=v.non_negative_amount)
    currency: str = attrs.field(converter=v.to_currency, validator=v.currency)
    brand: str | None = attrs.field(default=None, validator=v.optional(v.text))
    in_stock: bool = attrs.field(default=True, validator=v.type_is(bool))
    consumable: bool = attrs.field(default=False, validator=v.type_is(bool))


@attrs.frozen(kw_only=True)
class OrderLine:
    """One line of an order: ``quantity`` units of ``sku`` at ``unit_price``, less ``discount``.

    Example:
        >>> OrderLine(sku="TEE-1", quantity=2, unit_price="10.00", discount="1.50").total
        Decimal('18.50')
    """

    sku: str = attrs.field(validator=v.non_empty_text, converter=v.strip_text)
    title: str = attrs.field(default="", validator=v.text)
    quantity: int = attrs.field(validator=_positive_int)
    unit_price: Decimal = attrs.field(converter=v.to_decimal, validator=v.non_negative_amount)
    discount: Decimal = attrs.field(
        default=Decimal(0), converter=v.to_decimal, validator=v.non_negative_amount
    )
    category: tuple[str, ...] = attrs.field(default=(), converter=_text_tuple, validator=_all_text)

    @property
    def total(self) -> Decimal:
        """``unit_price * quantity - discount``."""
        return self.unit_price * self.quantity - self.discount


@attrs.frozen(kw_only=True)
class Order:
    """A placed order. Amounts are exact Decimals in the order's currency.

    The totals must agree with the lines within rounding (half a minor unit per line):
    ``subtotal = sum(line totals)`` and ``total = subtotal - discount + shipping + tax``
    (or without ``tax`` when ``taxes_included``). ``subtotal`` and ``total`` are computed
    from the lines when omitted.

    Example:
        >>> from datetime import datetime, timezone
        >>> o = Order(id="1001", customer_id="c1", currency="USD",
        ...           placed_at=datetime(2024, 3, 1, 12, tzinfo=timezone.utc),
        ...           lines=[OrderLine(sku="A", quantity=2, unit_price="5.00")],
        ...           shipping="4.99", tax="1.20")
        >>> o.subtotal, o.total
        (Decimal('10.00'), Decimal('16.19'))
    """

    id: str = attrs.field(validator=v.non_empty_text)
    customer_id: str = attrs.field(validator=v.non_empty_text)
    placed_at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    currency: str = attrs.field(converter=v.to_currency, validator=v.currency)
    lines: tuple[OrderLine, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(OrderLine)
    )
    subtotal: Decimal = attrs.field(
        default=attrs.Factory(lambda self: self.line_total, takes_self=True),
        converter=v.to_decimal,
        validator=v.non_negative_amount,
    )
    discount: Decimal = attrs.field(
        default=Decimal(0), converter=v.to_decimal, validator=v.non_negative_amount
    )
    shipping: Decimal = attrs.field(
        default=Decimal(0), converter=v.to_decimal, validator=v.non_negative_amount
    )
    tax: Decimal = attrs.field(
        default=Decimal(0), converter=v.to_decimal, validator=v.non_negative_amount
    )
    taxes_included: bool = attrs.field(default=False, validator=v.type_is(bool))
    total: Decimal = attrs.field(
        default=attrs.Factory(lambda self: self.expected_total, takes_self=True),
        converter=v.to_decimal,
        validator=v.decimal_amount,
    )
    status: OrderStatus = attrs.field(
        default=OrderStatus.PAID, converter=to_order_status, validator=v.type_is(OrderStatus)
    )
    sales_channel: str | None = attrs.field(default=None, validator=v.optional(v.text))
    discount_codes: tuple[str, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=_all_text
    )
    shipping_address: Address | None = attrs.field(
        default=None, validator=v.optional(v.type_is(Address))
    )
    cancelled_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc, validator=v.optional(v.aware_datetime)
    )
    shipped_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc, validator=v.optional(v.aware_datetime)
    )
    delivered_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc, validator=v.optional(v.aware_datetime)
    )

    def __attrs_post_init__(self) -> None:
        unit = v.rounding_tolerance(self.currency)
        line_sum = self.line_total
        if self.lines and abs(self.subtotal - line_sum) > unit * max(1, len(self.lines)):
            raise ValidationError(
                f"disagrees with the sum of its lines ({line_sum})",
                entity="Order",
                field="subtotal",
                value=self.subtotal,
            )
        expected = self.expected_total
        if expected < 0:
            raise ValidationError(
                "exceeds subtotal plus shipping",
                entity="Order",
                field="discount",
                value=self.discount,
            )
        if abs(self.total - expected) > 2 * unit:
            raise ValidationError(
                f"disagrees with subtotal - discount + shipping + tax ({expected})",
                entity="Order",
                field="total",
                value=self.total,
            )
        if self.cancelled_at is not None and self.cancelled_at < self.placed_at:
            raise ValidationError(
                "is before placed_at", entity="Order", field="cancelled_at", value=self.cancelled_at
            )

    @property
    def line_total(self) -> Decimal:
        """Sum of the lines' totals."""
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def expected_total(self) -> Decimal:
        """``subtotal - discount + shipping`` plus ``tax`` unless taxes are included."""
        total = self.subtotal - self.discount + self.shipping
        return total if self.taxes_included else total + self.tax

    @property
    def is_cancelled(self) -> bool:
        """True when the order was cancelled."""
        return self.status is OrderStatus.CANCELLED or self.cancelled_at is not None


@attrs.frozen(kw_only=True)
class ReturnLine:
    """Units of one SKU given back, with the customer's reason.

    Example:
        >>> ReturnLine(sku="TEE-1", quantity=1, reason="too small").reason
        'too small'
    """

    sku: str = attrs.field(validator=v.non_empty_text, converter=v.strip_text)
    quantity: int = attrs.field(validator=_positive_int)
    reason: str | None = attrs.field(default=None, validator=v.optional(v.text))


@attrs.frozen(kw_only=True)
class Refund:
    """Money given back on an order; ``returned`` when goods came back (a return).

    Example:
        >>> from datetime import datetime, timezone
        >>> r = Refund(id="r1", order_id="1001", customer_id="c1", amount="9.99", currency="USD",
        ...            at=datetime(2024, 3, 9, tzinfo=timezone.utc), reason="damaged", returned=True,
        ...            lines=[ReturnLine(sku="A", quantity=1, reason="damaged")])
        >>> r.amount, r.returned
        (Decimal('9.99'), True)
    """

    id: str = attrs.field(validator=v.non_empty_text)
    order_id: str = attrs.field(validator=v.non_empty_text)
    customer_id: str = attrs.field(validator=v.non_empty_text)
    at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    amount: Decimal = attrs.field(converter=v.to_decimal, validator=v.non_negative_amount)
    currency: str = attrs.field(converter=v.to_currency, validator=v.currency)
    reason: str | None = attrs.field(default=None, validator=v.optional(v.text))
    returned: bool = attrs.field(default=False, validator=v.type_is(bool))
    lines: tuple[ReturnLine, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(ReturnLine)
    )


Return = Refund
"""A return is a :class:`Refund` with ``returned=True`` and its returned lines."""
