"""What conditions read: a lazy record of one customer's fields plus the trigger event's properties."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Identity,
    LoyaltyEntry,
    Order,
    Purpose,
    Refund,
    current_decision,
)
from ecomcrm.errors import EcomcrmError, ValidationError
from ecomcrm.rules._conditions import CUSTOMER_FIELDS
from ecomcrm.rules._schedule import from_micros, to_micros
from ecomcrm.segments import FeatureTable
from ecomcrm.segments._fields import (
    CUSTOMER_FIELD_REGISTRY,
    MONEY_FIELDS,
    PER_CUSTOMER_SOURCES,
    OrderRows,
    order_record,
    profile_record,
)
from ecomcrm.storage import OrderFacts, Store, SupportsBulkFacts

_DAY = timedelta(days=1)
# a customer without orders: the rows, and their fields (equal at every instant), built once
_NO_ROWS = OrderRows([], [], [], [], [], [], [])
_NO_ORDER_FIELDS: Mapping[str, Any] = MappingProxyType(order_record(_NO_ROWS, 0))
_CONSENT_FIELDS = {
    "consent_email": Channel.EMAIL,
    "consent_sms": Channel.SMS,
    "consent_push": Channel.PUSH,
    "consent_whatsapp": Channel.WHATSAPP,
}
ANONYMOUS_PREFIX = "anonymous:"
# fields whose value depends on refunds (the bulk order snapshot carries none)
_REFUND_FIELDS = frozenset({"total_spent", "aov", "refunded_amount", "return_rate"})
_TABLE_FIELDS = frozenset(
    n for n, f in CUSTOMER_FIELD_REGISTRY.items() if f.source not in PER_CUSTOMER_SOURCES
)
_PROFILE_FIELDS = frozenset(
    n for n, f in CUSTOMER_FIELD_REGISTRY.items() if f.source == "profile"
) - set(_CONSENT_FIELDS)


class OrderTimes:
    """Every live customer's orders, read once in bulk (a backtest's read-only store).

    Built from one ``store.order_facts(currency=, rates=)`` read; a backtest's store is
    read-only, so the snapshot serves every replayed instant. :meth:`upto` gives the
    counted (not cancelled) order times ``store.orders.for_customer`` would, and
    :meth:`facts_upto` one customer's order facts at an instant (refunds left out: their
    times are not in the columnar read, so fields that need them read the customer's
    refunds themselves).

    Example:
        >>> import ecomcrm
        >>> t = OrderTimes.read(ecomcrm.open_store("memory://"))
        >>> t is not None and t.upto("nobody", None) is None
        True
    """

    __slots__ = ("_facts", "_rows", "_rows_taken", "_starts", "_times")

    def __init__(self, facts: OrderFacts) -> None:
        # rows arrive by placed_at then order id (as ``for_customer`` lists them): a
        # stable sort by customer keeps that order within each customer
        keep = ~np.asarray(facts.cancelled, dtype=bool)
        rows = np.asarray(facts.customer_index, dtype=np.int64)[keep]
        order = np.argsort(rows, kind="stable")
        taken = np.flatnonzero(keep)[order]
        self._facts = facts
        self._times: NDArray[np.int64] = (
            facts.placed_at[taken].astype("datetime64[us]").astype(np.int64)
        )
        self._rows_taken = taken
        ids = [str(c) for c in facts.customer_ids.tolist()]
        self._starts: NDArray[np.int64] = np.searchsorted(
            rows[order], np.arange(len(ids) + 1)
        ).astype(np.int64)
        self._rows = {cid: r for r, cid in enumerate(ids)}

    @classmethod
    def read(
        cls,
        store: Store,
        *,
        currency: str | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> OrderTimes | None:
        """The snapshot, or None when the store cannot give it (e.g. mixed currencies)."""
        try:
            facts = store.order_facts(currency=currency, rates=rates)
        except EcomcrmError:
            return None
        return cls(facts)

    def _span(self, customer_id: str, as_of: datetime | None) -> tuple[int, int] | None:
        row = self._rows.get(customer_id)
        if row is None:
            return None
        start, stop = int(self._starts[row]), int(self._starts[row + 1])
        if as_of is not None:
            seg = self._times[start:stop]
            stop = start + int(np.searchsorted(seg, to_micros(as_of), side="right"))
        return start, stop

    def upto(self, customer_id: str, as_of: datetime | None) -> list[datetime] | None:
        """Sorted order times at or before ``as_of``; None for an id the snapshot lacks."""
        span = self._span(customer_id, as_of)
        if span is None:
            return None
        return [from_micros(int(us)) for us in self._times[span[0] : span[1]].tolist()]

    def facts_upto(self, customer_id: str, as_of: datetime | None) -> OrderFacts | None:
        """The customer's counted orders at or before ``as_of``, without refunds."""
        span = self._span(customer_id, as_of)
        if span is None:
            return None
        rows = self._rows_taken[span[0] : span[1]]
        f = self._facts
        return OrderFacts(
            currency=f.currency,
            customer_ids=np.array([customer_id], dtype=object),
            customer_index=np.zeros(len(rows), dtype=np.int64),
            order_id=f.order_id[rows],
            placed_at=f.placed_at[rows],
            amount=f.amount[rows],
            discount=f.discount[rows],
            refunded=np.zeros(len(rows)),
            units=f.units[rows],
            returned_units=np.zeros(len(rows), dtype=np.int64),
            cancelled=np.zeros(len(rows), dtype=bool),
        )


