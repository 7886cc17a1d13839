"""The one registry of customer fields and their vectorized definitions.

Every customer field (``total_spent``, ``aov``, ``p_alive``, ...) is declared here once,
with its type, unit and meaning. Fields computed from a customer's own records (profile
and orders) have one vectorized definition, :func:`profile_fields` and
:func:`order_fields`; the feature table runs them over every customer, and the
per-customer form (:func:`customer_record`, used by the rules engine's conditions and
the 360 view) runs the same functions over one customer's records, so a field means the
same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import Customer, Order, Refund
from ecomcrm.segments._types import FieldType, Schema
from ecomcrm.storage import CustomerTable, OrderFacts
from ecomcrm.storage.toolkit import from_micros

__all__ = [
    "CUSTOMER_FEATURES_SCHEMA",
    "CUSTOMER_FIELD_REGISTRY",
    "CustomerField",
    "customer_record",
    "order_fields",
    "profile_fields",
]

_DAY_US = 86_400_000_000


@attrs.frozen(kw_only=True)
class CustomerField:
    """One customer field: its name, type, unit and meaning, and where it is available.

    Attributes:
        name: The name conditions use.
        type: Its condition-language type.
        unit: What a value is measured in (``"shop currency"``, ``"days"``, ...).
        basis: ``"net"`` (refunds taken off), ``"gross"``, or ``""`` when not money.
        meaning: One sentence: what the value is.
        source: What it is computed from: ``"profile"``, ``"orders"`` (both per customer,
            from the store), ``"events"``, ``"lines"``, ``"population"`` (needs every
            customer, e.g. RFM quantiles), ``"model"`` (a fitted model), ``"engine"``
            (the rules engine's own view: the id, whether it is known, loyalty points).
        in_table: A column of the customer feature table.
        in_flows: Readable in flow conditions. Profile and order fields are computed per
            customer; the others (events, lines, tickets, population, model) are read from the
            feature table given to the engine (``Engine(..., features=table)``), and
            are null without one.

    Example:
        >>> f = CUSTOMER_FIELD_REGISTRY["total_spent"]
        >>> f.type, f.basis, f.in_table and f.in_flows
        (<FieldType.NUMBER: 'number'>, 'net', True)
    """

    name: str
    type: FieldType = attrs.field(converter=FieldType)
    unit: str
    basis: str = ""
    meaning: str
    source: str
    in_table: bool = True
    in_flows: bool = True


def _f(
    name: str,
    type: str,
    unit: str,
    source: str,
    meaning: str,
    *,
    basis: str = "",
    table: bool = True,
    flows: bool = True,
) -> CustomerField:
    return CustomerField(
        name=name,
        type=FieldType(type),
        unit=unit,
        basis=basis,
        meaning=meaning,
        source=source,
        in_table=table,
        in_flows=flows,
    )


_COUNTED = "counted orders (not cancelled)"
_FIELDS = (
    _f("customer_id", "string", "id", "engine", "the customer's id (a merged id resolves to the survivor)", table=False),
    _f("known", "bool", "flag", "engine", "the store holds this customer (false for an anonymous visitor)", table=False),
    _f("created_at", "datetime", "UTC datetime", "profile", "when the profile was created"),
    _f("country", "category", "ISO 3166 alpha-2", "profile", "the profile's country"),
    _f("city", "string", "text", "profile", "the city of the customer's first address"),
    _f("email_domain", "string", "domain", "profile", "the lower-case domain of the first email address"),
    _f("timezone", "string", "IANA name", "profile", "the profile's time zone"),
    _f("acquisition_channel", "category", "text", "profile", "where the customer came from"),
    _f("tags", "tags", "list", "profile", "the profile's tags"),
    _f("consent_email", "bool", "flag", "profile", "the latest email marketing decision is a grant"),
    _f("consent_sms", "bool", "flag", "profile", "the latest SMS marketing decision is a grant"),
    _f("consent_push", "bool", "flag", "profile", "the latest push marketing decision is a grant"),
    _f("consent_whatsapp", "bool", "flag", "profile", "the latest WhatsApp marketing decision is a grant"),
    _f("orders_count", "integer", "orders", "orders", f"number of {_COUNTED}"),
    _f("total_spent", "number", "shop currency", "orders", f"sum of the totals of {_COUNTED}, less their refunds", basis="net"),
    _f("aov", "number", "shop currency", "orders", "total_spent / orders_count (null without orders)", basis="net"),
    _f("refunded_amount", "number", "shop currency", "orders", f"sum of the refunds on {_COUNTED}", basis="gross"),
    _f("first_order_at", "datetime", "UTC datetime", "orders", "the first counted order"),
    _f("last_order_at", "datetime", "UTC datetime", "orders", "the last counted order"),
    _f("days_since_last_order", "number", "days", "orders", "days from the last counted order to now"),
    _f("days_since_first_order", "number", "days", "orders", "days from the first counted order to now"),
    _f("days_between_last_two_orders", "number", "days", "orders", "the gap before the last counted order (null under 2)"),
    _f("reorder_interval_days", "number", "days", "orders", "(last - first) / (orders_count - 1): the mean gap (null under 2)"),
    _f("return_rate", "number", "share", "orders", "units returned / units bought on counted orders"),
    _f("discount_order_share", "number", "share", "orders", "share of counted orders with a discount"),
    _f("loyalty_points", "integer", "points", "engine", "the loyalty balance", table=False),
    _f("categories", "tags", "list", "lines", "distinct top-level categories of the lines of counted orders"),
    _f("cart_abandon_count", "integer", "days", "events", "days with a cart event no order followed within the window"),
    _f("browse_abandon_count", "integer", "days", "events", "days with a product view no cart or order followed"),
    _f("last_cart_abandon_at", "datetime", "UTC datetime", "events", "the latest abandoned cart"),
    _f("last_seen_at", "datetime", "UTC datetime", "events", "the latest event or order"),
    _f("tickets_count", "integer", "tickets", "tickets", "support tickets opened by now"),
    _f("open_tickets", "integer", "tickets", "tickets", "tickets opened and not closed by now"),
    _f("last_ticket_at", "datetime", "UTC datetime", "tickets", "when the latest ticket was opened"),
    _f("avg_satisfaction", "number", "CSAT 1-5", "tickets", "mean satisfaction of the rated tickets (null without one)"),
    _f("r_score", "integer", "score 1-5", "population", "recency quintile among buyers"),
    _f("f_score", "integer", "score 1-5", "population", "frequency quintile among buyers"),
    _f("m_score", "integer", "score 1-5", "population", "monetary (net total_spent) quintile among buyers"),
    _f("rfm_segment", "category", "name", "population", "the RFM segment of the three scores"),
    _f("p_alive", "number", "probability", "model", "P(still a customer) from the purchase model"),
    _f("predicted_purchases", "number", "orders", "model", "expected orders over the model horizon"),
    _f("predicted_clv", "number", "shop currency", "model", "discounted expected value over the horizon (gross of future refunds)", basis="gross"),
    _f("next_purchase_at", "datetime", "UTC datetime", "model", "now + the median wait to the next order (null when P(alive) <= 1/2); mean-gap fallback without a model"),
    _f("p_purchase_30d", "number", "probability", "model", "P(an order in the next 30 days)"),
)  # fmt: skip

CUSTOMER_FIELD_REGISTRY: Mapping[str, CustomerField] = MappingProxyType(
    {f.name: f for f in _FIELDS}
)
"""Every customer field by name (see :class:`CustomerField`; docs/segments.md lists them)."""

MONEY_FIELDS = frozenset(f.name for f in _FIELDS if f.basis)

#: Sources a field is computed from per customer (the others come from a feature table).
PER_CUSTOMER_SOURCES = frozenset({"profile", "orders", "engine"})

#: Columns of the customer feature table (the registry's fields with ``in_table``).
CUSTOMER_FEATURES_SCHEMA = Schema({f.name: f.type for f in _FIELDS if f.in_table})


def order_fields(orders: OrderFacts, n: int, now: np.datetime64) -> dict[str, NDArray[Any]]:
    """The order fields of ``n`` customers (rows of ``orders.customer_index``) at ``now``.

    The one definition of every ``"orders"`` field of the registry: counted orders are
    the non-cancelled ones; money is in ``orders.currency`` and net of refunds where the
    registry says so.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.storage import OrderFacts
        >>> facts = OrderFacts(currency="EUR", customer_ids=np.array(["a"], dtype=object),
        ...     customer_index=np.array([0, 0]), order_id=np.array(["1", "2"], dtype=object),
        ...     placed_at=np.array(["2024-01-01", "2024-01-11"], dtype="M8[us]"),
        ...     amount=np.array([100.0, 50.0]), discount=np.zeros(2), refunded=np.array([60.0, 0.0]),
        ...     units=np.array([1, 1]), returned_units=np.zeros(2, dtype=np.int64),
        ...     cancelled=np.array([False, False]))
        >>> cols = order_fields(facts, 1, np.datetime64("2024-01-21", "us"))
        >>> cols["total_spent"].tolist(), cols["aov"].tolist(), cols["days_since_last_order"].tolist()
        ([90.0], [45.0], [10.0])
    """
    now_us = int(np.asarray(now).astype("datetime64[us]").astype(np.int64))
    keep = ~np.asarray(orders.cancelled, dtype=bool)
    cust = np.asarray(orders.customer_index, dtype=np.int64)[keep]
    when_us = orders.placed_at[keep].astype("datetime64[us]").astype(np.int64)
    count = np.bincount(cust, minlength=n).astype(np.int64)
    refunded = np.bincount(cust, weights=orders.refunded[keep], minlength=n)
    gross = np.bincount(cust, weights=orders.amount[keep], minlength=n)
    total = gross - refunded
    has = count > 0
    two = count >= 2
    # facts are ordered by time: first / last / second-to-last per customer by a stable sort
    order = np.argsort(cust, kind="stable")
    ends = np.cumsum(count)
    starts = ends - count
    sorted_us = when_us[order]
    first_us = np.zeros(n, dtype=np.int64)
    last_us = np.zeros(n, dtype=np.int64)
    prev_us = np.zeros(n, dtype=np.int64)
    first_us[has] = sorted_us[starts[has]]
    last_us[has] = sorted_us[ends[has] - 1]
    prev_us[two] = sorted_us[ends[two] - 2]
    units = np.bincount(cust, weights=orders.units[keep], minlength=n)
    returned = np.bincount(cust, weights=orders.returned_units[keep], minlength=n)
    discounted = np.bincount(cust, weights=(orders.discount[keep] > 0).astype(float), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_order = np.maximum(count, 1)
        return {
            "orders_count": count,
            "total_spent": total,
            "aov": np.where(has, total / per_order, np.nan),
            "refunded_amount": refunded,
            "first_order_at": _datetime_or_nat(first_us, has),
            "last_order_at": _datetime_or_nat(last_us, has),
            "days_since_last_order": np.where(has, (now_us - last_us) / _DAY_US, np.nan),
            "days_since_first_order": np.where(has, (now_us - first_us) / _DAY_US, np.nan),
            "days_between_last_two_orders": np.where(two, (last_us - prev_us) / _DAY_US, np.nan),
            "reorder_interval_days": np.where(
                two, (last_us - first_us) / _DAY_US / np.maximum(count - 1, 1), np.nan
            ),
            "return_rate": np.where(units > 0, returned / np.where(units > 0, units, 1), np.nan),
            "discount_order_share": np.where(has, discounted / per_order, np.nan),
        }


def _datetime_or_nat(us: NDArray[np.int64], valid: NDArray[np.bool_]) -> NDArray[np.datetime64]:
    out = us.astype("datetime64[us]")
    out[~valid] = np.datetime64("NaT", "us")
    return out


def profile_fields(customers: CustomerTable) -> dict[str, Any]:
    """The profile fields of every row of ``customers`` (consents: the current decisions).

    Example:
        >>> from ecomcrm.storage import CustomerTable
        >>> cols = profile_fields(CustomerTable.empty())
        >>> "city" in cols and len(cols["city"]) == 0
        True
    """
    from ecomcrm.segments._features import TagsColumn

    n = len(customers)
    vocab = np.asarray(customers.tag_vocabulary, dtype=object)
    order = np.argsort(vocab.astype(str)) if len(vocab) else np.empty(0, dtype=np.intp)
    remap = np.empty(len(vocab), dtype=np.int32)
    remap[order] = np.arange(len(vocab), dtype=np.int32)
    codes = (
        remap[customers.tag_codes]
        if len(customers.tag_codes)
        else customers.tag_codes.astype(np.int32)
    )
    columns: dict[str, Any] = {
        "created_at": customers.created_at.astype("datetime64[us]"),
        "country": customers.country,
        "city": _or_null(customers.city, n),
        "email_domain": _or_null(customers.email_domain, n),
        "timezone": customers.timezone,
        "acquisition_channel": customers.acquisition_channel,
        "tags": TagsColumn(
            customers.tag_indptr.astype(np.int64), codes, tuple(str(v) for v in vocab[order])
        ),
    }
    for channel in ("email", "sms", "push", "whatsapp"):
        flags = customers.consents.get(f"{channel}:marketing")
        columns[f"consent_{channel}"] = (
            np.zeros(n, dtype=bool) if flags is None else np.asarray(flags, dtype=bool)
        )
    return columns


def _or_null(values: NDArray[np.object_] | None, n: int) -> NDArray[np.object_]:
    """A profile column of the customer table; all null when the store does not fill it."""
    return np.full(n, None, dtype=object) if values is None else values


class OrderRows:
    """One customer's orders as plain lists, in ``store.order_facts`` order (time, then id).

    Amounts are already in the target currency; ``refunded`` and ``returned`` are the
    refunds taken off each order. The input of :func:`order_record`.

    Example:
        >>> OrderRows([0], [10.0], [0.0], [0.0], [1], [0], [False]).amount
        [10.0]
    """

    __slots__ = ("amount", "cancelled", "discount", "placed_us", "refunded", "returned", "units")

    def __init__(
        self,
        placed_us: list[int],
        amount: list[float],
        discount: list[float],
        refunded: list[float],
        units: list[int],
        returned: list[int],
        cancelled: list[bool],
    ) -> None:
        self.placed_us = placed_us
        self.amount = amount
        self.discount = discount
        self.refunded = refunded
        self.units = units
        self.returned = returned
        self.cancelled = cancelled

    @classmethod
    def from_facts(cls, facts: OrderFacts) -> OrderRows:
        """The rows of order facts that hold one customer's orders."""
        return cls(
            facts.placed_at.astype("datetime64[us]").astype(np.int64).tolist(),
            facts.amount.tolist(),
            facts.discount.tolist(),
            facts.refunded.tolist(),
            facts.units.tolist(),
            facts.returned_units.tolist(),
            facts.cancelled.tolist(),
        )

    @classmethod
    def from_orders(
        cls,
        orders: Sequence[Order],
        refunds: Iterable[Refund],
        *,
        currency: str | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> OrderRows:
        """Rows of domain orders and their refunds, converted as ``store.order_facts`` does.

        Raises:
            ValidationError: Several currencies without ``currency``, or a missing rate.
        """
        from ecomcrm.storage.toolkit import conversion_rates, order_row, refund_row

        rows = sorted((order_row(o) for o in orders), key=lambda r: (r.placed_at_us, r.order_id))
        present = {r.currency for r in rows}
        if currency is None and len(present) <= 1:
            table = dict.fromkeys(present, 1.0)  # one currency: nothing to convert
        else:
            _, table = conversion_rates(sorted(present), currency, rates)
        refunded: dict[str, float] = {}
        returned: dict[str, int] = {}
        for refund in refunds:
            r = refund_row(refund)
            refunded[r.order_id] = refunded.get(r.order_id, 0.0) + r.amount
            returned[r.order_id] = returned.get(r.order_id, 0) + r.returned_units
        factor = [table[r.currency] for r in rows]
        return cls(
            [r.placed_at_us for r in rows],
            [r.amount * f for r, f in zip(rows, factor, strict=True)],
            [r.discount * f for r, f in zip(rows, factor, strict=True)],
            [refunded.get(r.order_id, 0.0) * f for r, f in zip(rows, factor, strict=True)],
            [r.units for r in rows],
            [returned.get(r.order_id, 0) for r in rows],
            [r.cancelled for r in rows],
        )


def order_record(rows: OrderRows, now_us: int) -> dict[str, Any]:
    """:func:`order_fields` for one customer, in plain Python (the per-customer form).

    The same operations in the same order as the vectorized definition (sums run over the
    orders by time, as ``np.bincount`` does), so the values are equal; the property test
    in tests/segments/test_field_registry.py checks it for random customers.

    Example:
        >>> rows = OrderRows([0, 864_000_000_000], [100.0, 50.0], [0.0, 0.0], [60.0, 0.0],
        ...                  [1, 1], [0, 0], [False, False])
        >>> rec = order_record(rows, 2 * 864_000_000_000)
        >>> rec["total_spent"], rec["aov"], rec["days_since_last_order"]
        (90.0, 45.0, 10.0)
    """
    count = 0
    gross = refunded = units = returned = discounted = 0.0
    times: list[int] = []
    for i, cancelled in enumerate(rows.cancelled):
        if cancelled:
            continue
        count += 1
        gross += rows.amount[i]
        refunded += rows.refunded[i]
        units += rows.units[i]
        returned += rows.returned[i]
        discounted += 1.0 if rows.discount[i] > 0 else 0.0
        times.append(rows.placed_us[i])
    total = gross - refunded
    out: dict[str, Any] = {
        "orders_count": count,
        "total_spent": total,
        "aov": total / count if count else None,
        "refunded_amount": refunded,
        "first_order_at": None,
        "last_order_at": None,
        "days_since_last_order": None,
        "days_since_first_order": None,
        "days_between_last_two_orders": None,
        "reorder_interval_days": None,
        "return_rate": returned / units if units > 0 else None,
        "discount_order_share": discounted / count if count else None,
    }
    if count:
        first, last = times[0], times[-1]
        out["first_order_at"] = from_micros(first)
        out["last_order_at"] = from_micros(last)
        out["days_since_last_order"] = (now_us - last) / _DAY_US
        out["days_since_first_order"] = (now_us - first) / _DAY_US
        if count >= 2:
            out["days_between_last_two_orders"] = (last - times[-2]) / _DAY_US
            out["reorder_interval_days"] = (last - first) / _DAY_US / (count - 1)
    return out


def profile_record(
    customer: Customer, consents: Mapping[str, bool] | None = None
) -> dict[str, Any]:
    """:func:`profile_fields` for one customer, in plain Python (the per-customer form).

    ``consents`` maps a channel (``"email"``, ...) to the current marketing decision.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Identity
        >>> c = Customer(id="c", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...              identities=[Identity.email("Ada@Example.org")], tags={"b", "a"})
        >>> rec = profile_record(c)
        >>> rec["email_domain"], rec["tags"], rec["consent_email"]
        ('example.org', ('a', 'b'), False)
    """
    email = customer.email
    domain = None
    if email and "@" in email:
        domain = email.rpartition("@")[2].lower() or None
    city = customer.addresses[0].city if customer.addresses else None
    granted = consents or {}
    record: dict[str, Any] = {
        "created_at": customer.created_at.astimezone(UTC),
        "country": customer.country,
        "city": city or None,
        "email_domain": domain,
        "timezone": customer.timezone,
        "acquisition_channel": customer.acquisition_channel,
        "tags": tuple(sorted(customer.tags)),
    }
    for channel in ("email", "sms", "push", "whatsapp"):
        record[f"consent_{channel}"] = bool(granted.get(channel, False))
    return record


def _as_datetime64(now: datetime | np.datetime64) -> np.datetime64:
    if isinstance(now, datetime):
        naive = now.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(naive.isoformat(), "us")
    converted: np.datetime64 = now.astype("datetime64[us]")
    return converted


def customer_record(
    customer: Customer,
    orders: Sequence[Order],
    refunds: Iterable[Refund],
    *,
    now: datetime,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    consents: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """One customer's profile and order fields, by the feature table's definitions.

    The per-customer form of :func:`profile_fields` and :func:`order_fields`
    (:func:`profile_record`, :func:`order_record`): every value equals the customer's row
    of a feature table built at ``now`` with the same ``currency`` and ``rates``.
    ``orders`` are the customer's orders (cancelled ones included; they do not count),
    ``refunds`` their refunds, ``consents`` the current decisions as ``{"email": True,
    ...}`` (marketing purpose; absent is false).

    Raises:
        ValidationError: Orders in several currencies without ``currency``, or a
            currency without a rate (as ``store.order_facts`` refuses them).

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Order, Refund
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> c = Customer(id="c1", created_at=t)
        >>> o = Order(id="o1", customer_id="c1", placed_at=t, currency="EUR", subtotal="100", total="100")
        >>> r = Refund(id="r1", order_id="o1", customer_id="c1", at=t, amount="60", currency="EUR")
        >>> rec = customer_record(c, [o], [r], now=t)
        >>> rec["total_spent"], rec["aov"], rec["refunded_amount"]
        (40.0, 40.0, 60.0)
    """
    rows = OrderRows.from_orders(orders, refunds, currency=currency, rates=rates)
    now_us = int(_as_datetime64(now).astype(np.int64))
    return {**profile_record(customer, consents), **order_record(rows, now_us)}
