"""The customer 360 view with the registry's customer fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from ecomcrm.domain import Purpose
from ecomcrm.segments import customer_record
from ecomcrm.storage import Customer360, Store


@attrs.frozen(kw_only=True)
class CustomerView:
    """A support agent's view of one customer: the store's 360 plus the customer fields.

    Attributes:
        profile: The store's :class:`~ecomcrm.storage.Customer360` (records).
        fields: The profile and order fields of ``ecomcrm.segments.CUSTOMER_FIELD_REGISTRY``
            at ``now``, by the same definitions as the feature table and flow conditions
            (money net of refunds, in ``currency``).
        currency: The currency of the money fields.

    Example:
        >>> CustomerView.__name__
        'CustomerView'
    """

    profile: Customer360
    fields: Mapping[str, Any]
    currency: str | None


def customer_view(
    store: Store,
    customer_id: str,
    *,
    now: datetime,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    recent_events: int = 50,
    messages: int = 50,
) -> CustomerView:
    """The 360 view of one customer with its customer fields at ``now``.

    ``fields["total_spent"]`` is the customer's row of ``build_customer_features(store,
    now=now, currency=currency, rates=rates)`` (and what a flow condition reads), one
    number in ``currency``; ``profile.total_spent`` keeps the per-currency breakdown.

    Raises:
        NotFoundError: No such customer.
        ValidationError: Orders in several currencies without ``currency``, or a
            currency without a rate.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Order, Refund
        >>> store = ecomcrm.open_store("memory://")
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> store.customers.put(Customer(id="c1", created_at=t))
        >>> _ = store.orders.upsert(Order(id="o1", customer_id="c1", placed_at=t, currency="EUR",
        ...                           subtotal="100", total="100"))
        >>> _ = store.orders.add_refund(Refund(id="r1", order_id="o1", customer_id="c1", at=t,
        ...                                amount="60", currency="EUR"))
        >>> view = customer_view(store, "c1", now=t)
        >>> view.fields["total_spent"], dict(view.profile.total_spent)
        (40.0, {'EUR': '40'})
    """
    profile = store.customer_360(customer_id, recent_events=recent_events, messages=messages)
    consents = {
        c.channel.value: c.granted for c in profile.consents if c.purpose is Purpose.MARKETING
    }
    fields = customer_record(
        profile.customer,
        profile.orders,
        profile.refunds,
        now=now,
        currency=currency,
        rates=rates,
        consents=consents,
    )
    return CustomerView(
        profile=profile,
        fields=MappingProxyType(fields),
        currency=currency if currency is not None else _only_currency(profile),
    )


def _only_currency(profile: Customer360) -> str | None:
    found = {o.currency for o in profile.orders}
    return found.pop() if len(found) == 1 else None
