"""Order facts of :class:`~ecomcrm.storage.PostgresStore`: from the cache, else the tables.

A read from the tables aggregates each column of a slice of orders on the server
(:func:`._columnar.chunked_columns`), sorts by ``placed_at`` then id in numpy, and saves
the result in the database's facts cache (:mod:`._facts_cache`), which later reads of
any process take as they are while no write has changed the facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

import ecomcrm.storage.postgres._facts_cache as cache
import ecomcrm.storage.toolkit as sh
from ecomcrm.storage._records import OrderFacts
from ecomcrm.storage.postgres._base import Conn
from ecomcrm.storage.postgres._columnar import (
    CURRENCIES,
    chunked_columns,
    index_of,
    live_customers,
)
from ecomcrm.storage.postgres._connection import Db
from ecomcrm.storage.toolkit._columnar import sort_by_time_then_id

# the currencies (listed first, in code point order) coded by their position in that list
_SOURCE = (
    "FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
    "LEFT JOIN (SELECT order_id, sum(amount_real) AS refunded, sum(returned_units) AS returned "
    "FROM refunds GROUP BY order_id) r ON r.order_id = o.id "
    "JOIN unnest(%s::text[]) WITH ORDINALITY k(currency, n) ON k.currency = o.currency WHERE"
)
_FIELDS = (
    ("placed_at", "o.placed_at", "i8"),
    ("owner", "coalesce(c.survivor_pk, c.pk, -1)", "i8"),
    ("amount", "o.amount", "f8"),
    ("discount", "o.discount_amount", "f8"),
    ("refunded", "coalesce(r.refunded, 0)::float8", "f8"),
    ("units", "o.units", "i8"),
    ("returned", "coalesce(r.returned, 0)::int8", "i8"),
    ("cancelled", "o.cancelled", "b1"),
    ("code", "(k.n - 1)::int8", "i8"),
)


def read_raw(conn: Conn) -> cache.RawFacts:
    """The order columns of live customers from the tables, sorted by (at, id)."""
    customer_pk, customer_ids = live_customers(conn)
    currencies = [r[0] for r in conn.execute(CURRENCIES).fetchall()]
    cols = chunked_columns(conn, "orders", _SOURCE, _FIELDS, [("order_id", "o.id")], (currencies,))
    order_id: NDArray[np.object_] = cols["order_id"]
    index = index_of(customer_pk, cols["owner"])
    perm = sort_by_time_then_id(cols["placed_at"], order_id)
    perm = perm[index[perm] >= 0]
    return cache.RawFacts(
        customer_ids=customer_ids,
        customer_index=index[perm],
        order_id=order_id[perm],
        placed_at=cols["placed_at"][perm],
        amount=cols["amount"][perm],
        discount=cols["discount"][perm],
        refunded=cols["refunded"][perm],
        units=cols["units"][perm],
        returned_units=cols["returned"][perm],
        cancelled=cols["cancelled"][perm],
        code=cols["code"][perm].astype(np.int16),
        currencies=tuple(currencies),
    )


def facts_of(
    raw: cache.RawFacts, currency: str | None, rates: Mapping[str, float] | None
) -> OrderFacts:
    """The facts in one currency (``raw``'s arrays are handed over, not copied)."""
    target, table = sh.conversion_rates(list(raw.currencies), currency, rates)
    if raw.order_id.shape[0] == 0:
        return attrs.evolve(OrderFacts.empty(target), customer_ids=raw.customer_ids)
    factors = np.array([table.get(c, 1.0) for c in raw.currencies], dtype=np.float64)
    factor: Any = None
    if not np.all(factors == 1.0):
        # one currency: a scalar multiply; several: one factor per row
        factor = factors[0] if factors.shape[0] == 1 else factors[raw.code]

    def money(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return values * factor if factor is not None else values

    return OrderFacts(
        currency=target,
        customer_ids=raw.customer_ids,
        customer_index=raw.customer_index,
        order_id=raw.order_id,
        placed_at=raw.placed_at.view("datetime64[us]"),
        amount=money(raw.amount),
        discount=money(raw.discount),
        refunded=money(raw.refunded),
        units=raw.units,
        returned_units=raw.returned_units,
        cancelled=raw.cancelled,
    )


def order_facts(
    db: Db, *, currency: str | None, rates: Mapping[str, float] | None, use_cache: bool
) -> OrderFacts:
    """Order facts of live customers, by ``placed_at`` then order id (one snapshot).

    Served from the cache when it holds every write the read sees; otherwise read from
    the tables and, when this call owns its snapshot (no scope open on the thread),
    saved as the new cache after the snapshot ends.
    """
    own = db.depth == 0
    snapshot: str | None = None
    with db.snapshot() as conn:
        raw = cache.load(conn) if use_cache else None
        if raw is None:
            if use_cache and own:
                snapshot = cache.snapshot_of(conn)
            raw = read_raw(conn)
    if snapshot is not None:
        cache.save(db, raw, snapshot)
    return facts_of(raw, currency, rates)
