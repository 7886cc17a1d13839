"""Value types the storage layer returns: columnar facts, state records, 360 views, receipts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import (
    Consent,
    Customer,
    Event,
    LoyaltyEntry,
    Message,
    Order,
    Refund,
    SupportTicket,
)


@attrs.frozen(kw_only=True)
class StateRecord:
    """A versioned JSON value in the rules engine's state area.

    ``version`` starts at 1 and grows by one on every successful write. ``owner`` is the
    customer id (or ``"anonymous:<id>"``) the record is about, None for records about
    nobody; :meth:`~ecomcrm.storage.Store.erase` deletes a person's records by this
    field alone, never by reading their key.

    Example:
        >>> StateRecord(key="enr:welcome:c1", value={"step": 2}, version=3, owner="c1").owner
        'c1'
    """

    key: str
    value: Mapping[str, Any]
    version: int
    owner: str | None = None


@attrs.frozen(kw_only=True)
class MergeRecord:
    """That ``merged_id`` was folded into ``survivor_id`` at ``at``.

    Example:
        >>> from datetime import datetime, timezone
        >>> MergeRecord(survivor_id="c1", merged_id="c2", at=datetime(2024, 1, 1, tzinfo=timezone.utc)).merged_id
        'c2'
    """

    survivor_id: str
    merged_id: str
    at: datetime


@attrs.frozen(kw_only=True)
class ErasureReceipt:
    """What :meth:`Store.erase` removed, for the privacy log.

    Example:
        >>> ErasureReceipt(customer_id="c1", tombstones=("9f2c...",), kept_order_facts=False, counts={"orders": 2}).counts
        {'orders': 2}
    """

    customer_id: str
    tombstones: tuple[str, ...]
    kept_order_facts: bool
    counts: Mapping[str, int]


@attrs.frozen(kw_only=True)
class CustomerTable:
    """All customers as columns; row ``i`` is the customer with index ``i`` in the facts.

    ``tag_indptr``/``tag_codes`` are a CSR layout: the tags of row ``i`` are
    ``tag_vocabulary[tag_codes[tag_indptr[i]:tag_indptr[i+1]]]``. ``consents`` maps
    ``"channel:purpose"`` (e.g. ``"email:marketing"``) to the current granted flag per row.
    ``city`` is the city of the customer's first address and ``email_domain`` the domain
    of their first email identity (None when absent); an adapter that does not fill them
    leaves them None (then every row is null).

    Example:
        >>> import numpy as np
        >>> t = CustomerTable.empty()
        >>> len(t)
        0
    """

    ids: NDArray[np.object_]
    created_at: NDArray[np.datetime64]
    country: NDArray[np.object_]
    timezone: NDArray[np.object_]
    birthday: NDArray[np.datetime64]
    acquisition_channel: NDArray[np.object_]
    tag_indptr: NDArray[np.int64]
    tag_codes: NDArray[np.int32]
    tag_vocabulary: tuple[str, ...]
    consents: Mapping[str, NDArray[np.bool_]]
    city: NDArray[np.object_] | None = None
    email_domain: NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def empty(cls) -> CustomerTable:
        """A table with no rows."""
        return cls(
            ids=np.empty(0, dtype=object),
            created_at=np.empty(0, dtype="datetime64[us]"),
            country=np.empty(0, dtype=object),
            timezone=np.empty(0, dtype=object),
            birthday=np.empty(0, dtype="datetime64[D]"),
            acquisition_channel=np.empty(0, dtype=object),
            tag_indptr=np.zeros(1, dtype=np.int64),
            tag_codes=np.empty(0, dtype=np.int32),
            tag_vocabulary=(),
            consents={},
            city=np.empty(0, dtype=object),
            email_domain=np.empty(0, dtype=object),
        )


@attrs.frozen(kw_only=True)
class OrderFacts:
    """One row per order, as arrays, in one currency (float64 amounts).

    ``customer_index`` points into ``customer_ids`` (the store's customer table order).
    ``refunded`` is the sum of refunds on the order; ``returned_units`` the units given back.

    Example:
        >>> f = OrderFacts.empty("EUR")
        >>> len(f), f.currency
        (0, 'EUR')
    """

    currency: str
    customer_ids: NDArray[np.object_]
    customer_index: NDArray[np.int64]
    order_id: NDArray[np.object_]
    placed_at: NDArray[np.datetime64]
    amount: NDArray[np.float64]
    discount: NDArray[np.float64]
    refunded: NDArray[np.float64]
    units: NDArray[np.int64]
    returned_units: NDArray[np.int64]
    cancelled: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.order_id.shape[0])

    @classmethod
    def empty(cls, currency: str) -> OrderFacts:
        """Facts with no rows."""
        return cls(
            currency=currency,
            customer_ids=np.empty(0, dtype=object),
            customer_index=np.empty(0, dtype=np.int64),
            order_id=np.empty(0, dtype=object),
            placed_at=np.empty(0, dtype="datetime64[us]"),
            amount=np.empty(0, dtype=np.float64),
            discount=np.empty(0, dtype=np.float64),
            refunded=np.empty(0, dtype=np.float64),
            units=np.empty(0, dtype=np.int64),
            returned_units=np.empty(0, dtype=np.int64),
            cancelled=np.empty(0, dtype=bool),
        )


@attrs.frozen(kw_only=True)
class LineFacts:
    """One row per order line of live customers' orders, as arrays, in one currency.

    Rows are ordered like :class:`OrderFacts` (``placed_at``, then order id), and within an
    order by the line's position. ``customer_index`` points into ``customer_ids`` (the
    customer table order); ``order_index`` into ``order_ids``, which is the ``order_id``
    column of the order facts read from the same data (orders without lines included).
    ``sku_code`` indexes the sorted vocabulary ``skus``; ``category_code`` indexes the
    sorted vocabulary ``categories`` of category paths joined with ``" > "``
    (``"Apparel > Tops"``), -1 when the line has no category. ``amount`` is the line total
    (``unit_price * quantity - discount``, in float64) converted like the order facts'
    amounts; ``cancelled`` is the order's flag; ``returned_units`` are the units of this
    line given back by the order's returns (see ``Store.line_facts``).

    Example:
        >>> f = LineFacts.empty("EUR")
        >>> len(f), f.currency, f.skus
        (0, 'EUR', ())
    """

    currency: str
    customer_ids: NDArray[np.object_]
    customer_index: NDArray[np.int64]
    order_ids: NDArray[np.object_]
    order_index: NDArray[np.int64]
    skus: tuple[str, ...]
    sku_code: NDArray[np.int32]
    categories: tuple[str, ...]
    category_code: NDArray[np.int32]
    quantity: NDArray[np.int64]
    amount: NDArray[np.float64]
    placed_at: NDArray[np.datetime64]
    cancelled: NDArray[np.bool_]
    returned_units: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.sku_code.shape[0])

    @classmethod
    def empty(cls, currency: str) -> LineFacts:
        """Facts with no rows."""
        return cls(
            currency=currency,
            customer_ids=np.empty(0, dtype=object),
            customer_index=np.empty(0, dtype=np.int64),
            order_ids=np.empty(0, dtype=object),
            order_index=np.empty(0, dtype=np.int64),
            skus=(),
            sku_code=np.empty(0, dtype=np.int32),
            categories=(),
            category_code=np.empty(0, dtype=np.int32),
            quantity=np.empty(0, dtype=np.int64),
            amount=np.empty(0, dtype=np.float64),
            placed_at=np.empty(0, dtype="datetime64[us]"),
            cancelled=np.empty(0, dtype=bool),
            returned_units=np.empty(0, dtype=np.int64),
        )

    @property
    def sku(self) -> NDArray[np.object_]:
        """The SKU of every row as an object array (decoded from ``sku_code``).

        Example:
            >>> LineFacts.empty("EUR").sku.tolist()
            []
        """
        vocabulary = np.empty(len(self.skus), dtype=object)
        vocabulary[:] = self.skus
        out: NDArray[np.object_] = vocabulary[self.sku_code]
        return out

    def top_categories(self) -> tuple[NDArray[np.int32], tuple[str, ...]]:
        """Each row's top-level category (first element of its path) as codes + vocabulary.

        The top level is the text of ``categories[code]`` before the first ``" > "``; the
        vocabulary is sorted and codes are -1 for lines without a category.

        Example:
            >>> f = attrs.evolve(LineFacts.empty("EUR"), categories=("B > x", "A", "B"),
            ...                  category_code=np.array([0, -1, 2, 1], dtype=np.int32))
            >>> codes, names = f.top_categories()
            >>> codes.tolist(), names
            ([1, -1, 1, 0], ('A', 'B'))
        """
        tops = [c.split(" > ", 1)[0] for c in self.categories]
        names, remap = np.unique(np.asarray(tops, dtype=str), return_inverse=True)
        lookup = np.append(remap.reshape(-1).astype(np.int32), np.int32(-1))
        codes = lookup[self.category_code] if len(self.category_code) else self.category_code
        return codes.astype(np.int32), tuple(str(n) for n in names)


@attrs.frozen(kw_only=True)
class EventFacts:
    """One row per event, as arrays.

    ``customer_index`` is -1 for events of anonymous ids not yet tied to a customer.
    ``name_code`` indexes ``names``; ``product`` is the event's ``sku`` (or
    ``product_id``) property, or None.

    Example:
        >>> len(EventFacts.empty())
        0
    """

    customer_ids: NDArray[np.object_]
    customer_index: NDArray[np.int64]
    name_code: NDArray[np.int32]
    names: tuple[str, ...]
    at: NDArray[np.datetime64]
    product: NDArray[np.object_]

    def __len__(self) -> int:
        return int(self.at.shape[0])

    @classmethod
    def empty(cls) -> EventFacts:
        """Facts with no rows."""
        return cls(
            customer_ids=np.empty(0, dtype=object),
            customer_index=np.empty(0, dtype=np.int64),
            name_code=np.empty(0, dtype=np.int32),
            names=(),
            at=np.empty(0, dtype="datetime64[us]"),
            product=np.empty(0, dtype=object),
        )


@attrs.frozen(kw_only=True)
class Customer360:
    """Everything a support agent needs about one customer, in one object.

    Example:
        >>> Customer360.__name__
        'Customer360'
    """

    customer: Customer
    orders: tuple[Order, ...]
    refunds: tuple[Refund, ...]
    recent_events: tuple[Event, ...]
    tickets: tuple[SupportTicket, ...]
    consents: tuple[Consent, ...]
    loyalty_balance: int
    loyalty_tier: str | None
    loyalty_entries: tuple[LoyaltyEntry, ...]
    messages: tuple[Message, ...]
    merged_ids: tuple[str, ...]
    total_spent: Mapping[str, str]


@attrs.frozen(kw_only=True)
class ConsentFacts:
    """Every purpose-wide consent decision of live customers, as arrays (see ``SupportsBulkFacts``).

    One row per recorded decision about a whole purpose (decisions about one topic,
    ``Consent.topic`` set, are read through ``store.consents.history``). ``customer_id`` is the surviving id the decision belongs
    to (merges followed), ``channel`` and ``purpose`` the enum values as strings,
    ``granted`` the decision and ``at`` its instant (UTC, microseconds). Rows are ordered by
    ``at``, then as recorded, so the rows of one customer are that customer's
    ``store.consents.history(customer_id)`` without its topic decisions, in its order.

    Example:
        >>> len(ConsentFacts.empty())
        0
    """

    customer_id: NDArray[np.object_]
    channel: NDArray[np.object_]
    purpose: NDArray[np.object_]
    granted: NDArray[np.bool_]
    at: NDArray[np.datetime64]

    def __len__(self) -> int:
        return int(self.at.shape[0])

    @classmethod
    def empty(cls) -> ConsentFacts:
        """Facts with no rows."""
        return cls(
            customer_id=np.empty(0, dtype=object),
            channel=np.empty(0, dtype=object),
            purpose=np.empty(0, dtype=object),
            granted=np.empty(0, dtype=bool),
            at=np.empty(0, dtype="datetime64[us]"),
        )

    @classmethod
    def from_columns(
        cls,
        *,
        customer_id: Sequence[str],
        channel: Sequence[str],
        purpose: Sequence[str],
        granted: Sequence[bool],
        at_us: Sequence[int] | NDArray[np.int64],
    ) -> ConsentFacts:
        """Facts from equally long columns already in order (``at_us``: µs since the epoch).

        Example:
            >>> f = ConsentFacts.from_columns(customer_id=["c1"], channel=["email"],
            ...                               purpose=["marketing"], granted=[True], at_us=[0])
            >>> f.at.tolist()[0].isoformat(), bool(f.granted[0])
            ('1970-01-01T00:00:00', True)
        """
        return cls(
            customer_id=_objects(customer_id),
            channel=_objects(channel),
            purpose=_objects(purpose),
            granted=np.asarray(granted, dtype=bool).reshape(-1),
            at=np.asarray(at_us, dtype=np.int64).reshape(-1).astype("datetime64[us]"),
        )


@attrs.frozen(kw_only=True)
class LoyaltyFacts:
    """Every loyalty ledger entry of live customers, as arrays (see ``SupportsBulkFacts``).

    One row per entry: ``customer_id`` is the surviving id that owns it (merges
    followed), ``points`` its points and ``at`` its instant (UTC, microseconds). Rows are
    ordered by ``at``, then as appended, so the rows of one customer are that customer's
    ``store.loyalty.entries(customer_id)`` in its order.

    Example:
        >>> len(LoyaltyFacts.empty())
        0
    """

    customer_id: NDArray[np.object_]
    points: NDArray[np.int64]
    at: NDArray[np.datetime64]

    def __len__(self) -> int:
        return int(self.at.shape[0])

    @classmethod
    def empty(cls) -> LoyaltyFacts:
        """Facts with no rows."""
        return cls(
            customer_id=np.empty(0, dtype=object),
            points=np.empty(0, dtype=np.int64),
            at=np.empty(0, dtype="datetime64[us]"),
        )

    @classmethod
    def from_columns(
        cls,
        *,
        customer_id: Sequence[str],
        points: Sequence[int] | NDArray[np.int64],
        at_us: Sequence[int] | NDArray[np.int64],
    ) -> LoyaltyFacts:
        """Facts from equally long columns already in order (``at_us``: µs since the epoch).

        Example:
            >>> LoyaltyFacts.from_columns(customer_id=["c1"], points=[50], at_us=[0]).points.tolist()
            [50]
        """
        return cls(
            customer_id=_objects(customer_id),
            points=np.asarray(points, dtype=np.int64).reshape(-1),
            at=np.asarray(at_us, dtype=np.int64).reshape(-1).astype("datetime64[us]"),
        )


@attrs.frozen(kw_only=True)
class TicketFacts:
    """Every support ticket of live customers, as arrays (see ``SupportsTicketFacts``).

    One row per ticket: ``customer_id`` is the surviving id that owns it (merges
    followed), ``ticket_id`` its id, ``channel`` and ``status`` the enum values as
    strings, ``opened_at``, ``first_response_at`` and ``closed_at`` its instants (UTC,
    microseconds; NaT when not yet answered or closed) and ``satisfaction`` its CSAT
    rating 1-5 (NaN when not rated). Rows are ordered by ``opened_at``, then ticket id, so
    the rows of one customer are that customer's ``store.tickets.for_customer(id)`` in its
    order. Subjects and tags (free text a person wrote) are not part of the facts.

    Example:
        >>> f = TicketFacts.from_columns(customer_id=["c1"], ticket_id=["t1"], channel=["email"],
        ...                              status=["open"], opened_at_us=[0],
        ...                              first_response_at_us=[None], closed_at_us=[None],
        ...                              satisfaction=[None])
        >>> len(f), bool(np.isnat(f.closed_at[0])), bool(np.isnan(f.satisfaction[0]))
        (1, True, True)
    """

    customer_id: NDArray[np.object_]
    ticket_id: NDArray[np.object_]
    channel: NDArray[np.object_]
    status: NDArray[np.object_]
    opened_at: NDArray[np.datetime64]
    first_response_at: NDArray[np.datetime64]
    closed_at: NDArray[np.datetime64]
    satisfaction: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.opened_at.shape[0])

    @classmethod
    def empty(cls) -> TicketFacts:
        """Facts with no rows.

        Example:
            >>> len(TicketFacts.empty())
            0
        """
        return cls.from_columns(
            customer_id=[],
            ticket_id=[],
            channel=[],
            status=[],
            opened_at_us=[],
            first_response_at_us=[],
            closed_at_us=[],
            satisfaction=[],
        )

    @classmethod
    def from_columns(
        cls,
        *,
        customer_id: Sequence[str],
        ticket_id: Sequence[str],
        channel: Sequence[str],
        status: Sequence[str],
        opened_at_us: Sequence[int] | NDArray[np.int64],
        first_response_at_us: Sequence[int | None],
        closed_at_us: Sequence[int | None],
        satisfaction: Sequence[int | None],
    ) -> TicketFacts:
        """Facts from equally long columns already in order.

        Instants are µs since the epoch; ``None`` stands for a missing instant or rating.

        Example:
            >>> f = TicketFacts.from_columns(customer_id=["c1"], ticket_id=["t1"],
            ...                              channel=["chat"], status=["closed"],
            ...                              opened_at_us=[0], first_response_at_us=[60_000_000],
            ...                              closed_at_us=[120_000_000], satisfaction=[4])
            >>> str(f.closed_at[0]), float(f.satisfaction[0])
            ('1970-01-01T00:02:00.000000', 4.0)
        """
        return cls(
            customer_id=_objects(customer_id),
            ticket_id=_objects(ticket_id),
            channel=_objects(channel),
            status=_objects(status),
            opened_at=np.asarray(opened_at_us, dtype=np.int64).reshape(-1).astype("datetime64[us]"),
            first_response_at=_optional_instants(first_response_at_us),
            closed_at=_optional_instants(closed_at_us),
            satisfaction=np.array(
                [np.nan if v is None else float(v) for v in satisfaction], dtype=np.float64
            ).reshape(-1),
        )


def _optional_instants(values: Sequence[int | None]) -> NDArray[np.datetime64]:
    """µs instants as ``datetime64[us]``, ``None`` as NaT."""
    nat = np.iinfo(np.int64).min  # the bit pattern of NaT
    micros = np.fromiter((nat if v is None else v for v in values), dtype=np.int64)
    return micros.astype("datetime64[us]")


def _objects(values: Sequence[str]) -> NDArray[np.object_]:
    """A 1-D object array of the values (strings stay Python strings)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
