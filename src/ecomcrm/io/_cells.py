"""Reading cells: numbers, dates, JSON, consents, order statuses and identities, bounded.

Every importer parses numbers, dates and JSON through these functions, which refuse
absurd input *before* converting it: ``int(Decimal("1e1000000"))`` builds a million-digit
integer (seconds), ``1e9999999999`` exhausts memory, a date at year 1 with a +05:00
offset overflows on conversion to UTC, a line nested 100,000 deep overflows the stack.
Each refusal is a :class:`~ecomcrm.io._rows.RowError` naming the column, so the record is
rejected and the import goes on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil import parser as date_parser

from ecomcrm.domain import Identity, IdentityKind, OrderStatus
from ecomcrm.errors import ValidationError
from ecomcrm.io._rows import RowError
from ecomcrm.storage.toolkit import from_micros

#: The longest cell read as a number or a date; anything longer is refused unread.
MAX_NUMBER_TEXT = 64
#: Amounts are below 10**15 (a quadrillion) in absolute value, quantities and counts too.
MAX_AMOUNT_DIGITS = 15
#: Amounts other than zero are at least ``10**MIN_AMOUNT_EXPONENT`` in absolute value.
MIN_AMOUNT_EXPONENT = -12
#: JSON values nest at most this deep (the domain's own limit for properties is 32).
MAX_JSON_DEPTH = 64

_ZERO = Decimal(0)


def _bounded(value: Decimal, text: str, column: str, digits: int = MAX_AMOUNT_DIGITS) -> Decimal:
    """``value`` when it is finite and below ``10**digits``; RowError otherwise (no conversion)."""
    if not value.is_finite():
        raise RowError(column, "is not a finite number", text)
    if value.is_zero():
        return _ZERO
    magnitude = value.adjusted()
    if magnitude >= digits:
        raise RowError(column, f"is too large (at most {digits} digits)", text)
    if magnitude < MIN_AMOUNT_EXPONENT:
        raise RowError(column, f"is too small (under 1e{MIN_AMOUNT_EXPONENT})", text)
    return value


def parse_datetime(text: str, column: str, *, default_tz: Any = UTC) -> datetime:
    """Parse an export timestamp; naive ones are taken as ``default_tz``.

    Accepts ISO 8601 (``2024-03-01T12:00:00Z``), Shopify's ``2024-03-01 12:00:00 -0500`` and
    anything python-dateutil understands. Text longer than :data:`MAX_NUMBER_TEXT`, an
    offset of a day or more and a time that leaves the calendar once converted to UTC
    (``0001-01-01 00:00:00 +0500``) are RowErrors.
    """
    s = text.strip()
    if not s:
        raise RowError(column, "is empty, a date and time is required", text)
    if len(s) > MAX_NUMBER_TEXT:
        raise RowError(column, "is too long to be a date and time", text)
    if len(s) > 20 and s[19] == " " and s[20] in "+-":
        s = s[:19] + s[20:]  # Shopify: "2024-03-01 12:00:00 -0500"
    try:
        value = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        try:
            value = date_parser.parse(s)
        except Exception:  # any failure of the third-party parser: not a date
            raise RowError(column, "is not a date and time", text) from None
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=default_tz)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise RowError(column, "is out of range once converted to UTC", text) from None


def parse_epoch_micros(value: Any, column: str) -> datetime:
    """A time given as microseconds since 1970-01-01 UTC (an int or a string of digits).

    Example:
        >>> parse_epoch_micros("1714557600000000", "event_timestamp").isoformat()
        '2024-05-01T10:00:00+00:00'
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise RowError(column, "must be microseconds since the epoch", value)
    us = parse_int(str(value), column, digits=18)
    try:
        return from_micros(us)
    except OverflowError:
        raise RowError(column, "is out of range (microseconds since the epoch)", value) from None


def parse_decimal(text: str, column: str, *, default: Decimal | None = None) -> Decimal:
    """Parse a money amount; blank gives ``default`` (an error when there is none).

    ``1,5`` and ``1,234.50`` are read as 1.5 and 1234.50. Infinity, NaN, amounts of
    :data:`MAX_AMOUNT_DIGITS` digits or more and amounts other than zero under
    ``10**MIN_AMOUNT_EXPONENT`` are RowErrors.
    """
    if not text:
        if default is None:
            raise RowError(column, "is empty, an amount is required", text)
        return default
    if "," not in text and len(text) <= MAX_NUMBER_TEXT:
        try:
            value = Decimal(text)
        except InvalidOperation:
            pass
        else:
            # adjusted() is the power of ten of the first digit: no conversion, no copy
            if value.is_finite() and MIN_AMOUNT_EXPONENT <= value.adjusted() < MAX_AMOUNT_DIGITS:
                return value
    s = text.strip()
    if not s:
        if default is None:
            raise RowError(column, "is empty, an amount is required", text)
        return default
    if len(s) > MAX_NUMBER_TEXT:
        raise RowError(column, "is too long to be a number", text)
    try:
        value = Decimal(s.replace(",", "") if "," in s and "." in s else s.replace(",", "."))
    except InvalidOperation:
        raise RowError(column, "is not a number", text) from None
    return _bounded(value, text, column)


