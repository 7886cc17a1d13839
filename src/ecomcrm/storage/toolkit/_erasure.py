"""Erasure anonymisation: what an erasure deletes and which facts stay as anonymous ones."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from ecomcrm.domain import (
    Customer,
    Identity,
    IdentityKind,
    Order,
    Refund,
)

if TYPE_CHECKING:
    pass


ANONYMOUS_ID_PREFIX = "anon_"
"""The prefix of the ids of the anonymous profiles that carry an erased person's kept facts."""


def new_anonymous_id() -> str:
    """A fresh random id for the anonymous facts an erasure keeps (``anon_`` + 24 hex).

    Example:
        >>> new_anonymous_id().startswith("anon_")
        True
    """
    return ANONYMOUS_ID_PREFIX + secrets.token_hex(12)


def anonymous_customer(erased: Customer, new_id: str) -> Customer:
    """The profile that carries an erased person's kept order facts: only ``created_at``.

    No identities, names, addresses, birthday, locale, timezone, country, tags or
    attributes survive; ``acquisition_channel`` is kept because it describes a marketing
    channel, not a person.

    Example:
        >>> from datetime import datetime, timezone
        >>> c = Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc), first_name="Ada")
        >>> anonymous_customer(c, "anon_1").first_name
        ''
    """
    return Customer(
        id=new_id,
        created_at=erased.created_at,
        acquisition_channel=erased.acquisition_channel,
    )


def anonymise_order(order: Order, new_customer_id: str) -> Order:
    """An order kept as an anonymous fact: re-pointed, without address or discount codes.

    Amounts, dates, status, lines (SKUs, prices, quantities) stay; the shipping address and
    discount codes (which can be personal, e.g. a referral code) go.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Order, OrderLine
        >>> o = Order(id="1", customer_id="c1", placed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           currency="EUR", lines=[OrderLine(sku="A", quantity=1, unit_price="5")],
        ...           discount_codes=["ADA-FRIENDS"])
        >>> anonymise_order(o, "anon_1").discount_codes
        ()
    """
    return attrs.evolve(
        order, customer_id=new_customer_id, shipping_address=None, discount_codes=()
    )


def anonymise_refund(refund: Refund, new_customer_id: str) -> Refund:
    """A refund kept as an anonymous fact: re-pointed, free-text reasons removed.

    Example:
        >>> from datetime import datetime, timezone
        >>> r = Refund(id="r", order_id="1", customer_id="c1", amount="5", currency="EUR",
        ...            at=datetime(2024, 1, 2, tzinfo=timezone.utc), reason="Ada says it broke")
        >>> anonymise_refund(r, "anon_1").reason is None
        True
    """
    return attrs.evolve(
        refund,
        customer_id=new_customer_id,
        reason=None,
        lines=tuple(attrs.evolve(line, reason=None) for line in refund.lines),
    )


def state_owners_of(customer_ids: Iterable[str], identities: Iterable[Identity] = ()) -> list[str]:
    """The state-record owners an erasure deletes: the ids and ``"anonymous:<id>"`` keys.

    The rules engine owns a person's records by their customer id, and an unidentified
    visitor's by their anonymous identity's :attr:`~ecomcrm.domain.Identity.key`
    (``"anonymous:<id>"``). Erasing a person deletes the records owned by any of their
    ids (the survivor and the ids merged into it) or by any of their anonymous
    identities, compared whole: an id ``"cart"`` or ``"enr"`` or ``"bob"`` never matches
    a part of another record's key.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> state_owners_of(["c1", "c0"], [Identity(kind="anonymous", value="ck"), Identity.email("a@b.co")])
        ['anonymous:ck', 'c0', 'c1']
    """
    owners = set(customer_ids)
    owners.update(i.key for i in identities if i.kind is IdentityKind.ANONYMOUS)
    return sorted(owners)