class FeatureRows:
    """A feature table's rows by customer id, for the fields conditions read from it.

    Example:
        >>> from ecomcrm.segments import FeatureTable
        >>> rows = FeatureRows(FeatureTable(["a"], {"p_alive": [0.8]}, {"p_alive": "number"}))
        >>> rows.value("a", "p_alive"), rows.value("zz", "p_alive"), rows.value("a", "r_score")
        (0.8, None, None)
    """

    __slots__ = ("_records", "_row", "table")

    def __init__(self, table: FeatureTable) -> None:
        self.table = table
        self._row = {str(cid): r for r, cid in enumerate(table.ids.tolist())}
        self._records: dict[int, dict[str, Any]] = {}

    def value(self, customer_id: str, name: str) -> Any:
        """The value of column ``name`` for the customer (None: no row or no column)."""
        row = self._row.get(customer_id)
        if row is None:
            return None
        record = self._records.get(row)
        if record is None:
            record = self._records[row] = self.table.to_record(row)
        return record.get(name)


class StoreReads:
    """Per-customer reads of a store that does not change, kept for a whole backtest.

    A backtest's store is read-only while it replays, so a profile, a consent history,
    a loyalty ledger or a suppression check read once stays true for every replayed
    instant (the as-of filtering happens on what was read). Without it each unit of
    work reads them again.

    Example:
        >>> reads = StoreReads()
        >>> reads.customers, reads.consents
        ({}, {})
    """

    __slots__ = ("_consent_rows", "consents", "customers", "loyalty", "refunds", "suppressed")

    def __init__(self) -> None:
        self.customers: dict[str, Customer | None] = {}
        self.consents: dict[str, list[Consent]] = {}
        self.loyalty: dict[str, list[LoyaltyEntry]] = {}
        self.refunds: dict[str, list[Refund]] = {}
        self.suppressed: dict[str, bool] = {}
        self._consent_rows: dict[str, list[ConsentRow]] | bool | None = False  # False: unread

    def consent_rows(self, store: Store) -> dict[str, list[ConsentRow]] | None:
        """Every consent decision by (surviving) customer, read in bulk on first use.

        Each customer's rows are ``(at µs, channel, purpose, granted)`` in the order of
        ``store.consents.history`` (by ``at``, then as recorded). Only a
        store that claims ``SupportsBulkFacts`` is read this way (one read instead of one per
        customer); for another store None (its history is read per customer).
        """
        if self._consent_rows is False:
            self._consent_rows = _bulk_consents(store)
        found = self._consent_rows
        return None if isinstance(found, bool) else found

    def is_suppressed(self, store: Store, customer: Customer) -> bool:
        """True when one of the customer's identities is suppressed (read once per customer)."""
        found = self.suppressed.get(customer.id)
        if found is None:
            found = self.suppressed[customer.id] = any(
                store.is_suppressed(i) for i in customer.identities
            )
        return found


ConsentRow = tuple[int, str, str, bool]


def _bulk_consents(store: Store) -> dict[str, list[ConsentRow]] | None:
    """The store's consent decisions grouped by surviving customer (see StoreReads)."""
    if not isinstance(store, SupportsBulkFacts):
        return None
    facts = store.consent_facts()
    out: dict[str, list[ConsentRow]] = {}
    for cid, at, channel, purpose, granted in zip(
        facts.customer_id.tolist(),
        facts.at.astype("datetime64[us]").astype(np.int64).tolist(),
        facts.channel.tolist(),
        facts.purpose.tolist(),
        facts.granted.tolist(),
        strict=True,
    ):
        out.setdefault(cid, []).append((at, channel, purpose, granted))
    return out


