"""Columnar builders: order, line, event facts and the customer table from plain per-column lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import (
    Event,
    Order,
    Refund,
)
from ecomcrm.errors import ValidationError
from ecomcrm.storage._records import (
    CustomerTable,
    EventFacts,
    LineFacts,
    OrderFacts,
)
from ecomcrm.storage.toolkit._time import to_micros

if TYPE_CHECKING:
    pass


NO_CURRENCY = "XXX"
"""ISO 4217 "no currency": the currency of empty order facts read without ``currency``."""


class OrderRow(NamedTuple):
    """The analytic columns of one order, computed once at write time."""

    order_id: str
    customer_id: str
    placed_at_us: int
    amount: float
    currency: str
    discount: float
    units: int
    cancelled: bool


class RefundRow(NamedTuple):
    """The analytic columns of one refund: what it takes off its order."""

    order_id: str
    amount: float
    returned_units: int


def order_row(order: Order) -> OrderRow:
    """The analytic columns of an order.

    ``amount`` is the order total, ``discount`` the order discount plus line discounts,
    ``units`` the summed line quantities.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Order, OrderLine
        >>> o = Order(id="1", customer_id="c1", placed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           currency="EUR", lines=[OrderLine(sku="A", quantity=3, unit_price="2.50")])
        >>> order_row(o).amount, order_row(o).units
        (7.5, 3)
    """
    return OrderRow(
        order_id=order.id,
        customer_id=order.customer_id,
        placed_at_us=to_micros(order.placed_at),
        amount=float(order.total),
        currency=order.currency,
        discount=float(order.discount + sum((line.discount for line in order.lines), Decimal(0))),
        units=sum(line.quantity for line in order.lines),
        cancelled=order.is_cancelled,
    )


def refund_row(refund: Refund) -> RefundRow:
    """The analytic columns of a refund; returned units count only for returns.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import ReturnLine
        >>> r = Refund(id="r", order_id="1", customer_id="c", amount="5", currency="EUR", returned=True,
        ...            at=datetime(2024, 1, 2, tzinfo=timezone.utc), lines=[ReturnLine(sku="A", quantity=2)])
        >>> refund_row(r)
        RefundRow(order_id='1', amount=5.0, returned_units=2)
    """
    units = sum(line.quantity for line in refund.lines) if refund.returned else 0
    return RefundRow(order_id=refund.order_id, amount=float(refund.amount), returned_units=units)


def _text_array(values: Sequence[str] | NDArray[Any]) -> NDArray[np.str_]:
    array = np.asarray(values, dtype=str)
    return array if array.ndim == 1 else array.reshape(-1)


def _index_into(
    ids_sorted: NDArray[np.str_], wanted: Sequence[str] | NDArray[Any]
) -> NDArray[np.int64]:
    """Positions of ``wanted`` in the sorted ``ids_sorted``; -1 where absent."""
    keys = _text_array(wanted)
    if ids_sorted.size == 0 or keys.size == 0:
        return np.full(keys.shape[0], -1, dtype=np.int64)
    pos = np.searchsorted(ids_sorted, keys).astype(np.int64)
    clipped = np.minimum(pos, ids_sorted.size - 1)
    found = ids_sorted[clipped] == keys
    return np.where(found, clipped, -1).astype(np.int64)


def conversion_rates(
    currencies: Sequence[str],
    currency: str | None,
    rates: Mapping[str, float] | None,
    *,
    entity: str = "order_facts",
) -> tuple[str, dict[str, float]]:
    """The target currency and a rate per currency for converting amounts in ``currencies``.

    Without ``currency`` the amounts must share one currency (the target; every rate is
    1.0, and :data:`NO_CURRENCY` when there are none); several raise ValidationError
    naming them. With ``currency``, ``rates`` gives units of ``currency`` per unit of each
    other currency (codes are upper-cased); a missing, non-finite or non-positive rate
    raises ValidationError naming ``entity`` and the currencies.

    Example:
        >>> conversion_rates(["EUR", "USD"], "eur", {"USD": 0.9})
        ('EUR', {'EUR': 1.0, 'USD': 0.9})
        >>> conversion_rates(["EUR"], None, None)
        ('EUR', {'EUR': 1.0})
    """
    present = sorted(set(currencies))
    if currency is None:
        if len(present) > 1:
            raise ValidationError(
                "the store holds several currencies; pass currency= and rates=",
                entity=entity,
                field="currency",
                value=present,
            )
        return (present[0] if present else NO_CURRENCY), {c: 1.0 for c in present}
    target = currency.strip().upper()
    table = {target: 1.0}
    for code, rate in (rates or {}).items():
        table.setdefault(code.strip().upper(), float(rate))
    missing = [c for c in present if c not in table]
    if missing:
        raise ValidationError(
            f"no exchange rate to {target} for {', '.join(missing)}",
            entity=entity,
            field="rates",
            value=missing,
        )
    bad = [c for c in present if not np.isfinite(table[c]) or table[c] <= 0]
    if bad:
        raise ValidationError(
            "exchange rates must be finite and positive",
            entity=entity,
            field="rates",
            value={c: table[c] for c in bad},
        )
    return target, table


def order_facts_from_columns(
    *,
    customer_ids: Sequence[str] | NDArray[Any],
    order_id: Sequence[str] | NDArray[Any],
    order_customer: Sequence[str] | NDArray[Any],
    placed_at_us: Sequence[int] | NDArray[np.int64],
    amount: Sequence[float] | NDArray[np.float64],
    order_currency: Sequence[str] | NDArray[Any],
    discount: Sequence[float] | NDArray[np.float64],
    refunded: Sequence[float] | NDArray[np.float64],
    units: Sequence[int] | NDArray[np.int64],
    returned_units: Sequence[int] | NDArray[np.int64],
    cancelled: Sequence[bool] | NDArray[np.bool_],
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> OrderFacts:
    """Build :class:`OrderFacts` from plain per-order columns, sorted and converted.

    ``customer_ids`` is the customer table's id column (sorted by code point);
    ``order_customer`` the (resolved) customer id of each order; orders whose customer is
    not in ``customer_ids`` are dropped. Rows come out ordered by ``placed_at`` then order
    id. Amounts, discounts and refunds are converted to ``currency`` with ``rates`` (units
    of ``currency`` per unit of the order's currency); without ``currency`` every order
    must share one currency, else ValidationError naming them. Vectorised: no Python
    object is built per row.

    Example:
        >>> f = order_facts_from_columns(
        ...     customer_ids=["a", "b"], order_id=["o2", "o1"], order_customer=["b", "a"],
        ...     placed_at_us=[2, 1], amount=[10.0, 5.0], order_currency=["USD", "EUR"],
        ...     discount=[0.0, 0.0], refunded=[0.0, 1.0], units=[1, 1], returned_units=[0, 0],
        ...     cancelled=[False, False], currency="EUR", rates={"USD": 0.5})
        >>> f.order_id.tolist(), f.customer_index.tolist(), f.amount.tolist(), f.refunded.tolist()
        (['o1', 'o2'], [0, 1], [5.0, 5.0], [1.0, 0.0])
    """
    ids_sorted = _text_array(customer_ids)
    cur = _text_array(order_currency)
    target, table = conversion_rates(np.unique(cur).tolist(), currency, rates)
    n = cur.shape[0]
    if n == 0:
        return attrs.evolve(OrderFacts.empty(target), customer_ids=ids_sorted.astype(object))
    factor = np.ones(n, dtype=np.float64)
    for code, rate in table.items():
        if rate != 1.0:
            factor[cur == code] = rate
    index = _index_into(ids_sorted, order_customer)
    oid = _text_array(order_id)
    at = np.asarray(placed_at_us, dtype=np.int64)
    keep = index >= 0
    order = np.lexsort((oid, at))
    order = order[keep[order]]
    return OrderFacts(
        currency=target,
        customer_ids=ids_sorted.astype(object),
        customer_index=index[order],
        order_id=oid[order].astype(object),
        placed_at=at[order].astype("datetime64[us]"),
        amount=(np.asarray(amount, dtype=np.float64) * factor)[order],
        discount=(np.asarray(discount, dtype=np.float64) * factor)[order],
        refunded=(np.asarray(refunded, dtype=np.float64) * factor)[order],
        units=np.asarray(units, dtype=np.int64)[order],
        returned_units=np.asarray(returned_units, dtype=np.int64)[order],
        cancelled=np.asarray(cancelled, dtype=bool)[order],
    )


def _recode(
    codes: NDArray[np.int64], vocabulary: Sequence[str] | NDArray[Any]
) -> tuple[NDArray[np.int32], tuple[str, ...]]:
    """Codes into the sorted vocabulary of the names actually used (-1 stays -1)."""
    size = len(vocabulary)
    valid = codes >= 0
    used = np.unique(codes[valid])
    names = np.asarray(list(vocabulary), dtype=str).reshape(-1)[used]
    sorted_names, inverse = np.unique(names, return_inverse=True)  # also merges duplicates
    lut = np.full(size + 1, -1, dtype=np.int32)
    lut[used] = inverse.reshape(-1)
    out: NDArray[np.int32] = lut[np.where(valid, codes, size)]
    return out, tuple(str(n) for n in sorted_names)


def _returned_per_line(
    line_key: NDArray[np.int64],
    quantity: NDArray[np.int64],
    return_key: NDArray[np.int64],
    return_quantity: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Returned units per line: each (order, SKU) total allocated in line order, capped."""
    n = line_key.shape[0]
    if n == 0 or return_key.shape[0] == 0:
        return np.zeros(n, dtype=np.int64)
    keys, inverse = np.unique(return_key, return_inverse=True)
    totals = np.bincount(inverse.reshape(-1), weights=return_quantity, minlength=keys.shape[0])
    pos = np.minimum(np.searchsorted(keys, line_key), keys.shape[0] - 1)
    total = np.where(keys[pos] == line_key, totals[pos], 0.0).astype(np.int64)
    order = np.argsort(line_key, kind="stable")  # groups, each in line order
    k, q, t = line_key[order], quantity[order], total[order]
    before = np.cumsum(q) - q
    start = np.concatenate(([True], k[1:] != k[:-1]))
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    before -= before[first]
    out = np.empty(n, dtype=np.int64)
    out[order] = np.clip(t - before, 0, q)
    return out


def line_facts_from_columns(
    *,
    customer_ids: Sequence[str] | NDArray[Any],
    order_id: Sequence[str] | NDArray[Any],
    order_customer_index: Sequence[int] | NDArray[np.int64],
    placed_at_us: Sequence[int] | NDArray[np.int64],
    order_currency: Sequence[str] | NDArray[Any],
    cancelled: Sequence[bool] | NDArray[np.bool_],
    line_order: Sequence[int] | NDArray[np.int64],
    sku_code: Sequence[int] | NDArray[np.integer[Any]],
    skus: Sequence[str] | NDArray[Any],
    category_code: Sequence[int] | NDArray[np.integer[Any]],
    categories: Sequence[str] | NDArray[Any],
    quantity: Sequence[int] | NDArray[np.int64],
    unit_price: Sequence[float] | NDArray[np.float64],
    line_discount: Sequence[float] | NDArray[np.float64],
    return_order: Sequence[int] | NDArray[np.int64] = (),
    return_sku: Sequence[int] | NDArray[np.integer[Any]] = (),
    return_quantity: Sequence[int] | NDArray[np.int64] = (),
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> LineFacts:
    """Build :class:`LineFacts` from per-order and per-line columns, vectorised.

    Per order (position ``j``): ``order_id``, ``order_customer_index`` (the row of the
    order's resolved customer in the sorted ``customer_ids``, -1 when not a live customer:
    the order and its lines are dropped), ``placed_at_us``, ``order_currency`` and
    ``cancelled``. Per line: ``line_order`` (the position ``j`` of its order; lines of one
    order must be given in line order), ``sku_code`` into ``skus``, ``category_code``
    into ``categories`` (joined paths, -1 for none), ``quantity``, ``unit_price`` and
    ``line_discount`` (floats in the order's currency). Returns (only refunds with
    ``returned=True``) come as ``return_order`` (position of the order),
    ``return_sku`` (code into ``skus``, -1 for a SKU on no line) and ``return_quantity``;
    they are summed per (order, SKU) and allocated as ``Store.line_facts`` documents.
    The vocabularies need not be sorted or minimal: the result keeps the used names,
    sorted. Currency rules and errors are those of :func:`order_facts_from_columns`.

    Example:
        >>> f = line_facts_from_columns(
        ...     customer_ids=["a"], order_id=["o1"], order_customer_index=[0], placed_at_us=[0],
        ...     order_currency=["USD"], cancelled=[False], line_order=[0, 0], sku_code=[1, 0],
        ...     skus=["B", "A"], category_code=[0, -1], categories=["Home"], quantity=[2, 1],
        ...     unit_price=[5.0, 3.0], line_discount=[1.0, 0.0], return_order=[0],
        ...     return_sku=[1], return_quantity=[1], currency="EUR", rates={"USD": 0.5})
        >>> f.sku.tolist(), f.category_code.tolist(), f.amount.tolist(), f.returned_units.tolist()
        (['A', 'B'], [0, -1], [4.5, 1.5], [1, 0])
    """
    ids_sorted = _text_array(customer_ids)
    cur = _text_array(order_currency)
    target, table = conversion_rates(np.unique(cur).tolist(), currency, rates, entity="line_facts")
    oid = _text_array(order_id)
    at = np.asarray(placed_at_us, dtype=np.int64).reshape(-1)
    cust = np.asarray(order_customer_index, dtype=np.int64).reshape(-1)
    perm = np.lexsort((oid, at)) if oid.shape[0] else np.empty(0, dtype=np.intp)
    perm = perm[cust[perm] >= 0]
    rank = np.full(oid.shape[0], -1, dtype=np.int64)
    rank[perm] = np.arange(perm.shape[0], dtype=np.int64)
    empty = attrs.evolve(
        LineFacts.empty(target),
        customer_ids=ids_sorted.astype(object),
        order_ids=oid[perm].astype(object),
    )
    lo = np.asarray(line_order, dtype=np.int64).reshape(-1)
    if lo.shape[0] == 0 or perm.shape[0] == 0:
        return empty
    line_rank = rank[lo]
    rows = np.flatnonzero(line_rank >= 0)
    rows = rows[np.argsort(line_rank[rows], kind="stable")]
    if rows.shape[0] == 0:
        return empty
    orders = lo[rows]
    factor = np.ones(oid.shape[0], dtype=np.float64)
    for code, rate in table.items():
        if rate != 1.0:
            factor[cur == code] = rate
    qty = np.asarray(quantity, dtype=np.int64).reshape(-1)[rows]
    price = np.asarray(unit_price, dtype=np.float64).reshape(-1)[rows]
    off = np.asarray(line_discount, dtype=np.float64).reshape(-1)[rows]
    raw_sku = np.asarray(sku_code, dtype=np.int64).reshape(-1)[rows]
    sku_codes, sku_names = _recode(raw_sku, skus)
    cat_codes, cat_names = _recode(
        np.asarray(category_code, dtype=np.int64).reshape(-1)[rows], categories
    )
    width = max(len(skus), 1)
    r_order = np.asarray(return_order, dtype=np.int64).reshape(-1)
    r_sku = np.asarray(return_sku, dtype=np.int64).reshape(-1)
    r_qty = np.asarray(return_quantity, dtype=np.int64).reshape(-1)
    valid = r_sku >= 0
    returned = _returned_per_line(
        orders * width + raw_sku, qty, r_order[valid] * width + r_sku[valid], r_qty[valid]
    )
    return LineFacts(
        currency=target,
        customer_ids=ids_sorted.astype(object),
        customer_index=cust[orders],
        order_ids=empty.order_ids,
        order_index=rank[orders],
        skus=sku_names,
        sku_code=sku_codes,
        categories=cat_names,
        category_code=cat_codes,
        quantity=qty,
        amount=(price * qty - off) * factor[orders],
        placed_at=at[orders].astype("datetime64[us]"),
        cancelled=np.asarray(cancelled, dtype=bool).reshape(-1)[orders],
        returned_units=returned,
    )


def line_facts_from_objects(
    customer_ids: Sequence[str] | NDArray[Any],
    orders: Iterable[Order],
    refunds: Iterable[Refund],
    *,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> LineFacts:
    """:func:`line_facts_from_columns` for an adapter that keeps domain objects.

    ``customer_ids`` are the live customers' ids sorted by code point; ``orders`` every
    stored order (its ``customer_id`` already resolved through merges), ``refunds`` every
    stored refund (only returns count). One pass flattens them into columns.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Order, OrderLine
        >>> o = Order(id="1", customer_id="c1", placed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           currency="EUR", lines=[OrderLine(sku="A", quantity=3, unit_price="2.50",
        ...                                             category="Home > Kitchen")])
        >>> f = line_facts_from_objects(["c1"], [o], [])
        >>> f.categories, f.amount.tolist(), f.order_ids.tolist()
        (('Home > Kitchen',), [7.5], ['1'])
    """
    order_id: list[str] = []
    owner: list[str] = []
    placed: list[int] = []
    cur: list[str] = []
    cancelled: list[bool] = []
    line_order: list[int] = []
    sku: list[str] = []
    category: list[str] = []
    quantity: list[int] = []
    price: list[float] = []
    discount: list[float] = []
    for j, o in enumerate(orders):
        order_id.append(o.id)
        owner.append(o.customer_id)
        placed.append(to_micros(o.placed_at))
        cur.append(o.currency)
        cancelled.append(o.is_cancelled)
        for line in o.lines:
            line_order.append(j)
            sku.append(line.sku)
            category.append(" > ".join(line.category))
            quantity.append(line.quantity)
            price.append(float(line.unit_price))
            discount.append(float(line.discount))
    position = {oid: j for j, oid in enumerate(order_id)}
    r_order: list[int] = []
    r_sku: list[str] = []
    r_qty: list[int] = []
    for refund in refunds:
        k = position.get(refund.order_id)
        if refund.returned and k is not None:
            for item in refund.lines:
                r_order.append(k)
                r_sku.append(item.sku)
                r_qty.append(item.quantity)
    sku_names, sku_codes = np.unique(np.asarray(sku, dtype=str), return_inverse=True)
    sku_codes = sku_codes.reshape(-1)
    known = np.asarray(r_sku, dtype=str)
    r_code = np.searchsorted(sku_names, known).astype(np.int64)
    if sku_names.shape[0]:
        r_code = np.where(
            sku_names[np.minimum(r_code, sku_names.shape[0] - 1)] == known, r_code, -1
        )
    else:
        r_code = np.full(known.shape[0], -1, dtype=np.int64)
    cat_names, cat_codes = np.unique(np.asarray(category, dtype=str), return_inverse=True)
    cat_codes = cat_codes.reshape(-1).astype(np.int64)
    if cat_names.shape[0] and cat_names[0] == "":  # "" (no category) sorts first
        cat_codes -= 1
        cat_names = cat_names[1:]
    return line_facts_from_columns(
        customer_ids=customer_ids,
        order_id=order_id,
        order_customer_index=_index_into(_text_array(customer_ids), owner),
        placed_at_us=placed,
        order_currency=cur,
        cancelled=cancelled,
        line_order=line_order,
        sku_code=sku_codes,
        skus=sku_names,
        category_code=cat_codes,
        categories=cat_names,
        quantity=quantity,
        unit_price=price,
        line_discount=discount,
        return_order=r_order,
        return_sku=r_code,
        return_quantity=r_qty,
        currency=currency,
        rates=rates,
    )


def event_product(event: Event) -> str | None:
    """The product an event is about: its ``sku`` property, else ``product_id``, else None.

    Example:
        >>> from datetime import datetime, timezone
        >>> e = Event(name="Product Viewed", customer_id="c", at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           properties={"product_id": 42})
        >>> event_product(e)
        '42'
    """
    for name in ("sku", "product_id"):
        value = event.properties.get(name)
        if value is not None and not isinstance(value, dict | list):
            return str(value)
    return None


_EVENT_NAME = attrs.fields(Event).name.converter  # the one normalisation of event names


def event_names(names: Iterable[str] | None) -> frozenset[str] | None:
    """Event names to query by, normalised exactly as :class:`~ecomcrm.domain.Event` stores them.

    An event built with ``name=" Viewed"`` is stored as ``"Viewed"``; a query for
    ``names=[" Viewed"]`` must find it, on every adapter. None stays None (no filter).

    Example:
        >>> sorted(event_names([" Product Viewed", "Order Completed "]))
        ['Order Completed', 'Product Viewed']
    """
    if names is None:
        return None
    if isinstance(names, str):
        raise ValidationError(
            "must be a collection of names, not one string", entity="Event", field="names",
            value=names,
        )  # fmt: skip
    assert callable(_EVENT_NAME)
    return frozenset(_EVENT_NAME(name) for name in names)


def event_facts_from_columns(
    *,
    customer_ids: Sequence[str] | NDArray[Any],
    event_id: Sequence[str] | NDArray[Any],
    event_customer: Sequence[str | None] | NDArray[np.object_],
    name: Sequence[str] | NDArray[Any],
    at_us: Sequence[int] | NDArray[np.int64],
    product: Sequence[str | None] | NDArray[np.object_],
    names: Iterable[str] | None = None,
) -> EventFacts:
    """Build :class:`EventFacts` from per-event columns, ordered by ``at`` then id.

    ``event_customer`` is each event's resolved customer id, or None for an anonymous
    visitor not tied to a customer (index -1). With ``names``, only those event names
    are kept. ``names`` in the result is the sorted vocabulary of kept names.

    Example:
        >>> f = event_facts_from_columns(
        ...     customer_ids=["a"], event_id=["e2", "e1"], event_customer=["a", None],
        ...     name=["Product Viewed", "Order Completed"], at_us=[5, 5], product=["TEE", None])
        >>> f.customer_index.tolist(), [f.names[c] for c in f.name_code]
        ([-1, 0], ['Order Completed', 'Product Viewed'])
    """
    ids_sorted = _text_array(customer_ids)
    names_arr = _text_array(name)
    n = names_arr.shape[0]
    if n == 0:
        return attrs.evolve(EventFacts.empty(), customer_ids=ids_sorted.astype(object))
    customers = np.asarray(event_customer, dtype=object)
    known = customers != None  # noqa: E711 - elementwise comparison on an object array
    index = np.full(n, -1, dtype=np.int64)
    if known.any():
        index[known] = _index_into(ids_sorted, customers[known].astype(str))
    eid = _text_array(event_id)
    at = np.asarray(at_us, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    wanted = event_names(names)
    if wanted is not None:
        keep = np.isin(names_arr, _text_array(sorted(wanted)))
    order = np.lexsort((eid, at))
    order = order[keep[order]]
    vocabulary, codes = np.unique(names_arr[order], return_inverse=True)
    return EventFacts(
        customer_ids=ids_sorted.astype(object),
        customer_index=index[order],
        name_code=codes.astype(np.int32).reshape(-1),
        names=tuple(str(v) for v in vocabulary),
        at=at[order].astype("datetime64[us]"),
        product=np.asarray(product, dtype=object)[order],
    )


def _or_none(values: NDArray[np.object_]) -> NDArray[np.object_]:
    """The values with "" (and non-strings) as None."""
    out = values.copy()
    out[~np.asarray([isinstance(v, str) and v != "" for v in values.tolist()], dtype=bool)] = None
    return out


def _email_domains(emails: NDArray[np.object_]) -> NDArray[np.object_]:
    """The lower-case domain (after the last "@") of each address; None when there is none."""
    found = _or_none(emails)
    text = np.where(found == None, "", found).astype(str)  # noqa: E711 (element-wise)
    domain = np.char.lower(np.char.rpartition(text, "@")[:, 2]) if len(text) else text
    out = np.asarray(domain, dtype=object)
    out[(text == "") | (np.char.find(text, "@") < 0) | (domain == "")] = None
    return out


def customer_table_from_columns(
    *,
    ids: Sequence[str] | NDArray[Any],
    created_at_us: Sequence[int] | NDArray[np.int64],
    country: Sequence[str | None],
    timezone: Sequence[str | None],
    birthday: Sequence[date | None],
    acquisition_channel: Sequence[str | None],
    tags: Sequence[Iterable[str]],
    consents: Iterable[tuple[str, str, bool]] = (),
    city: Sequence[str | None] | None = None,
    email: Sequence[str | None] | None = None,
) -> CustomerTable:
    """Build :class:`CustomerTable` from per-customer columns (rows re-sorted by id).

    ``consents`` gives the *current* decisions as ``(customer_id, "channel:purpose",
    granted)``; every key seen becomes a boolean column, False where there is no decision.
    ``city`` is the city of each customer's first address and ``email`` their first email
    address (None or "" when absent); the table keeps the email's domain only.

    Example:
        >>> from datetime import date
        >>> t = customer_table_from_columns(
        ...     ids=["b", "a"], created_at_us=[0, 1], country=["FR", None], timezone=[None, None],
        ...     birthday=[None, date(1990, 5, 1)], acquisition_channel=[None, "ads"],
        ...     tags=[["vip"], []], consents=[("b", "email:marketing", True)])
        >>> t.ids.tolist(), t.consents["email:marketing"].tolist(), t.tag_indptr.tolist()
        (['a', 'b'], [False, True], [0, 0, 1])
    """
    id_arr = _text_array(ids)
    n = id_arr.shape[0]
    if n == 0:
        return CustomerTable.empty()
    order = np.argsort(id_arr, kind="stable")
    ids_sorted = id_arr[order]
    tag_lists = [sorted(set(tags[i])) for i in order.tolist()]
    vocabulary = sorted({t for row in tag_lists for t in row})
    code_of = {t: i for i, t in enumerate(vocabulary)}
    lengths = np.fromiter((len(row) for row in tag_lists), dtype=np.int64, count=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    codes = np.fromiter(
        (code_of[t] for row in tag_lists for t in row), dtype=np.int32, count=int(indptr[-1])
    )
    birthdays = np.array(
        [np.datetime64(b, "D") if b is not None else np.datetime64("NaT", "D") for b in birthday],
        dtype="datetime64[D]",
    )
    columns: dict[str, NDArray[np.bool_]] = {}
    for customer_id, key, granted in consents:
        column = columns.setdefault(key, np.zeros(n, dtype=bool))
        pos = int(np.searchsorted(ids_sorted, customer_id))
        if pos < n and ids_sorted[pos] == customer_id:
            column[pos] = bool(granted)
    return CustomerTable(
        ids=ids_sorted.astype(object),
        created_at=np.asarray(created_at_us, dtype=np.int64)[order].astype("datetime64[us]"),
        country=np.asarray(country, dtype=object)[order],
        timezone=np.asarray(timezone, dtype=object)[order],
        birthday=birthdays[order],
        acquisition_channel=np.asarray(acquisition_channel, dtype=object)[order],
        tag_indptr=indptr,
        tag_codes=codes,
        tag_vocabulary=tuple(vocabulary),
        consents=dict(sorted(columns.items())),
        city=None if city is None else _or_none(np.asarray(city, dtype=object)[order]),
        email_domain=None
        if email is None
        else _email_domains(np.asarray(email, dtype=object))[order],
    )


def sort_by_time_then_id(at: NDArray[np.int64], ids: NDArray[np.object_]) -> NDArray[np.intp]:
    """The permutation ordering rows by ``at`` then id (code point order), vectorised.

    Times are sorted as integers; only rows sharing a time are compared by id, as a numpy
    unicode array (so no Python comparison per row).
    """
    perm = np.argsort(at, kind="stable")
    n = perm.shape[0]
    if n < 2:
        return perm
    sorted_at = at[perm]
    same = sorted_at[1:] == sorted_at[:-1]
    if not same.any():
        return perm
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    sizes = np.diff(np.append(starts, n))
    group = np.repeat(np.arange(starts.shape[0]), sizes)
    tied = np.flatnonzero(sizes[group] > 1)
    rows = perm[tied]
    keys = np.array(ids[rows].tolist(), dtype=str)
    perm[tied] = rows[np.lexsort((keys, group[tied]))]
    return perm