def parse_int(
    text: str, column: str, *, default: int | None = None, digits: int = MAX_AMOUNT_DIGITS
) -> int:
    """Parse a whole number (``"2"`` or ``"2.0"``) of at most ``digits`` digits.

    The size is checked before any conversion, so ``1e1000000`` is refused at once.
    """
    s = text.strip()
    if not s:
        if default is None:
            raise RowError(column, "is empty, a whole number is required", text)
        return default
    if len(s) > MAX_NUMBER_TEXT:
        raise RowError(column, "is too long to be a number", text)
    if len(s) <= digits:
        try:
            return int(s)
        except ValueError:
            pass
    try:
        f = Decimal(s)
    except InvalidOperation:
        raise RowError(column, "is not a whole number", text) from None
    f = _bounded(f, text, column, digits)
    if f != f.to_integral_value():
        raise RowError(column, "is not a whole number", text)
    return int(f)


def parse_json(text: str, column: str | None) -> Any:
    """The JSON value of ``text``; RowError when it is not JSON or nests too deep.

    Integers of more than 4,300 digits (Python's limit), nesting beyond
    :data:`MAX_JSON_DEPTH` and invalid JSON are refused with their reason.

    Example:
        >>> parse_json('{"a": [1, 2]}', "properties")
        {'a': [1, 2]}
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError(column, f"is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise RowError(column, f"is JSON nested more than {MAX_JSON_DEPTH} deep") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise RowError(column, f"is not valid JSON ({exc})") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(value):
        raise RowError(column, f"is JSON nested more than {MAX_JSON_DEPTH} deep")
    return value


def _too_deep(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


_TRUE = {"yes", "true", "1", "y", "t", "subscribed", "opted_in", "granted"}
_FALSE = {"no", "false", "0", "n", "f", "unsubscribed", "not_subscribed", "opted_out", "denied"}
_UNDECIDED = {"", "pending", "unknown", "null", "none", "invalid", "redacted"}


def parse_consent(text: str, column: str) -> bool | None:
    """Read a marketing-consent cell: True, False, or None when no decision is recorded."""
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    if s in _UNDECIDED:
        return None
    raise RowError(column, "is not yes/no (or subscribed/unsubscribed/pending)", text)


#: WooCommerce order statuses (``wc-`` prefix removed) and what they mean here.
WOOCOMMERCE_STATUSES: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,  # awaiting payment
    "on-hold": OrderStatus.PENDING,  # awaiting a bank transfer or a check
    "checkout-draft": OrderStatus.PENDING,
    "processing": OrderStatus.PAID,  # paid, not yet shipped
    "completed": OrderStatus.FULFILLED,
    "cancelled": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,  # the payment failed: no sale
    "refunded": OrderStatus.REFUNDED,
}

#: Shopify's financial statuses and what they mean here.
SHOPIFY_FINANCIAL_STATUSES: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,
    "authorized": OrderStatus.PENDING,
    "partially_paid": OrderStatus.PENDING,
    "paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PARTIALLY_REFUNDED,
    "refunded": OrderStatus.REFUNDED,
    "voided": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
}

#: Every status name a generic file may use: ecomcrm's own, WooCommerce's and Shopify's.
ORDER_STATUS_NAMES: dict[str, OrderStatus] = {
    **{s.value: s for s in OrderStatus},
    **WOOCOMMERCE_STATUSES,
    **SHOPIFY_FINANCIAL_STATUSES,
    "partially-refunded": OrderStatus.PARTIALLY_REFUNDED,
    "canceled": OrderStatus.CANCELLED,
}


def parse_order_status(
    text: str, column: str, table: dict[str, OrderStatus] = ORDER_STATUS_NAMES
) -> OrderStatus:
    """The :class:`~ecomcrm.domain.OrderStatus` a status cell names (case-insensitive).

    ``wc-`` prefixes are dropped and spaces read as ``_``/``-``. An unknown status is a
    RowError that lists the accepted values.

    Example:
        >>> parse_order_status("wc-on-hold", "status").value
        'pending'
    """
    s = text.strip().lower().removeprefix("wc-")
    found = table.get(s)
    if found is None and " " in s:
        found = table.get(s.replace(" ", "_")) or table.get(s.replace(" ", "-"))
    if found is None:
        raise RowError(column, f"is not a known order status (accepted: {', '.join(table)})", text)
    return found


def email_identity(text: str, column: str) -> Identity | None:
    """The email identity of a cell, None when blank; RowError when malformed."""
    if not text or not text.strip():
        return None
    try:
        return Identity(kind=IdentityKind.EMAIL, value=text)
    except ValidationError:
        raise RowError(column, "is not a valid email address", text) from None


def phone_identity(text: str) -> Identity | None:
    """The phone identity of a cell, or None when blank or not in international form.

    Phone cells in exports are often local numbers (no country code); they cannot be
    normalised, so they are not used as identities (the rest of the record still imports).
    """
    s = text.strip().lstrip("'")
    if not s:
        return None
    try:
        return Identity(kind=IdentityKind.PHONE, value=s)
    except ValidationError:
        return None