class CustomerData:
    """What the store knows about one customer, read on first use and kept for one unit of work.

    With ``as_of`` only orders, refunds, loyalty entries and consents at or before that
    instant count (backtests replay history this way). With ``reads`` (a store that does
    not change) the profile, consent history, refunds and loyalty entries come from that
    shared cache, read from the store on first use. Profile and order fields are the
    registry's (``ecomcrm.segments.CUSTOMER_FIELD_REGISTRY``): the feature table's own
    vectorized definitions run over this customer's records, money in ``currency``
    converted with ``rates`` (without ``currency``, a customer whose orders are in
    several currencies makes the money fields raise ValidationError, as
    ``store.order_facts()`` refuses such a store).
    """

    __slots__ = (
        "_cache", "as_of", "currency", "customer_id", "features", "order_times", "rates",
        "reads", "store",
    )  # fmt: skip

    def __init__(
        self,
        store: Store,
        customer_id: str,
        *,
        as_of: datetime | None = None,
        order_times: OrderTimes | None = None,
        reads: StoreReads | None = None,
        currency: str | None = None,
        rates: Mapping[str, float] | None = None,
        features: FeatureRows | None = None,
    ) -> None:
        self.store = store
        self.customer_id = customer_id
        self.as_of = as_of
        self.currency = currency
        self.rates = rates
        # the feature table's rows for the fields only a whole-store build gives
        self.features = features
        # a bulk snapshot of orders (read-only stores); without it, or for an id it
        # lacks, the orders are read for this customer alone
        self.order_times = order_times
        self.reads = reads
        self._cache: dict[str, Any] = {}

    @property
    def customer(self) -> Customer | None:
        """The profile, or None (unknown id, erased, or an unidentified anonymous visitor)."""
        cache = self._cache
        if "customer" in cache:
            result: Customer | None = cache["customer"]
            return result
        reads = self.reads
        if reads is not None and self.customer_id in reads.customers:
            found = reads.customers[self.customer_id]
        else:
            found = self._find()
            if reads is not None:
                reads.customers[self.customer_id] = found
        cache["customer"] = found
        return found

    def _find(self) -> Customer | None:
        if self.customer_id.startswith(ANONYMOUS_PREFIX):
            anon = self.customer_id[len(ANONYMOUS_PREFIX) :]
            return self.store.customers.find_by_identity(Identity(kind="anonymous", value=anon))
        return self.store.customers.find(self.customer_id)

    def timezone(self, default: str) -> str:
        """The customer's IANA zone, or ``default``."""
        customer = self.customer
        return (customer.timezone if customer is not None else None) or default

    def _order_list(self, customer_id: str) -> list[Order]:
        """The customer's orders placed at or before ``as_of`` (cancelled ones too)."""
        return [
            o
            for o in self.store.orders.for_customer(customer_id)
            if self.as_of is None or o.placed_at <= self.as_of
        ]

    def _refunds(self, customer_id: str) -> list[Refund]:
        """The customer's refunds made at or before ``as_of``."""
        kept = None if self.reads is None else self.reads.refunds
        found = _kept_read(kept, customer_id, self.store.orders.refunds_for_customer)
        return [r for r in found if self.as_of is None or r.at <= self.as_of]

    def _rows(self, customer: Customer, refunds: bool) -> OrderRows:
        """Order rows of the customer; without ``refunds`` they may leave refunds out."""
        found: OrderRows | None = self._cache.get("rows:refunds")
        if found is None and not refunds:
            found = self._cache.get("rows")
        if found is not None:
            return found
        key = "rows:refunds" if refunds else "rows"
        if not refunds and self.order_times is not None:
            facts = self.order_times.facts_upto(customer.id, self.as_of)
            if facts is not None:
                found = OrderRows.from_facts(facts)
        if found is None:
            orders = self._order_list(customer.id)
            if not orders:
                # no order (the common case of an event stream's visitors): nothing to add
                # up, and the fields are the same at every instant (``_order_fields``)
                self._cache[key] = _NO_ROWS
                return _NO_ROWS
            refund_list = self._refunds(customer.id) if refunds else []
            try:
                found = OrderRows.from_orders(
                    orders, refund_list, currency=self.currency, rates=self.rates
                )
            except ValidationError as exc:
                # money cannot be added up (several currencies, or no rate): the other
                # order fields still can, and the money fields raise this error
                self._cache["money_error"] = exc
                found = OrderRows.from_orders(
                    orders,
                    refund_list,
                    currency=orders[0].currency,
                    rates={o.currency: 1.0 for o in orders},
                )
        self._cache[key] = found
        return found

    def _order_fields(self, customer: Customer, now: datetime, refunds: bool) -> Mapping[str, Any]:
        """The order fields at ``now`` (the registry's definitions)."""
        rows = self._rows(customer, refunds)
        if rows is _NO_ROWS:
            return _NO_ORDER_FIELDS  # without orders no field depends on ``now``
        key = f"orders:{to_micros(now)}:{refunds}"
        found: Mapping[str, Any] | None = self._cache.get(key)
        if found is None:
            found = self._cache[key] = order_record(rows, to_micros(now))
        return found

    def consent(self, channel: Channel, purpose: Purpose = Purpose.MARKETING) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""
        key = f"consent:{channel.value}:{purpose.value}"
        if key not in self._cache:
            customer = self.customer
            granted = False
            if customer is not None:
                if self.as_of is None:
                    granted = self.store.consents.is_granted(customer.id, channel, purpose)
                else:
                    bulk = None if self.reads is None else self.reads.consent_rows(self.store)
                    if bulk is not None:
                        # the latest decision for (channel, purpose) at or before as_of
                        as_of_us = to_micros(self.as_of)
                        wanted = (channel.value, purpose.value)
                        for at_us, ch, pu, ok in bulk.get(customer.id, ()):
                            if at_us <= as_of_us and (ch, pu) == wanted:
                                granted = ok
                    else:
                        latest = None
                        for c in self._history(customer.id):
                            if c.at <= self.as_of and c.covers(channel, purpose, None):
                                latest = c
                        granted = latest is not None and latest.granted
            self._cache[key] = granted
        result: bool = self._cache[key]
        return result

    def topic_consent(self, channel: Channel, topic: str) -> bool:
        """True when the decision in force for marketing ``topic`` on ``channel`` is a grant.

        ``ecomcrm.domain.current_decision`` over the consent history (up to ``as_of``).
        """
        key = f"topic:{channel.value}:{topic}"
        if key not in self._cache:
            customer = self.customer
            granted = False
            if customer is not None:
                history = self._history(customer.id)
                if self.as_of is not None:
                    history = [c for c in history if c.at <= self.as_of]
                found = current_decision(history, channel, Purpose.MARKETING, topic)
                granted = found is not None and found.granted
            self._cache[key] = granted
        result: bool = self._cache[key]
        return result

    def _history(self, customer_id: str) -> list[Consent]:
        kept = None if self.reads is None else self.reads.consents
        return _kept_read(kept, customer_id, self.store.consents.history)

    def _entries(self, customer_id: str) -> list[LoyaltyEntry]:
        kept = None if self.reads is None else self.reads.loyalty
        return _kept_read(kept, customer_id, self.store.loyalty.entries)

    def loyalty_points(self) -> int:
        """The loyalty balance."""
        if "points" not in self._cache:
            customer = self.customer
            points = 0
            if customer is not None:
                if self.as_of is None:
                    points = self.store.loyalty.balance(customer.id)
                else:
                    points = sum(e.points for e in self._entries(customer.id) if e.at <= self.as_of)
            self._cache["points"] = points
        result: int = self._cache["points"]
        return result

    def field(self, name: str, now: datetime) -> Any:
        """The value of customer field ``name`` at ``now`` (None when unknown)."""
        customer = self.customer
        if name == "customer_id":
            return customer.id if customer is not None else self.customer_id
        if name == "known":
            return customer is not None
        if name in _CONSENT_FIELDS:
            return self.consent(_CONSENT_FIELDS[name])
        if name == "loyalty_points":
            return self.loyalty_points()
        if customer is None:
            return None
        if name in _TABLE_FIELDS:
            # events, lines, population and model fields: the engine's feature table
            return None if self.features is None else self.features.value(customer.id, name)
        if name in _PROFILE_FIELDS:
            profile = self._cache.get("profile")
            if profile is None:
                profile = self._cache["profile"] = profile_record(customer)
            return profile[name]
        # refunds are read only for the fields that need them
        record = self._order_fields(customer, now, name in _REFUND_FIELDS)
        if name in MONEY_FIELDS and "money_error" in self._cache:
            raise self._cache["money_error"]
        return record.get(name)


class Record(Mapping[str, Any]):
    """The mapping a condition evaluates: event properties first, then customer fields.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> store = ecomcrm.open_store("memory://")
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> r = Record(CustomerData(store, "nobody"), {"total": 12.5}, now)
        >>> r["total"], r["known"], r["orders_count"]
        (12.5, False, None)
    """

    __slots__ = ("_ctx", "_data", "_now")

    def __init__(self, data: CustomerData, ctx: Mapping[str, Any], now: datetime) -> None:
        self._data = data
        self._ctx = ctx
        self._now = now

    def __getitem__(self, name: str) -> Any:
        if name in self._ctx:
            return self._ctx[name]
        if name in CUSTOMER_FIELDS:
            return self._data.field(name, self._now)
        return None

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(CUSTOMER_FIELDS), **dict.fromkeys(self._ctx)})

    def __len__(self) -> int:
        return len(set(CUSTOMER_FIELDS) | set(self._ctx))


_T = TypeVar("_T")


def _kept_read(kept: dict[str, _T] | None, customer_id: str, read: Callable[[str], _T]) -> _T:
    """``read(customer_id)``, kept in ``kept`` for the replay when a backtest keeps reads."""
    if kept is None:
        return read(customer_id)
    found = kept.get(customer_id)
    if found is None:
        found = kept[customer_id] = read(customer_id)
    return found
